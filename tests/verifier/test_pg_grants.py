"""The login service's own PostgreSQL role (host/verifier/grants.py): the owner
runs `dsc db init` and grants; the service, connected as its role, can do all a
login service does but cannot change, delete or empty the audit log.

On the throwaway server (tests/verifier/pg.py, trust authentication) the
database is handed to an ordinary owner role, as in a deployment: a superuser
owner would prove nothing about who may grant what."""

import psycopg
import pytest
from sqlalchemy.exc import ProgrammingError

from host.verifier import grants, passwords, service, store, throttle
from host.verifier.store import StoreError
from tests.ocra_reference import ocra
from tests.server.conftest import KEY, PASSWORD, PIN, SERIAL, SUITE
from tests.verifier import pg
from tests.verifier.conftest import DAY, Clock

OWNER, SERVICE = "dsc_owner", "dsc_service"


def ensure_role(server, name):
    """Roles belong to the whole server, which outlives one test's database."""
    server.admin("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%s') THEN "
                 "CREATE ROLE %s LOGIN; END IF; END $$" % (name, name))


def as_role(url, role):
    return url.replace("://%s@" % pg.SUPERUSER, "://%s@" % role, 1)


def connect(url):
    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


@pytest.fixture
def deployment(pg_server, pg_db, tmp_path, monkeypatch):
    """(owner's URL, service's URL, key ring): a database initialised by its owner role."""
    monkeypatch.setattr(passwords, "N", 2 ** 4)  # cheap hashes; checks read N from the hash
    ensure_role(pg_server, OWNER)
    ensure_role(pg_server, SERVICE)
    pg_server.admin("ALTER DATABASE %s OWNER TO %s" % (pg_db.rsplit("/", 1)[1], OWNER))
    keyring = str(tmp_path / "master.key")
    owner_url = as_role(pg_db, OWNER)
    service.init_db(owner_url, keyring)
    return owner_url, as_role(pg_db, SERVICE), keyring


def audit_rows(url):
    with connect(url) as conn:
        return conn.execute("SELECT * FROM audit ORDER BY id").fetchall()


def refuses_to_touch_audit(service_url):
    """Each way of changing the log, tried as the service: the privilege check refuses it."""
    for sql in ("UPDATE audit SET outcome = 'ok'", "DELETE FROM audit", "TRUNCATE audit",
                "DROP TRIGGER audit_no_change ON audit"):
        with connect(service_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(sql)


def login(v):
    ch = v.start("alice", PASSWORD)
    return v.finish(ch["challenge_id"], ocra(SUITE, KEY, ch["challenge"], pin=PIN))


def test_the_service_role_runs_logins_but_cannot_change_the_audit_log(deployment):
    owner_url, service_url, keyring = deployment
    tables = grants.grant_service_role(owner_url, SERVICE)
    assert sorted(tables) == sorted(t.name for t in store.metadata.sorted_tables)
    assert grants.summary(SERVICE, tables).endswith("; only SELECT, INSERT on audit")

    clock = Clock()
    policy = service.Policy(throttle_per_address=1, lockout_failures=3)
    v = service.Verifier(service_url, keyring, clock=clock, policy=policy)
    try:
        v.add_user("alice", PASSWORD)
        v.enroll_token("alice", SERIAL, KEY, PIN, suite=SUITE, active=True)
        for _ in range(3):
            with pytest.raises(service.VerifierError):
                v.start("alice", "not the password")
        with pytest.raises(service.VerifierError, match="locked"):
            v.start("alice", PASSWORD)
        v.unlock("alice")
        assert login(v)["ok"] is True
        assert throttle.attempt(v, address="192.0.2.7", username="alice") is None
        assert throttle.attempt(v, address="192.0.2.7", username="alice") is not None  # over the limit of 1
        v.rotate_master_key()  # possible as the service too: it writes meta and master_keys
        assert login(v)["ok"] is True  # the re-sealed key and PIN still open
        v.start("alice", PASSWORD)  # left unanswered, to expire
        clock.now += 2 * DAY
        assert v.sweep()["challenges"] == 3
        events = [(e["purpose"], e["outcome"], e["reason"]) for e in v.audit_log()]
    finally:
        v.close()
    assert events[0] == ("user", "ok", "added")
    assert ("user", "ok", "unlocked") in events and events.count(("login", "ok", "")) == 2

    before = audit_rows(owner_url)
    refuses_to_touch_audit(service_url)
    assert audit_rows(owner_url) == before


def test_granting_again_takes_back_rights_on_the_audit_log_given_earlier(deployment):
    owner_url, service_url, keyring = deployment
    with connect(owner_url) as conn:
        conn.execute("GRANT UPDATE, DELETE, TRUNCATE ON audit TO %s" % SERVICE)
    first = grants.grant_service_role(owner_url, SERVICE)
    assert grants.grant_service_role(owner_url, SERVICE) == first

    v = service.Verifier(service_url, keyring)
    try:
        v.add_user("alice", PASSWORD)
    finally:
        v.close()
    before = audit_rows(owner_url)
    refuses_to_touch_audit(service_url)
    assert audit_rows(owner_url) == before


def test_without_the_grant_the_service_role_cannot_open_the_database(deployment):
    """What the grant is for: the role alone may not even read the master key's row."""
    owner_url, service_url, keyring = deployment
    with pytest.raises(ProgrammingError, match="permission denied for table meta"):
        service.Verifier(service_url, keyring)


def test_roles_that_would_defeat_the_grant_are_refused_in_one_line(deployment):
    owner_url, service_url, _ = deployment
    with pytest.raises(StoreError, match="run dsc db grant as the role that ran dsc db init"):
        grants.grant_service_role(service_url, SERVICE)  # the service cannot grant itself anything
    for role, why in ((OWNER, "owns the verifier's tables"), ("postgres", "superuser"),
                      ("no_such_role", "no role no_such_role")):
        with pytest.raises(StoreError, match=why) as refused:
            grants.grant_service_role(owner_url, role)
        assert "\n" not in str(refused.value)


def test_a_right_on_the_audit_log_left_to_public_is_refused_and_nothing_is_granted(deployment):
    owner_url, service_url, keyring = deployment
    with connect(owner_url) as conn:
        conn.execute("GRANT DELETE ON audit TO PUBLIC")
    with pytest.raises(StoreError, match="may still DELETE audit, through PUBLIC"):
        grants.grant_service_role(owner_url, SERVICE)
    with pytest.raises(ProgrammingError, match="permission denied"):  # one transaction: all rolled back
        service.Verifier(service_url, keyring)


@pytest.mark.parametrize("role", ["dsc service", 'x"; DROP TABLE audit; --', "", "1st", "r" * 64, "rôle"])
def test_a_role_name_that_is_not_a_plain_identifier_is_refused_before_connecting(role):
    nowhere = "postgresql://dsc_owner@127.0.0.1:1/none"  # nothing listens: only the name is judged
    with pytest.raises(StoreError, match="plain identifier") as refused:
        grants.grant_service_role(nowhere, role)
    assert "\n" not in str(refused.value)


def test_a_database_not_initialised_is_refused(pg_server, pg_db):
    ensure_role(pg_server, SERVICE)
    with pytest.raises(StoreError, match="run dsc db init"):
        grants.grant_service_role(pg_db, SERVICE)


def test_sqlite_is_refused_in_one_line(tmp_path):
    db = str(tmp_path / "v.db")
    service.init_db(db, str(tmp_path / "master.key"))
    with pytest.raises(StoreError, match="SQLite has no roles") as refused:
        grants.grant_service_role(db, SERVICE)
    assert "\n" not in str(refused.value)


def test_the_sql_for_the_docs_gives_the_same_rights(deployment):
    """Run as the owner, grant_sql()'s text lets the service log in and not touch the log."""
    owner_url, service_url, keyring = deployment
    with connect(owner_url) as conn:
        database = conn.execute("SELECT current_database()").fetchone()[0]
        conn.execute(grants.grant_sql(SERVICE, database))
    v = service.Verifier(service_url, keyring)
    try:
        v.add_user("alice", PASSWORD)
        v.enroll_token("alice", SERIAL, KEY, PIN, suite=SUITE, active=True)
        assert login(v)["ok"] is True
    finally:
        v.close()
    refuses_to_touch_audit(service_url)
