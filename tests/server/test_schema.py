"""Schemathesis against the app's own OpenAPI schema, in process (ASGI): whatever
it sends, no 5xx, and every answer (status, content type, body) is one the schema
declares. ~150 examples an operation; many more with DSC_FUZZ=1 (make fuzz)."""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

from host.server.app import create_app
from host.server.settings import Settings

EXAMPLES = 2000 if os.environ.get("DSC_FUZZ") else 150
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


class _Pending:
    """The verifier until the module's database exists (the schema does not need one)."""


APP = create_app(Settings(), verifier=_Pending())
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def verifier(tmp_path_factory):
    from tests.server.conftest import make_db

    db, keyring = make_db(tmp_path_factory.mktemp("schema"))
    APP.state.verifier = Settings(db=db, master_key_file=keyring).open_verifier()
    yield APP.state.verifier
    APP.state.verifier.close()
    APP.state.verifier = _Pending()


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_matches_its_schema(case):
    case.call_and_validate(checks=CHECKS)
