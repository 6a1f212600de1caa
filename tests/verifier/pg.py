"""A throwaway PostgreSQL server for the verifier's tests (issue 8 section 5).

One server per pytest process (each xdist worker starts its own): `initdb` into a
new temporary directory, `pg_ctl start` on a free port on 127.0.0.1 with its unix
socket in that directory, then one new database per test (`new_database()`).
PostgreSQL refuses to run as root, so as root the server runs as the system user
`dsctest` (created with useradd if missing); otherwise as the current user.
`stop()` stops the server and removes the directory.

The server runs with fsync off: the tests are about the verifier's transactions
and locks, not about the disk (the durability of commits is PostgreSQL's).
"""

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile

USER = "dsctest"
SUPERUSER = "postgres"


def find_bin(name):
    """A PostgreSQL server program: on PATH or where Debian puts it."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/" + name),
                        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return candidates[-1] if candidates else None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_user(args):
    if os.geteuid() != 0:
        return args
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER],
                       check=False, capture_output=True)  # another worker may create it meanwhile
        pwd.getpwnam(USER)
    return ["runuser", "-u", USER, "--"] + args


class Server:
    def __init__(self):
        initdb, self.pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
        if not initdb or not self.pg_ctl:
            raise RuntimeError("PostgreSQL's initdb/pg_ctl are not installed (make test installs the "
                               "postgresql package with apt-get; see scripts/bootstrap.sh)")
        self.dir = tempfile.mkdtemp(prefix="dsc-pg-")
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "log")
        self.port = None
        self._names = itertools.count(1)
        try:
            if os.geteuid() == 0:
                _as_user(["true"])
                entry = pwd.getpwnam(USER)
                os.chown(self.dir, entry.pw_uid, entry.pw_gid)
            os.chmod(self.dir, 0o700)
            self._run([initdb, "-D", self.data, "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8",
                       "--locale=C", "--no-sync"])
            self._start()
        except BaseException:
            self.stop()
            raise

    def _run(self, args, check=True):
        out = subprocess.run(_as_user(args), capture_output=True, text=True, cwd=self.dir)
        if check and out.returncode != 0:
            raise RuntimeError("%s failed: %s%s" % (os.path.basename(args[0]), out.stdout[-2000:], out.stderr[-2000:]))
        return out

    def _start(self):
        for _ in range(5):  # a port taken between choosing it and listening: choose again
            port = _free_port()
            options = ("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
                       "-c full_page_writes=off -c max_connections=200 -c shared_buffers=32MB" % (port, self.dir))
            out = self._run([self.pg_ctl, "-D", self.data, "-l", self.log, "-o", options, "-w", "-t", "30", "start"],
                            check=False)
            if out.returncode == 0:
                self.port = port
                return
        raise RuntimeError("pg_ctl start failed: %s%s%s" % (out.stdout[-1000:], out.stderr[-1000:], self._log_tail()))

    def _log_tail(self):
        try:
            with open(self.log) as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def url(self, database):
        return "postgresql+psycopg://%s@127.0.0.1:%d/%s" % (SUPERUSER, self.port, database)

    def admin(self, sql):
        import psycopg

        with psycopg.connect("host=127.0.0.1 port=%d user=%s dbname=postgres" % (self.port, SUPERUSER),
                             autocommit=True) as conn:
            conn.execute(sql)

    def new_database(self):
        """The URL of a new, empty database."""
        name = "t_%d_%d" % (os.getpid(), next(self._names))
        try:  # file_copy (PostgreSQL 15+) is the faster way to copy a small template
            self.admin("CREATE DATABASE %s TEMPLATE template0 STRATEGY file_copy" % name)
        except Exception:
            self.admin("CREATE DATABASE %s TEMPLATE template0" % name)
        return self.url(name), name

    def drop_database(self, name):
        self.admin("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)

    def stop(self):
        try:
            if self.port is not None and os.path.exists(os.path.join(self.data, "postmaster.pid")):
                self._run([self.pg_ctl, "-D", self.data, "-m", "immediate", "-w", "stop"], check=False)
        finally:
            self.port = None
            shutil.rmtree(self.dir, ignore_errors=True)

