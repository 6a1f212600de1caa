"""The verifier under concurrency and crashes, with real processes on one SQLite file.

- Race on one challenge: dozens of processes call finish() on the same challenge
  at the same moment; at most its tries (challenge_tries, 3) are judged, ending
  at the first right one, so exactly one right answer succeeds, even after a
  wrong try; the others are told the challenge is already used, and the audit
  log has one event per judged attempt.
- Race on one user's failure counter: dozens of processes each make one failed
  attempt at the same moment; every failure is counted (none lost), and a race
  across the lockout threshold locks at exactly the threshold.
- Crash safety: a verifier process killed with SIGKILL at random moments leaves a
  database that passes integrity_check, with every attempt either wholly applied
  or not at all: the failure streak, the audit log, the consumed flags and the
  tries taken all agree with the attempts the worker had durably logged, plus at
  most the one in flight.

The workers are tests/verifier/workers.py, separate processes forked from a
server that has the verifier imported.
User passwords are hashed with cheap scrypt parameters (the library stores the
parameters in the hash and every process checks with the stored ones), so that
start() costs about a millisecond instead of ~50 ms.

DSC_FUZZ=1 scales the process counts and crash rounds up; DSC_SEED=n replays the
crash test's random plan and kill times (the seed is printed with a failure).
"""

import json
import os
import random
import secrets
import signal
import sqlite3
import time

import pytest

from host.verifier import passwords, service
from tests.ocra_reference import ocra
from tests.verifier import workers as worker_processes

FUZZ = os.environ.get("DSC_FUZZ") == "1"
SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"
PIN = "1234"
USER, PASSWORD = "alice", "password123"
RACERS = 48 if FUZZ else 12
FAILERS = 40 if FUZZ else 14
CRASH_ROUNDS = 100 if FUZZ else 4
COUNTED = ("wrong response", "wrong password", "locked")  # reasons that count as failed logins
TRIES = 3  # the policy's default challenge_tries
NO_LOCK = {"lockout_failures": 1000}  # the most a policy allows: count every failure, never lock here


# -- the world: one database, one user, one active token ------------------------


class World:
    def __init__(self, tmp, db=None):
        self.tmp = str(tmp)
        self.db = db or os.path.join(self.tmp, "verifier.sqlite")  # test_verifier_races_pg.py: a URL
        self.key_file = os.path.join(self.tmp, "master.key")
        service.init_db(self.db, self.key_file)
        self.key = secrets.token_bytes(32)
        v = service.Verifier(self.db, self.key_file)
        v.add_user(USER, PASSWORD)
        v.enroll_token(USER, "DSC00001", self.key, PIN, suite=SUITE, active=True)
        v.close()
        self.seq = 0

    def verifier(self, **policy):
        return service.Verifier(self.db, self.key_file, policy=service.Policy(**policy))

    def issue(self, n, v=None):
        """n fresh login challenges: (challenge_id, right response, wrong response)."""
        own = v is None
        v = v or self.verifier()
        out = []
        for _ in range(n):
            ch = v.start(USER, PASSWORD)
            right = ocra(SUITE, self.key, ch["challenge"], pin=PIN)
            wrong = right[:-1] + str((int(right[-1]) + 1) % 10)
            out.append((ch["challenge_id"], right, wrong))
        if own:
            v.close()
        return out

    def path(self, name):
        self.seq += 1
        return os.path.join(self.tmp, "%s-%d" % (name, self.seq))

    # Direct reads of the database, independent of the library.

    def sql(self, query, *params):
        conn = sqlite3.connect(self.db, timeout=30)
        try:
            return conn.execute(query, params).fetchall()
        finally:
            conn.close()

    def streak(self, settled=False):
        """The times of the failures that count towards the lockout now; with settled=True
        without "pending" ones (a password check that was killed before it ended)."""
        return [r[0] for r in self.sql(
            "SELECT at FROM failures WHERE name = ? AND id > (SELECT coalesce(max(reset_id), 0) FROM lockouts "
            "WHERE name = ?)%s ORDER BY id" % (" AND reason != 'pending'" if settled else ""), USER, USER)]

    def audit(self):
        """The authentication events (not the operator's: adding the user, enrolling the token)."""
        return self.sql("SELECT id, at, outcome, reason FROM audit WHERE username = ? AND purpose NOT IN "
                        "('user', 'enroll') ORDER BY id", USER)

    def consumed(self, ids):
        marks = ",".join("?" * len(ids))
        rows = self.sql("SELECT id FROM challenges WHERE consumed = 1 AND id IN (%s)" % marks, *ids)
        return frozenset(r[0] for r in rows)

    def check_integrity(self):
        assert self.sql("PRAGMA integrity_check") == [("ok",)]
        assert self.sql("PRAGMA foreign_key_check") == []
        bad = self.sql("SELECT id, consumed FROM challenges WHERE consumed NOT IN (0, 1)")
        assert bad == [], "challenges neither consumed nor unconsumed: %r" % bad

    def check_streak_matches_audit(self):
        """The failure streak is exactly the counted failures the audit log records
        since the last success (same times: both are written from one `now`)."""
        since = []
        for _, at, outcome, reason in self.audit():
            if outcome == "ok":
                since = []
            elif reason in COUNTED:
                since.append(at)
        assert self.streak(settled=True) == since

    def check_tries_match_audit(self):
        """Every try a challenge counts has exactly one audit event (finish() writes one
        per judged attempt), and every other event is a wrong password from start()."""
        taken = self.sql("SELECT coalesce(sum(attempts), 0) FROM challenges")[0][0]
        judged = [a for a in self.audit() if a[3] != "wrong password"]
        assert taken == len(judged)
        assert self.sql("SELECT id FROM challenges WHERE attempts > ?", TRIES) == [], "a challenge over its tries"


@pytest.fixture
def world(tmp_path, monkeypatch):
    monkeypatch.setattr(passwords, "N", 2 ** 4)  # cheap hashes; checks read N from the hash
    return World(tmp_path)


# -- running workers ------------------------------------------------------------


def spawn(world, mode, args):
    path = world.path(mode + "-args") + ".json"
    with open(path, "w") as f:
        json.dump(args, f)
    return worker_processes.start(mode, path)


def stderr_of(proc):
    with open(proc.stderr_path) as f:
        return f.read()[-3000:]


def run_race(world, ops, policy=None, timeout=120):
    """Start one worker per op, release them together, and return their results
    (each {"outcome", "t0", "t1", "pid", "op"}) in the order of `ops`."""
    go = world.path("go")
    workers = []
    try:
        for op in ops:
            args = {"db": world.db, "key_file": world.key_file, "policy": policy or {}, "op": op,
                    "ready": world.path("ready"), "go": go, "out": world.path("out")}
            workers.append((spawn(world, "race", args), args))
        deadline = time.monotonic() + timeout
        for proc, args in workers:
            while not os.path.exists(args["ready"]):
                if proc.poll() is not None:
                    pytest.fail("a race worker died before the start: %s" % stderr_of(proc))
                if time.monotonic() > deadline:
                    pytest.fail("race workers did not get ready in %d s" % timeout)
                time.sleep(0.005)
        open(go, "w").close()  # all of them wait on this file
        results = []
        for proc, args in workers:
            rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            assert rc == 0, "a race worker failed: %s" % stderr_of(proc)
            with open(args["out"]) as f:
                result = json.load(f)
            result["op"] = args["op"]
            results.append(result)
        return results
    finally:
        for proc, _ in workers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def overlapped(results):
    """How many calls ran at the same time as at least one other call."""
    return sum(1 for r in results if any(o is not r and o["t0"] < r["t1"] and r["t0"] < o["t1"] for o in results))


def finish_op(challenge_id, response):
    return {"kind": "finish", "challenge_id": challenge_id, "response": response}


def password_op(password):
    return {"kind": "password", "user": USER, "password": password}


# -- 1. many processes, one challenge -------------------------------------------


@pytest.mark.parametrize("responses", ["right", "right-after-a-wrong-one", "wrong", "mixed"])
def test_race_on_one_challenge_judges_at_most_its_tries_and_one_success(world, responses):
    (cid, right, wrong), = world.issue(1)
    if responses == "right-after-a-wrong-one":  # a typo first: the challenge stays open for the race
        v = world.verifier()
        assert v.finish(cid, wrong)["tries_left"] == TRIES - 1
        v.close()
    pick = {"wrong": lambda i: wrong, "mixed": lambda i: (right, wrong)[i % 2]}.get(responses, lambda i: right)
    ops = [finish_op(cid, pick(i)) for i in range(RACERS)]
    audit_before = world.audit()

    results = run_race(world, ops)

    check_one_challenge_race(world, cid, right, results, audit_before)
    outcomes = [r["outcome"] for r in results]
    if responses.startswith("right"):
        assert sorted(set(outcomes)) == ["challenge already used", "ok"] and outcomes.count("ok") == 1
    if responses == "wrong":
        assert outcomes.count("wrong response") == TRIES
        assert len(world.streak()) == TRIES
    world.check_streak_matches_audit()
    world.check_tries_match_audit()
    world.check_integrity()


def check_one_challenge_race(world, cid, right, results, audit_before):
    """The racers' answers to one challenge: its judged attempts (all but "already
    used") are wrong ones until the first right one, which is the only success, or
    until its tries are used; the audit log has one event each, and it is closed."""
    outcomes = [r["outcome"] for r in results]
    judged = [r for r in results if r["outcome"] != "challenge already used"]
    for r in judged:
        assert r["outcome"] == ("ok" if r["op"]["response"] == right else "wrong response"), r
    oks = outcomes.count("ok")
    wrongs = len(judged) - oks
    assert (oks, wrongs) == (0, TRIES) or (oks == 1 and wrongs < TRIES), outcomes
    new_events = world.audit()[len(audit_before):]
    assert sorted((e[2], e[3]) for e in new_events) == sorted(
        ("ok", "") if r["outcome"] == "ok" else ("fail", "wrong response") for r in judged)
    if oks:
        assert new_events[-1][2] == "ok", "nothing is judged after the success"
    assert world.consumed([cid]) == {cid}
    # The racers really raced: calls overlapped in time (not one after another).
    assert overlapped(results) >= 2, "no two finish() calls overlapped; the race did not happen"


# -- 2. many processes, one user's failure counter -------------------------------


@pytest.mark.parametrize("attempts", ["wrong-responses", "wrong-responses-and-passwords"])
def test_race_on_failure_counter_loses_no_failure(world, attempts):
    n = FAILERS
    if attempts == "wrong-responses":
        ops = [finish_op(cid, wrong) for cid, _, wrong in world.issue(n)]
    else:
        half = n // 2
        ops = [finish_op(cid, wrong) for cid, _, wrong in world.issue(half)]
        ops += [password_op("not-the-password-%d" % i) for i in range(n - half)]
        random.shuffle(ops)

    results = run_race(world, ops, policy=NO_LOCK)

    for r in results:
        want = "wrong response" if r["op"]["kind"] == "finish" else "error:bad-credentials"
        assert r["outcome"] == want, r
    streak = world.streak()
    assert len(streak) == n, "%d failed attempts were made, the streak counts %d" % (n, len(streak))
    fails = [e for e in world.audit() if e[2] == "fail"]
    assert len(fails) == n
    world.check_streak_matches_audit()
    world.check_tries_match_audit()
    world.check_integrity()

    # Behaviour: with a threshold of n+1 the user is not locked (so at most n were
    # counted) ... (a correct start() adds no failure)
    v = world.verifier(lockout_failures=n + 1)
    v.start(USER, PASSWORD)
    v.close()
    # ... and with a threshold of n the user is locked now (so at least n were).
    v = world.verifier(lockout_failures=n)
    with pytest.raises(service.VerifierError) as e:
        v.start(USER, PASSWORD)
    assert e.value.code == "locked"
    v.close()
    assert overlapped(results) >= 2, "no two attempts overlapped; the race did not happen"


def test_race_across_the_lockout_threshold_locks_at_exactly_the_threshold(world):
    """Threshold 10: of 14 (40 with DSC_FUZZ) racing wrong responses exactly the first
    10 are judged wrong and the rest are refused as locked (each still counted and audited).
    The first 9 leave their challenges open with tries left, which take no right
    response while the user is locked."""
    threshold, n = 10, FAILERS
    issued = world.issue(n + 1)
    (late_cid, late_right, _), racing = issued[0], issued[1:]
    ops = [finish_op(cid, wrong) for cid, _, wrong in racing]

    results = run_race(world, ops, policy={"lockout_failures": threshold})

    outcomes = [r["outcome"] for r in results]
    assert outcomes.count("wrong response") == threshold, outcomes
    assert outcomes.count("locked") == n - threshold, outcomes
    reasons = [e[3] for e in world.audit()]
    assert reasons == ["wrong response"] * threshold + ["locked"] * (n - threshold)
    assert len(world.streak()) == n  # every refused attempt counted too
    # the 10th failure (it locked the user) and the refused ones closed their challenges
    assert len(world.consumed([cid for cid, _, _ in racing])) == n - threshold + 1
    world.check_tries_match_audit()
    world.check_integrity()
    # The right response on a challenge issued before the lock is refused too, on
    # one with tries left as on one never answered.
    v = world.verifier(lockout_failures=threshold)
    still_open = [(cid, right) for cid, right, _ in racing if cid not in world.consumed([cid])]
    assert v.finish(*still_open[0])["reason"] == "locked"
    assert v.finish(late_cid, late_right)["reason"] == "locked"
    with pytest.raises(service.VerifierError) as e:
        v.start(USER, PASSWORD)
    assert e.value.code == "locked"
    v.close()


# -- 3. crash safety ------------------------------------------------------------------


PLAN_LENGTH = 500
OUTCOME = {"good": "ok", "bad": "wrong response", "password": "error:bad-credentials"}


def make_plan(world, rng, v):
    kinds = rng.choices(["good", "bad", "password"], weights=[25, 60, 15], k=PLAN_LENGTH)
    issued = iter(world.issue(sum(k != "password" for k in kinds), v))
    plan = []
    for i, kind in enumerate(kinds):
        if kind == "password":
            plan.append(dict(password_op("wrong-password-%d" % i), expect=kind))
        else:
            cid, right, wrong = next(issued)
            plan.append(dict(finish_op(cid, right if kind == "good" else wrong), expect=kind))
    return plan


def state(world, plan):
    audit = world.audit()
    cids = [op["challenge_id"] for op in plan if op["kind"] == "finish"]
    return {"streak": len(world.streak()), "events": len(audit), "oks": sum(e[2] == "ok" for e in audit),
            "consumed": world.consumed(cids)}


def after(before, plan, k):
    """The state once the first k attempts of `plan` are applied to `before` (each
    challenge is answered once: a wrong response leaves it open with tries left)."""
    s = dict(before)
    consumed = set(s["consumed"])
    for op in plan[:k]:
        s["events"] += 1
        if op["expect"] == "good":
            s["streak"] = 0
            s["oks"] += 1
            consumed.add(op["challenge_id"])
        else:
            s["streak"] += 1
    s["consumed"] = frozenset(consumed)
    return s


def read_log(path):
    """The completed attempts the worker logged: [(index, outcome)], and whether it finished."""
    try:
        with open(path, "rb") as f:
            data = f.read().decode()
    except FileNotFoundError:
        return [], False
    lines = data.split("\n")[:-1]  # a torn last line (no newline) is not a report
    done = lines[-1:] == ["done"]
    entries = [line.split(" ", 1) for line in lines if line != "done"]
    return [(int(i), outcome) for i, outcome in entries], done


def test_killed_verifier_leaves_a_consistent_database_and_loses_no_failure(world):
    seed = int(os.environ.get("DSC_SEED") or secrets.randbits(32))  # DSC_SEED=n replays a run
    rng = random.Random(seed)
    print("crash test seed (DSC_SEED=%d replays it)" % seed)  # shown with a failure
    issuer = world.verifier(**NO_LOCK)
    stats = {"in-flight applied": 0, "in-flight not applied": 0, "completed": 0, "killed in startup": 0}
    logged_counts = []
    for rnd in range(CRASH_ROUNDS):
        plan = make_plan(world, rng, issuer)
        before = state(world, plan)
        args = {"db": world.db, "key_file": world.key_file, "policy": NO_LOCK,
                "plan": [{k: v for k, v in op.items() if k != "expect"} for op in plan],
                "log": world.path("log"), "ready": world.path("ready")}
        proc = spawn(world, "crash", args)
        try:
            if rng.random() < 0.25:
                time.sleep(rng.uniform(0, 0.25))  # from spawn: may land while it opens the database
            else:
                deadline = time.monotonic() + 60
                while not os.path.exists(args["ready"]) and proc.poll() is None:
                    assert time.monotonic() < deadline, "crash worker never got ready"
                    time.sleep(0.001)
                time.sleep(rng.uniform(0, 0.2))
            proc.send_signal(signal.SIGKILL)
            rc = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert rc in (-signal.SIGKILL, 0), "crash worker failed on its own: %s" % stderr_of(proc)

        logged, done = read_log(args["log"])
        k = len(logged)
        assert [i for i, _ in logged] == list(range(k))
        for i, outcome in logged:
            assert outcome == OUTCOME[plan[i]["expect"]], (rnd, i, plan[i], outcome)

        # The database opens, is intact, and holds the logged attempts plus at most the one in flight.
        world.check_integrity()
        service.Verifier(world.db, world.key_file).close()
        now = state(world, plan)
        allowed = [after(before, plan, k)] + ([after(before, plan, k + 1)] if k < len(plan) else [])
        if k < len(plan) and plan[k]["kind"] == "password":
            # killed during the password check: the attempt stays counted, unaudited (fail-closed)
            allowed.append(dict(allowed[0], streak=allowed[0]["streak"] + 1))
        assert now in allowed, (
            "seed %d round %d: killed after %d logged attempts (in flight: %r); the database shows %r, "
            "expected one of %r" % (seed, rnd, k, plan[k] if k < len(plan) else None, now, allowed))
        world.check_streak_matches_audit()
        world.check_tries_match_audit()

        logged_counts.append(k)
        if done:
            stats["completed"] += 1
        elif not os.path.exists(args["ready"]):
            stats["killed in startup"] += 1
        elif now == allowed[0]:
            stats["in-flight not applied"] += 1
        else:
            stats["in-flight applied"] += 1
    issuer.close()

    # And the verifier still works: a full login succeeds and resets the streak.
    v = world.verifier(**NO_LOCK)
    (cid, right, _), = world.issue(1, v)
    assert v.finish(cid, right)["ok"] is True
    v.close()
    assert world.streak() == []
    print("crash rounds (seed %d):" % seed, stats, "attempts logged per round:", logged_counts)
