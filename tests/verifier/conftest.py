"""Fixtures shared by the verifier's library tests: an injected clock and a
`world` with one user, alice, holding one active token (DSC00001, PIN 1234).

`db` is the verifier's database, once a SQLite file and once a new database on a
throwaway PostgreSQL server (tests/verifier/pg.py, one per pytest process), so
every test that uses `world` or `db` runs on both backends (ids sqlite and
postgresql). A test about SQLite itself (its file, its modes) is marked
`@pytest.mark.sqlite_only`.

A test module sets its own start time by overriding the `start_time` fixture."""

import os

import pytest

from host.verifier import service

SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"
DAY = 86400.0
T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
PASSWORD = "correct horse"
IDENTITY = dict(birth_date="1980-01-01", citizenship="FI", residence="FI", id_type="passport", id_number="X1")


class Clock:
    """The verifier's clock: tests move time by setting `now`."""

    def __init__(self, now=T0):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def start_time():
    return T0


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    """The database for a test: a SQLite path, or the URL of a new PostgreSQL database."""
    if request.param == "sqlite":
        yield str(tmp_path / "v.db")
        return
    if request.node.get_closest_marker("sqlite_only"):
        pytest.skip("about the SQLite file itself")
    if request.node.get_closest_marker("postgresql_under_fuzz") and os.environ.get("DSC_FUZZ") != "1":
        pytest.skip("make fuzz runs it on PostgreSQL too")
    yield from _new_pg_database(request)


@pytest.fixture
def pg_db(request):
    """The URL of a new database on this process's PostgreSQL server (PostgreSQL-only tests)."""
    yield from _new_pg_database(request)


def _new_pg_database(request):
    server = request.getfixturevalue("pg_server")
    url, name = server.new_database()
    yield url
    server.drop_database(name)


def is_postgresql(db):
    return db.startswith("postgresql")


@pytest.fixture
def world(db, tmp_path, start_time):
    """(verifier, clock, alice's token key, the test's directory); `db` names the database."""
    master = str(tmp_path / "master.key")
    service.init_db(db, master)
    clock = Clock(start_time)
    v = service.Verifier(db, master, clock=clock)
    v.add_user("alice", PASSWORD, **IDENTITY)
    key = os.urandom(32)
    v.enroll_token("alice", "DSC00001", key, "1234", active=True)
    yield v, clock, key, tmp_path
    v.close()
