"""reid bench seeds: mean ± std of eval results over runs, per variant."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from reid_runtime.bench.seeds import summarize_seeds
from reid_runtime.cli.main import cli
from reid_runtime.errors import ReidError


def _eval(path, m_ap: float, seq_len: int = 4):
    row = {"seq_len": seq_len, "mAP": m_ap, "R1": m_ap + 10, "R5": m_ap + 20, "R10": m_ap + 25, "mINP": m_ap - 5}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"results": [row, {**row, "seq_len": 8}]}))
    return path


def test_mean_and_sample_std_per_group(tmp_path):
    sta = [_eval(tmp_path / f"sta{i}" / "eval.json", v) for i, v in enumerate((50.0, 54.0, 46.0))]
    tp = [_eval(tmp_path / "tp0" / "eval.json", 52.5)]
    report = summarize_seeds({"sta": sta, "tp": tp})
    assert report.stats("sta", "mAP") == pytest.approx((50.0, float(np.std([50, 54, 46], ddof=1))))
    assert report.stats("sta", "R1") == pytest.approx((60.0, 4.0))
    mean, std = report.stats("tp", "mAP")
    assert mean == 52.5 and np.isnan(std)
    assert "50.0 ± 4.0" in report.markdown() and "50.0, 54.0, 46.0" in report.markdown()
    payload = report.to_dict()
    assert payload["summary"]["sta"]["runs"] == 3 and payload["summary"]["sta"]["mAP"]["std"] == pytest.approx(4.0)


def test_cli_writes_the_table_and_json(tmp_path):
    a = [_eval(tmp_path / f"a{i}.json", v) for i, v in enumerate((40.0, 42.0))]
    b = [_eval(tmp_path / f"b{i}.json", v) for i, v in enumerate((30.0, 34.0))]
    result = CliRunner().invoke(cli, ["bench", "seeds", "--eval", f"avg={a[0]},{a[1]}", "--eval", f"sta={b[0]}",
                                      "--eval", f"sta={b[1]}", "--seq-lens", "8", "--out", str(tmp_path / "out"),
                                      "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output[result.output.index("{"):])
    assert payload["seq_len"] == 8 and payload["summary"]["sta"]["mAP"]["mean"] == pytest.approx(32.0)
    assert (tmp_path / "out" / "seeds.md").is_file() and (tmp_path / "out" / "seeds.json").is_file()


def test_bad_inputs_are_one_line(tmp_path):
    good = _eval(tmp_path / "g.json", 40.0)
    with pytest.raises(ReidError, match="missing.json: not found"):
        summarize_seeds({"x": [tmp_path / "missing.json"]})
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(ReidError, match="junk.json: not an eval.json"):
        summarize_seeds({"x": [tmp_path / "junk.json"]})
    with pytest.raises(ReidError, match="T=16"):
        summarize_seeds({"x": [good]}, seq_len=16)
    result = CliRunner().invoke(cli, ["bench", "seeds", "--eval", "nofiles"])
    assert result.exit_code == 2 and "NAME=EVAL_JSON" in result.output
