"""VFPT: Visual Fourier Prompt Tuning."""
