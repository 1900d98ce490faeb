"""Property tests of the dispatcher's input handling (in-process, fast): whatever sits in
``input/input.json``, the outcome is a service name or a DispatchError with a message — never any
other exception, never a silent pass."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from fakes.cortex import FakeCortex
from socflow.adapters.cortex.dispatch import DispatchError, read_input, service_of

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)


def outcome(raw: bytes) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        job = Path(tmp)
        (job / "input").mkdir()
        (job / "input" / "input.json").write_bytes(raw)
        try:
            return "service:" + service_of(read_input(job))
        except DispatchError as exc:
            assert str(exc), "a DispatchError always says what is wrong"
            return "error"


@settings(max_examples=150, deadline=None)
@given(raw=st.binary(max_size=64))
def test_arbitrary_bytes_never_escape_as_another_exception(raw: bytes) -> None:
    outcome(raw)


@settings(max_examples=200, deadline=None)
@given(body=JSON, service=st.one_of(st.none(), JSON, st.text(max_size=12)))
def test_service_is_taken_only_from_a_non_empty_config_service_string(body: object, service: object) -> None:
    if isinstance(body, dict):
        body = {**body, "config": {"service": service}}
    result = outcome(json.dumps(body).encode())
    if isinstance(body, dict) and isinstance(service, str) and service:
        assert result == f"service:{service}"
    else:
        assert result == "error"


def test_fake_cortex_follows_the_spec_for_status_and_auth() -> None:
    with FakeCortex(api_key="right-key-0123456789") as cortex:
        status = requests.get(cortex.url + "/api/status", timeout=5)
        assert status.status_code == 200 and "Cortex" in status.json()["versions"]
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            denied = requests.get(cortex.url + "/api/user/current", headers=headers, timeout=5)
            assert denied.status_code == 401
            assert denied.json() == {"type": "AuthenticationError", "message": "Authentication failure"}
        me = requests.get(cortex.url + "/api/user/current",
                          headers={"Authorization": "Bearer right-key-0123456789"}, timeout=5)
        assert me.status_code == 200 and me.json()["id"] == "socflow"
