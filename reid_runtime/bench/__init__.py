"""The runtime benchmark harness: numpy + onnxruntime only, so the edge install benchmarks the model it runs.

- :mod:`~reid_runtime.bench.machine`: the one description of the machine (CPU, flags, cores, versions, load);
- :mod:`~reid_runtime.bench.latency`: latency / throughput / peak memory of models per backend, side by side;
- :mod:`~reid_runtime.bench.worker`: the fresh process each measurement runs in (JSON job in, JSON answer out);
- :mod:`~reid_runtime.bench.peak`: the measured matrix-multiply ceiling of this box (numpy, ONNX Runtime);
- :mod:`~reid_runtime.bench.report`: the one writer of ``<stem>.json`` + ``<stem>.md`` every benchmark uses;
- :mod:`~reid_runtime.bench.plots`: the pictures, drawn only where matplotlib is installed.

Importing this package imports neither torch nor matplotlib.
"""
