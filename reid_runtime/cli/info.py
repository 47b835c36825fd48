"""``reid info MODEL``: what a checkpoint, an ONNX export, a TensorRT engine or a registry name is (the output of
:func:`reid_runtime.services.info.inspect_model`)."""

from __future__ import annotations

import click

from reid_runtime.cli import options


@click.command()
@click.argument("model", type=options.MODEL)
@options.json_option()
def info(model: str, as_json: bool) -> None:
    """Describe a model: kind, architecture, input size and layout, dynamic axes, verified (B, T), precision,
    embedding dim and metric, aggregation and streaming, recipe, toolkit version, file size.

    MODEL is a checkpoint (.pt, needs reid-toolkit[train]), an ONNX export (full, or either file of a split pair),
    a TensorRT engine (.engine, read from its sidecar) or a registry name such as sta_resnet50.

    \b
    Examples:
      reid info sta.onnx
      reid info sta.backbone.onnx --json
      reid info runs/demo/best.pt
    """
    from reid_runtime.services.info import inspect_model

    description = inspect_model(model)
    if as_json:
        options.echo_json(description.to_dict())
    else:
        click.echo(description.text())
