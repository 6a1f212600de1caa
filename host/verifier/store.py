"""The verifier's storage: SQLAlchemy Core tables, schema migrations, and
engines for SQLite (WAL and BEGIN IMMEDIATE serialise writers) and PostgreSQL
(psycopg 3; the policies take row locks and make conditional UPDATEs, so they
need no global write lock).

Policies only use these tables through SQLAlchemy Core; what differs between
the backends lives here.
"""

import contextlib
import os
import sqlite3
import threading
import time

from sqlalchemy import (BigInteger, Column, Float, ForeignKey, Integer, LargeBinary, MetaData, String, Table,
                        Text, UniqueConstraint, create_engine, event, select, text)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import DBAPIError, DisconnectionError

metadata = MetaData()

meta = Table(
    "meta", metadata,
    Column("name", String(64), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)

users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("birth_date", String(10), nullable=False, default=""),
    Column("citizenship", String(64), nullable=False, default=""),
    Column("residence", String(64), nullable=False, default=""),
    Column("id_type", String(64), nullable=False, default=""),  # 1-64 characters (inputs.identity)
    Column("id_number", String(64), nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Column("role", String(16), nullable=False, default="user"),  # user or helpdesk (the portal's console); schema 7
    # OpenID Connect's `sub`: random, made on first need, never the name (schema 12)
    Column("subject", String(64), unique=True),
)

devices = Table(
    "devices", metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("kind", String(16), nullable=False),  # a name in kinds.KINDS
    Column("serial", String(64), nullable=False),
    Column("suite", String(64), nullable=False, default=""),
    Column("status", String(16), nullable=False),  # shipped, active, inactive, revoked
    Column("secret", LargeBinary, nullable=False),  # sealed: token key, card grid or passcode
    Column("pin", LargeBinary),  # sealed PIN hash for suites with a PIN
    Column("counter", BigInteger, nullable=False, default=0),
    Column("shipped_at", Float),
    Column("activated_at", Float),
    Column("expires_at", Float),
    Column("created_at", Float, nullable=False),
    Column("public_key", LargeBinary),  # the mobile app's ECDSA P-256 public point (docs/mobile.md); schema 8
    UniqueConstraint("kind", "serial"),
)

challenges = Table(
    "challenges", metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("device_id", Integer, ForeignKey("devices.id"), nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("challenge", String(64), nullable=False),
    Column("payload", LargeBinary),  # sealed, e.g. the new PIN hash of a PIN change
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("consumed", Integer, nullable=False, default=0),
    # 1 once a right response was accepted (polltransaction's "accept"); schema 6.
    # A phone's approval (schema 8): 2, then 3 once the service that waited took it (complete()).
    Column("accepted", Integer, nullable=False, default=0),
    # OpenDSC Mobile (schema 8): the number the login page shows, where the login
    # comes from (shown in the app), and 1 once the phone declined it.
    Column("number", Integer),
    Column("origin", String(128)),
    Column("declined", Integer, nullable=False, default=0),
    # Responses judged so far (schema 10): a challenge stays open after a wrong one
    # until Policy.challenge_tries were used (challenges.py).
    Column("attempts", Integer, nullable=False, default=0),
    # A withdrawal's amount and destination (schema 11), stored when it is issued:
    # a signing device's response is checked against them (transaction signing,
    # docs/protocol.md "Signing"), and the pages and the phone show them.
    Column("amount", BigInteger),
    Column("destination", String(64)),  # the account as the bank shows it
    Column("destination_digits", String(8)),  # the digits the user keys (signing.destination_digits)
)

audit = Table(
    "audit", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("username", String(64), nullable=False),
    Column("device", String(80), nullable=False, default=""),
    Column("purpose", String(16), nullable=False),
    Column("outcome", String(8), nullable=False),  # ok, fail
    Column("reason", String(64), nullable=False, default=""),
    # who acted, when not the user: "apikey:3" for the operator API (audit.acting); schema 6
    Column("actor", String(64), nullable=False, default=""),
    # a withdrawal's amount and destination as the server stored them, on every
    # outcome (a refused signature too); schema 11
    Column("amount", BigInteger),
    Column("destination", String(64)),
    Column("destination_digits", String(8)),
)

shares = Table(
    "shares", metadata,
    Column("device_id", Integer, ForeignKey("devices.id"), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True),  # who may use the device too
    Column("created_at", Float, nullable=False),
)

withdrawals = Table(
    "withdrawals", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("device_kind", String(16), nullable=False),  # the kind of device that confirmed it
    Column("device", String(64), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("at", Float, nullable=False),
    Column("destination", String(64)),  # schema 11; none for a withdrawal confirmed before
    Column("destination_digits", String(8)),
)

# The lockout is kept per user name, whether or not such a user exists, so that
# "locked" never tells an attacker which names are real.
lockouts = Table(
    "lockouts", metadata,
    Column("name", String(64), primary_key=True),
    Column("reset_id", Integer, nullable=False, default=0),  # failures up to this id do not count
)

failures = Table(
    "failures", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, index=True),
    Column("at", Float, nullable=False),
    # as audited ("wrong password", "wrong response", "locked"), or "pending": a
    # password check still running, counted until it proves right (fail-closed)
    Column("reason", String(32), nullable=False, default=""),
)

# Master keys by id; the keys themselves live in the key ring file, never here.
# state: active (seals new values; exactly one), retiring (still opens values
# not yet re-sealed), retired (nothing sealed with it remains).
master_keys = Table(
    "master_keys", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("state", String(16), nullable=False),
    Column("canary", LargeBinary, nullable=False),  # sealed with this key: proves a key ring entry is it
    Column("created_at", Float, nullable=False),
)

# Request throttling (throttle.py): allowed attempts per key (a hashed client
# address or user name) in buckets of a tenth of the window, which start at their
# window_start; each key's row at window_start -1 is the lock its attempts take.
# Buckets that left the window are deleted as keys recur.
throttle = Table(
    "throttle", metadata,
    Column("key", String(80), primary_key=True),
    Column("window_start", Float, primary_key=True),
    Column("count", Integer, nullable=False, default=0),
)

# The web portal's server-side sessions (host/portal/sessions.py): only a hash of
# the cookie's value is kept. stage: "anonymous", "challenged" (password right, a
# challenge open), "in" (logged in).
web_sessions = Table(
    "web_sessions", metadata,
    Column("id", String(64), primary_key=True),  # SHA-256 of the cookie value
    Column("stage", String(16), nullable=False),
    Column("username", String(64)),
    Column("challenge_id", String(32)),
    Column("csrf", String(64), nullable=False),
    Column("data", Text, nullable=False, default="{}"),  # small JSON: language, pending purpose, ...
    Column("created_at", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
)

# OpenDSC Mobile activations (mobile_activation.py, docs/mobile.md): open (a code
# issued), agreed (the app's keys taken, the OCRA key derived), done.
mobile_activations = Table(
    "mobile_activations", metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("code_digest", LargeBinary, nullable=False),  # keyed under a master key: keystore.digest_with
    Column("status", String(16), nullable=False),
    Column("serial", String(64), nullable=False),
    Column("device_key", LargeBinary),  # the app's ECDSA public point
    Column("sealed", LargeBinary),  # the OCRA key and the PIN transport key, sealed; until done
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

# Web Push for OpenDSC Mobile (mobile_push.py, docs/mobile.md); schema 9. The
# server's VAPID key pair, made on first need and shared by every server process:
# one row, id 1, its private scalar sealed.
push_keys = Table(
    "push_keys", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("public_key", LargeBinary, nullable=False),  # the raw uncompressed P-256 point (65 bytes)
    Column("private_key", LargeBinary, nullable=False),  # sealed: the 32-byte private scalar
    Column("created_at", Float, nullable=False),
)

# A phone's push subscription, as its browser made it: one per device, replaced
# when the app subscribes again. Only pushed to while the device is active.
push_subscriptions = Table(
    "push_subscriptions", metadata,
    Column("device_id", Integer, ForeignKey("devices.id"), primary_key=True),
    Column("endpoint", String(1024), nullable=False),  # an https URL of the browser's push service
    Column("p256dh", LargeBinary, nullable=False),  # the browser's ECDH public point (RFC 8291)
    Column("auth", LargeBinary, nullable=False),  # its 16-byte authentication secret
    Column("created_at", Float, nullable=False),
)

# Operator API keys (apikeys.py): only the SHA-256 of each key's secret is kept.
api_keys = Table(
    "api_keys", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, default=""),
    Column("role", String(16), nullable=False),  # apikeys.ROLES
    Column("digest", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float),
)


# The OpenID Connect provider (host/oidc/, docs/oidc.md); schema 12.
# Relying parties registered by the operator: a confidential one's secret is kept
# only as its SHA-256 (like api_keys); lists are JSON arrays.
oidc_clients = Table(
    "oidc_clients", metadata,
    Column("client_id", String(64), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("secret_digest", String(64)),  # None: a public client (PKCE S256 instead)
    Column("redirect_uris", Text, nullable=False),
    Column("post_logout_redirect_uris", Text, nullable=False, default="[]"),
    Column("scopes", Text, nullable=False),
    Column("level", String(64), nullable=False),  # the least acr it accepts
    Column("first_party", Integer, nullable=False, default=0),  # 1: no consent page
    Column("alg", String(8), nullable=False, default="ES256"),  # its ID tokens' signature
    Column("created_at", Float, nullable=False),
)

# The provider's signing keys, made on first need, one current per algorithm; a
# rotated key keeps signing nothing but stays in JWKS until retired_at plus the
# ID tokens' lifetime. The private key is sealed with the master key.
oidc_keys = Table(
    "oidc_keys", metadata,
    Column("kid", String(64), primary_key=True),
    Column("alg", String(8), nullable=False),
    Column("public_jwk", Text, nullable=False),
    Column("private_key", LargeBinary, nullable=False),  # sealed: the private JWK
    Column("created_at", Float, nullable=False),
    Column("retired_at", Float),  # None: the current key of its algorithm
)

# Authorization codes (single use, 60 s) and access tokens, kept only as SHA-256.
# A code's state: 0 issued, 1 taken by the token endpoint, 2 used twice (what
# its first use issued is revoked).
oidc_codes = Table(
    "oidc_codes", metadata,
    Column("digest", String(64), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("username", String(64), nullable=False),
    Column("redirect_uri", Text, nullable=False),
    Column("scope", Text, nullable=False),
    Column("nonce", Text),
    Column("code_challenge", String(128)),
    Column("code_challenge_method", String(8)),
    Column("auth_time", Float, nullable=False),
    Column("acr", String(64), nullable=False),
    Column("amr", Text, nullable=False),
    Column("state", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

oidc_tokens = Table(
    "oidc_tokens", metadata,
    Column("digest", String(64), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("username", String(64), nullable=False),
    Column("scope", Text, nullable=False),
    Column("code_digest", String(64), nullable=False, index=True),
    Column("revoked", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)


def _append_only_audit(conn):
    """The database itself refuses to change or delete an audit event: triggers on
    SQLite and PostgreSQL (there, also TRUNCATE; grant the service's role only
    INSERT and SELECT on audit too, as docs/verifier.md says). Idempotent."""
    if conn.dialect.name == "sqlite":
        for action in ("UPDATE", "DELETE"):
            conn.exec_driver_sql(
                "CREATE TRIGGER IF NOT EXISTS audit_no_%s BEFORE %s ON audit "
                "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END" % (action.lower(), action))
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$")
        for name, when in (("audit_no_change", "BEFORE UPDATE OR DELETE ON audit FOR EACH ROW"),
                           ("audit_no_truncate", "BEFORE TRUNCATE ON audit FOR EACH STATEMENT")):
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS %s ON audit" % name)
            conn.exec_driver_sql("CREATE TRIGGER %s %s EXECUTE FUNCTION audit_append_only()" % (name, when))


def _keys_lockouts_and_kinds(conn):
    """Schema 4: master keys by id, the lockout per name with one row per failure,
    and the hardware token's kind called "token"."""
    import json

    metadata.create_all(conn, tables=[lockouts, failures, master_keys])
    canary = get_meta(conn, "canary")
    if canary is not None:  # sealed before key ids existed: that was key 1
        conn.execute(master_keys.insert().values(id=1, state="active", canary=canary, created_at=0.0))
        set_meta(conn, "current_key", b"1")
    conn.execute(devices.update().where(devices.c.kind == "dsc").values(kind="token"))
    conn.execute(withdrawals.update().where(withdrawals.c.device_kind == "dsc").values(device_kind="token"))
    columns = [c["name"] for c in sa_inspect(conn).get_columns("users")]
    if "failures" in columns:  # schema 3 kept each user's streak as a JSON list in users.failures
        for name, streak in conn.execute(text("SELECT username, failures FROM users")).all():
            for at in json.loads(streak or "[]"):
                conn.execute(failures.insert().values(name=name, at=float(at)))
        conn.execute(text("ALTER TABLE users DROP COLUMN failures"))


def _add_columns(conn, columns):
    """ALTER TABLE ... ADD COLUMN for each (table, column, SQL definition) the table lacks."""
    for table, column, definition in columns:
        if column not in [c["name"] for c in sa_inspect(conn).get_columns(table)]:
            conn.exec_driver_sql("ALTER TABLE %s ADD COLUMN %s %s" % (table, column, definition))


def _api_keys_and_accepted(conn):
    """Schema 6: operator API keys (apikeys.py) and who acted in the audit log, and
    whether a challenge was answered rightly (polltransaction's "accept")."""
    metadata.create_all(conn, tables=[api_keys])
    _add_columns(conn, (("challenges", "accepted", "INTEGER NOT NULL DEFAULT 0"),
                        ("audit", "actor", "VARCHAR(64) NOT NULL DEFAULT ''")))


def _roles_and_web_sessions(conn):
    """Schema 7: a user's role (help-desk staff log in to the portal's console) and
    the portal's sessions."""
    metadata.create_all(conn, tables=[web_sessions])
    _add_columns(conn, (("users", "role", "VARCHAR(16) NOT NULL DEFAULT 'user'"),))


def _mobile(conn):
    """Schema 8: OpenDSC Mobile's activations, the app's public key on its device,
    and what a login to approve on the phone carries."""
    metadata.create_all(conn, tables=[mobile_activations])
    binary = "BYTEA" if conn.dialect.name == "postgresql" else "BLOB"
    _add_columns(conn, (("devices", "public_key", binary), ("challenges", "number", "INTEGER"),
                        ("challenges", "origin", "VARCHAR(128)"),
                        ("challenges", "declined", "INTEGER NOT NULL DEFAULT 0")))


def _challenge_attempts(conn):
    """Schema 10: how many responses a challenge has judged, so a typo need not end it."""
    _add_columns(conn, (("challenges", "attempts", "INTEGER NOT NULL DEFAULT 0"),))


def _withdrawal_destinations(conn):
    """Schema 11: a withdrawal's amount and destination on its challenge, its
    withdrawals row and its audit events (transaction signing). A withdrawal
    challenge still open was issued without them, so nothing could be signed
    over them: it is closed (it lives for a challenge_ttl only; the user starts again)."""
    columns = (("amount", "BIGINT"), ("destination", "VARCHAR(64)"), ("destination_digits", "VARCHAR(8)"))
    _add_columns(conn, [("challenges", c, d) for c, d in columns] + [("audit", c, d) for c, d in columns]
                 + [("withdrawals", c, d) for c, d in columns[1:]])
    conn.execute(challenges.update().where(challenges.c.purpose == "withdrawal")
                 .where(challenges.c.amount.is_(None)).values(consumed=1))


def _oidc_provider(conn):
    """Schema 12: the OpenID Connect provider's clients, signing keys, codes and
    access tokens, and each user's stable subject."""
    metadata.create_all(conn, tables=[oidc_clients, oidc_keys, oidc_codes, oidc_tokens])
    _add_columns(conn, (("users", "subject", "VARCHAR(64)"),))
    conn.exec_driver_sql("CREATE UNIQUE INDEX IF NOT EXISTS users_subject ON users (subject)")


SCHEMA_VERSION = 12
# Migrations from version N-1 to N, run in order inside one transaction.
MIGRATIONS = {
    1: lambda conn: metadata.create_all(conn, tables=[meta, users, devices, challenges, audit]),
    2: lambda conn: metadata.create_all(conn, tables=[shares, withdrawals]),  # sharing, withdrawal limits
    3: _append_only_audit,
    4: _keys_lockouts_and_kinds,
    5: lambda conn: metadata.create_all(conn, tables=[throttle]),  # request throttling (throttle.py)
    6: _api_keys_and_accepted,
    7: _roles_and_web_sessions,
    8: _mobile,
    9: lambda conn: metadata.create_all(conn, tables=[push_keys, push_subscriptions]),  # Web Push (mobile_push.py)
    10: _challenge_attempts,
    11: _withdrawal_destinations,
    12: _oidc_provider,
}
# Two `dsc db init` at once on one PostgreSQL database: the second waits (SQLite: BEGIN IMMEDIATE).
_MIGRATION_LOCK = 0x0D5C0001


class StoreError(Exception):
    """A storage problem, said in one line."""


def url_for(db):
    """The SQLAlchemy URL for a path (SQLite) or URL; postgresql:// means psycopg 3."""
    if "://" not in db:
        return "sqlite:///" + os.path.abspath(db)
    if db.startswith("postgresql://") or db.startswith("postgres://"):
        return "postgresql+psycopg://" + db.split("://", 1)[1]
    return db


def create_sqlite_file(path):
    """A new, empty database file readable by its owner only (SQLite gives its
    -wal and -shm files the same mode). False if it exists already."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return False
    except OSError as e:
        raise StoreError("cannot create database %s: %s" % (path, e.strerror))
    return True


def engine_for(db, create=False):
    """An engine for a path (SQLite) or a SQLAlchemy URL. A SQLite file must
    exist unless `create`: a mistyped --db never makes an empty database."""
    url = url_for(db)
    if url.startswith("sqlite"):
        path = url[len("sqlite:///"):]
        if not create and not os.path.isfile(path):
            raise StoreError("no database at %s (dsc db init creates it; check --db or DSC_DB)" % db)
        if create:
            create_sqlite_file(path)
        engine = create_engine(url, connect_args={"isolation_level": None, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_setup(conn, _):
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=FULL")  # a commit survives a power cut

        # The threads of one process queue for the write lock here, in order, rather
        # than in SQLite's busy handler, which sleeps up to 100 ms between tries.
        writer = threading.RLock()

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn):
            # Take the write lock at BEGIN: SQLite's stand-in for the row locks
            # (SELECT ... FOR UPDATE) that the policies take on other backends.
            writer.acquire()
            try:  # on the driver's connection: through SQLAlchemy this cost more than the statement
                conn.connection.driver_connection.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as e:  # as SQLAlchemy says it (e.g. OperationalError: not a database)
                writer.release()
                raise DBAPIError.instance("BEGIN IMMEDIATE", (), e, sqlite3.Error) from e
            except BaseException:
                writer.release()
                raise

        @event.listens_for(engine, "commit")
        @event.listens_for(engine, "rollback")
        def _end(conn):
            writer.release()

        return engine
    if not url.startswith("postgresql"):
        raise StoreError("unsupported database URL %s: give a SQLite path or postgresql://..." % url.split("://")[0])
    try:
        engine = create_engine(url)
    except ImportError as e:
        raise StoreError("the database driver for %s is not installed (%s): pip install psycopg" % (
            url.split("://")[0], e.name or e))
    except Exception as e:  # a malformed URL
        raise StoreError("cannot use database URL: %s" % str(e).splitlines()[0])
    _ping_when_idle(engine)
    return engine


# A pooled PostgreSQL connection idle this long is pinged before use (seconds).
PING_AFTER = 1.0


def _ping_when_idle(engine):
    """SQLAlchemy's pool_pre_ping, for connections that sat idle only: a ping is a
    round trip, about a sixth of a verification's, and a connection in constant use
    is known to be alive. One that fails its ping is replaced, as with pre_ping."""
    @event.listens_for(engine, "checkin")
    def _idle_from(dbapi_connection, record):
        record.info["idle_from"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, proxy):
        idle_from = record.info.get("idle_from")
        if idle_from is None or time.monotonic() - idle_from < PING_AFTER:
            return  # just connected, or in use a moment ago
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error:
            alive = False
        if not alive:
            raise DisconnectionError("the connection did not answer a ping")  # the pool connects anew


@contextlib.contextmanager
def begin_unsynced(engine):
    """engine.begin() for state that may lose its last moments to a power cut (the
    throttle's counters): as atomic and isolated as any transaction, but its commit
    does not wait for the disk (SQLite: synchronous=NORMAL for it, WAL mode; PostgreSQL:
    synchronous_commit off). A process killed loses nothing; the next durable commit,
    or the database's own background flush, writes it out. Never for a lock, a
    verification or anything audited."""
    with engine.connect() as conn:
        if conn.dialect.name != "sqlite":
            with conn.begin():
                conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
                yield conn
            return
        raw = conn.connection.driver_connection  # outside a transaction, as SQLite requires for this pragma
        raw.execute("PRAGMA synchronous=NORMAL")
        try:
            with conn.begin():
                yield conn
        finally:
            try:
                raw.execute("PRAGMA synchronous=FULL")
            except BaseException:
                conn.invalidate()  # never back to the pool unsynced
                raise


def one_writer_at_a_time(conn):
    """Whether a write transaction holds the whole database's write lock from its
    start: SQLite's BEGIN IMMEDIATE. Then row locks add nothing, and all that its
    first read returns is current, subqueries too. On PostgreSQL rows are locked one
    by one, and a statement that waited for a row's lock re-reads only the rows it
    locked; a subquery still sees the snapshot of the statement's start."""
    return conn.dialect.name == "sqlite"


def insert_for(conn, table):
    """The backend's INSERT for `table`, which has ON CONFLICT (an atomic insert-or-update)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def insert_missing(conn, table, **values):
    """INSERT a row unless its primary key exists already, atomically on every backend."""
    conn.execute(insert_for(conn, table).values(**values).on_conflict_do_nothing())


def display(db):
    """A path or URL as it may be shown or logged: a URL's password is masked."""
    if "://" not in db:
        return db
    from sqlalchemy.engine import make_url

    try:
        return make_url(url_for(db)).render_as_string(hide_password=True)
    except Exception:
        return "the database URL"


def connect_error(db, e):
    """A StoreError for a database that cannot be reached, in one line, without its password."""
    orig = getattr(e, "orig", None) or e
    return StoreError("cannot open %s: %s" % (display(db), (str(orig).strip().splitlines() or ["?"])[0]))


def version(conn):
    if not conn.dialect.has_table(conn, "meta"):
        return 0
    row = conn.execute(select(meta.c.value).where(meta.c.name == "schema_version")).first()
    return int(row[0]) if row else 0


def migrate(conn):
    """Bring the schema to SCHEMA_VERSION; returns the version found."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
    found = version(conn)
    if found > SCHEMA_VERSION:
        raise StoreError("database schema %d is newer than this verifier (%d)" % (found, SCHEMA_VERSION))
    for v in range(found + 1, SCHEMA_VERSION + 1):
        MIGRATIONS[v](conn)
    if found != SCHEMA_VERSION:
        set_meta(conn, "schema_version", str(SCHEMA_VERSION).encode())
    return found


def get_meta(conn, name):
    row = conn.execute(select(meta.c.value).where(meta.c.name == name)).first()
    return row[0] if row else None


def set_meta(conn, name, value):
    """Insert or replace a meta value, atomically on every backend (no read-then-write)."""
    insert_missing(conn, meta, name=name, value=value)
    conn.execute(meta.update().where(meta.c.name == name).values(value=value))
