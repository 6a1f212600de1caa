"""An SSH-style login through PAM: pamtester runs the deploy/pam/opendsc-sshd stack
(pam_radius_auth with deploy/pam/pam_radius_auth.conf) against the real
FreeRADIUS of deploy/freeradius/ in front of a real `dsc serve`. The user types
the password at the first prompt; the second prompt is the service's
Reply-Message with the challenge, and the token's response answers it."""

import glob
import os
import re
import secrets
import select
import shutil
import subprocess
import time

import pytest

from tests.ocra_reference import ocra
from tests.server.conftest import KEY, PASSWORD, PIN, ROOT, SUITE
from tests.server.radius import INSTALLED, SECRET, challenge_of, radius_world, substitute

PAMTESTER = shutil.which("pamtester")
PAM_RADIUS = glob.glob("/lib/*/security/pam_radius_auth.so") + glob.glob("/usr/lib/*/security/pam_radius_auth.so")

pytestmark = [
    pytest.mark.xdist_group("pam-radius"),  # one FreeRADIUS for the module, on one worker
    pytest.mark.skipif(not INSTALLED, reason="freeradius and freeradius-python3 are not installed (scripts/bootstrap.sh)"),
    pytest.mark.skipif(not (PAMTESTER and PAM_RADIUS),
                       reason="pamtester and libpam-radius-auth are not installed (scripts/bootstrap.sh)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="pamtester reads the PAM service from /etc/pam.d/, writable by root only"),
]

# pam_radius_auth shows the Access-Challenge's Reply-Message as the prompt; an exit ends the login instead.
CHALLENGE_OR_END = rb"(Press the power key[^\n]*?: \d{6})|pamtester: .*\n"


@pytest.fixture(scope="module")
def pam(tmp_path_factory):
    """(service name, secrets sent): an /etc/pam.d/ service made from deploy/pam/opendsc-sshd,
    its pam_radius_auth.conf pointing at this test's FreeRADIUS; the logs are
    scanned for those secrets at the end."""
    tmp = tmp_path_factory.mktemp("pam")
    with radius_world(tmp) as (server, radius):
        conf = tmp / "pam_radius_auth.conf"
        shutil.copy(ROOT / "deploy" / "pam" / "pam_radius_auth.conf", conf)
        os.chmod(conf, 0o600)
        substitute(conf, "127.0.0.1:1812 ", "127.0.0.1:%d " % radius.port)
        substitute(conf, " change-this-shared-secret ", " %s " % SECRET)
        service = "opendsc-test-" + secrets.token_hex(4)
        stack = ROOT / "deploy" / "pam" / "opendsc-sshd"
        installed = "/etc/pam.d/" + service
        text = stack.read_text()
        assert text.count("conf=/etc/opendsc/pam_radius_auth.conf") == 1
        with open(installed, "x") as f:
            f.write(text.replace("conf=/etc/opendsc/pam_radius_auth.conf", "conf=%s" % conf))
        sent = {PASSWORD}
        try:
            yield service, sent
        finally:
            os.remove(installed)
        logs = server.log_text() + radius.text()
        assert not [x for x in sent if x in logs], "a secret reached a log"
        assert "Traceback" not in logs


class Login:
    """`pamtester <service> <user> authenticate`, its prompts read from a pipe as they come."""

    def __init__(self, service, user):
        self.proc = subprocess.Popen([PAMTESTER, service, user, "authenticate"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.output = b""

    def expect(self, pattern, timeout=20):
        """The match of `pattern` in the output so far, reading more until it shows or pamtester exits."""
        end = time.monotonic() + timeout
        while not (m := re.search(pattern, self.output)):
            left = end - time.monotonic()
            assert left > 0, "no %r in pamtester's output: %r" % (pattern, self.output)
            if select.select([self.proc.stdout], [], [], left)[0]:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                assert chunk, "pamtester ended without %r: %r" % (pattern, self.output)
                self.output += chunk
        return m

    def answer(self, text):
        # One line per prompt: the PAM conversation reads each answer with its own read().
        self.proc.stdin.write(text.encode() + b"\n")
        self.proc.stdin.flush()

    def finish(self):
        """(exit code, whole output)."""
        self.proc.stdin.close()
        self.output += self.proc.stdout.read()
        self.proc.stdout.close()
        return self.proc.wait(20), self.output.decode(errors="replace")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def login(service, user, password, respond):
    """pamtester's (exit code, output, challenge shown or None); `respond(challenge)` answers the challenge prompt."""
    session = Login(service, user)
    try:
        session.expect(rb"Password: $")
        session.answer(password)
        m = session.expect(CHALLENGE_OR_END)
        challenge = challenge_of(m.group(1).decode()) if m.group(1) else None
        if challenge:
            session.answer(respond(challenge))
        code, output = session.finish()
    finally:
        session.kill()
    return code, output, challenge


def test_password_and_response_log_in(pam):
    service, sent = pam

    def respond(challenge):
        sent.add(response := ocra(SUITE, KEY, challenge, pin=PIN))
        return response

    code, output, challenge = login(service, "alice", PASSWORD, respond)
    assert challenge, output
    assert code == 0 and "pamtester: successfully authenticated" in output, output
    assert not [x for x in sent if x in output]


def test_wrong_response_is_refused(pam):
    service, sent = pam

    def respond(challenge):
        sent.add(wrong := ocra(SUITE, KEY, challenge, pin="9999"))
        return wrong

    code, output, challenge = login(service, "bob", PASSWORD, respond)
    assert challenge, output  # the password was right: the challenge came
    assert code != 0 and "Authentication failure" in output and "successfully" not in output, output


def test_wrong_password_gets_no_challenge(pam):
    service, sent = pam
    sent.add("not-the-password")
    code, output, challenge = login(service, "alice", "not-the-password", lambda challenge: "00000000")
    assert challenge is None, output
    assert code != 0 and "Authentication failure" in output and "successfully" not in output, output
