"""``reid train``: the spec's options, ``--json`` printing the TrainResult, bad input answered in one line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from reid_runtime.cli.main import cli, main
from reid_runtime.data.synth import SynthConfig, synthesize

TINY = [
    "model.name=tp_tiny", "model.kwargs={width: 16}", "loss.inter_frame_weight=0.0",
    "data.input_size=[64, 32]", "data.p=3", "data.k=2", "data.num_workers=0", "data.test_max_clips=2",
    "optim.milestones=[1]", "train.eval_every=0", "train.max_steps_per_epoch=1", "optim.epochs=1",
]
SETS = [part for item in TINY for part in ("--set", item)]


def test_json_prints_the_train_result_and_messages_go_to_stderr(tiny_mars, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", "--config", "demo", "--data-root", str(tiny_mars),
                                                      "--out", str(out), *SETS, "--no-progress", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["out"] == str(out) and payload["last"] == str(out / "last.pt") and (out / "last.pt").is_file()
    assert payload["model"] == "tp_tiny" and payload["epochs"] == 1 and payload["interrupted"] is None
    assert 0 <= payload["final"]["mAP"] <= 100 and payload["best_map"] == payload["final"]["mAP"]
    assert "Training tp_tiny" in result.stderr


def test_plain_output_is_a_summary_with_the_run_folder(tiny_mars, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", "--config", "demo", "--data-root", str(tiny_mars),
                                                      "--out", str(out), *SETS, "--no-progress"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[-2].startswith("Trained tp_tiny: 1 epochs, 1 iterations") and "mAP" in lines[-2]
    assert lines[-1] == f"Run folder: {out} (last.pt, best.pt, metrics.jsonl, config.json)"


@pytest.mark.parametrize(("extra", "message"), [
    (["--set", "optim.lr"], "--set 'optim.lr': expected key=value"),
    (["--set", "data.pp=3"], "--set data.pp=3: unknown config key 'data.pp'. Did you mean 'data.p'?"),
    (["--config", "sta_marz"], "Did you mean 'sta_mars'?"),
    (["--resume"], "nothing to resume"),
    (["--resume", "--overwrite"], "--resume continues the run there and --overwrite discards it; pass only one"),
    (["--accept-changes"], "--accept-changes applies to --resume only"),
    (["--set", "optim.lr=fast"], "--set optim.lr=fast: optim.lr is 'fast', expected a number"),
    (["--set", "train.checkpoint_every=0"], "train.checkpoint_every is 0, expected a value >= 1"),
])
def test_bad_input_exits_2_with_one_line(tiny_mars, tmp_path, capsys, extra, message):
    args = ["train", "--config", "demo", "--data-root", str(tiny_mars), "--out", str(tmp_path / "run"), *extra]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("missing", ["--data-root", "--out"])
def test_data_root_and_out_are_required(tiny_mars, tmp_path, missing):
    args = {"--config": "demo", "--data-root": str(tiny_mars), "--out": str(tmp_path / "run")}
    args.pop(missing)
    result = CliRunner().invoke(cli, ["train", *(p for kv in args.items() for p in kv)])
    assert result.exit_code == 2 and f"Missing option '{missing}'" in result.output


def test_too_few_identities_for_a_batch_is_one_line(tmp_path):
    synthesize(SynthConfig(layout="mars", ids=4, seed=0, size=(64, 32)), tmp_path / "mars")
    result = subprocess.run([sys.executable, "-m", "reid_runtime.cli.main", "train", "--config", "demo",
                             "--data-root", str(tmp_path / "mars"), "--out", str(tmp_path / "run")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"Error: {tmp_path / 'mars'}: the train split holds 4 identities, fewer than the 8 a batch takes (data.p); "
        "use a larger dataset or --set data.p=4"]
