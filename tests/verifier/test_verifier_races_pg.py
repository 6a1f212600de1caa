"""The race tests of test_verifier_races.py against PostgreSQL: real processes,
each with its own Verifier and connection, on one database of the throwaway
server (tests/verifier/pg.py). There is no global write lock there: what holds
is the challenge's conditional UPDATE and the row locks.

- Many processes finish() one challenge at once: at most its tries are judged
  and exactly one right answer succeeds, also after a wrong try.
- Many processes make failed attempts at once (wrong passwords and wrong
  responses) across the lockout threshold: exactly `lockout_failures` get a
  truthful answer, the rest are told "locked", and every attempt is counted and
  audited (none lost).

The checks read the database directly (psycopg), not through the library.
DSC_FUZZ=1 runs more processes.
"""

import random

import psycopg
import pytest

from host.verifier import passwords, service
from tests.verifier import test_verifier_races as races
from tests.verifier.test_verifier_races import (PASSWORD, TRIES, USER, check_one_challenge_race, finish_op,
                                                overlapped, password_op, run_race)

RACERS = 40 if races.FUZZ else 12
FAILERS = 40 if races.FUZZ else 14
THRESHOLD = 5


class PgWorld(races.World):
    """races.World on a PostgreSQL database: the same setup, direct reads with psycopg."""

    def sql(self, query, *params):
        dsn = self.db.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, autocommit=True) as conn:
            return [tuple(row) for row in conn.execute(query.replace("?", "%s"), params).fetchall()]

    def check_integrity(self):
        # PostgreSQL enforces the foreign keys itself; what remains is the library's own invariant.
        bad = self.sql("SELECT id, consumed FROM challenges WHERE consumed NOT IN (0, 1)")
        assert bad == [], "challenges neither consumed nor unconsumed: %r" % bad


@pytest.fixture
def world(tmp_path, monkeypatch, pg_db):
    monkeypatch.setattr(passwords, "N", 2 ** 4)  # cheap hashes; checks read N from the hash
    return PgWorld(tmp_path, pg_db)


@pytest.mark.parametrize("responses", ["mixed", "right-after-a-wrong-one"])
def test_race_on_one_challenge_judges_at_most_its_tries_and_one_success_on_postgresql(world, responses):
    """Right and wrong responses (alternating) race on one challenge; or, after a
    wrong try that leaves it open, right ones only: exactly one succeeds."""
    (cid, right, wrong), = world.issue(1)
    if responses == "mixed":
        ops = [finish_op(cid, (right, wrong)[i % 2]) for i in range(RACERS)]
    else:
        v = world.verifier()
        assert v.finish(cid, wrong)["tries_left"] == TRIES - 1
        v.close()
        ops = [finish_op(cid, right) for _ in range(RACERS)]
    audit_before = world.audit()

    results = run_race(world, ops)

    check_one_challenge_race(world, cid, right, results, audit_before)
    if responses != "mixed":
        assert [r["outcome"] for r in results].count("ok") == 1
    world.check_streak_matches_audit()
    world.check_tries_match_audit()
    world.check_integrity()


def test_racing_failures_across_the_threshold_get_exactly_the_threshold_of_answers_on_postgresql(world):
    """Wrong passwords and wrong responses at once, lockout_failures=5: exactly 5 are
    answered truthfully, the rest "locked"; every one is counted and audited."""
    half = FAILERS // 2
    ops = [finish_op(cid, wrong) for cid, _, wrong in world.issue(half)]
    ops += [password_op("not-the-password-%d" % i) for i in range(FAILERS - half)]
    random.shuffle(ops)

    results = run_race(world, ops, policy={"lockout_failures": THRESHOLD})

    truthful = [r for r in results if r["outcome"] in ("wrong response", "error:bad-credentials")]
    locked = [r for r in results if r["outcome"] in ("locked", "error:locked")]
    assert len(truthful) == THRESHOLD, [r["outcome"] for r in results]
    assert len(locked) == FAILERS - THRESHOLD, [r["outcome"] for r in results]
    for r in truthful:
        assert r["outcome"] == ("wrong response" if r["op"]["kind"] == "finish" else "error:bad-credentials"), r
    assert len(world.streak()) == FAILERS, "every attempt counts, refused ones too: none lost"
    fails = [e for e in world.audit() if e[2] == "fail"]
    assert len(fails) == FAILERS
    assert sorted(e[3] for e in fails if e[3] != "locked") == sorted(
        "wrong response" if r["op"]["kind"] == "finish" else "wrong password" for r in truthful)
    world.check_streak_matches_audit()
    world.check_integrity()
    assert overlapped(results) >= 2, "no two attempts overlapped; the race did not happen"
    v = world.verifier(lockout_failures=THRESHOLD)
    with pytest.raises(service.VerifierError) as e:
        v.start(USER, PASSWORD)
    assert e.value.code == "locked"
    v.close()


def test_killed_verifier_leaves_a_consistent_database_on_postgresql(world, monkeypatch):
    """test_verifier_races.py's crash test on PostgreSQL, with shorter plans and fewer
    rounds (the server rolls back the transaction of a connection that dies)."""
    monkeypatch.setattr(races, "PLAN_LENGTH", 120)
    monkeypatch.setattr(races, "CRASH_ROUNDS", 40 if races.FUZZ else 5)
    races.test_killed_verifier_leaves_a_consistent_database_and_loses_no_failure(world)
