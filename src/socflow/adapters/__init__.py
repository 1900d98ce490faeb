"""Thin adapters that put the core in front of its users (Cortex, TheHive, HTTP, CLI)."""
