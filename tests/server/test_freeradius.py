"""deploy/freeradius/ with Debian's real FreeRADIUS 3 in front of a real `dsc serve`:
the configuration directory is copied into tmp_path with its own UDP port, the
service's URL and a test client secret, `freeradius -f` runs as a child of the
test, and radclient drives it: the password gets an Access-Challenge (State,
Reply-Message with the challenge), the response with that State an Access-Accept,
a wrong response or a locked user an Access-Reject."""

import os
import re
import shutil
import socket
import subprocess
import time

import httpx
import pytest

from host.verifier import service
from tests.ocra_reference import ocra
from tests.server.conftest import KEY, PASSWORD, PIN, ROOT, SUITE, Server, make_db

FREERADIUS = shutil.which("freeradius") or ("/usr/sbin/freeradius" if os.path.exists("/usr/sbin/freeradius") else None)
RADCLIENT = shutil.which("radclient")
MODULE = "/usr/lib/freeradius/rlm_python3.so"
SECRET = "test-radius-secret-42"

pytestmark = pytest.mark.skipif(
    not (FREERADIUS and RADCLIENT and os.path.exists(MODULE)),
    reason="freeradius, freeradius-utils and freeradius-python3 are not installed (scripts/bootstrap.sh installs them)")


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

    def ask(self, user, password, state=None):
        """(packet type, {attribute: value}) of radclient's one request."""
        pairs = ['User-Name = "%s"' % user, 'User-Password = "%s"' % password]
        if state:
            pairs.append("State = %s" % state)
        out = subprocess.run([RADCLIENT, "-x", "-t", "10", "-r", "1", "127.0.0.1:%d" % self.port, "auth", SECRET],
                             input="\n".join(pairs) + "\n", capture_output=True, text=True, timeout=30)
        m = re.search(r"Received (Access-\w+) ", out.stdout)
        assert m, "no answer from freeradius: %s %s\n%s" % (out.stdout, out.stderr, self.text())
        received = out.stdout[m.start():]
        attrs = dict(re.findall(r"^\s+([\w-]+) = (.*)$", received, re.M))
        return m.group(1), attrs

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


@pytest.fixture
def world(tmp_path):
    db, keyring = make_db(tmp_path, users=("alice", "bob"))
    v = service.Verifier(db, keyring)
    try:
        v.enroll_token("bob", "DSC00002", KEY, PIN, suite=SUITE, active=True)
    finally:
        v.close()
    policy = tmp_path / "policy.json"
    policy.write_text('{"lockout_failures": 2}')
    server = Server(tmp_path, db, keyring, extra_env={"DSC_POLICY_FILE": str(policy)})
    try:
        radius = Radius(tmp_path, server.url)
        try:
            yield server, radius
        finally:
            radius.stop()
    finally:
        server.stop()


def challenge_of(attrs):
    message = attrs["Reply-Message"].strip('"')
    assert message.startswith("Press the power key")
    challenge = message.rsplit(": ", 1)[1]
    assert len(challenge) == 6 and challenge.isdigit()
    return challenge


def test_challenge_accept_reject_locked(world):
    server, radius = world
    sent = set()
    kind, attrs = radius.ask("alice", PASSWORD)
    assert kind == "Access-Challenge", attrs
    state = attrs["State"]
    assert state.startswith("0x") and len(bytes.fromhex(state[2:]).decode("ascii")) == 32  # the transaction_id
    response = ocra(SUITE, KEY, challenge_of(attrs), pin=PIN)
    sent.add(response)
    kind, _ = radius.ask("alice", response, state)
    assert kind == "Access-Accept"
    kind, _ = radius.ask("alice", response, state)  # the same State again: the challenge is used
    assert kind == "Access-Reject"

    for _ in range(2):  # bob: two wrong responses (a wrong PIN) lock him (lockout_failures 2)
        kind, attrs = radius.ask("bob", PASSWORD)
        assert kind == "Access-Challenge"
        wrong = ocra(SUITE, KEY, challenge_of(attrs), pin="9999")
        sent.add(wrong)
        kind, _ = radius.ask("bob", wrong, attrs["State"])
        assert kind == "Access-Reject"
    kind, attrs = radius.ask("bob", PASSWORD)  # the right password, but locked: no challenge
    assert kind == "Access-Reject" and "State" not in attrs
    r = httpx.post(server.url + "/api/v1/login/start", json={"username": "bob", "password": PASSWORD}, timeout=30)
    assert r.status_code == 423 and r.json()["error"] == "locked"

    kind, _ = radius.ask("alice", "not-the-password")
    assert kind == "Access-Reject"
    logs = server.log_text() + radius.text()
    assert not [x for x in sent | {PASSWORD} if x in logs], "a secret reached a log"
    assert "Traceback" not in logs
