"""Shared test set-up: make ``support`` and ``fakes`` importable from every test folder."""

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

# Property tests: random exploration on developers' machines (failures are kept in .hypothesis/),
# a fixed seed in CI so a green submission cannot turn red on a rerun of the same commit.
import os  # noqa: E402

import tempfile  # noqa: E402

from hypothesis import settings  # noqa: E402

# Every command keeps state in $SOCFLOW_STATE_DIR when no flag says otherwise (socflow.state):
# tests and the commands they start never touch the developer's ~/.local/state/socflow. Tests of
# the default location remove the variable themselves.
os.environ["SOCFLOW_STATE_DIR"] = tempfile.mkdtemp(prefix="socflow-test-state-")

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# Compiled MISP warning lists (socflow.warninglists) go to a cache for this run, not to ~/.cache.
if "SOCFLOW_CACHE_DIR" not in os.environ:
    import tempfile  # noqa: E402

    os.environ["SOCFLOW_CACHE_DIR"] = tempfile.mkdtemp(prefix="socflow-test-cache-")
