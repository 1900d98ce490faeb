#!/usr/bin/env python3
"""Cortex entry point of Socflow_Notify_Mail (the logic lives in socflow)."""
from socflow.adapters.cortex.base import run_worker
from socflow.adapters.cortex.responders.notify import NotifyMailResponder

if __name__ == "__main__":
    run_worker(NotifyMailResponder)
