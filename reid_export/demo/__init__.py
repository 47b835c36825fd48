"""``reid demo``: the whole toolkit on synthetic data in one command, from a fresh machine with no dataset.

Synthetic MARS-layout data -> STA and TP training -> evaluation with pictures -> ONNX export and verification ->
embedding with ONNX Runtime -> search -> PyTorch vs ONNX Runtime latency -> ``report.md``.

It lives in ``reid_export`` because that is the top package: the only one that may import all three
(``reid_runtime`` <- ``reid_train`` <- ``reid_export``). Nothing heavy is imported here, so ``reid demo --help`` is
fast; the stages import torch when they run.
"""
