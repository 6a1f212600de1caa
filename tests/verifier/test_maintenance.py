"""`sweep` deletes what no rule can need any more, and nothing a rule still needs."""

import pytest

from host.verifier import service
from tests.verifier.conftest import DAY, PASSWORD


def fail(v, name):
    with pytest.raises(service.VerifierError):
        v.start(name, "not the password")


def test_a_spray_of_made_up_names_is_swept_once_it_cannot_lock_anyone(world):
    v, clock, key, _ = world
    for i in range(30):
        fail(v, "nobody%d" % i)
    fail(v, "alice")
    assert v.sweep() == {"failures": 0, "lockouts": 0, "challenges": 0}, "all still count"
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
