"""Black-box driver for the issue 7 tests: the `dsc` command line as a user runs it.

Every test in tests/verifier/test_issue7_*.py talks to the verifier only through
`dsc` subprocesses, with DSC_DB, DSC_MASTER_KEY_FILE and DSC_POLICY_FILE pointing
into the test's own directory. Responses are computed by the independent OCRA
reference (tests/ocra_reference.py), never by the verifier's code.

Every command goes through Dsc.run (a process forked by tests/dsc_runner.py, which
skips the interpreter's start-up) or Dsc.popen + Dsc.wait (a fresh `dsc` process, for
the tests that race or interrupt commands); both assert that no Python traceback
reaches the user. Assertion messages never carry a secret (keys,
PINs, passwords, passcodes, card codes): they show the exit code and the output
of refusals only.

DSC_TEST_DSC overrides the command (e.g. "python -m host.cli") and makes Dsc.run start
it fresh too; by default Dsc.popen runs the `dsc` beside this interpreter (the
project's .venv/bin/dsc).
"""

import json
import os
import re
import secrets
import shlex
import subprocess
import sys
import time

from tests import dsc_runner
from tests.ocra_reference import ocra

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"
FUZZ = os.environ.get("DSC_FUZZ") == "1"


def dsc_command():
    if os.environ.get("DSC_TEST_DSC"):
        return shlex.split(os.environ["DSC_TEST_DSC"])
    for path in (os.path.join(os.path.dirname(sys.executable), "dsc"), os.path.join(REPO, ".venv", "bin", "dsc")):
        if os.path.exists(path):
            return [path]
    return [sys.executable, "-m", "host.cli"]




class Result:
    def __init__(self, argv, rc, out, err):
        self.argv, self.rc, self.out, self.err = argv, rc, out, err

    @property
    def lines(self):
        """Every non-empty line the user saw, stdout and stderr together."""
        return [line for line in (self.out + "\n" + self.err).splitlines() if line.strip()]

    def json(self):
        """The JSON object on stdout (auth prints one)."""
        text = self.out.strip()
        assert text, "no JSON on stdout from %s (rc %d, stderr %r)" % (self.cmd, self.rc, self.err[-300:])
        return json.loads(text.splitlines()[-1])

    @property
    def cmd(self):
        return command_text(self.argv)

    def describe(self):
        """For assertion messages: never stdout of a success (it may carry a secret)."""
        return "%s -> rc %d, stderr %r%s" % (self.cmd, self.rc, self.err[-400:],
                                              "" if self.rc == 0 else ", stdout %r" % self.out[-400:])


def command_text(argv):
    """The command line for a message, without the response typed (--response X)."""
    shown = list(argv)
    for i, a in enumerate(shown[:-1]):
        if a == "--response":
            shown[i + 1] = "..."
    return "dsc " + " ".join(shown)


def parallel(calls, width=2):
    """Run the calls (no arguments) on `width` threads; raise the first failure."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(width) as pool:
        for f in [pool.submit(c) for c in calls]:
            f.result()


def assert_no_traceback(result):
    for stream in (result.err, result.out):
        assert "Traceback" not in stream, "%s printed a Python traceback:\n%s" % (result.cmd, stream[-1500:])


def assert_one_line_refusal(result, *words):
    """Refused: nonzero exit, exactly one line of output (JSON for auth, stderr otherwise),
    that line mentions each of `words` (case-insensitive)."""
    assert result.rc != 0, "expected a refusal: " + result.describe()
    assert len(result.lines) == 1, "a refusal must be one line: " + result.describe()
    low = result.lines[0].lower()
    for w in words:
        assert w.lower() in low, "the refusal should mention %r: %s" % (w, result.describe())


class Dsc:
    """One verifier world in a directory: its database, master key file and policy file."""

    def __init__(self, directory, db_name="dsc.db"):
        self.dir = str(directory)
        self.db = os.path.join(self.dir, db_name)
        self.key_file = os.path.join(self.dir, "master.key")
        self.policy_file = None
        self.keys = {}     # serial -> (key bytes, pin)  for tokens
        self.cards = {}    # serial -> {number: code}    for code cards
        self.passcodes = {}  # serial -> passcode         for temporary passcodes
        self.passwords = {}  # user -> password
        self.owner = {}    # serial -> user

    # -- running ---------------------------------------------------------------

    def env(self, **extra):
        env = dict(os.environ)
        env.pop("DSC_POLICY_FILE", None)
        env.update(DSC_DB=self.db, DSC_MASTER_KEY_FILE=self.key_file)
        if self.policy_file:
            env["DSC_POLICY_FILE"] = self.policy_file
        for k, v in extra.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return env

    def popen(self, *argv, env=None, stdin=subprocess.PIPE):
        argv = [str(a) for a in argv]
        p = subprocess.Popen(dsc_command() + argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             cwd=self.dir, env=env or self.env(), text=True, start_new_session=True)
        p.argv = argv
        return p

    @staticmethod
    def wait(p, input=None, timeout=90):
        try:
            out, err = p.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            raise AssertionError("%s hung for %ss: stderr %r" % (command_text(p.argv), timeout, err[-400:]))
        r = Result(p.argv, p.returncode, out, err)
        assert_no_traceback(r)
        return r

    def run(self, *argv, input=None, env=None, timeout=90):
        if os.environ.get("DSC_TEST_DSC"):  # the command as given, in a fresh process
            return self.wait(self.popen(*argv, env=env), input=input, timeout=timeout)
        argv = [str(a) for a in argv]
        try:
            done = dsc_runner.run(argv, env=env or self.env(), cwd=self.dir, input=input, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s hung for %ss" % (command_text(argv), timeout))
        r = Result(argv, done.returncode, done.stdout, done.stderr)
        assert_no_traceback(r)
        return r

    def ok(self, *argv, input=None, env=None):
        r = self.run(*argv, input=input, env=env)
        assert r.rc == 0, r.describe()
        return r

    def set_policy(self, policy, name="policy.json"):
        """policy: a dict (written as JSON), raw text, or None for no policy file."""
        if policy is None:
            self.policy_file = None
            return
        self.policy_file = os.path.join(self.dir, name)
        with open(self.policy_file, "w") as f:
            f.write(policy if isinstance(policy, str) else json.dumps(policy))

    # -- the world ---------------------------------------------------------------

    def init(self):
        return self.ok("db", "init")

    def add_user(self, name, password=None):
        password = password or "pw-" + secrets.token_hex(6)
        self.ok("user", "add", name, "--password-stdin", input=password + "\n")
        self.passwords[name] = password
        return password

    def key_path(self, serial, key):
        path = os.path.join(self.dir, "%s.key" % serial)
        with open(path, "w") as f:
            f.write(key.hex() + "\n")
        return path

    def enroll_args(self, name, serial, key):
        return ("token", "enroll", name, "--serial", serial, "--key-file", self.key_path(serial, key),
                "--suite", SUITE, "--pin-stdin", "--active")

    def enroll(self, name, serial, key=None, pin="1234"):
        key = key or secrets.token_bytes(32)
        self.ok(*self.enroll_args(name, serial, key), input=pin + "\n")
        self.remember_token(name, serial, key, pin)
        return key

    def remember_token(self, name, serial, key, pin):
        self.keys[serial] = (key, pin)
        self.owner[serial] = name

    def issue_temp_passcode(self, name):
        r = self.ok("temp-passcode", "issue", name)
        return self.remember_passcode(name, r)

    def remember_passcode(self, name, r):
        m = re.search(r"passcode\s+([A-Z0-9]{6,16})\b.*?device\s+([A-Za-z0-9-]+)", r.out)
        assert m, "temp-passcode issue printed no passcode and device (rc %d)" % r.rc
        self.passcodes[m.group(2)] = m.group(1)
        self.owner[m.group(2)] = name
        return m.group(2), m.group(1)

    def issue_printed_card(self, name):
        r = self.ok("card", "issue", name, "--printed")
        return self.remember_card(name, r.out)

    def remember_card(self, name, text):
        serial = re.search(r"Serial:\s*(\S+)", text)
        assert serial, "the printed card has no Serial: line"
        grid = {int(n): code for n, code in re.findall(r"(\d+):\s*(\d{3})\b", text)}
        assert len(grid) >= 10, "the printed card shows no grid of codes"
        self.cards[serial.group(1)] = grid
        self.owner[serial.group(1)] = name
        return serial.group(1)

    # -- authentication ------------------------------------------------------------

    def start(self, name, password, *extra, input_extra=""):
        return self.run("auth", "start", name, "--password-stdin", *extra, input=password + "\n" + input_extra)

    def response(self, serial, challenge, pin=None):
        """The right response for `challenge` on device `serial`, computed independently."""
        if serial in self.keys:
            key, known_pin = self.keys[serial]
            return ocra(SUITE, key, challenge, pin=pin or known_pin)
        if serial in self.cards:
            numbers = [int(n) for n in re.findall(r"\d+", challenge)]
            assert numbers, "a card challenge shows numbers"
            return "".join(self.cards[serial][n] for n in numbers)
        if serial in self.passcodes:
            return self.passcodes[serial]
        raise AssertionError("unknown device %s" % serial)

    def finish(self, challenge_id, response):
        return self.run("auth", "finish", challenge_id, "--response", response)

    def login(self, serial, purpose=None, name=None):
        """A whole login (auth start with the device, auth finish with the right response);
        returns the finish Result. Asserts the start issued a challenge for that device."""
        name = name or self.owner[serial]
        extra = ["--device", serial] + (["--purpose", purpose] if purpose else [])
        s = self.start(name, self.passwords[name], *extra)
        assert s.rc == 0, "auth start for %s's device %s refused: %s" % (name, serial, s.describe())
        ch = s.json()
        return self.finish(ch["challenge_id"], self.response(serial, ch.get("challenge") or ""))

    def assert_login(self, serial, name=None):
        f = self.login(serial, name=name)
        assert f.rc == 0, "the right response on %s was refused: %s" % (serial, f.describe())
        assert f.json().get("ok") is True, "the right response on %s was refused: %s" % (serial, f.describe())

    def audit(self, name=None):
        r = self.ok("audit", *([name] if name else []))
        return [json.loads(line) for line in r.out.splitlines() if line.strip()]

    def audit_lines(self, name):
        return self.ok("audit", name).out.splitlines()

    def devices(self, name):
        """The user's devices as JSON: `dsc device list`, or `dsc token list` where that is the command."""
        r = self.run("device", "list", name)
        if r.rc == 2 and "invalid choice" in r.err:
            r = self.run("token", "list", name)
        assert r.rc == 0, r.describe()
        return json.loads(r.out)

    def serials(self, name):
        return sorted(d["serial"] for d in self.devices(name))


def wait_blocked_on_stdin(procs, timeout=60.0):
    """Wait until every process is asleep reading its stdin (started up, database
    opened, waiting for the password/PIN): /proc/PID/wchan, or CPU time that has
    stopped growing where wchan says nothing."""
    deadline = time.monotonic() + timeout
    last = {}
    steady = {}
    while time.monotonic() < deadline:
        pending = 0
        for p in procs:
            if p.poll() is not None:
                continue
            try:
                with open("/proc/%d/wchan" % p.pid) as f:
                    wchan = f.read().strip()
                with open("/proc/%d/stat" % p.pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            state, cpu = fields[0], int(fields[11]) + int(fields[12])
            if wchan and wchan != "0":
                blocked = state == "S" and "pipe" in wchan
            else:
                steady[p.pid] = steady.get(p.pid, 0) + 1 if last.get(p.pid) == cpu and state == "S" else 0
                blocked = steady[p.pid] >= 3
            last[p.pid] = cpu
            pending += not blocked
        if not pending:
            return
        time.sleep(0.1)
    raise AssertionError("the dsc processes did not reach their stdin prompt within %ss" % timeout)
