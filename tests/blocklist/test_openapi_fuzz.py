"""Schemathesis drives the service's own OpenAPI document: no 5xx, answers match the schema."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import negative_data_rejection

from socflow.adapters.blocklist.app import create_app
from socflow.adapters.blocklist.settings import ServiceSettings

from .service import TOKEN

_DB = Path(tempfile.mkdtemp(prefix="socflow-bl-fuzz-")) / "fuzz.sqlite3"
APP = create_app(ServiceSettings(db_path=_DB, token=TOKEN, allowlist=("8.8.8.8",), default_ttl_seconds=60))
# A schema-valid value may still be refused by the block policy (422, documented in the schema):
# that is the service doing its job, not a rejected valid request.
CONFIG = SchemathesisConfig.from_dict({
    "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "401", "422"]}},
    "phases": {"coverage": {"enabled": False}},
})
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=CONFIG)


def test_openapi_document_describes_every_route() -> None:
    doc = APP.openapi()
    assert {"/api/v1/entries", "/api/v1/audit", "/edl/{list_type}", "/edl/{list_type}.md5", "/healthz"} <= set(doc["paths"])
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert set(doc["paths"]["/api/v1/entries"]["post"]["responses"]) >= {"200", "201", "400", "401", "422"}


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: schemathesis.Case) -> None:
    # Unknown query parameters are ignored like most HTTP services do (firewalls add cache
    # busters); invalid bodies and values must still get a documented 4xx, never a 5xx.
    case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"},
                           excluded_checks=[negative_data_rejection])
