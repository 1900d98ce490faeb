"""Responder processes start without pydantic, and each Notify channel loads only its own stack.

Guarded without timing (see tests/intel/test_cold_start.py): the job runs as Cortex runs it with
``PYTHONPROFILEIMPORTTIME`` set, and the modules it imported are read from its stderr.
"""

from __future__ import annotations

from blocklist.service import TOKEN, Service
from fakes.mail import PASSWORD, USER, FakeSMTP
from fakes.webhook import FakeWebhook
from support.cortexjob import JobResult, run_job

from .conftest import PARAMETERS, fixture

IMPORT_LOG = {"PYTHONPROFILEIMPORTTIME": "1"}
NEVER = ("pydantic", "pydantic_core", "annotated_types")


def imported(result: JobResult) -> set[str]:
    names = {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines()
             if line.startswith("import time:") and "|" in line}
    assert "socflow.adapters.cortex.base" in names, result.stderr[-2000:]
    return names


def unwanted(names: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names for p in packages if n == p or n.startswith(p + "."))


def test_block_responder_runs_without_pydantic(blocklist_service: Service) -> None:
    result = run_job("Socflow_Block", data=fixture("case_artifact_ip"), data_type="thehive:case_artifact",
                     parameters=PARAMETERS, env=IMPORT_LOG,
                     config={"api_url": blocklist_service.url, "api_token": TOKEN})
    assert result.output["success"] is True, result.output
    names = imported(result)
    assert unwanted(names, NEVER) == []
    assert {"msgspec", "requests"} <= names  # typed settings, and the service call


def test_webhook_responder_loads_neither_pydantic_nor_the_mail_stack() -> None:
    with FakeWebhook() as hook:
        result = run_job("Socflow_Notify_Webhook", data=fixture("case"), data_type="thehive:case",
                         parameters=PARAMETERS, env=IMPORT_LOG,
                         config={"webhook_url": hook.url + "/x", "api_url": "https://thehive.example",
                                 "allow_private_targets": True})
        assert len(hook.requests) == 1
    assert result.output["success"] is True, result.output
    assert unwanted(imported(result), (*NEVER, "smtplib")) == []


def test_mail_responder_loads_neither_pydantic_nor_requests() -> None:
    with FakeSMTP("starttls") as smtp:
        result = run_job("Socflow_Notify_Mail", data=fixture("case"), data_type="thehive:case",
                         parameters=PARAMETERS, env=IMPORT_LOG, timeout=60,
                         config={"smtp_host": "localhost", "smtp_port": smtp.port, "smtp_user": USER,
                                 "smtp_password": PASSWORD, "from_address": "thehive@example-corp.com",
                                 "to": ["soc@example-corp.com"], "cacerts": smtp.ca_pem, "timeout": 10})
        assert len(smtp.received) == 1
    assert result.output["success"] is True, result.output
    assert unwanted(imported(result), (*NEVER, "requests", "urllib3")) == []
