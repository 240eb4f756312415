"""One folder per method, under the paper's name: what each adds to the
prompted backbone of :mod:`mmprompt.core` (prompt generators, the algorithm
that fits them from data, losses, classifiers, hooks) lives in its folder.

============  ===========================================================
``vpt``       Visual Prompt Tuning: the backbone itself (``core``), its
              recipe and the lr / weight-decay sweep protocol
``bpt``       Bilinear Prompt Tuning: bilinear / whitened prompts, whitening
``spt``       Self-Prompt Tuning: prototype initialisation of the prompts
``davpt``     Distribution-Aware VPT: class-to-prompt mapping, metric loss
``pc``        Prompt Condensation: scoring and keeping prompts
``vfpt``      Visual Fourier Prompt Tuning: FFT of part of the prompts
============  ===========================================================
"""
from . import bpt, davpt, pc, spt, vfpt, vpt  # noqa: F401
