"""Cortex analyzers: one module per analyzer, each a thin SocflowAnalyzer subclass."""
