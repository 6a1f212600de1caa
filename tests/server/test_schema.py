"""Schemathesis against the app's own OpenAPI schema, in process (ASGI): whatever
it sends, no 5xx, and every answer (status, content type, body) is one the schema
declares. ~100 examples an operation of the login and validation API, ~40 of the
operator API (sent with an admin API key, so they reach the library); many more
with DSC_FUZZ=1 (make fuzz)."""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

from host.server.app import create_app
from host.server.settings import Settings

EXAMPLES = 2000 if os.environ.get("DSC_FUZZ") else 100
OPERATOR_EXAMPLES = 500 if os.environ.get("DSC_FUZZ") else 40
OPERATOR = r"^/api/v1/(users|audit)"
MOBILE = r"^/mobile/api/"  # the phone app's routes: every body is refused before it reaches a secret
MOBILE_EXAMPLES = 500 if os.environ.get("DSC_FUZZ") else 40
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


class _Pending:
    """The verifier until the module's database exists (the schema does not need one)."""


APP = create_app(Settings(), verifier=_Pending())
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


ADMIN_KEY = []


@pytest.fixture(scope="module", autouse=True)
def verifier(tmp_path_factory):
    from host.verifier import passwords
    from tests.server.conftest import make_db

    cheap, passwords.N = passwords.N, 2 ** 4  # users the operator API adds cost little to hash
    try:
        db, keyring = make_db(tmp_path_factory.mktemp("schema"))
        APP.state.verifier = Settings(db=db, master_key_file=keyring).open_verifier()
        ADMIN_KEY[:] = [APP.state.verifier.create_api_key("admin", "schemathesis")[0]]
        yield APP.state.verifier
    finally:
        passwords.N = cheap
    APP.state.verifier.close()
    APP.state.verifier = _Pending()


@schema.exclude(path_regex=OPERATOR + "|" + MOBILE).parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_matches_its_schema(case):
    case.call_and_validate(checks=CHECKS)


@schema.include(path_regex=MOBILE).parametrize()
@settings(max_examples=MOBILE_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_mobile_api_matches_its_schema(case):
    case.call_and_validate(checks=CHECKS)


@schema.include(path_regex=OPERATOR).parametrize()
@settings(max_examples=OPERATOR_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_operator_api_matches_its_schema(case):
    case.headers = dict(case.headers or {}, Authorization="Bearer " + ADMIN_KEY[0])
    case.call_and_validate(checks=CHECKS)
