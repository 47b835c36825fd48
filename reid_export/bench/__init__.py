"""The benchmarks that need torch: MACs per clip (``flops``), the export-format table (``formats``) and the
mixed-length workload (``mixed``), as ``reid bench flops | formats | mixed`` (``cli``). Latency, the machine
description, result writing and plots are the runtime's (:mod:`reid_runtime.bench`). Importing this package imports
no torch.
"""
