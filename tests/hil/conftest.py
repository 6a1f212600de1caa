"""Hardware in the loop: the same tests against the simulator on both runtimes,
or against a real board given with `--port URL`."""

import subprocess
import sys
import time

import pytest

from host.client import TokenClient

DSC = [sys.executable, "-m", "host.cli"]
TARGETS = ("cpython", "micropython", "board")


class SimulatedToken:
    """`dsc sim --headless` in a child process, as a user would start it."""

    def __init__(self, runtime, state_dir):
        self.runtime = runtime
        self.state_dir = str(state_dir)
        self.proc = None
        self.url = None

    def start(self):
        self.proc = subprocess.Popen(
            DSC + ["sim", "--headless", "--runtime", self.runtime, "--link", "socket://127.0.0.1:0",
                   "--state", self.state_dir],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("socket://"):
            self.stop()
            raise RuntimeError("dsc sim did not start: " + self.proc.stderr.read())
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def restart(self):
        self.stop()
        return self.start()


@pytest.fixture(params=TARGETS)
def target(request, tmp_path):
    """A blank token's URL: a fresh simulator, or the real board wiped first."""
    port = request.config.getoption("--port")
    if request.param == "board":
        if not port:
            pytest.skip("no real board: give --port URL (a debug build) to run these tests on hardware")
        with TokenClient(port) as client:
            info = client.info()
            if info.get("debug") != "1":
                pytest.skip("the board runs a release build; these tests press keys through the debug "
                            "link: make flash PORT=%s DEBUG=1" % port)
            if info["state"] != "blank":
                wipe(client)
        yield Target(port, None)
        return
    if port:
        pytest.skip("--port given: testing the real board only")
    sim = SimulatedToken(request.param, tmp_path / "flash").start()
    try:
        yield Target(sim.url, sim)
    finally:
        sim.stop()


class Target:
    def __init__(self, url, sim):
        self.url = url
        self.sim = sim  # None on real hardware

    def client(self):
        return TokenClient(self.url)


def dsc(*args, stdin=None, timeout=60):
    """Run the `dsc` command line; returns CompletedProcess (text)."""
    return subprocess.run(DSC + [str(a) for a in args], input=stdin, capture_output=True, text=True, timeout=timeout)


def confirm_with_ok(client, command, **args):
    """Send a command that needs the OK press, press it through the debug link, return the final reply line."""
    line = command + "".join(" %s=%s" % kv for kv in args.items())
    ser = client._serial
    ser.write(line.encode() + b"\n")
    first = _line(ser)
    if not first.startswith("WAIT " + command):
        return first
    ser.write(b"press keys=OK\n")
    replies = [_line(ser), _line(ser)]
    final = [r for r in replies if r.split(" ")[1:2] == [command]]
    return final[0]


def wipe(client):
    return confirm_with_ok(client, "wipe")


def _line(ser, timeout=10):
    deadline = time.monotonic() + timeout
    buf = b""
    while not buf.endswith(b"\n"):
        if time.monotonic() > deadline:
            raise TimeoutError("no reply line from the token; got %r" % buf)
        buf += ser.read_until(b"\n")
    return buf.decode().rstrip("\n")
