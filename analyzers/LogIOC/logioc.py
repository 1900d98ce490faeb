#!/usr/bin/env python3
"""Cortex entry point of Socflow_LogIOC (process runner: ``logioc.py <job folder>``)."""

from socflow.adapters.cortex.base import run_worker

if __name__ == "__main__":
    run_worker("LogIOC")  # imported inside: failures still give output.json
