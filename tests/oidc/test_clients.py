"""Registering relying parties: `dsc oidc client add|list|remove`, `dsc oidc keys
rotate` and the operator API's /api/v1/oidc/clients. The secret is shown once and
kept only hashed; bad input is one line and a nonzero exit (or a 4xx), changing nothing."""

import hashlib
import json

import pytest

from host.cli import main
from tests import log_scan
from tests.oidc.conftest import APP

pytest.importorskip("authlib")


@pytest.fixture
def dsc(people, monkeypatch, capsys):
    """dsc(*args) -> (exit code, stdout, stderr), in process, on the people database."""
    monkeypatch.setenv("DSC_MASTER_KEY_FILE", people["keyring"])

    def run(*args):
        code = main(list(args) + ["--db", people["db"]])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_add_shows_the_secret_once_and_list_never_does(dsc, people):
    code, out, err = dsc("oidc", "client", "add", "Team wiki", "--redirect-uri", APP, "--redirect-uri",
                         "http://127.0.0.1:9000/cb", "--first-party", "--level", "urn:opendsc:acr:phone")
    assert code == 0 and "shown only now" in err
    lines = dict(line.split(" ", 1) for line in out.splitlines())
    client_id, secret = lines["client_id"], lines["client_secret"]
    log_scan.SECRETS.add(secret)
    code, out, _ = dsc("oidc", "client", "list")
    listed = json.loads(out)
    assert code == 0 and [c["client_id"] for c in listed] == [client_id]
    assert listed[0]["redirect_uris"] == [APP, "http://127.0.0.1:9000/cb"] and listed[0]["first_party"] is True
    assert listed[0]["level"] == "urn:opendsc:acr:phone" and listed[0]["public"] is False
    assert secret not in out and hashlib.sha256(secret.encode()).hexdigest() not in out
    code, out, _ = dsc("oidc", "client", "add", "Phone app", "--redirect-uri", APP, "--public")
    assert code == 0 and "client_secret" not in out
    assert dsc("oidc", "client", "remove", client_id)[0] == 0
    assert [c["name"] for c in json.loads(dsc("oidc", "client", "list")[1])] == ["Phone app"]


@pytest.mark.parametrize("args", [
    ("--redirect-uri", "ftp://app.example/cb"),
    ("--redirect-uri", "https://app.example/cb#fragment"),
    ("--redirect-uri", "/relative/cb"),
    ("--redirect-uri", APP, "--level", "urn:opendsc:acr:gold"),
    ("--redirect-uri", APP, "--scope", "email"),
])
def test_bad_input_is_one_line_and_a_nonzero_exit_and_adds_nothing(dsc, args):
    code, out, err = dsc("oidc", "client", "add", "App", *args)
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1 and err.startswith("dsc oidc: ")
    assert json.loads(dsc("oidc", "client", "list")[1]) == []


def test_removing_an_unknown_client_is_one_line(dsc):
    code, _, err = dsc("oidc", "client", "remove", "nobody")
    assert code == 1 and err == "dsc oidc: no OpenID Connect client nobody\n"


def test_keys_rotate_makes_new_current_keys(dsc, people):
    from host.oidc import keys
    from host.verifier import service

    v = service.Verifier(people["db"], people["keyring"])
    try:
        before = keys.signing_key(v, "ES256")[0]
        code, out, _ = dsc("oidc", "keys", "rotate")
        assert code == 0 and "rotated" in out
        assert keys.signing_key(v, "ES256")[0] != before
    finally:
        v.close()


def test_the_operator_api_registers_lists_and_removes_clients(provider, people):
    with provider(people) as client:
        admin = {"Authorization": "Bearer " + client.verifier.create_api_key("admin", "ops")[0]}
        auditor = {"Authorization": "Bearer " + client.verifier.create_api_key("auditor", "read")[0]}
        body = {"name": "Grafana", "redirect_uris": [APP], "first_party": True}
        assert client.post("/api/v1/oidc/clients", json=body, headers=auditor).status_code == 403
        r = client.post("/api/v1/oidc/clients", json=body, headers=admin)
        assert r.status_code == 201 and r.json()["client_secret"] and r.headers["cache-control"] == "no-store"
        log_scan.SECRETS.add(r.json()["client_secret"])
        listed = client.get("/api/v1/oidc/clients", headers=auditor).json()
        assert [c["name"] for c in listed] == ["Grafana"] and "client_secret" not in listed[0]
        bad = client.post("/api/v1/oidc/clients", json=dict(body, redirect_uris=["javascript:alert(1)"]),
                          headers=admin)
        assert bad.status_code == 400 and bad.json()["error"] == "bad-redirect-uri"
        assert client.delete("/api/v1/oidc/clients/nobody", headers=admin).status_code == 404
        assert client.delete("/api/v1/oidc/clients/" + listed[0]["client_id"], headers=admin).status_code == 200
        assert client.get("/api/v1/oidc/clients", headers=auditor).json() == []
        events = [e for e in client.verifier.audit_log() if e["purpose"] == "oidc"]
        assert [(e["reason"], e["actor"].startswith("apikey:")) for e in events] == [("added", True),
                                                                                    ("removed", True)]
