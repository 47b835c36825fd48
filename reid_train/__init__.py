"""Training of video re-ID models (STA, ASTA/AITL) with PyTorch."""
