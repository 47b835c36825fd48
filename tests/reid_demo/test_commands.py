"""Running a `reid` command in-process for the demo: stdout captured (a --json document), stderr kept apart, and a
failure raised as one line naming the command line."""

from __future__ import annotations

import pytest

from reid_demo.commands import CommandFailed, run_reid
from reid_runtime.errors import ReidError


def test_captures_the_json_document_and_the_messages_apart(tmp_path):
    root = tmp_path / "my data"
    run_reid(["data", "synth", "--layout", "mars", "--out", str(root), "--ids", "2", "--size", "64x32"])
    run = run_reid(["data", "summary", "--dataset", "mars", "--data-root", str(root), "--json"])
    assert run.line == f"reid data summary --dataset mars --data-root '{root}' --json"
    assert [row["split"] for row in run.json()["splits"]] == ["train", "query", "gallery"]
    assert run.seconds > 0


@pytest.mark.parametrize(("argv", "message"), [
    (["search", "--query", "q.npz"], "`reid search --query q.npz`: "),
    (["data", "summary", "--dataset", "mars", "--data-root", "."],
     "`reid data summary --dataset mars --data-root .`: "),
    (["nope"], "`reid nope`: No such command 'nope'"),
])
def test_a_failure_names_the_command_in_one_line(tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CommandFailed) as info:
        run_reid(argv)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_a_command_without_json_output_says_so(tmp_path):
    run = run_reid(["data", "synth", "--layout", "mars", "--out", str(tmp_path / "d"), "--ids", "2", "--size", "64x32"])
    with pytest.raises(ReidError, match="did not print one JSON document"):
        run.json()
