"""Pure helpers of the HTTP layer: reading the server's reset time, one-line error excerpts."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

from hypothesis import given
from hypothesis import strategies as st

from socflow.enrich.http import backoff_total, reset_time, text_excerpt

NOW = 1_800_000_000.0


def test_retry_after_seconds_wins_over_the_reset_header() -> None:
    assert reset_time({"Retry-After": "29241", "X-RateLimit-Reset": "1545973200"}, NOW) == NOW + 29241


def test_retry_after_http_date() -> None:
    when = datetime.fromtimestamp(NOW + 120, tz=UTC)
    assert reset_time({"Retry-After": format_datetime(when, usegmt=True)}, NOW) == NOW + 120


def test_x_ratelimit_reset_epoch_or_relative() -> None:
    assert reset_time({"X-RateLimit-Reset": "1800000600"}, NOW) == 1800000600
    assert reset_time({"X-RateLimit-Reset": "30"}, NOW) == NOW + 30


@given(st.dictionaries(st.sampled_from(["Retry-After", "X-RateLimit-Reset", "Other"]), st.text(max_size=30)))
def test_reset_time_never_crashes(headers: dict[str, str]) -> None:
    value = reset_time(headers, NOW)
    assert value is None or isinstance(value, float | int)


@given(st.text(max_size=2000), st.integers(min_value=10, max_value=300))
def test_excerpt_is_one_bounded_line(text: str, limit: int) -> None:
    out = text_excerpt(text, limit)
    assert len(out) <= limit and "\n" not in out and "\r" not in out


def test_html_page_is_reduced_to_its_title() -> None:
    page = "<html><head><title>502 Bad Gateway</title></head><body><h1>oops</h1>" + "x" * 5000 + "</body></html>"
    assert text_excerpt(page) == "502 Bad Gateway"


def test_backoff_budget_matches_urllib3() -> None:
    from urllib3.util.retry import Retry

    retry = Retry(total=3, backoff_factor=0.5, backoff_max=4.0)
    slept = 0.0
    for _ in range(3):
        retry = retry.increment(method="GET", url="/", error=ConnectionError())
        slept += retry.get_backoff_time()
    assert backoff_total(3) == slept


def test_display_url_hides_credentials_and_query_and_stays_short() -> None:
    from socflow.enrich.http import display_url, service_base

    assert display_url("https://user:pw@mirror.example:8443/api/v3/x?apikey=SECRET#f") == \
        "https://mirror.example:8443/api/v3/x"
    long = display_url("https://h.example/" + "a" * 5000)
    assert len(long) == 160 and long.endswith("…")
    assert service_base("https://www.virustotal.com", "/api/v3") == "https://www.virustotal.com/api/v3"
    assert service_base("https://www.virustotal.com/API/V3/", "/api/v3") == "https://www.virustotal.com/API/V3"
    assert service_base("https://proxy.example/vt", "/api/v3") == "https://proxy.example/vt/api/v3"
