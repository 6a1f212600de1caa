"""Unknown user and wrong password: the same answer and the same time, over HTTP
(issue 8, abuse resistance), on the native API and on /validate/check. The
password KDF runs at its real cost here, so a shortcut for unknown names (no KDF)
would make them about a hundred times faster: the bound below is loose enough for
a loaded machine and far too tight for that."""

import statistics
import time

import httpx
import pytest

from tests.server.conftest import Server, make_db

pytestmark = [pytest.mark.real_password_cost,  # the bound assumes the KDF's real cost
              pytest.mark.xdist_group("equal-time")]  # one server for the module, on one worker

ROUNDS = 7
USERS = tuple("user%d" % i for i in range(ROUNDS))  # one wrong guess each: nobody gets near a lockout


@pytest.fixture(scope="module")
def client(tmp_path_factory, secrets_sent):
    tmp = tmp_path_factory.mktemp("equal-time")
    db, keyring = make_db(tmp, users=USERS)  # real password hashes
    secrets_sent.update({"Wrong-guess-%d" % i for i in range(ROUNDS)})
    s = Server(tmp, db, keyring)
    try:
        with httpx.Client(base_url=s.url, timeout=30) as c:
            yield c
    finally:
        s.stop()


def _start(c, name, password):
    return c.post("/api/v1/login/start", json={"username": name, "password": password})


def _check(c, name, password):
    return c.post("/validate/check", data={"user": name, "pass": password})


@pytest.mark.parametrize("ask", [_start, _check], ids=["native", "privacyidea"])
def test_unknown_user_and_wrong_password_answer_alike_in_alike_time(client, ask):
    known, unknown, answers = [], [], set()
    for i in range(ROUNDS):
        for name, times in ((USERS[i], known), ("nobody%d-%s" % (i, ask.__name__), unknown)):
            begun = time.perf_counter()
            r = ask(client, name, "Wrong-guess-%d" % i)
            times.append(time.perf_counter() - begun)
            body = r.json()
            body.pop("time", None)  # privacyIDEA's envelope carries the time of the answer
            answers.add((r.status_code, repr(body)))
    assert len(answers) == 1, answers  # the very same status and body
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.33 < ratio < 3, "unknown names take %.2fx the time of wrong passwords" % ratio


def test_a_known_and_an_unknown_serial_answer_alike_in_alike_time(client):
    """serial + pass without user: a wrong password for a device that exists (user0's
    DSC00001) and a serial no device has get the same answer in the same time, so
    the serial-only check does not tell which serials exist."""
    known, unknown, answers = [], [], set()
    for i in range(5):  # with the tests above, user0 stays below the lockout (10)
        for serial, times in (("DSC00001", known), ("NOPE%04d" % i, unknown)):
            begun = time.perf_counter()
            r = client.post("/validate/check", data={"serial": serial, "pass": "Wrong-guess-%d" % i})
            times.append(time.perf_counter() - begun)
            body = r.json()
            body.pop("time", None)
            answers.add((r.status_code, repr(body)))
    assert len(answers) == 1, answers
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.33 < ratio < 3, "unknown serials take %.2fx the time of wrong passwords" % ratio
