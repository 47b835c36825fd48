"""FP16 ONNX conversion that keeps the attention scores, reductions and everything after them in FP32.

The backbone convolutions carry almost all the cost and are safe in FP16. The head is not: STA's energy map is a
channel sum of squares (2048 channels of activations in the tens overflow FP16's 65504), its Eq. 1/4 normalisations
divide small sums, and ArgMax on rounded scores can flip near-ties. So the block list is every reduction / score op
(``Pow``, ``Reduce*``, ``ArgMax``, ``GatherElements``, ``Softmax``, ...) plus every node downstream of one: in
practice the whole head after the backbone map stays FP32, which costs nothing measurable. For STA that is the energy
map (Eq. 1), the block scores (Eq. 2-3), their normalisation over frames (Eq. 4), the ArgMax / GatherElements of the
selection (Algorithm 1), the strips' means, the weighted sum and the FC layer: the only FP16 tensor the head reads is
the backbone's feature map, cast to FP32 once. A pooling inside the backbone (OSNet's channel gates, MobileNetV3's
squeeze-excitation: a seed op with a convolution after it) only rescales features and stays FP16.
:func:`convert_fp16` checks this on the converted graph (no node of the FP32 region reads an FP16 tensor) and refuses
to return a graph where the converter let one through.

What stays FP16 on purpose: the backbone, and the input normalisation ``(x - mean) / std`` before the first
convolution (raw pixel values are exact in FP16, and an FP32 normalisation measured no better: the scores' largest
relative error vs PyTorch on dataset frames was 3.5e-4 with it, 3.3e-4 without). The scores still carry the
backbone's FP16 rounding (relative error about 5e-4 at most, measured), so a near-tie between two frames' scores can
select the other frame: the verification reports such flips and accepts those within the FP16 epsilon
(:mod:`reid_export.verification`).
"""

from __future__ import annotations

import warnings
from collections import defaultdict

import onnx

# Ops that start the FP32 region: sums / norms that can overflow and the score selection.
FP32_SEED_OPS = frozenset({
    "Pow", "Sqrt", "ReduceSum", "ReduceSumSquare", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd",
    "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ArgMax", "ArgMin", "TopK", "GatherElements",
    "Softmax", "LogSoftmax", "LpNormalization", "GlobalAveragePool", "GlobalLpPool",
})


CONV_OPS = frozenset({"Conv", "ConvTranspose", "ConvInteger", "QLinearConv"})


def fp32_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes to keep in FP32: the seed ops above that no convolution follows, and all their
    descendants, in graph order."""
    graph = model.graph
    consumers: dict[str, list[int]] = defaultdict(list)
    for index, node in enumerate(graph.node):
        for name in node.input:
            consumers[name].append(index)
    # A reduction whose result reaches a later convolution rescales backbone features (OSNet's channel gates,
    # MobileNetV3's squeeze-excitation): it belongs to the backbone, not to the attention, and is no seed.
    feeds_conv: set[int] = set()
    for index in reversed(range(len(graph.node))):
        node = graph.node[index]
        if node.op_type in CONV_OPS or any(user in feeds_conv for name in node.output for user in consumers[name]):
            feeds_conv.add(index)
    blocked: set[int] = set()
    stack = [i for i, node in enumerate(graph.node) if node.op_type in FP32_SEED_OPS and i not in feeds_conv]
    while stack:
        index = stack.pop()
        if index in blocked:
            continue
        blocked.add(index)
        for output in graph.node[index].output:
            stack.extend(consumers[output])
    return [graph.node[i].name for i in sorted(blocked)]


def convert_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """FP16 weights and activations for the backbone; IO stays float32 and the head stays FP32 (see module doc)."""
    from onnxconverter_common import float16

    model = _prepared(model)
    float_outputs = {o.name for o in model.graph.output if o.type.tensor_type.elem_type == onnx.TensorProto.FLOAT}
    blocked = fp32_nodes(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # per-constant notes on FP16 rounding of backbone weights
        converted = float16.convert_float_to_float16(
            model, keep_io_types=True, node_block_list=blocked, disable_shape_infer=False,
        )
    _drop_round_trips(converted, set(blocked))
    _restore_float_outputs(converted, float_outputs, set(blocked))
    leaks = fp16_inputs_in_fp32_region(converted, set(blocked))
    if leaks:
        raise ValueError(f"FP16 conversion let FP16 tensors into the FP32 region (scores, selection, head): "
                         f"{', '.join(leaks[:5])}{' ...' if len(leaks) > 5 else ''}")
    del converted.metadata_props[:]
    converted.metadata_props.extend(model.metadata_props)
    return converted


def fp16_inputs_in_fp32_region(model: onnx.ModelProto, blocked: set[str]) -> list[str]:
    """``node <- tensor`` for every node of the FP32 region ``blocked`` that reads an FP16 tensor (shape inference)."""
    graph = onnx.shape_inference.infer_shapes(model).graph
    types = {value.name: value.type.tensor_type.elem_type
             for value in list(graph.value_info) + list(graph.input) + list(graph.output)}
    types.update((tensor.name, tensor.data_type) for tensor in graph.initializer)
    return [f"{node.name} <- {name}" for node in graph.node if node.name in blocked
            for name in node.input if name and types.get(name) == onnx.TensorProto.FLOAT16]


def _prepared(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy with unique node names (the block list names nodes) and no value_info for initializers.

    The converter turns such value_info to FP16 and then casts the initializer of a blocked node through FP16
    (rounding the head's weights and flushing STA's 1e-12 clamp to 1e-7); without it those initializers stay FP32.
    """
    model = onnx.ModelProto.FromString(model.SerializeToString())
    initializers = {tensor.name for tensor in model.graph.initializer}
    kept = [value for value in model.graph.value_info if value.name not in initializers]
    del model.graph.value_info[:]
    model.graph.value_info.extend(kept)
    seen: set[str] = set()
    for index, node in enumerate(model.graph.node):
        if not node.name or node.name in seen:
            node.name = f"{node.op_type}_{index}"
        seen.add(node.name)
    return model


def _drop_round_trips(model: onnx.ModelProto, blocked: set[str]) -> None:
    """Remove FP32 -> FP16 -> FP32 cast pairs between blocked nodes.

    The converter casts every blocked node's output to FP16 and back before the next blocked node, and removes the
    pair only when the FP16 tensor has a single consumer. STA's energy sum feeds two nodes, so without this its sum
    of squares would still pass through FP16 (max 65504).
    """
    graph = model.graph
    producers = {name: node for node in graph.node for name in node.output}
    rename: dict[str, str] = {}
    for node in graph.node:
        first = producers.get(node.input[0]) if node.op_type == "Cast" else None
        if (_cast_to(node) == onnx.TensorProto.FLOAT and first is not None
                and _cast_to(first) == onnx.TensorProto.FLOAT16
                and producers.get(first.input[0]) is not None and producers[first.input[0]].name in blocked):
            rename[node.output[0]] = first.input[0]
    outputs = {output.name for output in graph.output}
    for node in graph.node:
        for index, name in enumerate(node.input):
            node.input[index] = rename.get(name, name)
    keep = [node for node in graph.node if not (node.output[0] in rename and node.output[0] not in outputs)]
    consumed = {name for node in keep for name in node.input} | outputs
    keep = [node for node in keep if node.op_type != "Cast" or node.output[0] in consumed]
    del graph.node[:]
    graph.node.extend(keep)


def _cast_to(node: onnx.NodeProto) -> int | None:
    if node.op_type != "Cast":
        return None
    return next((attribute.i for attribute in node.attribute if attribute.name == "to"), None)


def _restore_float_outputs(model: onnx.ModelProto, float_outputs: set[str], blocked: set[str]) -> None:
    """Give float32 back to outputs of blocked nodes.

    The converter casts every blocked node's output to FP16, the graph output included, and blocked nodes reading a
    graph output get no cast back. So the output name goes back to the FP32 tensor (read by the blocked nodes) and
    the FP16 cast, if anything else still reads it, writes a copy of its own.
    """
    graph = model.graph
    producers = {name: node for node in graph.node for name in node.output}
    for output in graph.output:
        if output.name not in float_outputs or output.type.tensor_type.elem_type == onnx.TensorProto.FLOAT:
            continue
        cast = producers.get(output.name)
        if cast is None or _cast_to(cast) != onnx.TensorProto.FLOAT16:
            raise ValueError(f"FP16 conversion left output {output.name!r} in FP16 and cannot restore it")
        source, copy = cast.input[0], f"{output.name}_fp16"
        for node in graph.node:
            if node is cast:
                node.input[0], node.output[0] = output.name, copy
                continue
            node.output[:] = [output.name if name == source else name for name in node.output]
            for index, name in enumerate(node.input):
                if name == source:
                    node.input[index] = output.name
                elif name == output.name and node.name not in blocked:
                    node.input[index] = copy
        kept = [value for value in graph.value_info if value.name not in (source, output.name)]
        del graph.value_info[:]
        graph.value_info.extend(kept)
        output.type.tensor_type.elem_type = onnx.TensorProto.FLOAT
    consumed = {name for node in graph.node for name in node.input}
    kept_nodes = [node for node in graph.node if not (node.op_type == "Cast" and node.output[0].endswith("_fp16")
                                                      and node.output[0] not in consumed)]
    del graph.node[:]
    graph.node.extend(kept_nodes)
