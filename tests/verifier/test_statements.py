"""How many SQL statements the hot paths send, on both backends: one verification
(Challenges.finish) and one throttled attempt (throttle.attempt). A count, not a
time: each statement is a round trip and SQLAlchemy's work, so a change that adds
one to these paths shows here (docs/performance.md, "Database path").
BEGIN and COMMIT are not counted (both go to the driver directly, not through
SQLAlchemy's statement path)."""

import contextlib

from sqlalchemy import event, func, select

from host.verifier import store, throttle
from tests.ocra_reference import ocra
from tests.verifier.conftest import SUITE


@contextlib.contextmanager
def statements(engine):
    """The statements `engine` sends meanwhile, BEGIN and the throttle's durability setting aside."""
    sent = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith(("BEGIN", "SET LOCAL SYNCHRONOUS_COMMIT")):
            sent.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", count)


def verify(v, key, right=True):
    ch = v.issue("alice")
    response = ocra(SUITE, key, ch["challenge"], pin="1234")
    if not right:
        response = response[:-1] + str((int(response[-1]) + 1) % 10)
    with statements(v.engine) as sent:
        result = v.finish(ch["challenge_id"], response)
    assert result["ok"] is right
    return sent


def current_locking_read(v):
    """Whether finish may trust its first read's "no failures" (store.one_writer_at_a_time): SQLite."""
    return v.engine.dialect.name == "sqlite"


def test_a_right_response_is_three_statements_on_sqlite_four_on_postgresql(world):
    """The locked read of the challenge, its device, its user and her lockout row
    (and whether she has counting failures); her counting failures, unless that read
    said none and was current; the audit event; the try taken and the challenge
    closed (it was 7: the lockout row and the try were separate steps, and the
    challenge was updated three times)."""
    v, _, key, _ = world
    verify(v, key)  # alice's first verification makes her lockout row
    sent = verify(v, key)
    assert len(sent) == (3 if current_locking_read(v) else 4), "\n".join(sent)
    assert sum(s.startswith("UPDATE challenges") for s in sent) == 1, "\n".join(sent)


def test_a_wrong_response_reads_the_lockout_once(world):
    """A wrong response counts a failure; whether it locked alice is worked out from
    what the transaction read already, not read again (it was 9 statements)."""
    v, _, key, _ = world
    verify(v, key)
    sent = verify(v, key, right=False)
    assert len(sent) == (5 if current_locking_read(v) else 6), "\n".join(sent)
    assert sum(s.startswith("SELECT failures") for s in sent) <= 1, "\n".join(sent)


def test_a_right_response_after_a_failure_reads_it_and_restarts_the_count(world):
    """With a counting failure the right response reads the failures (the shortcut is
    only for none) and restarts the count: five statements, on both backends."""
    v, _, key, _ = world
    verify(v, key)
    verify(v, key, right=False)
    sent = verify(v, key)
    assert len(sent) == 5, "\n".join(sent)
    assert sum(s.startswith("UPDATE lockouts") for s in sent) == 1, "\n".join(sent)
    with v.engine.begin() as conn:
        assert v.lockout.check(conn, "alice", v.clock())[2] == [], "the failure no longer counts"


def test_a_verification_makes_a_missing_lockout_row_and_locks_it(world):
    """A user whose lockout row is missing (never failed, or `dsc db sweep` removed
    it) still verifies, and gets the row her later failures are counted under."""
    v, _, key, _ = world
    verify(v, key)
    with v.engine.begin() as conn:
        conn.execute(store.lockouts.delete())
    verify(v, key)
    with v.engine.connect() as conn:
        assert conn.execute(select(store.lockouts.c.name)).scalars().all() == ["alice"]


def test_a_throttled_attempt_is_two_statements_on_sqlite_three_on_postgresql(world):
    """On PostgreSQL the keys' lock rows in one upsert (SQLite's BEGIN IMMEDIATE is the
    lock); their buckets in one read; the attempt counted in one upsert (it was 4 a
    key: 8)."""
    v, _, _, _ = world
    with statements(v.engine) as sent:
        assert throttle.attempt(v, "198.51.100.7", "mallory") is None
    assert len(sent) == (2 if current_locking_read(v) else 3), "\n".join(sent)


def test_old_buckets_are_deleted_by_the_attempt_that_finds_them(world):
    """Buckets that left the window do not pile up, though no attempt deletes on every
    call: a key attempted once a bucket for ten windows keeps at most a window's
    buckets and its lock row."""
    v, clock, _, _ = world
    window = v.policy.throttle_window
    for i in range(10 * throttle.BUCKETS):
        assert throttle.attempt(v, "198.51.100.7", None, now=clock.now + i * window / throttle.BUCKETS) is None
    with v.engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(store.throttle)).scalar()
    assert rows <= throttle.BUCKETS + 3


def test_the_throttle_leaves_its_connection_durable(world):
    """The throttle's commit does not wait for the disk; the verifications after it on
    the same pooled connection must, as the database is set up (SQLite: synchronous
    FULL is 2; PostgreSQL: the server's synchronous_commit)."""
    v, _, key, _ = world
    sqlite = v.engine.dialect.name == "sqlite"
    setting = "PRAGMA synchronous" if sqlite else "SHOW synchronous_commit"
    with v.engine.connect() as conn:
        durable = conn.exec_driver_sql(setting).scalar()
    assert throttle.attempt(v, "198.51.100.7", "mallory") is None
    with v.engine.connect() as conn:
        assert conn.exec_driver_sql(setting).scalar() == durable
    assert not sqlite or durable == 2
    verify(v, key)


def pings(engine, monkeypatch):
    """The pings `engine` sends from now on, counted."""
    sent = []
    ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda dbapi_connection: sent.append(1) or ping(dbapi_connection))
    return sent


def test_a_postgresql_connection_in_use_is_not_pinged(pg_db, monkeypatch):
    """A connection checked out again a moment after its last use goes straight to
    work: a ping is a round trip of its own (it was one on every checkout)."""
    engine = store.engine_for(pg_db)
    try:
        for _ in range(2):
            with engine.connect() as conn:
                conn.execute(select(1))
        sent = pings(engine, monkeypatch)
        for _ in range(5):
            with engine.connect() as conn:
                conn.execute(select(1))
        assert sent == []
    finally:
        engine.dispose()


def test_an_idle_postgresql_connection_the_server_dropped_is_replaced(pg_db, pg_server, monkeypatch):
    """A pooled connection that sat idle is pinged first, and one the server has
    dropped meanwhile (a restart, an idle timeout) is replaced before the work goes out."""
    engine = store.engine_for(pg_db)
    try:
        with engine.connect() as conn:
            conn.execute(select(1))
            name = conn.exec_driver_sql("SELECT current_database()").scalar()
        pg_server.admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s'" % name)
        monkeypatch.setattr(store, "PING_AFTER", 0.0)
        sent = pings(engine, monkeypatch)
        with engine.connect() as conn:
            assert conn.execute(select(1)).scalar() == 1
        assert sent == [1]
    finally:
        engine.dispose()
