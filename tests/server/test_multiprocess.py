"""The login service as four `dsc serve` processes (one worker each) on one database,
once a SQLite file and once a PostgreSQL database (tests/verifier/pg.py):

1. A right response raced on all four servers at once logs in exactly once, also
   after a wrong try that left the challenge open; every other answer is 401 "used".
2. Failed attempts raced over the four servers are all counted: below the lockout
   threshold every answer is truthful, across it exactly `lockout_failures` are,
   the rest 423, and the failure streak and the audit log hold every attempt.
3. A lock made through one server holds on the others, for the right password and
   for a right response to a challenge issued before the lock. Right passwords
   racing for one user must not lock it: pending checks are waited for, not counted.
4. One server killed with SIGKILL while requests are in flight on all four leaves
   consistent data: no challenge logged in twice, every try a challenge counts
   audited once, no failure lost, no 5xx from the survivors, who still log users in, and a
   restarted server on the same database works.

The servers are started once per backend and shared by the tests; each test has
its own users, so their lockout counts do not meet. Users are made with cheap
scrypt parameters (the servers read them from the stored hash). DSC_FUZZ=1
races more requests and runs the crash load longer.
"""

import concurrent.futures
import contextlib
import itertools
import os
import signal
import sqlite3
import ssl
import threading
import time
from collections import Counter, namedtuple

import httpx
import pytest
import sqlalchemy

from host.verifier import passwords, service, store
from tests import log_scan
from tests.ocra_reference import ocra
from tests.server.conftest import KEY, PASSWORD, PIN, SUITE, Server

pytestmark = [pytest.mark.xdist_group("multiprocess-servers"), pytest.mark.real_password_cost]  # SLOW_USER

FUZZ = os.environ.get("DSC_FUZZ") == "1"
SERVERS = 4
THRESHOLD = 5
PER_SERVER = 6 if FUZZ else 3      # racing requests per server
CHALLENGES = 10 if FUZZ else 3     # challenges raced in test 1
FAILERS = 48 if FUZZ else 16       # racing failed attempts across the threshold
CRASH_LOAD = 1.0 if FUZZ else 0.25  # seconds of load before and after the kill
CRASH_USERS = SERVERS * PER_SERVER
VICTIM = SERVERS - 1
START, FINISH = "/api/v1/login/start", "/api/v1/login/finish"
POLICY = '{"lockout_failures": %d, "throttle_per_address": 0, "throttle_per_user": 0}' % THRESHOLD
TRUTHFUL = {(401, "bad-credentials"), (401, "wrong-response")}

Answer = namedtuple("Answer", "status error body t0 t1")
PLAIN_HTTP = ssl.create_default_context()  # one for all clients: each would load the CA bundle (~50 ms)


def new_client():
    return httpx.Client(timeout=60, verify=PLAIN_HTTP)


def crash_user(i):
    return "crash%d" % i


def doomed_user(i):
    """Users whose only login goes to the victim while it is frozen, so that the kill
    always finds requests inside it (the load's own may all wait on other servers)."""
    return "doomed%d" % i


class World:
    """One database, its users, and the four servers on it."""

    def __init__(self, tmp, db, keyring, secrets):
        self.tmp, self.db, self.keyring = tmp, db, keyring
        self.policy = tmp / "policy.json"
        self.policy.write_text(POLICY)
        self.secrets = secrets  # every secret sent: none may reach a log (tests/log_scan.py)
        secrets.update({PASSWORD, PIN})
        self.started = []  # every server process, killed ones too (their logs are scanned)
        self.homes = itertools.count()
        self.engine = sqlalchemy.create_engine(store.url_for(db))
        self.client = new_client()
        self.servers = []

    def start(self):
        with concurrent.futures.ThreadPoolExecutor(SERVERS) as pool:
            self.servers = list(pool.map(self.new_server, range(SERVERS)))

    def new_server(self, index):
        home = self.tmp / ("server-%d-%d" % (index, next(self.homes)))
        home.mkdir()
        server = Server(home, self.db, self.keyring, extra_env={"DSC_POLICY_FILE": str(self.policy)})
        self.started.append(server)
        return server

    def close(self):
        self.client.close()
        with concurrent.futures.ThreadPoolExecutor(SERVERS) as pool:
            codes = list(pool.map(lambda s: s.stop(), self.started))
        self.engine.dispose()
        return codes

    # -- HTTP ---------------------------------------------------------------------

    def post(self, index, path, body, client=None):
        t0 = time.monotonic()
        r = (client or self.client).post(self.servers[index].url + path, json=body)
        payload = r.json()
        return Answer(r.status_code, payload.get("error"), payload, t0, time.monotonic())

    def response(self, challenge):
        value = ocra(SUITE, KEY, challenge, pin=PIN)
        self.secrets.add(value)
        return value

    def wrong_response(self, challenge):
        right = self.response(challenge)
        wrong = right[:-1] + str((int(right[-1]) + 1) % 10)
        self.secrets.add(wrong)
        return wrong

    def wrong_password(self, tag):
        password = "not-the-password-%s" % tag
        self.secrets.add(password)
        return password

    def issue(self, index, user):
        a = self.post(index, START, {"username": user, "password": PASSWORD})
        assert a.status == 200, (a.status, a.body)
        return a.body

    def login(self, index, user, client=None):
        """(start's answer, finish's answer or None) of a whole login through one server."""
        a = self.post(index, START, {"username": user, "password": PASSWORD}, client)
        if a.status != 200:
            return a, None
        return a, self.post(index, FINISH, {"challenge_id": a.body["challenge_id"],
                                            "response": self.response(a.body["challenge"])}, client)

    # -- the database directly -------------------------------------------------------

    def is_postgresql(self):
        return self.db.startswith("postgresql")

    @contextlib.contextmanager
    def frozen(self):
        """Hold the lock every attempt needs: requests wait inside the servers (on
        PostgreSQL inside their transactions, e.g. a finish() after it marked the
        challenge consumed) until the block ends."""
        if self.is_postgresql():
            with self.engine.connect() as conn:
                conn.execute(sqlalchemy.text("LOCK TABLE lockouts IN EXCLUSIVE MODE"))
                yield
                conn.rollback()
            return
        conn = sqlite3.connect(self.db, timeout=30, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")  # the write lock
            yield
            conn.execute("ROLLBACK")
        finally:
            conn.close()

    def sql(self, query, **params):
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sqlalchemy.text(query), params)]

    def streak(self, user, settled=False):
        """How many failures count towards the user's lock now (settled: without the
        "pending" ones a killed password check leaves)."""
        return self.sql("SELECT count(*) FROM failures WHERE name = :n AND id > (SELECT coalesce(max(reset_id), 0) "
                        "FROM lockouts WHERE name = :n)%s" % (" AND reason != 'pending'" if settled else ""),
                        n=user)[0][0]

    def pending(self, user):
        return self.sql("SELECT count(*) FROM failures WHERE name = :n AND reason = 'pending'", n=user)[0][0]

    def audit(self, user):
        """(outcome, reason) of the user's authentication events, oldest first."""
        return self.sql("SELECT outcome, reason FROM audit WHERE username = :n AND purpose NOT IN ('user', 'enroll') "
                        "ORDER BY id", n=user)

    def challenges(self, user):
        """{challenge id: (consumed, tries taken)} of the user's challenges."""
        return {cid: (consumed, attempts) for cid, consumed, attempts in self.sql(
            "SELECT c.id, c.consumed, c.attempts FROM challenges c JOIN users u ON u.id = c.user_id "
            "WHERE u.username = :n", n=user)}


USERS = ["alice", "bob", "carol", "dave", "frank"] + [crash_user(i) for i in range(CRASH_USERS)] + [
    doomed_user(i) for i in range(PER_SERVER)]
SLOW_USER = "gina"  # the real password-hash cost: a check takes as long as in production


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request, tmp_path_factory, secrets_sent):
    tmp = tmp_path_factory.mktemp("multiprocess-" + request.param)
    w = None
    try:
        if request.param == "sqlite":
            db = str(tmp / "v.db")
        else:
            db = request.getfixturevalue("pg_server").new_database()[0]
        keyring = str(tmp / "master.key")
        make_users(db, keyring)
        w = World(tmp, db, keyring, secrets_sent)
        w.start()
        yield w
    finally:
        codes = w.close() if w else []
    assert log_scan.scan(tmp, w.secrets) == [], "secrets reached these logs"
    for server in w.started:
        assert "Traceback" not in server.log_text(), "a server failed (see %s)" % server.log_path
    assert [c for c in codes if c not in (0, -signal.SIGKILL)] == [], codes


def make_users(db, keyring):
    """The database, USERS with cheap password hashes and SLOW_USER with the default
    cost, each with an active token (the same key and PIN)."""
    service.init_db(db, keyring)
    v = service.Verifier(db, keyring)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(passwords, "N", 2 ** 4)  # the servers read N from the hash
            for name in USERS:
                v.add_user(name, PASSWORD)
        v.add_user(SLOW_USER, PASSWORD)
        for i, name in enumerate(USERS + [SLOW_USER]):
            v.enroll_token(name, "DSC%05d" % (i + 1), KEY, PIN, suite=SUITE, active=True)
    finally:
        v.close()


# -- racing ------------------------------------------------------------------------


def race(world, calls):
    """Send each (server index, path, body) from its own thread and connection, all
    released together by a barrier; the answers in the order of `calls`."""
    barrier = threading.Barrier(len(calls))
    answers = [None] * len(calls)

    def run(i, index, path, body):
        try:
            with new_client() as client:
                client.get(world.servers[index].url + "/healthz")  # connected before the barrier
                barrier.wait(timeout=60)
                answers[i] = world.post(index, path, body, client)
        except Exception as e:  # noqa: BLE001 - reported below
            barrier.abort()
            answers[i] = e

    threads = [threading.Thread(target=run, args=(i, *call)) for i, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    failed = [repr(a) for a in answers if not isinstance(a, Answer)]
    assert not failed, failed
    return answers


def overlapped(answers):
    """How many requests were in flight at the same time as at least one other."""
    return sum(1 for a in answers if any(b is not a and b.t0 < a.t1 and a.t0 < b.t1 for b in answers))


def spread(n):
    """n server indexes, round robin over the four servers."""
    return [i % SERVERS for i in range(n)]


def statuses(answers):
    return Counter((a.status, a.error) for a in answers)


# -- 1. exactly one success per challenge ----------------------------------------------


def test_a_right_response_raced_on_four_servers_logs_in_exactly_once(world):
    issued = [world.issue(i % SERVERS, "alice") for i in range(CHALLENGES)]
    expected_events = []
    for n, ch in enumerate(issued):
        if n % 2 == 0:  # a typo first, through another server: the challenge stays open for the race
            a = world.post((n + 1) % SERVERS, FINISH, {"challenge_id": ch["challenge_id"],
                                                       "response": world.wrong_response(ch["challenge"])})
            assert (a.status, a.body.get("tries_left")) == (401, 2), a.body
            expected_events.append(("fail", "wrong response"))
        expected_events.append(("ok", ""))
        body = {"challenge_id": ch["challenge_id"], "response": world.response(ch["challenge"])}
        answers = race(world, [(index, FINISH, body) for index in spread(SERVERS * PER_SERVER)])

        assert statuses(answers) == {(200, None): 1, (401, "used"): SERVERS * PER_SERVER - 1}, statuses(answers)
        winner, = [a for a in answers if a.status == 200]
        assert winner.body["ok"] is True and winner.body["user"] == "alice"
        assert overlapped(answers) >= 2, "no two requests overlapped; the race did not happen"
    assert world.audit("alice") == expected_events
    taken = world.challenges("alice")
    assert [taken[ch["challenge_id"]] for ch in issued] == [(1, 2 - n % 2) for n in range(CHALLENGES)]


# -- 2. no failure lost ----------------------------------------------------------------


def failing_calls(world, user, n):
    """n failed attempts for `user` over the four servers, alternately a wrong
    response (to a challenge issued now) and a wrong password."""
    calls = []
    for i, index in enumerate(spread(n)):
        if i % 2:
            calls.append((index, START, {"username": user, "password": world.wrong_password("%s-%d" % (user, i))}))
        else:
            ch = world.issue((index + 1) % SERVERS, user)
            calls.append((index, FINISH, {"challenge_id": ch["challenge_id"],
                                          "response": world.wrong_response(ch["challenge"])}))
    return calls


def truthful_answer(path):
    return (401, "wrong-response") if path == FINISH else (401, "bad-credentials")


def test_racing_failures_below_the_threshold_are_all_answered_and_counted(world):
    calls = failing_calls(world, "bob", THRESHOLD - 1)
    answers = race(world, calls)

    assert [(a.status, a.error) for a in answers] == [truthful_answer(path) for _, path, _ in calls]
    assert world.streak("bob") == THRESHOLD - 1
    assert sorted(world.audit("bob")) == sorted(
        ("fail", "wrong response" if path == FINISH else "wrong password") for _, path, _ in calls)
    # Behaviour: one more failure is still answered truthfully; it is the
    # threshold-th, so now the right password is refused (none was lost).
    a = world.post(0, START, {"username": "bob", "password": world.wrong_password("bob-last")})
    assert (a.status, a.error) == (401, "bad-credentials")
    a = world.post(1, START, {"username": "bob", "password": PASSWORD})
    assert (a.status, a.error) == (423, "locked")


def test_racing_failures_across_the_threshold_get_exactly_the_threshold_of_truthful_answers(world):
    calls = failing_calls(world, "carol", FAILERS)
    answers = race(world, calls)

    got = statuses(answers)
    assert sum(n for (status, _), n in got.items() if status >= 500) == 0, got
    truthful = [(call, a) for call, a in zip(calls, answers) if (a.status, a.error) in TRUTHFUL]
    assert len(truthful) == THRESHOLD, got
    assert got[(423, "locked")] == FAILERS - THRESHOLD, got
    for (_, path, _), a in truthful:
        assert (a.status, a.error) == truthful_answer(path)
    assert overlapped(answers) >= 2, "no two requests overlapped; the race did not happen"
    # Every attempt counted and audited, the refused ones too: none lost.
    assert world.streak("carol") == FAILERS
    assert world.pending("carol") == 0
    events = world.audit("carol")
    assert len(events) == FAILERS and {outcome for outcome, _ in events} == {"fail"}
    assert sorted(reason for _, reason in events if reason != "locked") == sorted(
        "wrong response" if path == FINISH else "wrong password" for (_, path, _), _ in truthful)
    assert {attempts for _, attempts in world.challenges("carol").values()} == {1}, "each answer took one try"


# -- 3. the lockout holds across processes ----------------------------------------------


def test_a_lock_made_through_one_server_holds_on_the_others(world):
    before = {index: world.issue(index, "dave") for index in range(1, SERVERS)}  # issued before the lock
    for i in range(THRESHOLD):
        a = world.post(0, START, {"username": "dave", "password": world.wrong_password("dave-%d" % i)})
        assert (a.status, a.error) == (401, "bad-credentials")
    a = world.post(0, START, {"username": "dave", "password": PASSWORD})
    assert (a.status, a.error) == (423, "locked")

    for index, ch in before.items():
        a = world.post(index, START, {"username": "dave", "password": PASSWORD})
        assert (a.status, a.error) == (423, "locked"), index
        a = world.post(index, FINISH, {"challenge_id": ch["challenge_id"], "response": world.response(ch["challenge"])})
        assert (a.status, a.error) == (423, "locked"), index
    assert world.audit("dave")[-2 * (SERVERS - 1):] == [("fail", "locked")] * (2 * (SERVERS - 1))


def test_racing_right_passwords_never_lock_the_user_out(world):
    calls = [(index, START, {"username": SLOW_USER, "password": PASSWORD}) for index in spread(SERVERS * PER_SERVER)]
    for _ in range(3):  # bursts: how many checks overlap depends on the scheduler
        answers = race(world, calls)
        assert statuses(answers) == {(200, None): len(calls)}, statuses(answers)
        assert world.streak(SLOW_USER) == 0
    start, finish = world.login(0, SLOW_USER)
    assert (start.status, finish and finish.status) == (200, 200), start.body


# -- 4. a server killed mid-request ------------------------------------------------------


class Load:
    """One thread per crash user, each on a home server, cycling through: a login
    (then the same answer again on the next server: "used"), a wrong response, a
    wrong password. No user ever reaches the threshold (a success resets it).
    Answers from the victim after the kill may be lost connections."""

    EXPECTED = {(200, None), (401, "used"), (401, "wrong-response"), (401, "bad-credentials")}

    def __init__(self, world):
        self.world = world
        self.stop = threading.Event()
        self.answers = {i: [] for i in range(CRASH_USERS)}  # user number -> [(server, path, Answer, challenge id)]
        self.killed_at = None
        self.in_flight = Counter()  # server index -> requests sent and not answered yet
        self.counting = threading.Lock()
        self.cut_off = 0  # requests sent to the victim before the kill that got no answer
        self.errors = []
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(CRASH_USERS)]
        for t in self.threads:
            t.start()

    def answered(self):
        """The fewest answers any user has had."""
        return min(len(a) for a in self.answers.values())

    def run(self, i):
        home, user = i % SERVERS, crash_user(i)
        try:
            with new_client() as client:
                step = 0
                while not self.stop.is_set():
                    if not self.cycle(client, i, user, home, step):
                        return
                    step += 1
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.errors.append((user, repr(e)))

    def send(self, client, i, index, path, body, cid=None):
        sent = time.monotonic()
        with self.counting:
            self.in_flight[index] += 1
        try:
            a = self.world.post(index, path, body, client)
        except httpx.TransportError:
            if index != VICTIM or self.killed_at is None:
                raise
            with self.counting:
                self.cut_off += sent < self.killed_at
            return None
        finally:
            with self.counting:
                self.in_flight[index] -= 1
        if i is not None:
            self.answers[i].append((index, path, a, cid))
        return a

    def doom(self):
        """A login per doomed user, sent to the victim; returns its threads."""
        def run(k):
            try:
                with new_client() as client:
                    a = self.send(client, None, VICTIM, START, {"username": doomed_user(k), "password": PASSWORD})
                if a is not None:
                    self.errors.append((doomed_user(k), "answered by a server that should be frozen", a))
            except Exception as e:  # noqa: BLE001 - reported by the test
                self.errors.append((doomed_user(k), repr(e)))

        threads = [threading.Thread(target=run, args=(k,)) for k in range(PER_SERVER)]
        for t in threads:
            t.start()
        return threads

    def cycle(self, client, i, user, home, step):
        w = self.world
        password = PASSWORD if step % 3 < 2 else w.wrong_password("%s-%d" % (user, step))
        a = self.send(client, i, home, START, {"username": user, "password": password})
        if a is None:
            return False
        if a.status != 200:
            return True
        cid, challenge = a.body["challenge_id"], a.body["challenge"]
        response = w.response(challenge) if step % 3 == 0 else w.wrong_response(challenge)
        a = self.send(client, i, home, FINISH, {"challenge_id": cid, "response": response}, cid)
        if a is None:
            return False
        if step % 3 == 0:
            self.send(client, i, (home + 1) % SERVERS, FINISH, {"challenge_id": cid, "response": response}, cid)
        return True

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)


def test_a_server_killed_mid_request_leaves_consistent_data(world):
    saved = world.issue(VICTIM, "frank")  # issued by the victim, answered after its death
    load = Load(world)
    try:
        deadline = time.monotonic() + 30
        while load.answered() < 3 and not load.errors and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(CRASH_LOAD)
        with world.frozen():  # so that the kill lands while the victim's requests are inside it
            doomed = load.doom()
            deadline = time.monotonic() + 30
            while load.in_flight[VICTIM] < PER_SERVER and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(0.05)  # their bodies reach the server
            load.killed_at = time.monotonic()
            assert world.servers[VICTIM].stop(sig=signal.SIGKILL) == -signal.SIGKILL
        for t in doomed:
            t.join(60)
        restarted = concurrent.futures.ThreadPoolExecutor(1)  # its start overlaps the checks below
        replacement = restarted.submit(world.new_server, VICTIM)
        time.sleep(CRASH_LOAD)
    finally:
        load.finish()
    assert not load.errors, load.errors
    assert load.cut_off >= PER_SERVER, "the requests inside the killed server got answers"

    # The survivors answered everything, and only what the requests deserve.
    answered = Counter((a.status, a.error) for answers in load.answers.values() for _, _, a, _ in answers)
    assert set(answered) <= Load.EXPECTED, answered
    assert answered[(200, None)] > 0 and answered[(401, "used")] > 0
    oks = Counter(cid for answers in load.answers.values() for _, path, a, cid in answers
                  if path == FINISH and a.status == 200)
    assert [cid for cid, n in oks.items() if n > 1] == [], "a challenge logged in twice"

    # The database: every try a challenge counts audited once, every answer audited, no
    # failure lost; only the victim's users may hold what was in flight when it died.
    for i in range(CRASH_USERS):
        user, slack = crash_user(i), int(i % SERVERS == VICTIM)
        events = Counter(world.audit(user))
        taken = world.challenges(user).values()
        assert {consumed for consumed, _ in taken} <= {0, 1}
        assert sum(attempts for _, attempts in taken) == events[("ok", "")] + events[("fail", "wrong response")], user
        seen = Counter((a.status, a.error) for _, path, a, _ in load.answers[i] if path == START and a.status != 200)
        seen.update((a.status, a.error) for _, path, a, _ in load.answers[i] if path == FINISH and a.error != "used")
        for answer, event in [((200, None), ("ok", "")), ((401, "wrong-response"), ("fail", "wrong response")),
                              ((401, "bad-credentials"), ("fail", "wrong password"))]:
            assert seen[answer] <= events[event] <= seen[answer] + slack, (user, answer, seen[answer], events[event])
        assert set(events) <= {("ok", ""), ("fail", "wrong response"), ("fail", "wrong password")}, events
        assert world.pending(user) <= slack, user
        assert world.streak(user, settled=True) == streak_in(world.audit(user)), user
    for k in range(PER_SERVER):  # their passwords were never checked
        assert world.audit(doomed_user(k)) == [] and world.pending(doomed_user(k)) <= 1
    if not world.is_postgresql():
        assert world.sql("PRAGMA integrity_check") == [("ok",)]

    # The survivors still log every user in; a restarted server on the database works.
    survivors = [(i % (SERVERS - 1), crash_user(i)) for i in range(CRASH_USERS)]
    assert_logins(world, survivors)
    world.servers[VICTIM] = replacement.result()
    restarted.shutdown()
    a = world.post(VICTIM, FINISH, {"challenge_id": saved["challenge_id"], "response": world.response(saved["challenge"])})
    assert (a.status, a.body.get("user")) == (200, "frank"), a.body
    a = world.post(0, FINISH, {"challenge_id": saved["challenge_id"], "response": world.response(saved["challenge"])})
    assert (a.status, a.error) == (401, "used")
    assert_logins(world, [(VICTIM, crash_user(i)) for i in range(VICTIM, CRASH_USERS, SERVERS)])


def assert_logins(world, logins):
    """Each (server index, user) logs in, all at once."""
    def login(index, user):
        with new_client() as client:
            start, finish = world.login(index, user, client)
        return user, start.status, start.error, finish and finish.status

    with concurrent.futures.ThreadPoolExecutor(len(logins)) as pool:
        results = list(pool.map(lambda pair: login(*pair), logins))
    assert [r for r in results if r[1:] != (200, None, 200)] == []


def streak_in(events):
    """The failures the audit log counts since the last success."""
    since = 0
    for outcome, _ in events:
        since = 0 if outcome == "ok" else since + 1
    return since
