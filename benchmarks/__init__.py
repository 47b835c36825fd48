"""Benchmark scripts: each a thin caller of ``reid`` commands (see benchmarks/README.md); results in results/."""
