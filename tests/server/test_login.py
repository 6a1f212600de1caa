"""The native login API over HTTP: start/finish, refusals, lockout, the error shape."""

import re

import pytest

from tests.ocra_reference import ocra
from tests.server.conftest import KEY, PASSWORD, PIN, SERIAL, SUITE


START, FINISH = "/api/v1/login/start", "/api/v1/login/finish"


def error_shape(r, status, extra=()):
    """The error's JSON: {"error", "message"} and the `extra` fields only."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error", "message", *extra} and isinstance(body["message"], str), body
    return body


def test_full_login(http, secrets_sent):
    r = http.post(START, json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 200, r.text
    ch = r.json()
    assert {"challenge_id", "kind", "serial", "challenge", "prompt", "expires_at"} <= set(ch)
    assert ch["kind"] == "token" and ch["serial"] == SERIAL and re.fullmatch(r"[0-9]{6}", ch["challenge"])
    assert ch["prompt"].startswith("Press the power key")
    assert re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z", ch["expires_at"])
    response = ocra(SUITE, KEY, ch["challenge"], pin=PIN)
    secrets_sent.add(response)
    r = http.post(FINISH, json={"challenge_id": ch["challenge_id"], "response": response})
    assert r.status_code == 200, r.text
    assert r.json() == {"ok": True, "user": "alice", "device": SERIAL, "kind": "token", "purpose": "login"}
    # the challenge is used up: the same right answer again is refused
    body = error_shape(http.post(FINISH, json={"challenge_id": ch["challenge_id"], "response": response}), 401)
    assert body["error"] == "used"


def test_wrong_response_then_the_right_one_and_wrong_password(http, secrets_sent):
    ch = http.post(START, json={"username": "alice", "password": PASSWORD}).json()
    wrong, right = (ocra(SUITE, KEY, ch["challenge"], pin=pin) for pin in ("9999", PIN))
    secrets_sent.update({wrong, right})
    body = error_shape(http.post(FINISH, json={"challenge_id": ch["challenge_id"], "response": wrong}), 401,
                       extra=["tries_left"])
    assert body == {"error": "wrong-response", "message": "wrong response", "tries_left": 2}
    r = http.post(FINISH, json={"challenge_id": ch["challenge_id"], "response": right})
    assert r.status_code == 200 and r.json()["ok"] is True, "a typo does not restart the login"
    body = error_shape(http.post(START, json={"username": "alice", "password": "not-the-password"}), 401)
    assert body == {"error": "bad-credentials", "message": "wrong user name or password"}
    secrets_sent.add("not-the-password")


def test_purposes_go_through_the_library(http):
    body = error_shape(http.post(START, json={"username": "alice", "password": PASSWORD, "purpose": "nope"}), 400)
    assert body["error"] == "bad-purpose"
    body = error_shape(http.post(START, json={"username": "alice", "password": PASSWORD, "purpose": "withdrawal"}), 400)
    assert body["error"] == "bad-amount"
    body = error_shape(http.post(START, json={"username": "alice", "password": PASSWORD, "purpose": "withdrawal",
                                              "amount": 5000}), 400)
    assert body["error"] == "bad-destination"
    r = http.post(START, json={"username": "alice", "password": PASSWORD, "purpose": "withdrawal", "amount": 5000,
                               "destination": "Mizuho Bank 1234567"})
    assert r.status_code == 200 and r.json()["amount"] == 5000 and r.json()["purpose"] == "withdrawal"
    assert r.json()["sign"] == {"challenge": r.json()["challenge"], "amount": "5000", "destination": "1234567",
                                "entry": "keypad"}
    body = error_shape(http.post(START, json={"username": "dave", "password": PASSWORD}), 409)
    assert body["error"] == "no-device"


def test_lockout_answers_the_same_for_an_unknown_user(http, secrets_sent):
    def attempts(name):
        out = []
        for i in range(10):
            secrets_sent.add("guess-%d-xyz" % i)
            r = http.post(START, json={"username": name, "password": "guess-%d-xyz" % i})
            out.append((r.status_code, r.json()))
        r = http.post(START, json={"username": name, "password": PASSWORD})  # right password, but locked
        locked = error_shape(r, 423)
        out.append((r.status_code, {"error": locked["error"], "message": re.sub(r"[0-9]", "#", locked["message"])}))
        return out

    known, unknown = attempts("carol"), attempts("nobody-here")
    assert known == unknown
    assert known[0] == (401, {"error": "bad-credentials", "message": "wrong user name or password"})
    assert known[-1][1]["error"] == "locked"


@pytest.mark.parametrize("body, status", [
    (b"{not json", 400),
    (b"[1, 2]", 422),
    (b'"text"', 422),
    (b"", 422),
    (b'{"username": 5, "password": "x"}', 422),
    (b'{"username": "alice"}', 422),
    (b'{"username": "alice", "password": ["x"]}', 422),
    (b'{"username": "alice", "password": "x", "amount": "5"}', 422),
    (b'{"username": "alice", "password": "x", "surprise": 1}', 422),
    (b'{"username": "a\\u0000b", "password": "x"}', 400),
])
def test_malformed_start(http, body, status):
    error_shape(http.post(START, content=body, headers={"content-type": "application/json"}), status)


@pytest.mark.parametrize("body, status", [
    ({"challenge_id": "zz", "response": "1"}, 404),
    ({"challenge_id": "0" * 32, "response": "1 2"}, 400),
    ({"challenge_id": "0" * 32, "response": "12345678"}, 404),
    ({"challenge_id": 7, "response": "1"}, 422),
    ({"response": "1"}, 422),
])
def test_malformed_finish(http, body, status):
    error_shape(http.post(FINISH, json=body), status)


def test_a_failed_password_never_echoes_it(http):
    r = http.post(START, json={"username": "alice", "password": 12345678})
    error_shape(r, 422)
    assert "12345678" not in r.text


def test_huge_bodies_are_refused(http):
    big = b'{"username": "alice", "password": "' + b"x" * 100_000 + b'"}'
    body = error_shape(http.post(START, content=big, headers={"content-type": "application/json"}), 413)
    assert body["error"] == "too-large"

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(100):
            yield b"x" * 1024

    error_shape(http.post(START, content=chunks(), headers={"content-type": "application/json"}), 413)


@pytest.mark.parametrize("method, path, status", [
    ("GET", "/nothing-here?password=hunter2-query", 404),
    ("GET", "/api/v1/login/start", 405),
    ("DELETE", "/api/v1/login/finish", 405),
    ("GET", "/api/v1", 404),
])
def test_unknown_routes_and_methods(http, method, path, status):
    error_shape(http.request(method, path), status)


def test_answers_through_the_native_api_take_one_trip_to_the_one_transaction_thread(tmp_path, monkeypatch):
    """As /validate/check's (test_privacyidea.py): on SQLite, answers that arrive together
    are all accepted, each one's throttle count and verdict on the process's one
    transaction thread (host/server/threads.py), not on threads that take turns at the
    write lock and the GIL."""
    import concurrent.futures
    import threading

    from fastapi.testclient import TestClient

    from host.server import throttle
    from host.server.app import create_app
    from host.server.settings import Settings
    from host.verifier import service
    from tests.server.conftest import make_db

    db, keyring = make_db(tmp_path, users=("alice",))
    v = service.Verifier(db, keyring)
    ran = []
    finish, wait = v.finish, throttle.wait
    monkeypatch.setattr(v, "finish", lambda *a: ran.append(("finish", threading.current_thread().name)) or finish(*a))
    monkeypatch.setattr(throttle, "wait", lambda *a: ran.append(("count", threading.current_thread().name)) or wait(*a))
    challenges = [v.issue("alice") for _ in range(6)]
    try:
        with TestClient(create_app(Settings(db=db, master_key_file=keyring), verifier=v)) as client, \
                concurrent.futures.ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda ch: client.post(FINISH, json={
                "challenge_id": ch["challenge_id"], "response": ocra(SUITE, KEY, ch["challenge"], pin=PIN)}), challenges))
    finally:
        v.close()
    assert [r.status_code for r in answers] == [200] * 6 and all(r.json()["ok"] for r in answers)
    assert sorted(step for step, _ in ran) == ["count"] * 6 + ["finish"] * 6
    assert len({name for _, name in ran}) == 1 and ran[0][1].startswith("dsc-transactions")
