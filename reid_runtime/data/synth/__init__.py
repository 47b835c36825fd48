"""Synthetic video re-ID datasets in the real MARS and DukeMTMC-VideoReID on-disk layouts (numpy + Pillow only)."""

from reid_runtime.data.synth.config import SynthConfig
from reid_runtime.data.synth.generate import synthesize

__all__ = ["SynthConfig", "synthesize"]
