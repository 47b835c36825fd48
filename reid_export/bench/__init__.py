"""Benchmarks: MACs per clip (``flops``), latency and throughput per backend (``latency``), the measured matrix-multiply
peak (``peak``), the export-format table (``format_table``), plots (``plots``) and the ``reid bench`` commands
(``cli``). Importing this package imports no torch.
"""
