"""Last in the group: the module server's log holds no password, PIN or response the
tests sent, no query string, and no traceback (no 500 happened)."""

import pytest

pytestmark = pytest.mark.xdist_group("server")


def test_no_secret_in_the_logs(server, http, secrets_sent):
    http.get("/healthz?token=query-secret-123")
    secrets_sent.add("query-secret-123")
    secrets_sent.add("hunter2-query")
    text = server.log_text()
    assert "dsc.access" in text and "/api/v1/login/start" in text
    for secret in secrets_sent:
        assert secret not in text, "a secret reached the log"
    assert "Traceback" not in text and " 500 " not in text and "unexpected" not in text
