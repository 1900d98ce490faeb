"""Issue 11 item 2: every configuration item of the Block, Unblock and Notify flavors, at its
documented default and absent (Cortex sends ``null`` for an item nobody set), run as Cortex runs
the job. Each case names the outcome the documentation promises: success, or a one-line error
that names the item — never a crash ("Unexpected error"), a traceback or a missing output.json.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from blocklist.service import TOKEN, Service, start_service
from fakes.mail import PASSWORD, USER, FakeSMTP
from fakes.webhook import FakeWebhook
from support.cortexjob import assert_cortex_accepts, load_flavor, run_job

from socflow.adapters.cortex.responders._settings import settings_from
from socflow.adapters.cortex.responders.block import BlockSettings

from .conftest import PARAMETERS, fixture

OK = "ok"


def _items(flavor: str) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in load_flavor(flavor)[0]["configurationItems"]}


# flavor -> item -> (outcome with the item absent, outcome at its documented default).
# An outcome is OK or a fragment of the one-line errorMessage. Items without a documented
# default have None there.
EXPECTED: dict[str, dict[str, tuple[str, str | None]]] = {
    "Socflow_Block": {
        "api_url": ("api_url", "in-process"),  # the default names a compose host: checked below
        "api_token": ("api_token", None),
        "default_ttl_hours": (OK, OK),
        "dry_run": (OK, OK),
        "timeout": (OK, OK),
        "verify_tls": (OK, OK),
    },
    "Socflow_Unblock": {
        "api_url": ("api_url", "in-process"),
        "api_token": ("api_token", None),
        "dry_run": (OK, OK),
        "timeout": (OK, OK),
        "verify_tls": (OK, OK),
    },
    "Socflow_Notify_Mail": {
        "smtp_host": ("smtp_host", OK),  # default localhost: where the test server listens
        "smtp_port": ("localhost:587", "localhost:587"),  # nothing listens on 587 here
        "smtp_security": (OK, OK),
        "allow_plaintext": (OK, OK),
        "smtp_user": ("smtp_user and smtp_password go together", None),
        "smtp_password": ("smtp_user and smtp_password go together", None),
        "from_address": ("from_address", None),
        "to": (OK, OK),  # the case's mail: tags still give recipients
        "recipients_from_tags": (OK, OK),
        "recipients_from_observable": (OK, OK),  # run on a case: the 'to' list as before
        "recipient_domains": (OK, OK),
        "verify_tls": (OK, OK),
        "timeout": (OK, OK),
        "body_format": (OK, OK),
        "subject_template": (OK, None),
        "body_template": (OK, None),
        "api_url": (OK, OK),
    },
    "Socflow_Notify_Webhook": {
        "webhook_url": ("webhook_url", None),
        "format": (OK, OK),
        "verify_tls": (OK, OK),
        "timeout": (OK, OK),
        # The test receiver is on loopback: refused unless allowed, which is the point.
        "allow_private_targets": ("allow_private_targets", "allow_private_targets"),
        "subject_template": (OK, None),
        "body_template": (OK, None),
        "api_url": (OK, OK),
    },
}

CASES = [(flavor, item, mode) for flavor, items in EXPECTED.items() for item, outcomes in items.items()
         for mode, outcome in zip(("absent", "default"), outcomes, strict=True)
         if outcome not in (None, "in-process")]


def test_every_documented_item_has_an_expectation() -> None:
    for flavor, expected in EXPECTED.items():
        items = _items(flavor)
        assert set(items) == set(expected), flavor
        for name, (_, at_default) in expected.items():
            assert ("defaultValue" in items[name]) == (at_default is not None), (flavor, name)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    svc = start_service(tmp_path_factory.mktemp("bl") / "bl.sqlite3")
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def smtp() -> Iterator[FakeSMTP]:
    with FakeSMTP("starttls") as server:
        yield server


@pytest.fixture(scope="module")
def hook() -> Iterator[FakeWebhook]:
    with FakeWebhook() as fake:
        yield fake


def _base(flavor: str, service: Service | None, smtp: FakeSMTP, hook: FakeWebhook) -> dict[str, Any]:
    if flavor in ("Socflow_Block", "Socflow_Unblock"):
        assert service is not None
        return {"api_url": service.url, "api_token": TOKEN}
    if flavor == "Socflow_Notify_Mail":
        return {"smtp_host": "localhost", "smtp_port": smtp.port, "smtp_user": USER, "smtp_password": PASSWORD,
                "from_address": "thehive@example-corp.com", "to": ["soc@example-corp.com"],
                "cacerts": smtp.ca_pem, "timeout": 10}
    return {"webhook_url": hook.url + "/hook", "allow_private_targets": True}


@pytest.mark.parametrize(("flavor", "item", "mode"), CASES)
def test_item_absent_or_at_its_default(
    flavor: str, item: str, mode: str, service: Service, smtp: FakeSMTP, hook: FakeWebhook
) -> None:
    blocklist_service = service
    absent, at_default = EXPECTED[flavor][item]
    expected = absent if mode == "absent" else at_default
    config = _base(flavor, blocklist_service, smtp, hook)
    config[item] = None if mode == "absent" else _items(flavor)[item]["defaultValue"]
    if flavor in ("Socflow_Block", "Socflow_Unblock"):
        data, data_type = fixture("case_artifact_ip"), "thehive:case_artifact"
        if flavor == "Socflow_Unblock":
            blocklist_service.add(data["data"])
    else:
        data, data_type = fixture("case"), "thehive:case"
    result = run_job(flavor, data=data, data_type=data_type, parameters=PARAMETERS, config=config, timeout=60)
    assert result.output_written, result.stderr
    assert_cortex_accepts(result.output)
    out = result.output
    assert "Traceback" not in result.stderr
    if expected == OK:
        assert out["success"] is True, out
    else:
        assert out["success"] is False, out
        message = out["errorMessage"]
        assert expected in message and "\n" not in message and "Unexpected error" not in message, message


def test_block_api_url_default_is_accepted() -> None:
    """The documented default (the compose alias) parses; it is not called (no DNS in tests)."""
    class Worker:
        def config(self, name: str) -> Any:
            return {"api_url": _items("Socflow_Block")["api_url"]["defaultValue"], "api_token": TOKEN}.get(name)

    settings = settings_from(Worker(), BlockSettings)
    assert settings.api_url == "http://socflow-blocklist:8080"
    assert (settings.default_ttl_hours, settings.dry_run, settings.timeout, settings.verify_tls) == (
        _items("Socflow_Block")["default_ttl_hours"]["defaultValue"], False, 15, True)
