#!/usr/bin/env python3
"""Cortex entry point of Socflow_Notify_Mail (the logic lives in socflow)."""

from socflow.adapters.cortex.base import run_worker

if __name__ == "__main__":
    run_worker("Notify_Mail")  # imported inside: failures still give output.json
