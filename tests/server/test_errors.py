"""host/server/errors.py and the catch-all, in process: an unexpected exception is
answered 500 in the JSON shape and logged by its type only; a database failure is
503; nothing the client sent is echoed."""

import logging

from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from host.server.app import create_app
from host.server.settings import Settings


class _NoVerifier:
    pass


def _app():
    app = create_app(Settings(), verifier=_NoVerifier())

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret-in-exception-text")

    @app.get("/db-down")
    def db_down():
        raise OperationalError("SELECT 1", {}, Exception("postgresql://u:secret-db-password@h/db"))

    return app


def test_unexpected_exception_is_a_json_500_logged_by_type(caplog):
    with caplog.at_level(logging.INFO), TestClient(_app(), raise_server_exceptions=False) as client:
        r = client.get("/boom")
    assert r.status_code == 500 and r.json() == {"error": "internal", "message": "internal error"}
    assert "RuntimeError" in caplog.text and "secret-in-exception-text" not in caplog.text
    assert "secret-in-exception-text" not in r.text


def test_database_failure_is_503(caplog):
    with caplog.at_level(logging.INFO), TestClient(_app(), raise_server_exceptions=False) as client:
        r = client.get("/db-down")
    assert r.status_code == 503 and r.json()["error"] == "database"
    assert "secret-db-password" not in caplog.text + r.text


def test_readyz_without_a_database_is_503():
    with TestClient(_app(), raise_server_exceptions=False) as client:
        r = client.get("/readyz")
    assert r.status_code == 503 and r.json() == {"error": "not-ready", "message": "not ready: AttributeError"}
