"""The intel settings exist twice — pydantic (``enrich/config.py``: CLI, bridge) and msgspec
(``enrich/settings.py``: Cortex jobs, no pydantic import) — and must never drift apart: same
fields, same defaults, same limits, the same values accepted. msgspec is allowed to be stricter
only on odd spellings pydantic's lax mode tolerates (``" 4 "``, ``"yes"``), never laxer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, SecretStr, ValidationError

from socflow.enrich import config as pyd
from socflow.enrich import settings as light
from socflow.errors import ConfigError

PAIRS = [(getattr(pyd, name), getattr(light, name)) for name in (
    "RateLimit", "CacheTtl", "ProviderSettings", "VirusTotalSettings", "AbuseIPDBSettings",
    "OTXSettings", "EnrichConfig")]
PROVIDERS = {"virustotal": pyd.VirusTotalSettings, "abuseipdb": pyd.AbuseIPDBSettings,
             "otx": pyd.OTXSettings}


def plain(value: Any) -> Any:
    """Either side's settings object as plain comparable data."""
    if isinstance(value, BaseModel):
        return {k: plain(getattr(value, k)) for k in type(value).model_fields}
    if isinstance(value, msgspec.Struct):
        return {k: plain(getattr(value, k)) for k in value.__struct_fields__}
    if isinstance(value, (SecretStr, light.Secret)):
        return ("secret", value.get_secret_value())
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def pydantic_limits(model: type[BaseModel], name: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for item in model.model_fields[name].metadata:
        for bound in ("ge", "gt", "le", "lt"):
            if getattr(item, bound, None) is not None:
                found[bound] = getattr(item, bound)
    return found


def msgspec_limits(struct: type[msgspec.Struct], name: str) -> dict[str, float]:
    info = msgspec.inspect.type_info(struct)
    field = next(f for f in info.fields if f.name == name)  # type: ignore[attr-defined]
    return {b: getattr(field.type, b) for b in ("ge", "gt", "le", "lt")
            if getattr(field.type, b, None) is not None}


@pytest.mark.parametrize(("model", "struct"), PAIRS, ids=lambda c: c.__name__)
def test_same_fields_and_limits(model: type[BaseModel], struct: type[msgspec.Struct]) -> None:
    assert list(model.model_fields) == list(struct.__struct_fields__)
    for name in model.model_fields:
        assert pydantic_limits(model, name) == msgspec_limits(struct, name), name


@pytest.mark.parametrize(("model", "struct"), PAIRS[1:], ids=lambda c: c.__name__)
def test_same_defaults(model: type[BaseModel], struct: type[msgspec.Struct]) -> None:
    required = {"api_url": "https://mirror.example/api"} if model is pyd.ProviderSettings else {}
    assert plain(model(**required)) == plain(struct(**required))


# Values an admin could type into Cortex (JSON types) around every limit, plus wrong types.
NUMBER = st.one_of(st.integers(-5, 400), st.sampled_from([0, 1, 8, 24, 25, 32, 100, 300, 365, 3600]),
                   st.floats(-1, 4000, allow_nan=False), st.sampled_from([1.0, 4.0, 299.5, 0.001]))
ODD = st.one_of(st.none(), st.booleans(), st.text(max_size=6), st.sampled_from(["4", "4.0", "1e3", " 4 ", "yes"]),
                st.lists(st.integers(), max_size=2))
VALUE = st.one_of(NUMBER, NUMBER, NUMBER, ODD)


@st.composite
def provider_section(draw: st.DrawFn, model: type[BaseModel]) -> dict[str, Any]:
    names = [n for n in model.model_fields if n not in ("limits", "cache_ttl", "api_key", "api_url")]
    section: dict[str, Any] = {n: draw(VALUE) for n in draw(st.lists(st.sampled_from(names), max_size=4))}
    if draw(st.booleans()):
        section["api_key"] = draw(st.one_of(st.text(min_size=1, max_size=8), st.integers()))
    if draw(st.booleans()):
        section["api_url"] = draw(st.sampled_from(
            ["http://127.0.0.1:9/api/", " https://mirror.example/v3 ", "ftp://nowhere", "http://x", 7]))
    if draw(st.booleans()):
        section["limits"] = {"api": [{"limit": draw(VALUE), "per_seconds": draw(VALUE)}]}
    if draw(st.booleans()):
        section["cache_ttl"] = {draw(st.sampled_from(["safe", "not_found", "nope"])): draw(VALUE)}
    return section


@st.composite
def enrich_values(draw: st.DrawFn) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in draw(st.lists(st.sampled_from(sorted(PROVIDERS)), max_size=2, unique=True)):
        values[name] = draw(provider_section(PROVIDERS[name]))
    if draw(st.booleans()):
        values["budget_seconds"] = draw(VALUE)
    if draw(st.booleans()):
        values["cache_path"] = draw(st.sampled_from(["/tmp/c.sqlite", 3]))
    return values


@given(enrich_values())
@example({"abuseipdb": {"limits": {"api": [{"limit": "1E0", "per_seconds": 1}]}}})  # msgspec took it
@settings(max_examples=300, deadline=None)
def test_msgspec_accepts_only_what_pydantic_accepts_with_the_same_values(values: dict[str, Any]) -> None:
    try:
        expected: Any = plain(pyd.EnrichConfig(**values))
    except ValidationError:
        expected = None
    try:
        got: Any = plain(light.load_settings(values, "Test"))
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith("Test configuration: ") and "\n" not in message
        got = None
    if got is not None:
        assert got == expected  # never laxer than pydantic, same result when both accept
        assert_same_behaviour(pyd.EnrichConfig(**values), light.load_settings(values))
    elif expected is not None:
        # stricter only on non-JSON-native spellings pydantic's lax mode coerces
        assert _has_lax_spelling(values), (values, expected)


def assert_same_behaviour(model: pyd.EnrichConfig, struct: light.EnrichConfig) -> None:
    """The methods the core calls answer alike on both (they are written twice)."""
    mine, theirs = model.provider_settings(), struct.provider_settings()
    assert list(mine) == list(theirs)
    for name, provider in mine.items():
        other = theirs[name]
        assert provider.key() == other.key()
        for level in ("malicious", "suspicious", "safe", "info"):
            for found in (True, False):
                assert provider.cache_ttl.seconds_for(level, found) == other.cache_ttl.seconds_for(level, found)


def _has_lax_spelling(node: Any) -> bool:
    if isinstance(node, dict):
        return any(_has_lax_spelling(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_lax_spelling(v) for v in node)
    return isinstance(node, (str, bool))


def test_errors_name_the_item_on_one_line() -> None:
    cases = {
        "virustotal.malicious_threshold: expected int >= 1": {"virustotal": {"malicious_threshold": 0}},
        "virustotal: api_url must be an http(s) URL, got 'ftp://nowhere'": {"virustotal": {"api_url": "ftp://nowhere"}},
        "budget_seconds: expected float <= 3600.0": {"budget_seconds": 7200},
        "otx.malicious_threshold: not a known item": {"otx": {"malicious_threshold": 3}},
        "cache_path: expected str, got int": {"cache_path": 3},
    }
    for expected, values in cases.items():
        with pytest.raises(ConfigError) as info:
            light.load_settings(values, "X")
        assert str(info.value) == f"X configuration: {expected}"


def test_the_api_key_never_shows_in_a_repr() -> None:
    loaded = light.load_settings({"virustotal": {"api_key": "s3cr3t-key-123"}})
    assert "s3cr3t" not in repr(loaded) and "s3cr3t" not in str(loaded)
    assert loaded.virustotal is not None and loaded.virustotal.key() == "s3cr3t-key-123"
    built = light.VirusTotalSettings(api_key="s3cr3t-key-123")  # built in code with a plain str
    assert "s3cr3t" not in repr(built) and built.key() == "s3cr3t-key-123"
