"""Two servers for the differential test: a real privacyIDEA 3.14 (its own virtualenv,
made by scripts/privacyidea_venv.sh; `make compat`) and a real `dsc serve`, each set up
with the same users, passwords, serials and service account, so that one request
sequence can be sent to both.

privacyIDEA is set up through its REST API as an administrator would: a passwdresolver
over a flat file of users, the realm `corp` (default), and for each user an HOTP token
with the authentication policy `otppin=userstore, challenge_response=hotp`. That is
privacyIDEA's classic two-step login, and the one most like OpenDSC's: the user's
password (not a token PIN) starts a challenge, and the next typed value answers it.
Its OCRA token would show the challenge too, but privacyIDEA cannot check a suite with
a PIN in it (ocra.py asks for the PIN it never has) and its challenge carries
attributes that the php-client cannot read; the HOTP token's answers are the ones the
plugins are written against. The right response to a privacyIDEA challenge is the
HOTP value at the token's counter; to an OpenDSC challenge, the OCRA response
(tests/ocra_reference.py) to the digits its message shows.

The service account: on privacyIDEA a local administrator `svc`; on OpenDSC the
verifier user `svc` named in DSC_SERVICE_ACCOUNTS. Both with the same password."""

import hashlib
import hmac
import json
import os
import pathlib
import re
import secrets
import signal
import struct
import subprocess

import pytest

from host.verifier import service
from tests import log_scan
from tests.ocra_reference import ocra
from tests.server.conftest import KEY, PASSWORD, PIN, ROOT, SUITE, Server, make_db, request_secrets

VENV = pathlib.Path(os.environ.get("DSC_PRIVACYIDEA_VENV", ROOT / ".venv-privacyidea"))
RUNNER = pathlib.Path(__file__).with_name("privacyidea_server.py")
REALM = "corp"
SERVICE_ACCOUNT = "svc"
# The users with a token, their serial on both servers, and their password. erin's has what
# each plugin's encoding treats differently (a space, a plus, a percent sign before hex digits):
# both servers must decode it alike, right or wrong.
TOKENS = {"alice": ("DSC00001", PASSWORD), "erin": ("DSC00002", "50%41 off+tax ok")}
NO_TOKEN = "dave"  # a user on both servers with a password and no token
HOTP_KEYS = {"alice": bytes(range(20)), "erin": bytes(range(20, 40))}
request_secrets.update(password for _, password in TOKENS.values())


def hotp(key, counter, digits=6):
    """RFC 4226: HMAC-SHA1 over the 8-byte counter, dynamic truncation."""
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    return "%0*d" % (digits, (struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 10 ** digits)


def wrong(response):
    """A response that is certainly not `response`: its last digit changed."""
    return response[:-1] + str((int(response[-1]) + 1) % 10)


def ok(response):
    """The value of a privacyIDEA administration answer, or an error that says which step failed."""
    body = response.json()
    if response.status_code != 200 or not body["result"]["status"]:
        raise RuntimeError("privacyIDEA set-up step failed: %s %s" % (response.status_code, body["result"]))
    return body["result"]["value"]


def set_up_realm(admin, name, password, passwd_file):
    """Logs the httpx client `admin` in, then makes the realm over the users of `passwd_file` and
    the two-step policy, as an administrator makes them (bench/bench_goals.py does the same)."""
    admin.headers["Authorization"] = ok(admin.post("/auth", data={"username": name, "password": password}))["token"]
    ok(admin.post("/resolver/users", json={"type": "passwdresolver", "fileName": str(passwd_file)}))
    ok(admin.post("/realm/" + REALM, json={"resolvers": "users"}))
    ok(admin.post("/defaultrealm/" + REALM))
    ok(admin.post("/policy/two-step", json={
        "scope": "authentication", "active": True, "action": "otppin=userstore, challenge_response=hotp"}))


def add_hotp_token(admin, name, serial, key, never_lock=True):
    ok(admin.post("/token/init", json={"type": "hotp", "serial": serial, "user": name, "realm": REALM,
                                       "otpkey": key.hex()}))
    if never_lock:  # wrong passwords and responses are what these tests send (the bench sends none)
        ok(admin.post("/token/set", json={"serial": serial, "max_failcount": 1000}))


class PrivacyIDEA:
    """privacyIDEA 3.14 in a subprocess, run by its own virtualenv's Python."""

    name = "privacyIDEA"

    def __init__(self, tmp):
        import httpx

        python = VENV / "bin" / "python"
        if not python.exists():
            raise RuntimeError("no privacyIDEA virtualenv at %s: run `make compat` (scripts/privacyidea_venv.sh)" % VENV)
        self.admin_password = secrets.token_urlsafe(16)
        request_secrets.add(self.admin_password)
        users = {name: password for name, (_, password) in TOKENS.items()}
        users[NO_TOKEN] = PASSWORD
        setup = {"admins": [["admin", self.admin_password], [SERVICE_ACCOUNT, PASSWORD]], "users": users}
        self.stderr = open(tmp / "privacyidea-stderr.txt", "wb")
        self.proc = subprocess.Popen([str(python), str(RUNNER), str(tmp)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.stderr, cwd=tmp)
        self.proc.stdin.write(json.dumps(setup).encode() + b"\n")
        self.proc.stdin.close()
        line = self.proc.stdout.readline().decode()
        if "listening on" not in line:
            self.stop()
            raise RuntimeError("privacyIDEA did not start: %r %s" % (line, (tmp / "privacyidea-stderr.txt").read_text()))
        self.url = line.split("listening on ", 1)[1].split()[0]
        self.http = httpx.Client(base_url=self.url, timeout=30)  # the plugins' requests
        self.admin = httpx.Client(base_url=self.url, timeout=30)
        try:
            self._set_up(tmp)
        except BaseException:
            self.stop()
            raise

    def _set_up(self, tmp):
        set_up_realm(self.admin, "admin", self.admin_password, tmp / "passwd")
        for name, (serial, _) in TOKENS.items():
            add_hotp_token(self.admin, name, serial, HOTP_KEYS[name])

    def respond(self, name, body):
        """The right response to the challenge in `body`: the HOTP value at the token's counter."""
        serial = TOKENS[name][0]
        (token,) = ok(self.admin.get("/token/", params={"serial": serial}))["tokens"]
        return hotp(HOTP_KEYS[name], token["count"])

    def stop(self):
        for client in (getattr(self, "http", None), getattr(self, "admin", None)):
            if client is not None:
                client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.stderr.close()


class OpenDSC:
    """`dsc serve` on a database with the same users, serials and service account."""

    name = "OpenDSC"

    def __init__(self, tmp):
        import httpx

        db, keyring = make_db(tmp, users=("alice", SERVICE_ACCOUNT, NO_TOKEN))
        v = service.Verifier(db, keyring)
        try:
            v.add_user("erin", TOKENS["erin"][1])
            v.enroll_token("erin", TOKENS["erin"][0], KEY, PIN, suite=SUITE, active=True)
        finally:
            v.close()
        policy = tmp / "policy.json"  # the differential tests send many wrong values: no lockout, no throttle
        policy.write_text(json.dumps({"throttle_per_address": 0, "throttle_per_user": 0, "lockout_failures": 1000}))
        jwt_secret = tmp / "jwt.key"
        jwt_secret.write_bytes(secrets.token_bytes(32))
        self.server = Server(tmp, db, keyring, extra_env={
            "DSC_POLICY_FILE": str(policy), "DSC_SERVICE_ACCOUNTS": SERVICE_ACCOUNT,
            "DSC_JWT_SECRET_FILE": str(jwt_secret)})
        self.url = self.server.url
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def respond(self, name, body):
        """The right response to the challenge in `body`: OCRA over the digits its message ends with."""
        challenge = re.findall(r"[0-9]+", body["detail"]["message"])[-1]
        return ocra(SUITE, KEY, challenge, pin=PIN)

    def stop(self):
        self.http.close()
        self.server.stop()
        text = self.server.log_text()
        leaked = log_scan.leaked(text, request_secrets)
        assert not leaked, "%d secret(s) reached the server's log" % len(leaked)
        assert "Traceback" not in text


@pytest.fixture(scope="session")
def both(tmp_path_factory):
    """(privacyIDEA, OpenDSC), each started once for the run and stopped at its end."""
    started = []
    try:
        for server in (PrivacyIDEA, OpenDSC):
            started.append(server(tmp_path_factory.mktemp(server.name.lower())))
        yield tuple(started)
    finally:
        for server in reversed(started):
            server.stop()
