"""host/portal/sessions.py: timeouts, rotation and the stored form of the id."""

import pytest
from sqlalchemy import func, select

from host.portal import sessions
from host.verifier import service, store
from tests.portal.test_login_pages import csrf_of, password_step, post
from tests.server.conftest import PASSWORD


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


def session_rows(c):
    with c.verifier.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(store.web_sessions)).scalar()


def test_anonymous_visitors_write_no_session_row(people, in_process):
    with in_process(people) as c:
        for _ in range(200):
            c.cookies.clear()  # each a new visitor
            assert c.get("/login").status_code == 200
        assert session_rows(c) == 0
        r = post(c, "/login", c.get("/login").text, username="alice", password="Not-alices-pw-1")
        assert r.status_code == 401 and session_rows(c) == 0, "a refused login keeps nothing either"
        r, challenge = password_step(c, "alice")
        assert r.status_code == 303 and session_rows(c) == 1, "the open challenge is the first thing kept"
        post(c, "/login/cancel", challenge.text)
        assert session_rows(c) == 0 and sessions.COOKIE not in c.cookies


def test_a_login_form_without_this_visitors_token_is_refused_and_changes_nothing(people, in_process):
    with in_process(people) as c:
        token = csrf_of(c.get("/login").text)
        fields = {"username": "alice", "password": PASSWORD}
        before = c.verifier.audit_log("alice")
        c.cookies.set(sessions.FORM_COOKIE, "A" * 43)  # a cookie planted by someone else, with the old token
        forged = [c.post("/login", data=dict(fields, csrf=token))]
        c.cookies.clear()
        forged.append(c.post("/login", data=dict(fields, csrf=token)))  # the token without its cookie
        fresh = csrf_of(c.get("/login").text)
        forged.append(c.post("/login", data=fields))  # no token
        forged.append(c.post("/login", data=dict(fields, csrf=fresh[:-2] + ("AA" if fresh[-2:] != "AA" else "BB"))))
        forged.append(c.post("/login", data=dict(fields, csrf=c.cookies.get(sessions.FORM_COOKIE))))  # the cookie
        assert [r.status_code for r in forged] == [403] * 5
        assert c.verifier.audit_log("alice") == before and session_rows(c) == 0, "no attempt reached the verifier"
        assert post(c, "/login", c.get("/login").text, **fields).status_code == 303  # the real form still works


def test_a_visitors_token_is_bound_to_their_cookie_and_to_this_servers_key(tmp_path):
    from host.verifier.keystore import Keystore

    keys = []
    for name in ("one", "two"):
        service.init_db(str(tmp_path / (name + ".db")), str(tmp_path / (name + ".key")))
        keys.append(Keystore(str(tmp_path / (name + ".key"))))
    first = sessions.Visitor(keys[0])  # no cookie yet: a new one, and nothing it could vouch for
    assert first.new and not first.csrf_ok(first.csrf)
    back = sessions.Visitor(keys[0], first.nonce)  # the next request, with the cookie
    assert not back.new and back.csrf == first.csrf and back.csrf_ok(first.csrf)
    assert not back.csrf_ok(sessions.Visitor(keys[0]).csrf)  # another visitor's token
    assert not sessions.Visitor(keys[1], first.nonce).csrf_ok(first.csrf)  # another server's key
    for bad in (None, "", "x", first.nonce + "A", first.nonce[:-1] + "é", first.nonce[:-1] + "="):
        assert sessions.Visitor(keys[0], bad).new
