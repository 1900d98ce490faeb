"""socflow.refusal: a worker's 'refused by policy' message, and only that, reads as a refusal."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socflow import refusal

text = st.text(max_size=300)
codes = st.lists(st.sampled_from(["private", "allowlisted", "documentation", "too-wide"]),
                 min_size=1, max_size=4)


@settings(max_examples=200)
@given(codes, text)
def test_a_refusal_message_reads_back(given_codes, reason):
    found = refusal.parse(refusal.message(given_codes, reason))
    assert found is not None
    assert found.codes == tuple(sorted(set(given_codes))) and found.reason == reason


@settings(max_examples=200)
@given(text, codes, text)
def test_the_mark_anywhere_but_at_the_start_is_no_refusal(before, given_codes, after):
    message = before + refusal.message(given_codes, after)
    assert (refusal.parse(message) is not None) == (before == "")


@pytest.mark.parametrize("error", [
    None, 42, "", "no output", "refused by policy: x", "refused by policy []: x",
    "refused by policy [Private]: x", "refused by policy [private] x",
    "cannot reach the block-list service (ConnectionError); check api_url",
    "the block-list service refused the token (HTTP 401); check api_token",
])
def test_other_failures_are_not_refusals(error):
    assert refusal.parse(error) is None


def test_a_message_needs_a_code():
    with pytest.raises(ValueError):
        refusal.message(["Not A Code!"], "x")
