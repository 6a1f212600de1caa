"""A typo must not restart the login (issue 17, item 2b): a challenge takes up to
`challenge_tries` responses (default 3). Each wrong one is a failed login that
counts toward the lockout; the first right one or the last allowed try closes
it; a failure that locks the user closes it too. On SQLite and PostgreSQL
(`world`, tests/verifier/conftest.py); the races are in test_verifier_races*.py."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from host.verifier import service, store
from tests.ocra_reference import ocra
from tests.verifier.conftest import PASSWORD, SUITE


def responses(key, ch):
    """(right, wrong) responses to a token challenge."""
    right = ocra(SUITE, key, ch["challenge"], pin="1234")
    return right, right[:-1] + str((int(right[-1]) + 1) % 10)


def failures(v):
    """How many failed logins of alice's count toward her lock now."""
    with v.engine.begin() as conn:
        return len(v.lockout._streak(conn, "alice"))


def test_a_wrong_response_leaves_the_challenge_open_and_the_right_one_after_it_logs_in(world):
    v, clock, key, _ = world
    ch = v.start("alice", PASSWORD)
    right, wrong = responses(key, ch)
    assert v.finish(ch["challenge_id"], wrong) == {"ok": False, "reason": "wrong response", "tries_left": 2}
    assert v.challenge_state(ch["challenge_id"]) == "pending"
    assert failures(v) == 1, "the wrong try is a failed login"
    clock.now += 30
    assert v.finish(ch["challenge_id"], right) == {"ok": True, "user": "alice", "device": "DSC00001",
                                                   "kind": "token", "purpose": "login"}
    assert v.challenge_state(ch["challenge_id"]) == "accepted"
    assert failures(v) == 0, "the success resets the count"
    assert v.finish(ch["challenge_id"], right) == {"ok": False, "reason": "challenge already used"}
    events = [(e["outcome"], e["reason"]) for e in v.audit_log("alice") if e["purpose"] == "login"]
    assert events == [("fail", "wrong response"), ("ok", "")]


def test_the_third_wrong_response_closes_the_challenge(world):
    v, clock, key, _ = world
    ch = v.start("alice", PASSWORD)
    right, wrong = responses(key, ch)
    assert [v.finish(ch["challenge_id"], wrong).get("tries_left") for _ in range(3)] == [2, 1, 0]
    assert v.challenge_state(ch["challenge_id"]) == "closed"
    assert v.finish(ch["challenge_id"], right) == {"ok": False, "reason": "challenge already used"}
    assert failures(v) == 3
    assert [e["reason"] for e in v.audit_log("alice", outcome="fail")] == ["wrong response"] * 3


def test_a_typo_in_the_form_takes_no_try(world):
    v, clock, key, _ = world
    ch = v.start("alice", PASSWORD)
    right, wrong = responses(key, ch)
    for _ in range(5):
        with pytest.raises(service.VerifierError):
            v.finish(ch["challenge_id"], right[:4] + " " + right[4:])
    assert v.finish(ch["challenge_id"], wrong)["tries_left"] == 2
    assert v.finish(ch["challenge_id"], right)["ok"] is True


def test_the_tenth_failure_locks_even_in_the_middle_of_a_challenge(world):
    v, clock, key, _ = world
    for _ in range(2):  # 6 failed logins, 3 wrong responses to each of 2 challenges
        ch = v.start("alice", PASSWORD)
        for _ in range(3):
            v.finish(ch["challenge_id"], responses(key, ch)[1])
    for i in range(2):
        with pytest.raises(service.VerifierError):
            v.start("alice", "wrong password %d" % i)
    ch = v.start("alice", PASSWORD)
    right, wrong = responses(key, ch)
    assert v.finish(ch["challenge_id"], wrong)["tries_left"] == 2  # the 9th failure
    assert v.finish(ch["challenge_id"], wrong) == {"ok": False, "reason": "wrong response", "tries_left": 0}, \
        "the 10th failure locks the user: no try is left"
    assert v.user_info("alice")["locked_until"] is not None
    assert v.finish(ch["challenge_id"], right) == {"ok": False, "reason": "challenge already used"}
    with pytest.raises(service.VerifierError) as e:
        v.start("alice", PASSWORD)
    assert e.value.code == "locked"


def test_a_challenge_issued_before_a_lock_takes_no_right_response_while_locked(world):
    """Tries left on an open challenge are no way around a lock made meanwhile."""
    v, clock, key, _ = world
    ch = v.start("alice", PASSWORD)
    right, wrong = responses(key, ch)
    assert v.finish(ch["challenge_id"], wrong)["tries_left"] == 2
    for _ in range(9):  # failed logins elsewhere (issue() checks no password: no hashing)
        other = v.issue("alice")
        v.finish(other["challenge_id"], responses(key, other)[1])
    result = v.finish(ch["challenge_id"], right)
    assert not result["ok"] and result["reason"] == "locked"
    assert v.challenge_state(ch["challenge_id"]) == "closed"


@pytest.mark.parametrize("tries", [1, 5])
def test_the_tries_are_a_policy_value(world, tries):
    v, clock, key, _ = world
    v.policy.challenge_tries = tries  # the verifier reads its policy at each step
    ch = v.start("alice", PASSWORD)
    right, wrong = responses(key, ch)
    assert [v.finish(ch["challenge_id"], wrong)["tries_left"] for _ in range(tries)] == list(range(tries))[::-1]
    assert v.finish(ch["challenge_id"], right)["reason"] == "challenge already used"
    ch = v.start("alice", PASSWORD)
    right, wrong = responses(key, ch)
    for _ in range(tries - 1):
        v.finish(ch["challenge_id"], wrong)
    assert v.finish(ch["challenge_id"], right)["ok"] is True, "the last allowed try may be the right one"


def test_the_tries_policy_is_checked():
    assert service.Policy().challenge_tries == 3
    for bad in (0, 11, 2.5, True, "3"):
        with pytest.raises(service.VerifierError) as e:
            service.Policy(challenge_tries=bad)
        assert "challenge_tries" in str(e.value)


def test_a_database_of_schema_9_gets_the_tries_and_keeps_its_open_challenges(db, tmp_path):
    """dsc db init adds challenges.attempts to an older database: a challenge open
    before the upgrade takes its full tries after it."""
    import os

    master = str(tmp_path / "m.key")
    service.init_db(db, master)
    v = service.Verifier(db, master)
    v.add_user("alice", PASSWORD)
    key = os.urandom(32)
    v.enroll_token("alice", "DSC00001", key, "1234", active=True)
    ch = v.start("alice", PASSWORD)
    v.close()
    engine = store.engine_for(db)
    with engine.begin() as conn:  # as schema 9 was: no attempts column
        conn.exec_driver_sql("ALTER TABLE challenges DROP COLUMN attempts")
        store.set_meta(conn, "schema_version", b"9")
    engine.dispose()
    with pytest.raises(service.VerifierError) as e:
        service.Verifier(db, master)
    assert e.value.code == "old-database"
    assert service.init_db(db, master) == 9
    v = service.Verifier(db, master)
    try:
        right, wrong = responses(key, ch)
        assert v.finish(ch["challenge_id"], wrong)["tries_left"] == 2
        assert v.finish(ch["challenge_id"], right)["ok"] is True
        with v.engine.connect() as conn:
            assert conn.execute(select(store.challenges.c.attempts)).scalar() == 2
    finally:
        v.close()


# -- a model of one challenge, against the library ------------------------------------

ATTEMPTS = st.lists(st.sampled_from(["right", "wrong", "typo", "wait", "expire"]), min_size=1, max_size=9)


class Model:
    """What one challenge should answer: `tries` responses, a lock at `lock_at`
    failures (the failures so far are `failed`), expiry after the TTL."""

    def __init__(self, tries, lock_at, failed):
        self.tries, self.lock_at, self.failed = tries, lock_at, failed
        self.taken, self.closed, self.accepted, self.expired = 0, False, False, False

    def attempt(self, right):
        if self.closed or self.taken == self.tries:
            return {"ok": False, "reason": "challenge already used"}
        self.taken += 1
        self.closed = True  # unless a wrong response leaves it open below
        if self.expired:
            return {"ok": False, "reason": "challenge expired"}
        if self.failed >= self.lock_at:
            self.failed += 1
            return {"ok": False, "reason": "locked"}
        if right:
            self.accepted, self.failed = True, 0
            return {"ok": True}
        self.failed += 1
        left = 0 if self.failed >= self.lock_at else self.tries - self.taken
        self.closed = left == 0
        return {"ok": False, "reason": "wrong response", "tries_left": left}

    def state(self):
        if self.accepted:
            return "accepted"
        return "closed" if self.closed or self.expired else "pending"


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(attempts=ATTEMPTS, tries=st.integers(1, 5), lock_at=st.integers(1, 6), failed=st.integers(0, 5))
def test_any_sequence_of_attempts_gets_exactly_the_models_answers(world, attempts, tries, lock_at, failed):
    v, clock, key, _ = world
    v.unlock("alice")
    v.policy.challenge_tries, v.policy.lockout_failures = tries, lock_at  # read at each step
    for _ in range(failed):  # this example's earlier failed logins (issue() checks no password: no hashing)
        earlier = v.issue("alice")
        assert not v.finish(earlier["challenge_id"], responses(key, earlier)[1])["ok"]
    model = Model(tries, lock_at, failed)
    ch = v.issue("alice")
    right, wrong = responses(key, ch)
    for step in attempts:
        if step == "wait":
            clock.now += 10
        elif step == "expire":
            clock.now += v.policy.challenge_ttl
            model.expired = True
        elif step == "typo":
            with pytest.raises(service.VerifierError):
                v.finish(ch["challenge_id"], "%s %s" % (right[:4], right[4:]))
        else:
            got = v.finish(ch["challenge_id"], right if step == "right" else wrong)
            want = model.attempt(step == "right")
            assert {k: got.get(k) for k in want} == want, (step, got, want)
            assert ("tries_left" in got) == ("tries_left" in want), (step, got)
        assert v.challenge_state(ch["challenge_id"]) == model.state(), step
        assert failures(v) == model.failed, step
