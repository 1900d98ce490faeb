"""Issue 11 item 8: every flavor (analyzers and responders) answers a malformed, huge, deeply
nested, binary or non-object ``input.json`` with ``output.json`` {success: false, one-line
errorMessage}: never a traceback, never a missing output — run as Cortex runs them."""

from __future__ import annotations

import json
import time

import pytest

from socflow.adapters.cortex.base import MAX_INPUT_BYTES, MAX_INPUT_DEPTH
from tests.support.cortexjob import ANALYZERS, RESPONDERS, assert_cortex_accepts, run_job

FLAVORS = sorted(
    json.loads(p.read_text())["name"] for root in (ANALYZERS, RESPONDERS) for p in root.glob("*/*.json")
)
_JOB = {"dataType": "ip", "data": "45.9.8.7", "tlp": 2, "pap": 2, "message": "", "parameters": {},
        "config": {}}


def _nested(levels: int) -> bytes:
    job = dict(_JOB, data={"x": None})
    text = json.dumps(job)
    return text.replace('{"x": null}', "[" * levels + "1" + "]" * levels).encode()


HOSTILE = {
    "malformed": (b'{"dataType": "ip", "data": ', "is not valid JSON"),
    "not-an-object": (b'["dataType", "ip"]', "must hold a JSON object, not list"),
    "binary": (b'{"data": "\xff\xfe\x00\x81"}', "not UTF-8 text"),
    "nested-100k": (_nested(100_000), "nested too deeply"),
    "nested-past-limit": (_nested(MAX_INPUT_DEPTH + 5), "nested too deeply"),
    "huge": (b'{"data": "' + b"a" * (MAX_INPUT_BYTES + 10) + b'"}', "more than the"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
@pytest.mark.parametrize("flavor", FLAVORS)
def test_hostile_input_json_gets_a_one_line_failure(flavor: str, kind: str) -> None:
    raw, expected = HOSTILE[kind]
    data_type = "thehive:alert" if flavor.startswith("Socflow_Notify") else "ip"
    start = time.monotonic()
    result = run_job(flavor, data="45.9.8.7", data_type=data_type, raw_input=raw, timeout=60)
    assert time.monotonic() - start < 30
    assert result.output_written, result.stderr
    assert_cortex_accepts(result.output)
    message = result.output["errorMessage"]
    assert result.output["success"] is False and expected in message, message
    assert "\n" not in message and len(message) < 300
    assert "Traceback" not in result.stderr + result.stdout


def test_nesting_within_the_limit_still_runs_the_worker() -> None:
    # A real (if odd) job nested below the limit reaches the worker, which answers on its own.
    result = run_job("Socflow_Block", data=[[[["45.9.8.7"]]]], data_type="thehive:alert",
                     config={"api_url": "http://127.0.0.1:9", "api_token": "x" * 20})
    assert result.output_written and result.output["success"] is False
    assert "nested too deeply" not in result.output["errorMessage"]
