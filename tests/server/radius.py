"""Debian's real FreeRADIUS 3 with deploy/freeradius/ in front of a real `dsc serve`,
shared by test_freeradius.py (radclient) and test_pam_radius.py (pam_radius_auth):
the configuration directory is copied into tmp with its own UDP port, the
service's URL and a test client secret, and `freeradius -f` runs as a child of
the test."""

import contextlib
import os
import shutil
import socket
import subprocess
import time

from host.verifier import service
from tests.server.conftest import KEY, PIN, ROOT, SUITE, Server, make_db

FREERADIUS = shutil.which("freeradius") or ("/usr/sbin/freeradius" if os.path.exists("/usr/sbin/freeradius") else None)
MODULE = "/usr/lib/freeradius/rlm_python3.so"
INSTALLED = bool(FREERADIUS and os.path.exists(MODULE))
SECRET = "test-radius-secret-42"


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def substitute(path, old, new):
    text = path.read_text()
    assert text.count(old) == 1, "%s: %r not found once" % (path.name, old)
    path.write_text(text.replace(old, new))


def raddb(tmp, url, port):
    """deploy/freeradius/ with this test's port, URL and secret, run as the test's user."""
    d = tmp / "raddb"
    shutil.copytree(ROOT / "deploy" / "freeradius", d)
    conf = d / "radiusd.conf"
    substitute(conf, 'opendsc_url = "http://127.0.0.1:8080"', 'opendsc_url = "%s"' % url)
    substitute(conf, "auth_port = 1812", "auth_port = %d" % port)
    substitute(conf, "\tuser = freerad\n", "")  # stay the test's user: tmp_path is readable by it only
    substitute(conf, "\tgroup = freerad\n", "")
    substitute(d / "clients.conf", '"change-this-shared-secret"', '"%s"' % SECRET)
    return d


class Radius:
    """`freeradius -f` on 127.0.0.1:.port, its log in tmp/freeradius.log."""

    def __init__(self, tmp, url):
        self.port = free_udp_port()
        self.log_path = tmp / "freeradius.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([FREERADIUS, "-f", "-l", "stdout", "-d", str(raddb(tmp, url, self.port))],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        end = time.monotonic() + 15
        while "Ready to process requests" not in self.log_path.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > end:
                self.stop()
                raise RuntimeError("freeradius did not start:\n" + self.log_path.read_text(errors="replace"))
            time.sleep(0.05)

    def text(self):
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@contextlib.contextmanager
def radius_world(tmp, radius_class=Radius):
    """(server, radius): alice and bob each with an active token (KEY, PIN), two
    wrong responses lock a user, FreeRADIUS asking that `dsc serve`."""
    db, keyring = make_db(tmp, users=("alice", "bob"))
    v = service.Verifier(db, keyring)
    try:
        v.enroll_token("bob", "DSC00002", KEY, PIN, suite=SUITE, active=True)
    finally:
        v.close()
    policy = tmp / "policy.json"
    policy.write_text('{"lockout_failures": 2}')
    # FreeRADIUS is the plugin host the service trusts with the end user's address (`client`)
    server = Server(tmp, db, keyring, extra_env={"DSC_POLICY_FILE": str(policy)}, args=("--trusted-plugin", "127.0.0.1"))
    try:
        radius = radius_class(tmp, server.url)
        try:
            yield server, radius
        finally:
            radius.stop()
    finally:
        server.stop()


def challenge_of(message):
    """The six-digit challenge at the end of the service's prompt."""
    message = message.strip().strip('"')
    assert message.startswith("Press the power key"), message
    challenge = message.rsplit(": ", 1)[1]
    assert len(challenge) == 6 and challenge.isdigit(), message
    return challenge
