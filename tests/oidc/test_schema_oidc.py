"""Schemathesis on the OpenID Connect provider's JSON endpoints (issue 20), in process
(ASGI), on an app that has its issuer (--public-url) and a registered client, so that
the requests reach the provider's own parsing: discovery, JWKS, the token endpoint and
userinfo, and the operator's /api/v1/oidc/clients sent with an admin API key. Whatever
it sends: no 5xx, and every answer is one the schema declares.
(tests/server/test_schema.py sends the same paths to an app without an issuer, where
the provider answers 503 before reading a request.)"""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from host.server.app import create_app
from host.server.settings import Settings
from tests.server.test_schema import CHECKS, _Pending

EXAMPLES = 400 if os.environ.get("DSC_FUZZ") else 40
OIDC = r"^/(\.well-known/openid-configuration|oidc/|api/v1/oidc/)"
ISSUER = "https://login.example"

APP = create_app(Settings(public_url=ISSUER), verifier=_Pending())
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
ADMIN_KEY = []


@pytest.fixture(scope="module", autouse=True)
def verifier(tmp_path_factory):
    from tests.oidc.peers import register_client
    from tests.server.conftest import make_db

    db, keyring = make_db(tmp_path_factory.mktemp("oidc-schema"))
    register_client(db, keyring, "Example app", "--redirect-uri", "https://app.example/callback")
    APP.state.verifier = Settings(db=db, master_key_file=keyring, public_url=ISSUER).open_verifier()
    ADMIN_KEY[:] = [APP.state.verifier.create_api_key("admin", "schemathesis")[0]]
    try:
        yield APP.state.verifier
    finally:
        APP.state.verifier.close()
        APP.state.verifier = _Pending()


def test_the_schema_has_every_json_endpoint_of_the_provider():
    paths = APP.openapi()["paths"]
    for path, method in (("/.well-known/openid-configuration", "get"), ("/oidc/jwks", "get"),
                         ("/oidc/token", "post"), ("/oidc/userinfo", "get"), ("/oidc/userinfo", "post"),
                         ("/api/v1/oidc/clients", "post"), ("/api/v1/oidc/clients", "get"),
                         ("/api/v1/oidc/clients/{client_id}", "delete")):
        assert method in paths.get(path, {}), "%s %s is not in the OpenAPI schema" % (method.upper(), path)


def test_each_operation_of_the_schema_has_an_id_of_its_own():
    """Client generators name their functions by operationId (and FastAPI warns of a
    duplicate): GET and POST /oidc/userinfo had one between them."""
    ids = [operation["operationId"] for item in APP.openapi()["paths"].values() for operation in item.values()
           if isinstance(operation, dict) and "operationId" in operation]
    assert sorted({i for i in ids if ids.count(i) > 1}) == []


@schema.include(path_regex=OIDC).parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_the_providers_endpoints_match_their_schema(case):
    if case.path.startswith("/api/v1/oidc/"):
        case.headers = dict(case.headers or {}, Authorization="Bearer " + ADMIN_KEY[0])
    case.call_and_validate(checks=CHECKS)
