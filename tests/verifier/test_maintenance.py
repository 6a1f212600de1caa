"""`sweep` deletes what no rule can need any more, and nothing a rule still needs."""

import pytest

from sqlalchemy import func, select

from host.verifier import service, throttle
from host.verifier.store import throttle as throttle_rows
from tests.verifier.conftest import DAY, PASSWORD


def fail(v, name):
    with pytest.raises(service.VerifierError):
        v.start(name, "not the password")


def test_a_spray_of_made_up_names_is_swept_once_it_cannot_lock_anyone(world):
    v, clock, key, _ = world
    for i in range(30):
        fail(v, "nobody%d" % i)
    fail(v, "alice")
    assert v.sweep() == {"failures": 0, "lockouts": 0, "challenges": 0, "throttle": 0}, "all still count"
    clock.now += 2 * DAY + 1  # past the lockout window and the lock's duration
    gone = v.sweep()
    assert gone["failures"] == 31 and gone["lockouts"] == 31
    assert v.start("alice", PASSWORD)["kind"] == "token"


def test_sweep_keeps_what_a_lock_still_needs(world):
    v, clock, key, _ = world
    for _ in range(10):
        fail(v, "alice")
    clock.now += DAY - 60  # still locked: the lock runs until 24 h after the last failure
    v.sweep()
    with pytest.raises(service.VerifierError) as e:
        v.start("alice", PASSWORD)
    assert e.value.code == "locked"


def test_expired_challenges_are_swept_a_day_later(world):
    v, clock, key, _ = world
    ch = v.start("alice", PASSWORD)
    clock.now += 120 + DAY - 1
    assert v.sweep()["challenges"] == 0
    clock.now += 2
    assert v.sweep()["challenges"] == 1
    with pytest.raises(service.VerifierError) as e:
        v.finish(ch["challenge_id"], "12345678")
    assert e.value.code == "bad-challenge-id"


def throttle_row_count(v):
    with v.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(throttle_rows)).scalar()


def test_throttle_counters_of_a_name_spray_are_swept_and_a_live_limit_is_kept(world):
    v, clock, key, _ = world
    window = v.policy.throttle_window
    rows = 1 if v.engine.dialect.name == "sqlite" else 2  # a bucket, and on PostgreSQL a lock row, a key
    for i in range(50):  # 50 made-up names from 50 addresses
        assert throttle.attempt(v, "198.51.100.%d" % i, "sprayed%d" % i) is None
    assert throttle_row_count(v) == 100 * rows
    assert v.sweep()["throttle"] == 0, "all still in the window"
    clock.now += window + window / throttle.BUCKETS + 1
    for _ in range(v.policy.throttle_per_user):  # alice uses her whole limit now
        assert throttle.attempt(v, "203.0.113.1", "alice") is None
    assert v.sweep()["throttle"] == 100 * rows, "the spray's buckets and lock rows"
    assert throttle_row_count(v) == 2 * rows, "alice's and her address's buckets (and lock rows) remain"
    assert throttle.attempt(v, "203.0.113.2", "alice") is not None, "alice's limit still holds after a sweep"
