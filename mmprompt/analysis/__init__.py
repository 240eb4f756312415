"""Analyses of prompted ViTs: complexity (FLOPs, latency)."""
