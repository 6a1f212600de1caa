"""host/portal/sessions.py: timeouts, rotation and the stored form of the id."""

import pytest

from host.portal import sessions
from host.verifier import service, store


@pytest.fixture
def engine(tmp_path):
    db, keyring = str(tmp_path / "v.db"), str(tmp_path / "k")
    service.init_db(db, keyring)
    e = store.engine_for(db)
    yield e
    e.dispose()


def test_idle_and_absolute_timeouts_end_a_session(engine):
    s = sessions.create(engine, 1000.0)
    assert sessions.load(engine, s.token, 1000.0 + sessions.IDLE_TIMEOUT - 1).id == s.id
    assert sessions.load(engine, s.token, 1000.0 + 2 * sessions.IDLE_TIMEOUT) is None  # idle too long
    assert sessions.load(engine, s.token, 1000.0) is None  # and it is gone, not just refused once
    busy = sessions.create(engine, 0.0)
    t = 0.0
    while t < sessions.ABSOLUTE_TIMEOUT - sessions.IDLE_TIMEOUT:  # never idle, yet it ends
        t += sessions.IDLE_TIMEOUT - 1
        assert sessions.load(engine, busy.token, t) is not None
    assert sessions.load(engine, busy.token, sessions.ABSOLUTE_TIMEOUT + 1) is None


def test_rotation_gives_a_new_id_and_csrf_and_ends_the_old(engine):
    s = sessions.create(engine, 10.0)
    new = sessions.rotate(engine, s, 20.0, stage=sessions.IN, username="alice")
    assert new.token != s.token and new.csrf != s.csrf and new.logged_in and new.username == "alice"
    assert sessions.load(engine, s.token, 21.0) is None
    assert sessions.load(engine, new.token, 21.0).username == "alice"


def test_only_a_hash_of_the_cookie_is_stored_and_bad_cookies_open_nothing(engine):
    s = sessions.create(engine, 10.0)
    with engine.connect() as conn:
        stored = [tuple(r) for r in conn.execute(store.web_sessions.select()).all()]
    assert not any(s.token in str(value) for row in stored for value in row)
    for bad in (None, "", "x" * 5, "x" * 500, s.token[:-1] + ("A" if s.token[-1] != "A" else "B"), s.id):
        assert sessions.load(engine, bad, 11.0) is None


def test_sweep_deletes_only_timed_out_sessions(engine):
    old = sessions.create(engine, 0.0)
    assert sessions.sweep(engine, 5000.0) == 1
    old, fresh = sessions.create(engine, 0.0), sessions.create(engine, 5000.0)  # creating one sweeps too
    assert sessions.load(engine, fresh.token, 5001.0) is not None and sessions.load(engine, old.token, 5001.0) is None
