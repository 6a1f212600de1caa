"""The server's log holds no password, PIN or response sent to it, no query
string, and no traceback (no 500 happened). The `server` fixture scans the whole
log again when it stops, after every test of its process."""

from tests import log_scan
from tests.ocra_reference import ocra
from tests.server.conftest import KEY, PASSWORD, SUITE


def test_no_secret_in_the_logs(server, http, secrets_sent):
    password = "Log-scan-password-77"
    secrets_sent.update({password, "query-secret-123"})
    assert http.post("/api/v1/login/start", json={"username": "alice", "password": password}).status_code == 401
    ch = http.post("/api/v1/login/start", json={"username": "alice", "password": PASSWORD})
    http.get("/healthz?token=query-secret-123")
    assert ch.status_code == 200, ch.text
    response = ocra(SUITE, KEY, ch.json()["challenge"], pin="4321")
    secrets_sent.add(response)
    assert http.post("/api/v1/login/finish", json={"challenge_id": ch.json()["challenge_id"],
                                                   "response": response}).status_code == 401
    text = server.log_text()
    assert "dsc.access" in text and "/api/v1/login/start" in text
    leaked = log_scan.leaked(text, secrets_sent)  # a 4-digit PIN only as a whole token, as the run's scan
    assert not leaked, "%d secret(s) reached the log" % len(leaked)
    assert "Traceback" not in text and '" 500 ' not in text and "unexpected" not in text
