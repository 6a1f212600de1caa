"""Whatever a user or script types at the verifier: a clear refusal
(VerifierError) or an answer, never another exception, and no change of state
for malformed input."""

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from host.verifier import passwords, service
from host.verifier.kinds import PURPOSES
from tests.ocra_reference import ocra

FUZZ = os.environ.get("DSC_FUZZ") == "1"
EXAMPLES = 2000 if FUZZ else 150
SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"
PASSWORD = "correct horse"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    db, master = str(tmp / "v.db"), str(tmp / "m.key")
    service.init_db(db, master)
    saved = passwords.N
    passwords.N = 16  # cheap hashes: this test is about inputs, not the KDF
    v = service.Verifier(db, master)
    v.add_user("alice", PASSWORD)
    key = os.urandom(32)
    v.enroll_token("alice", "DSC00001", key, "1234", active=True)
    yield v, key
    passwords.N = saved
    v.close()


def snapshot(v):
    with v.engine.connect() as conn:
        from sqlalchemy import select

        from host.verifier.store import challenges, devices, failures
        return (json.dumps([list(r) for r in conn.execute(select(failures.c.name, failures.c.at))]),
                json.dumps([list(r) for r in conn.execute(select(devices.c.status, devices.c.counter))]),
                sorted(r[0] for r in conn.execute(select(challenges.c.id).where(challenges.c.consumed == 1))))


typed = st.one_of(st.text(max_size=40), st.text(alphabet="0123456789 -\t\n.", max_size=20),
                  st.sampled_from(["", " ", "1234 5678", "１２３４５６７８", "12345678\x00", "٠١٢٣٤٥٦٧"]))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(response=typed)
def test_any_typed_response_is_judged_or_refused(world, response):
    v, key = world
    ch = v.start("alice", PASSWORD)
    before = snapshot(v)
    try:
        result = v.finish(ch["challenge_id"], response)
    except service.VerifierError as e:
        assert e.code == "bad-response" and "without spaces" in str(e)
        assert snapshot(v) == before, "a refused response changes nothing"
        assert v.finish(ch["challenge_id"], ocra(SUITE, key, ch["challenge"], pin="1234"))["ok"]
        return
    assert result["ok"] is (response == ocra(SUITE, key, ch["challenge"], pin="1234"))
    if not result["ok"]:
        ch2 = v.start("alice", PASSWORD)  # reset the streak so the lockout never trips the fuzzer
        assert v.finish(ch2["challenge_id"], ocra(SUITE, key, ch2["challenge"], pin="1234"))["ok"]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(challenge_id=st.one_of(st.text(max_size=64), st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)),
       response=st.text(alphabet="0123456789", min_size=1, max_size=10))
def test_unknown_challenge_ids_are_refused(world, challenge_id, response):
    v, key = world
    before = snapshot(v)
    with pytest.raises(service.VerifierError) as e:
        v.finish(challenge_id, response)
    assert e.value.code == "bad-challenge-id"
    assert snapshot(v) == before


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(max_size=80), purpose=st.one_of(st.sampled_from(PURPOSES), st.text(max_size=12)),
       device=st.one_of(st.none(), st.text(max_size=20)), amount=st.one_of(st.none(), st.integers(-5, 10 ** 7)))
def test_any_start_request_is_answered_or_refused(world, name, purpose, device, amount):
    v, key = world
    try:
        password = PASSWORD if name.strip().lower() == "alice" else "wrong password"  # never lock alice out
        ch = v.start(name, password, device=device, purpose=purpose, amount=amount)
    except service.VerifierError:
        return
    assert ch["challenge_id"] and ch["purpose"] == purpose
