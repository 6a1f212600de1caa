"""The verifier's storage: SQLAlchemy Core tables, schema migrations, and
transactions that serialise writers (SQLite: WAL and BEGIN IMMEDIATE).

Policies in service.py only use these tables through SQLAlchemy Core, so a
PostgreSQL backend needs an engine here, not changes there.
"""

import os

from sqlalchemy import (BigInteger, Column, Float, ForeignKey, Integer, LargeBinary, MetaData, String, Table,
                        Text, UniqueConstraint, create_engine, event, select)

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
    Column("id_type", String(32), nullable=False, default=""),
    Column("id_number", String(64), nullable=False, default=""),
    # the current streak of failed logins (times, JSON list), for the lockout
    Column("failures", Text, nullable=False, default="[]"),
    Column("created_at", Float, nullable=False),
)

devices = Table(
    "devices", metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("kind", String(16), nullable=False),  # dsc, code-card, online-card, temp-passcode
    Column("serial", String(64), nullable=False),
    Column("suite", String(64), nullable=False, default=""),
    Column("status", String(16), nullable=False),  # shipped, active, inactive
    Column("secret", LargeBinary, nullable=False),  # sealed: token key, card grid or passcode
    Column("pin", LargeBinary),  # sealed PIN hash for suites with a PIN
    Column("counter", BigInteger, nullable=False, default=0),
    Column("shipped_at", Float),
    Column("activated_at", Float),
    Column("expires_at", Float),
    Column("created_at", Float, nullable=False),
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
)

def _append_only_audit(conn):
    """The database itself refuses to change or delete an audit event."""
    if conn.dialect.name != "sqlite":
        return  # other backends: grant the verifier INSERT and SELECT only on audit
    for action in ("UPDATE", "DELETE"):
        conn.exec_driver_sql(
            "CREATE TRIGGER IF NOT EXISTS audit_no_%s BEFORE %s ON audit "
            "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END" % (action.lower(), action))


SCHEMA_VERSION = 3
# Migrations from version N-1 to N, run in order inside one transaction.
MIGRATIONS = {
    1: lambda conn: metadata.create_all(conn, tables=[meta, users, devices, challenges, audit]),
    2: lambda conn: metadata.create_all(conn, tables=[shares, withdrawals]),  # sharing, withdrawal limits
    3: _append_only_audit,
}


class StoreError(Exception):
    """A storage problem, said in one line."""


def engine_for(db):
    """An engine for a path (SQLite) or a SQLAlchemy URL."""
    url = db if "://" in db else "sqlite:///" + os.path.abspath(db)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"isolation_level": None, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_setup(conn, _):
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=FULL")  # a commit survives a power cut

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn):
            # Take the write lock at BEGIN: racing verifiers queue instead of both
            # reading a challenge as unconsumed.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url)


def version(conn):
    if not conn.dialect.has_table(conn, "meta"):
        return 0
    row = conn.execute(select(meta.c.value).where(meta.c.name == "schema_version")).first()
    return int(row[0]) if row else 0


def migrate(conn):
    """Bring the schema to SCHEMA_VERSION; returns the version found."""
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
    if get_meta(conn, name) is None:
        conn.execute(meta.insert().values(name=name, value=value))
    else:
        conn.execute(meta.update().where(meta.c.name == name).values(value=value))
