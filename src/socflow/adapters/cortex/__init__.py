"""Cortex analyzers and responders built on cortexutils."""
