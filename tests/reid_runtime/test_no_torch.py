"""The light runtime never imports torch: loading and embedding with an ONNX model, streaming, `reid embed/search`."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from PIL import Image


def test_onnx_runtime_paths_do_not_import_torch(sta_split, make_tracklets, tmp_path):
    crops = tmp_path / "crops"
    for i, frames in enumerate(make_tracklets([2, 3])):
        (crops / f"t{i}").mkdir(parents=True)
        for j, frame in enumerate(frames):
            Image.fromarray(frame).save(crops / f"t{i}" / f"{j}.png")
    out = tmp_path / "e.npz"
    code = textwrap.dedent(f"""
        import sys
        import numpy as np
        import reid_runtime
        model = reid_runtime.load({str(sta_split)!r})
        assert model.embed([np.zeros((3, 64, 32, 3), np.uint8)]).shape == (1, 32)
        from reid_runtime.stream import TrackletStream
        stream = TrackletStream(model)
        stream.update(1, np.zeros((2, 64, 32, 3), np.uint8))
        stream.embedding(1)
        from reid_runtime.cli.embed import embed
        embed.main(["--model", {str(sta_split)!r}, "--tracklets", {str(crops)!r}, "--out", {str(out)!r}],
                   standalone_mode=False)
        from reid_runtime.cli.search import search
        search.main(["--query", {str(out)!r}, "--gallery", {str(out)!r}, "--out", {str(tmp_path / "r.json")!r}],
                    standalone_mode=False)
        from reid_runtime.cli.main import main
        if True:
            main(["embed", "--model", {str(sta_split)!r}, "--tracklets", {str(crops)!r},
                  "--out", {str(tmp_path / "main.npz")!r}])
        # the plugin declarations of the upper layers are read (light modules); nothing else of them is imported
        light = {"reid_train", "reid_train.plugin", "reid_export", "reid_export.plugin", "reid_demo",
                 "reid_demo.plugin"}
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "onnx", "reid_train", "reid_export",
                                                                     "reid_demo", "matplotlib") and m not in light)
        assert not heavy, f"imported {{heavy}}"
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert out.is_file() and (tmp_path / "r.json").is_file()
