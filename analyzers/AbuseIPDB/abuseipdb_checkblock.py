#!/usr/bin/env python3
"""Cortex entry point of Socflow_AbuseIPDB_CheckBlock (the logic lives in socflow)."""

from socflow.adapters.cortex.base import run_worker

if __name__ == "__main__":
    run_worker("AbuseIPDB_CheckBlock")  # imported inside: failures still give output.json
