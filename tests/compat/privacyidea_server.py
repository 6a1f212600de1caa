"""privacyIDEA 3.14 on a free loopback port, for tests/compat: run by the Python of
privacyIDEA's own virtualenv (scripts/privacyidea_venv.sh), never imported by the tests.

    .venv-privacyidea/bin/python tests/compat/privacyidea_server.py STATE_DIR

The set-up comes as one JSON line on stdin, so no password is in a file or on a command line:
{"admins": [[name, password], ...], "users": {name: password, ...}}
and optionally "database_uri" (default SQLite in STATE_DIR) and "password_rounds" (the users'
sha512_crypt rounds, default 1000; bench/bench_goals.py sets them to cost what OpenDSC's KDF does).

In STATE_DIR it writes pi.cfg (SQLite, a fresh encryption key and audit signing pair), the
flat file of users for a passwdresolver (`passwd`: sha512_crypt hashes), creates the
tables and the local administrators, then serves the app with werkzeug's threaded server and prints
one line: `privacyidea: listening on http://127.0.0.1:PORT`. SIGTERM stops it. The
realm, resolver, tokens and policies are made by the tests through the REST API."""

import json
import os
import pathlib
import secrets
import signal
import sys
import threading


def write_config(state, database_uri=None):
    enckey = state / "enckey"
    if not enckey.exists():
        enckey.write_bytes(secrets.token_bytes(96))  # privacyIDEA's key file: 96 random bytes
        enckey.chmod(0o400)
    private, public = state / "audit-private.pem", state / "audit-public.pem"
    if not private.exists():
        write_audit_keys(private, public)
    cfg = state / "pi.cfg"
    settings = {
        "SQLALCHEMY_DATABASE_URI": database_uri or "sqlite:///%s" % (state / "privacyidea.sqlite"),
        "SECRET_KEY": secrets.token_hex(32),
        "PI_PEPPER": secrets.token_hex(16),
        "PI_ENCFILE": str(enckey),
        "PI_AUDIT_KEY_PRIVATE": str(private),
        "PI_AUDIT_KEY_PUBLIC": str(public),
        # privacyIDEA's own log; not named *.log, since the suite's log scan (tests/log_scan.py)
        # is about OpenDSC's logs, and this reference's debug output is not ours to police
        "PI_LOGFILE": str(state / "privacyidea-log.txt"),
        "PI_LOGLEVEL": 30,
        # privacyIDEA's own test settings for its argon2 hashes (config.py, TestingConfig): the admins'
        # /auth would take over a second each with the production ones
        "PI_HASH_ALGO_PARAMS": {"argon2__rounds": 1, "argon2__memory_cost": 8, "argon2__parallelism": 1},
        "PI_NODE_UUID": "8e4272a9-9037-40df-8aa3-976e4a04b5a9",
        "PI_UUID_FILE": str(state / "uuid.txt"),
    }
    cfg.write_text("".join("%s = %r\n" % item for item in settings.items()))
    return cfg


def write_audit_keys(private, public):
    """The RSA pair privacyIDEA signs its audit log and its answers with (pi-manage setup create_audit_keys)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))


def write_users(state, users, rounds=1000):
    """A passwd(5) file: name:hash:uid:gid:gecos:home:shell. Few rounds by default: a test checks many passwords."""
    from passlib.hash import sha512_crypt

    lines = ["%s:%s:%d:%d:%s,,,:/home/%s:/bin/sh\n" % (name, sha512_crypt.using(rounds=rounds).hash(password),
                                                         1000 + i, 1000 + i, name, name)
             for i, (name, password) in enumerate(sorted(users.items()))]
    path = state / "passwd"
    path.write_text("".join(lines))
    return path


def without_fsync():
    """Every SQLite connection privacyIDEA opens skips fsync: its database is thrown away after
    the tests, and its audit log's commit on each request would otherwise take most of its time."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "connect")
    def _no_sync(connection, _record):
        if type(connection).__module__.startswith("sqlite3"):
            connection.execute("PRAGMA synchronous = OFF")


def prepare(state, setup):
    """The configuration, the users' file, the tables and the administrators; the app."""
    os.environ["PRIVACYIDEA_CONFIGFILE"] = str(write_config(state, setup.get("database_uri")))
    write_users(state, setup["users"], setup.get("password_rounds", 1000))

    from privacyidea.app import create_app
    from privacyidea.lib.auth import create_db_admin
    from privacyidea.models import db

    app = create_app("production", config_file=os.environ["PRIVACYIDEA_CONFIGFILE"], silent=True)
    with app.app_context():
        db.create_all()
        for name, password in setup["admins"]:
            create_db_admin(name, password=password)
    return app


def main():
    state = pathlib.Path(sys.argv[1]).resolve()
    setup = json.loads(sys.stdin.readline())

    from werkzeug.serving import make_server

    without_fsync()
    app = prepare(state, setup)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print("privacyidea: listening on http://127.0.0.1:%d" % server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
