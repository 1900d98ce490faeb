"""socflow.adapters.misp: the event pushed with the real PyMISP to the loopback MISP fake
(``tests/fakes/misp.py``, R7.1/R8.16); key from SOCFLOW_MISP_KEY, never shown; outbound policy."""

from __future__ import annotations

import pytest
from fakes.misp import FakeMisp

from socflow.adapters.misp import ENV_KEY, push_event
from socflow.errors import AuthError, ConfigError, PolicyError, UnavailableError
from socflow.export import from_thehive, misp_event

CASE = {"number": 7, "title": "SSH brute force", "tlp": 1, "severity": 2, "tags": ["ssh"]}
OBS = [{"dataType": "ip", "data": "193.32.162.157", "ioc": True},
       {"dataType": "domain", "data": "evil.example", "ioc": False}]


@pytest.fixture()
def misp():
    with FakeMisp() as fake:
        yield fake


def _export():
    return misp_event(from_thehive(CASE, OBS))


def test_push_adds_the_event_unpublished_with_the_key_from_the_environment(misp, monkeypatch):
    monkeypatch.setenv(ENV_KEY, misp.api_key)
    export = _export()
    pushed = push_event(export, url=misp.url, allow_private=True)
    assert pushed.published is False and pushed.attributes == 2
    assert pushed.url == f"{misp.url}/events/view/{pushed.event_id}" and pushed.uuid == export.event.uuid
    stored = misp.events[pushed.event_id]
    assert stored["info"] == "SSH brute force (TheHive case #7)" and stored["published"] is False
    assert [t["name"] for t in stored["Tag"]] == ["tlp:green", "ssh"]
    assert {(a["type"], a["to_ids"]) for a in stored["Attribute"]} == {("ip-dst", True), ("domain", False)}
    calls = [(m, p) for m, p, _, _ in misp.requests]
    assert calls[:4] == [("GET", "/servers/getVersion"), ("GET", "/servers/getPyMISPVersion.json"),
                         ("GET", "/users/view/me"), ("GET", "/attributes/describeTypes.json")]
    assert calls[4:] == [("POST", "/events/add")]
    assert all(h["Authorization"] == misp.api_key for _, _, _, h in misp.requests)


def test_publish_on_request(misp):
    pushed = push_event(_export(), url=misp.url, key=misp.api_key, allow_private=True, publish=True)
    assert pushed.published and misp.events[pushed.event_id]["published"] is True
    assert misp.requests[-1][1] == f"/events/publish/{pushed.event_id}"


def test_errors_are_one_line_and_never_hold_the_key(misp, monkeypatch, capsys):
    secret = "sEcReT-wrong-key-1234567890"
    with pytest.raises(AuthError) as err:
        push_event(_export(), url=misp.url, key=secret, allow_private=True)
    assert str(err.value) == f"MISP {misp.url} refused the key"
    misp.outage("500", count=5)
    with pytest.raises(UnavailableError, match="answered a server error"):
        push_event(_export(), url=misp.url, key=misp.api_key, allow_private=True)
    misp.recover()
    misp.outage("refused")
    with pytest.raises(UnavailableError, match="cannot be reached"):
        push_event(_export(), url=misp.url, key=misp.api_key, allow_private=True)
    monkeypatch.delenv(ENV_KEY, raising=False)
    with pytest.raises(ConfigError, match=ENV_KEY):
        push_event(_export(), url=misp.url, allow_private=True)
    out = capsys.readouterr()
    assert secret not in out.out + out.err and misp.api_key not in out.out + out.err


def test_outbound_policy_applies(misp):
    with pytest.raises(PolicyError, match="loopback address: refused"):
        push_event(_export(), url=misp.url, key=misp.api_key)  # loopback without allow_private
    with pytest.raises(PolicyError, match="link-local"):
        push_event(_export(), url="http://169.254.169.254/", key=misp.api_key)
    with pytest.raises(PolicyError, match="http"):
        push_event(_export(), url="ftp://misp.example/", key=misp.api_key)
    assert misp.requests == []  # nothing was sent anywhere


def test_every_pymisp_connection_goes_through_the_guarded_session(misp, monkeypatch):
    """Past the URL check (disabled here), the connection-level check still refuses loopback:
    PyMISP's own session, which its constructor uses four times, is never the one talking."""
    import socflow.adapters.misp as adapter

    monkeypatch.setattr(adapter, "check_target", lambda *a, **k: None)
    with pytest.raises(PolicyError, match="loopback address: refused"):
        push_event(_export(), url=misp.url, key=misp.api_key)
    assert misp.requests == []
