"""Light runtime of the video re-ID toolkit: datasets, sampling, metrics, backends, search.

Depends on numpy, pillow, scipy and onnxruntime only; torch is imported inside the PyTorch backend alone.
"""

__version__ = "0.1.0"
