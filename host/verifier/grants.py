"""The login service's own PostgreSQL role (`dsc db grant ROLE`, run as the owner).

The owner (the role that ran `dsc db init`) owns the tables, so it could drop the
audit log's append-only trigger; the service should connect as another role that
may use the verifier's tables and nothing more:

- CONNECT on the database and USAGE on the tables' schema (only granted when the
  role lacks them: PostgreSQL gives both to PUBLIC by default);
- SELECT, INSERT, UPDATE, DELETE on every other table, `meta` and
  `master_keys` too: every process reads the current master key with a FOR
  SHARE row lock on `meta`, which PostgreSQL allows only with UPDATE, and
  `dsc db rotate-master-key` may then run as either role (it writes both);
- only SELECT and INSERT on `audit`: everything else is revoked, so no grant made
  earlier lets the service change or empty the log;
- USAGE and SELECT on the id sequences (an INSERT draws its id from them).

One transaction, idempotent; the role's privileges are read back before it
commits. A migration that adds a table needs `dsc db grant` again.
"""

import re

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError

from host.verifier import store
from host.verifier.store import StoreError, metadata

# A plain SQL identifier: it is still quoted, so its case is kept as typed.
ROLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}\Z")
APPEND_ONLY = store.audit.name
FULL = ("SELECT", "INSERT", "UPDATE", "DELETE")
APPEND = ("SELECT", "INSERT")
NEVER = ("UPDATE", "DELETE", "TRUNCATE")  # on the audit log


def _quote(name):
    return '"%s"' % name.replace('"', '""')


def check_role_name(role):
    if not isinstance(role, str) or not ROLE_NAME.match(role):
        raise StoreError("a role name is a plain identifier (a letter or _, then letters, digits or _; "
                         "at most 63): %r is not" % (role,))
    return role


def _serial_column(table):
    column = table.autoincrement_column
    return column.name if column is not None else None


def statements(role, database, schema, sequences, connect=True, usage=True):
    """The SQL for `role`: `sequences` are the quoted names of the id sequences."""
    r = _quote(role)
    sql = []
    if connect:
        sql.append("GRANT CONNECT ON DATABASE %s TO %s" % (_quote(database), r))
    if usage:
        sql.append("GRANT USAGE ON SCHEMA %s TO %s" % (_quote(schema), r))
    for table in metadata.sorted_tables:
        name = _quote(table.name)
        sql.append("REVOKE ALL ON TABLE %s FROM %s" % (name, r))
        sql.append("GRANT %s ON TABLE %s TO %s" % (
            ", ".join(APPEND if table.name == APPEND_ONLY else FULL), name, r))
    for sequence in sequences:
        sql.append("REVOKE ALL ON SEQUENCE %s FROM %s" % (sequence, r))
        sql.append("GRANT USAGE, SELECT ON SEQUENCE %s TO %s" % (sequence, r))
    return sql


def grant_sql(role="dsc_service", database="dsc", schema="public"):
    """The statements as text, for the docs (sequences under PostgreSQL's default names)."""
    sequences = [_quote("%s_%s_seq" % (t.name, _serial_column(t))) for t in metadata.sorted_tables
                 if _serial_column(t)]
    return ";\n".join(statements(check_role_name(role), database, schema, sequences)) + ";\n"


def grant_service_role(db, role):
    """Grant `role` what the login service needs on the PostgreSQL database `db`
    (a URL of the tables' owner) and no more. Returns the tables' names; see summary()."""
    if store.url_for(db).startswith("sqlite"):
        raise StoreError("SQLite has no roles: dsc db grant is for a PostgreSQL database "
                         "(a SQLite file is guarded by its mode, 0600)")
    check_role_name(role)
    engine = store.engine_for(db)
    try:
        with engine.begin() as conn:
            return _grant(conn, role)
    except DBAPIError as e:
        if isinstance(e, OperationalError):  # cannot connect, or the connection broke
            raise store.connect_error(db, e)
        raise StoreError("cannot grant to %s as %s: %s (run dsc db grant as the role that ran dsc db init)" % (
            role, store.display(db), (str(e.orig).strip().splitlines() or ["?"])[0]))
    finally:
        engine.dispose()


def summary(role, tables):
    """One line for the command line, e.g. after `dsc db grant`."""
    others = sorted(t for t in tables if t != APPEND_ONLY)
    return "granted %s %s on %s; only %s on %s" % (role, ", ".join(FULL), ", ".join(others), ", ".join(APPEND),
                                                  APPEND_ONLY)


def _grant(conn, role):
    found = store.version(conn)
    if found != store.SCHEMA_VERSION:
        raise StoreError("the database has schema %d, this verifier %d: run dsc db init (as the owner) first"
                         % (found, store.SCHEMA_VERSION))

    def one(sql, **params):
        return conn.execute(text(sql), params).first()

    row = one("SELECT rolsuper FROM pg_roles WHERE rolname = :role", role=role)
    if row is None:
        raise StoreError("no role %s on this server (CREATE ROLE %s LOGIN creates it)" % (role, role))
    if row.rolsuper:
        raise StoreError("role %s is a superuser, which no privilege restricts: the service needs an "
                         "ordinary role" % role)
    tables = [t.name for t in metadata.sorted_tables]
    missing = [name for name in tables if one("SELECT to_regclass(:t) AS oid", t=_quote(name)).oid is None]
    if missing:
        raise StoreError("the database has no table %s: run dsc db init (as the owner) first" % ", ".join(missing))
    where = one("SELECT n.nspname AS schema, c.relowner::regrole::text AS owner, "
                "pg_has_role(:role, c.relowner, 'MEMBER') AS owns, current_database() AS database "
                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(:t)",
                role=role, t=_quote(APPEND_ONLY))
    if where.owns:
        raise StoreError("role %s owns the verifier's tables (as %s): it could drop the audit log's "
                         "trigger; the service needs a role of its own" % (role, where.owner))
    sequences = []
    for table in metadata.sorted_tables:
        column = _serial_column(table)
        sequence = column and one("SELECT pg_get_serial_sequence(:t, :c) AS name", t=_quote(table.name), c=column).name
        if sequence:
            sequences.append(sequence)  # schema-qualified and quoted as needed
    connect = not one("SELECT has_database_privilege(:role, current_database(), 'CONNECT') AS ok", role=role).ok
    usage = not one("SELECT has_schema_privilege(:role, :s, 'USAGE') AS ok", role=role, s=where.schema).ok
    for sql in statements(role, where.database, where.schema, sequences, connect=connect, usage=usage):
        conn.exec_driver_sql(sql)
    _check(one, role, tables, sequences)
    return tables


def _check(one, role, tables, sequences):
    """Read the privileges back: a grant without the right to make it is only a
    warning in PostgreSQL, and PUBLIC or another role may give more than we do."""
    def has(name, privilege):
        return one("SELECT has_table_privilege(:role, :t, :p) AS ok", role=role, t=_quote(name), p=privilege).ok

    for name in tables:
        lacking = [p for p in (APPEND if name == APPEND_ONLY else FULL) if not has(name, p)]
        if lacking:
            raise StoreError("role %s did not get %s on %s: run dsc db grant as the tables' owner"
                             % (role, ", ".join(lacking), name))
    extra = [p for p in NEVER if has(APPEND_ONLY, p)]
    if extra:
        raise StoreError("role %s may still %s %s, through PUBLIC or a role it belongs to: revoke that there"
                         % (role, ", ".join(extra), APPEND_ONLY))
    for sequence in sequences:
        if not one("SELECT has_sequence_privilege(:role, :s, 'USAGE') AS ok", role=role, s=sequence).ok:
            raise StoreError("role %s did not get USAGE on %s: run dsc db grant as the tables' owner" % (role, sequence))
