"""The provider's storage on SQLite and PostgreSQL: schema 12's migration, the
stable subject, and a code sent by many token requests at once: at most one
gets a token, which the others revoke."""

import base64
import sqlite3
import threading

import pytest
from sqlalchemy import select

from host.verifier import service, store
from host.verifier.store import oidc_codes, oidc_tokens
from tests.oidc.conftest import APP, ISSUER
from tests.verifier.conftest import db, is_postgresql, start_time, world  # noqa: F401 - both backends

pytest.importorskip("authlib")


def test_a_schema_11_database_migrates_and_gets_one_stable_subject_per_user(world, db):  # noqa: F811
    from host.oidc import clients, keys, server

    v, clock, _, tmp_path = world
    v.close()
    if is_postgresql(db):
        engine = store.engine_for(db)
        with engine.begin() as conn:  # as schema 11 was: no provider tables, no subject
            for table in ("oidc_tokens", "oidc_codes", "oidc_keys", "oidc_clients"):
                conn.exec_driver_sql("DROP TABLE %s" % table)
            conn.exec_driver_sql("ALTER TABLE users DROP COLUMN subject")
            store.set_meta(conn, "schema_version", b"11")
        engine.dispose()
    else:  # SQLite cannot drop a UNIQUE column: the users table is made again without it
        conn = sqlite3.connect(db)
        conn.execute("PRAGMA foreign_keys=OFF")
        columns = ", ".join(c for c in (r[1] for r in conn.execute("PRAGMA table_info(users)")) if c != "subject")
        conn.executescript("BEGIN; DROP TABLE oidc_tokens; DROP TABLE oidc_codes; DROP TABLE oidc_keys; "
                           "DROP TABLE oidc_clients; DROP INDEX IF EXISTS users_subject; "
                           "CREATE TABLE users_11 AS SELECT %s FROM users; DROP TABLE users; "
                           "ALTER TABLE users_11 RENAME TO users; "
                           "UPDATE meta SET value = CAST('11' AS BLOB) WHERE name = 'schema_version'; COMMIT;" % columns)
        conn.close()
    master = str(tmp_path / "master.key")
    assert service.init_db(db, master) == 11
    v = service.Verifier(db, master, clock=clock)
    try:
        sub = server.subject(v, "alice")
        assert sub and sub != "alice" and server.subject(v, "alice") == sub
        v.add_user("bob", "Another-pass-12")
        assert server.subject(v, "bob") not in (None, sub)
        assert clients.add(v, "App", [APP], public=True)["public"] and keys.signing_key(v, "ES256")[0]
    finally:
        v.close()


def _token_request(rp, code):
    from starlette.requests import Request

    from host.oidc import server

    basic = base64.b64encode(("%s:%s" % (rp["client_id"], rp["client_secret"])).encode())
    scope = {"type": "http", "method": "POST", "path": "/oidc/token", "query_string": b"", "scheme": "http",
             "server": ("localhost", 80), "headers": [(b"authorization", b"Basic " + basic)]}
    return server.StarletteRequest(Request(scope), [("grant_type", "authorization_code"), ("code", code),
                                                    ("redirect_uri", APP)], ISSUER)


def test_a_code_sent_many_times_at_once_gives_at_most_one_token_and_that_one_is_revoked(world):  # noqa: F811
    from host.oidc import clients, server

    v, clock, _, _ = world
    rp = clients.add(v, "App", [APP], first_party=True)
    code = "c" * 43
    now = clock()
    with v.engine.begin() as conn:
        conn.execute(oidc_codes.insert().values(
            digest=clients.digest(code), client_id=rp["client_id"], username="alice", redirect_uri=APP,
            scope="openid", auth_time=now, acr="urn:opendsc:acr:token", amr='["pwd", "hwk", "mfa"]', state=0,
            created_at=now, expires_at=now + 60))
    statuses, barrier = [], threading.Barrier(6)

    def send():
        request = _token_request(rp, code)
        barrier.wait()
        response = server.Provider(v, ISSUER).create_token_response(request)
        statuses.append((response.status_code, response.body))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # At most one use gets a token (none when a replay came between its taking the code and saving
    # the token); either way, once the code was used again, no token it gave works.
    ok = [s for s, _ in statuses if s == 200]
    assert len(ok) <= 1 and sorted(s for s, _ in statuses) == ok + [400] * (6 - len(ok))
    with v.engine.connect() as conn:
        assert [r.revoked for r in conn.execute(select(oidc_tokens))] == [1] * len(ok)
