"""Fault suite, hostile and broken inputs, through the real `reid` entry point.

Frames: every frame that cannot be decoded (truncated JPEG, empty file, text, a PNG that declares 30000x30000 pixels
in a few bytes) skips its tracklet in `reid embed` and `reid eval`, which name the real frame and go on; `--strict`
makes it fatal (one line, exit 2). Models: a truncated or non-ONNX file, a graph with a wrong input rank or name or
missing outputs, metadata that contradicts the graph, a split file without or with a foreign companion answer in one
line naming the file, exit 2, in `reid info`, `reid embed` and `reid eval`; `reid bench latency` reports the row failed
with that line. MOT: an annotation file with nan is one line naming the file and line, exit 2.
"""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from reid_runtime.cli.main import main
from reid_runtime.data.registry import load_dataset

onnx = pytest.importorskip("onnx")


def reid(capsys, *args) -> tuple[int, str, str]:
    """Run `reid ARGS` in-process: (exit status, stdout, stderr)."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    assert "Traceback" not in err
    return lines[0]


# --- frames ------------------------------------------------------------------------------------------------------

def bomb_png(path: Path, width: int = 30000, height: int = 30000) -> None:
    """A PNG of a few hundred bytes whose header declares width x height pixels."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


DAMAGE = {  # how a frame is broken -> what the report says about it
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), "truncated or corrupt"),
    "empty": (lambda p: p.write_bytes(b""), "empty file"),
    "text": (lambda p: p.write_text("this is not a JPEG"), "not an image"),
    "bomb": (bomb_png, "decompression bomb"),
}


@pytest.fixture
def broken_mars(tiny_mars, tmp_path) -> tuple[Path, dict[str, tuple[str, str]]]:
    """A copy of tiny_mars with one frame of four gallery tracklets broken, one way each: tid -> (frame, reason)."""
    root = tmp_path / "mars"
    shutil.copytree(tiny_mars, root)
    gallery = load_dataset("mars", root, attributes=False).gallery
    picked = list({t.tid: t for t in gallery[1::2]}.values())  # tids repeat across identities: one each
    broken = {}
    for tracklet, (damage, reason) in zip(picked, DAMAGE.values()):
        frame = tracklet.frames[len(tracklet.frames) // 2]
        damage(Path(frame))
        broken[tracklet.tid] = (frame, reason)
    assert len(broken) == len(DAMAGE)
    return root, broken


def test_embed_skips_each_unreadable_frame_and_names_it(sta_onnx, broken_mars, tmp_path, capsys):
    root, broken = broken_mars
    code, out, err = reid(capsys, "embed", "--model", sta_onnx, "--data-root", root, "--dataset", "mars",
                          "--split", "gallery", "--sampling", "all", "--out", tmp_path / "g.npz", "--json")
    assert code == 0, err
    skipped = {item["tid"]: item["error"] for item in json.loads(out)["skipped"]}
    assert skipped.keys() == broken.keys()
    for tid, (frame, reason) in broken.items():
        assert frame in skipped[tid] and reason in skipped[tid], skipped[tid]
        assert frame in err  # the log line of the skip names the real frame too
    with np.load(tmp_path / "g.npz", allow_pickle=False) as data:
        assert int(np.isnan(data["embeddings"]).any(axis=1).sum()) == len(broken)


def test_embed_strict_stops_at_the_first_unreadable_frame(sta_onnx, broken_mars, tmp_path, capsys):
    root, broken = broken_mars
    code, _, err = reid(capsys, "embed", "--model", sta_onnx, "--data-root", root, "--dataset", "mars",
                        "--split", "gallery", "--sampling", "all", "--out", tmp_path / "g.npz", "--strict")
    line = one_error_line(err)
    assert code == 2 and any(frame in line and reason in line for frame, reason in broken.values()), line
    assert not (tmp_path / "g.npz").exists()


def test_eval_skips_and_reports_unreadable_frames(sta_onnx, broken_mars, tmp_path, capsys):
    root, broken = broken_mars
    code, out, err = reid(capsys, "eval", "--model", sta_onnx, "--data-root", root, "--dataset", "mars",
                          "--out", tmp_path / "eval", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report == json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert {item["tid"]: item["role"] for item in report["skipped"]} == dict.fromkeys(broken, "gallery")
    for item in report["skipped"]:
        frame, reason = broken[item["tid"]]
        assert frame in item["error"] and reason in item["error"]
    assert report["skipped_gallery"] == len(broken) and report["skipped_queries"] == 0
    gallery = load_dataset("mars", root, attributes=False).gallery
    assert report["results"][0]["num_gallery"] == len(gallery) - len(broken)
    assert any("Skipped 4 tracklets with unreadable frames" in note for note in report["notes"])
    assert "Skipped 4 tracklets" in err and all(frame in err for frame, _ in broken.values())


def test_eval_strict_exits_2_naming_the_frame(sta_onnx, broken_mars, tmp_path, capsys):
    root, broken = broken_mars
    code, _, err = reid(capsys, "eval", "--model", sta_onnx, "--data-root", root, "--dataset", "mars", "--strict",
                        "--out", tmp_path / "eval")
    line = one_error_line(err)
    assert code == 2 and any(frame in line for frame, _ in broken.values()) and "strict" in line
    assert not (tmp_path / "eval" / "eval.json").exists()


# --- models ------------------------------------------------------------------------------------------------------

F = onnx.TensorProto.FLOAT


def _props(path: Path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(path).metadata_props}


def _set_props(path: Path, **props: str) -> None:
    model = onnx.load(path)
    for prop in model.metadata_props:
        if prop.key in props:
            prop.value = props[prop.key]
    onnx.save(model, path)


def _graph(path: Path, inputs, outputs, props: dict[str, str]) -> None:
    """A loadable graph with these inputs / outputs ((name, shape)) and metadata; outputs are constants."""
    helper = onnx.helper
    nodes, constants = [], []
    for name, shape in outputs:
        constants.append(onnx.numpy_helper.from_array(np.zeros([d if isinstance(d, int) else 1 for d in shape],
                                                               np.float32), f"c_{name}"))
        nodes.append(helper.make_node("Identity", [f"c_{name}"], [name]))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, F, s) for n, s in inputs],
                              [helper.make_tensor_value_info(n, F, s) for n, s in outputs], constants)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    for key, value in props.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, path)


def _split_copy(sta_split: Path, folder: Path) -> Path:
    folder.mkdir()
    for name in ("sta.backbone.onnx", "sta.head.onnx"):
        shutil.copyfile(sta_split.with_name(name), folder / name)
    return folder / "sta.backbone.onnx"


def _truncated(full, split, folder):
    (folder / "cut.onnx").write_bytes(full.read_bytes()[: full.stat().st_size // 3])
    return folder / "cut.onnx"


def _not_onnx(full, split, folder):
    (folder / "notes.onnx").write_text("# release notes\nnot a model\n")
    return folder / "notes.onnx"


def _wrong_rank(full, split, folder):
    _graph(folder / "rank.onnx", [("frames", ["n", 3, 64, 32])], [("embedding", ["n", 32])], _props(full))
    return folder / "rank.onnx"


def _wrong_input_name(full, split, folder):
    _graph(folder / "name.onnx", [("images", ["b", "t", 3, 64, 32])], [("embedding", ["b", 32])], _props(full))
    return folder / "name.onnx"


def _missing_output(full, split, folder):
    _graph(folder / "out.onnx", [("frames", ["b", "t", 3, 64, 32])], [("features", ["b", 32])], _props(full))
    return folder / "out.onnx"


def _metadata_size(full, split, folder):
    shutil.copyfile(full, folder / "size.onnx")
    _set_props(folder / "size.onnx", **{"reid.input_size": "256x128"})
    return folder / "size.onnx"


def _metadata_dim(full, split, folder):
    shutil.copyfile(full, folder / "dim.onnx")
    _set_props(folder / "dim.onnx", **{"reid.embedding_dim": "2048"})
    return folder / "dim.onnx"


def _no_companion(full, split, folder):
    backbone = _split_copy(split, folder / "pair")
    _set_props(backbone, **{"reid.companion": ""})
    return backbone


def _companion_missing(full, split, folder):
    backbone = _split_copy(split, folder / "pair")
    (folder / "pair" / "sta.head.onnx").unlink()
    return backbone


def _foreign_companion(full, split, folder):
    backbone = _split_copy(split, folder / "pair")
    _set_props(folder / "pair" / "sta.head.onnx", **{"reid.architecture": "tp_tiny"})
    return backbone


MODELS = {  # name -> (make the broken file, what its one line says)
    "truncated": (_truncated, "not a loadable ONNX model, the file is not ONNX, truncated or invalid"),
    "not-onnx": (_not_onnx, "not a loadable ONNX model"),
    "input-rank": (_wrong_rank, "input 'frames' has rank 4 [n, 3, 64, 32]; expected rank 5"),
    "input-name": (_wrong_input_name, "expected one input 'frames' (batch, seq, 3, H, W) for a role=full graph"),
    "missing-output": (_missing_output, "expected an output 'embedding' (batch, D) for a role=full graph"),
    "metadata-input-size": (_metadata_size, "the graph takes 64x32 frames but its metadata says 256x128"),
    "metadata-embedding-dim": (_metadata_dim, "output 'embedding' is 32-d but its metadata says reid.embedding_dim"),
    "backbone-without-companion": (_no_companion, "this backbone graph names no companion graph"),
    "companion-missing": (_companion_missing, "needs its companion 'sta.head.onnx' beside it, which is missing"),
    "companion-of-another-model": (_foreign_companion, "not the head of sta.backbone.onnx: their metadata differ"),
}


@pytest.fixture(scope="module")
def broken_models(sta_onnx, sta_split, tmp_path_factory) -> dict[str, Path]:
    made = {}
    for name, (make, _) in MODELS.items():
        folder = tmp_path_factory.mktemp(f"model-{name}")
        made[name] = make(sta_onnx, sta_split, folder)
    return made


@pytest.mark.parametrize("case", list(MODELS))
def test_a_broken_model_is_one_line_in_info_embed_and_eval(case, broken_models, tiny_mars, tmp_path, capsys):
    path, expected = broken_models[case], MODELS[case][1]
    commands = {
        "info": ["info", path],
        "embed": ["embed", "--model", path, "--data-root", tiny_mars, "--dataset", "mars", "--split", "query",
                  "--out", tmp_path / "q.npz"],
        "eval": ["eval", "--model", path, "--data-root", tiny_mars, "--dataset", "mars", "--out", tmp_path / "ev"],
    }
    for command, args in commands.items():
        code, out, err = reid(capsys, *args)
        line = one_error_line(err)
        assert code == 2, (command, err)
        assert expected in line and line.startswith("Error: ") and path.name in line, (command, line)
    assert not (tmp_path / "q.npz").exists() and not (tmp_path / "ev").exists()


def test_bench_latency_reports_each_broken_model_failed_in_one_line(broken_models, tmp_path, capsys):
    cases = ["truncated", "input-rank", "metadata-input-size", "companion-of-another-model"]
    args = [arg for case in cases for arg in ("--model", broken_models[case])]
    code, out, err = reid(capsys, "bench", "latency", *args, "--batch-sizes", "1", "--seq-lens", "2", "--runs", "1",
                          "--warmup", "0", "--min-seconds", "0", "--json")
    assert "Traceback" not in err
    entries = json.loads(out)["entries"]
    assert len(entries) == len(cases)
    for case, entry in zip(cases, entries):
        assert entry["status"] == "failed" and "\n" not in entry["reason"], entry
        assert MODELS[case][1] in entry["reason"], entry["reason"]


# --- MOT ---------------------------------------------------------------------------------------------------------

def test_a_mot_file_with_nan_is_one_line_naming_the_line(sta_onnx, mot_sequence, tmp_path, capsys):
    gt = mot_sequence / "gt" / "gt.txt"
    lines = gt.read_text().splitlines()
    lines[4] = lines[4].replace(lines[4].split(",")[4], "nan", 1)
    gt.write_text("\n".join(lines) + "\n")
    code, _, err = reid(capsys, "embed", "--model", sta_onnx, "--mot", mot_sequence, "--out", tmp_path / "m.npz")
    line = one_error_line(err)
    assert code == 2 and f"{gt}:5: expected finite numbers, got nan or inf" in line, line
    assert not (tmp_path / "m.npz").exists()


def test_a_broken_mot_frame_skips_the_tracks_on_it_unless_strict(sta_onnx, mot_sequence, tmp_path, capsys):
    frame = mot_sequence / "img1" / "000003.jpg"
    bomb_png(frame)
    out = tmp_path / "m.npz"
    code, stdout, err = reid(capsys, "embed", "--model", sta_onnx, "--mot", mot_sequence, "--out", out, "--json")
    assert code == 0, err
    report = json.loads(stdout)
    assert 0 < len(report["skipped"]) < report["count"]  # the tracks with a box on that frame, not the others
    assert all(f"{frame}: refused as a decompression bomb" in s["error"]
                                     for s in report["skipped"])
    with np.load(out, allow_pickle=False) as saved:
        rows = np.isnan(saved["embeddings"]).any(axis=1)
        assert rows.sum() == len(report["skipped"]) and (~rows).sum() == report["count"] - len(report["skipped"])
    code, _, err = reid(capsys, "embed", "--model", sta_onnx, "--mot", mot_sequence, "--out", tmp_path / "s.npz",
                        "--strict")
    line = one_error_line(err)
    assert code == 2 and f"{frame}: refused as a decompression bomb" in line, line
