"""The top layer: ``reid demo``, which runs the toolkit's own commands on synthetic data and reports what they did."""
