"""A verifier database made with the library (one user with an active token, one
without devices) and a real `dsc serve` subprocess on it, driven over HTTP.

The server's stderr (its access and error log) goes to a file that
test_zz_logs.py, and the `server` fixture when it stops, scan for every secret
the tests sent."""

import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import pytest

from host.verifier import service
from tests import log_scan

SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"
KEY = bytes(range(32))
PIN = "1234"
PASSWORD = "s3cret-Horse-battery"
SERIAL = "DSC00001"
ROOT = pathlib.Path(__file__).resolve().parents[2]


def make_db(tmp, users=("alice", "carol", "dave")):
    """A SQLite database and key ring in `tmp`: alice has token DSC00001 (active);
    the others have the same password and no device."""
    db, keyring = str(tmp / "v.db"), str(tmp / "master.key")
    service.init_db(db, keyring)
    v = service.Verifier(db, keyring)
    try:
        for name in users:
            v.add_user(name, PASSWORD)
        v.enroll_token(users[0], SERIAL, KEY, PIN, suite=SUITE, active=True)
    finally:
        v.close()
    return db, keyring


UNTHROTTLED = '{"throttle_per_address": 0, "throttle_per_user": 0}'


class Server:
    """`dsc serve --listen 127.0.0.1:0` in a subprocess; .url once it listens."""

    def __init__(self, tmp, db, keyring, extra_env=None, args=()):
        self.log_path = tmp / "server.log"
        env = dict(os.environ, DSC_MASTER_KEY_FILE=keyring, PYTHONUNBUFFERED="1")
        env.pop("DSC_POLICY_FILE", None)
        if "DSC_POLICY_FILE" not in (extra_env or {}):  # many requests from 127.0.0.1: no throttle (test_throttle.py)
            unthrottled = tmp / "unthrottled-policy.json"
            unthrottled.write_text(UNTHROTTLED)
            env["DSC_POLICY_FILE"] = str(unthrottled)
        env.update(extra_env or {})
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "host.cli", "serve", "--listen", "127.0.0.1:0",
                                      "--db", db, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                     stderr=self.log)
        line = self.proc.stdout.readline().decode()
        if "listening on" not in line:
            self.stop()
            raise RuntimeError("dsc serve did not start: %r %s" % (line, self.log_path.read_text()))
        self.url = line.split("listening on ", 1)[1].split()[0]

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc.stdout.close()
        self.log.close()
        return code

    def log_text(self):
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")


request_secrets = log_scan.SECRETS  # what the tests of this process sent (tests/conftest.py: secrets_sent)
request_secrets.update({PASSWORD, PIN, KEY.hex()})


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """One server per pytest process (xdist worker). When it stops, its whole log is
    scanned for every secret the tests of this process sent."""
    tmp = tmp_path_factory.mktemp("server")
    db, keyring = make_db(tmp)
    s = Server(tmp, db, keyring)
    try:
        yield s
    finally:
        s.stop()
    leaked = log_scan.leaked(s.log_text(), request_secrets)
    assert not leaked, "%d secret(s) reached the server's log" % len(leaked)
    assert "Traceback" not in s.log_text()


@pytest.fixture
def http(server):
    import httpx

    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def wait_for(predicate, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def in_own_thread(function, *args):
    """function(*args) in a thread of its own, its exception raised here: a test that
    runs an event loop (asyncio.run) or asks whether one is running must not meet the
    loop Playwright's sync API leaves running in an xdist worker's main thread once
    that worker has run a browser test."""
    outcome = {}

    def run():
        try:
            outcome["value"] = function(*args)
        except BaseException as e:  # re-raised in the test's thread
            outcome["error"] = e

    thread = threading.Thread(target=run, name="own-loop")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
