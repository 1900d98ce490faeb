#!/usr/bin/env python3
"""Cortex entry point of Socflow_AbuseIPDB_Check (the logic lives in socflow)."""

from socflow.adapters.cortex.base import run_worker

if __name__ == "__main__":
    run_worker("AbuseIPDB_Check")  # imported inside: failures still give output.json
