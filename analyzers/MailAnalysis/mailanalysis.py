#!/usr/bin/env python3
"""Cortex entry point of Socflow_MailAnalysis (process runner: ``mailanalysis.py <job folder>``)."""

from socflow.adapters.cortex.base import run_worker

if __name__ == "__main__":
    run_worker("MailAnalysis")  # imported inside: failures still give output.json
