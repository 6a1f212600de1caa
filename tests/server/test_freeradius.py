"""deploy/freeradius/ with Debian's real FreeRADIUS 3 in front of a real `dsc serve`:
the configuration directory is copied into tmp_path with its own UDP port, the
service's URL and a test client secret, `freeradius -f` runs as a child of the
test, and radclient drives it: the password gets an Access-Challenge (State,
Reply-Message with the challenge), the response with that State an Access-Accept,
a wrong response or a locked user an Access-Reject."""

import re
import shutil
import subprocess

import httpx
import pytest

from tests.ocra_reference import ocra
from tests.server.conftest import KEY, PASSWORD, PIN, SUITE
from tests.server.radius import INSTALLED, SECRET, Radius, radius_world
from tests.server.radius import challenge_of as challenge_in

RADCLIENT = shutil.which("radclient")

pytestmark = pytest.mark.skipif(
    not (INSTALLED and RADCLIENT),
    reason="freeradius, freeradius-utils and freeradius-python3 are not installed (scripts/bootstrap.sh installs them)")


class Radclient(Radius):
    def ask(self, user, password, state=None, calling_station=None):
        """(packet type, {attribute: value}) of radclient's one request."""
        pairs = ['User-Name = "%s"' % user, 'User-Password = "%s"' % password]
        if calling_station:
            pairs.append('Calling-Station-Id = "%s"' % calling_station)
        if state:
            pairs.append("State = %s" % state)
        out = subprocess.run([RADCLIENT, "-x", "-t", "10", "-r", "1", "127.0.0.1:%d" % self.port, "auth", SECRET],
                             input="\n".join(pairs) + "\n", capture_output=True, text=True, timeout=30)
        m = re.search(r"Received (Access-\w+) ", out.stdout)
        assert m, "no answer from freeradius: %s %s\n%s" % (out.stdout, out.stderr, self.text())
        received = out.stdout[m.start():]
        attrs = dict(re.findall(r"^\s+([\w-]+) = (.*)$", received, re.M))
        return m.group(1), attrs


@pytest.fixture
def world(tmp_path):
    with radius_world(tmp_path, Radclient) as (server, radius):
        yield server, radius


def challenge_of(attrs):
    return challenge_in(attrs["Reply-Message"])


def test_challenge_accept_reject_locked(world):
    server, radius = world
    sent = set()
    kind, attrs = radius.ask("alice", PASSWORD, calling_station="192.0.2.7")
    assert kind == "Access-Challenge", attrs
    # the module passes the user's address on as `client`, which the service, trusting
    # this FreeRADIUS host, logs (and throttles) instead of the host's own
    assert re.search(r" INFO 192\.0\.2\.7 .*/validate/check.* via 127\.0\.0\.1$", server.log_text(), re.M), \
        server.log_text()
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
