"""The serial protocol under garbage and hostile input (docs/protocol.md).

Fuzz properties: whatever arrives on the link, in whatever chunks, the token never
raises, answers every non-blank line with exactly one reply line, changes nothing
unless a well-formed request was accepted, never sends its key, and keeps working.
Example tests then pin down each error code and each command's documented effect.
"""

import hashlib
import hmac
import os
import re
import shutil
import tempfile
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from boards.sim import SimBoard
from dsc.token import Token
from tests.ocra_reference import ocra

FUZZ = os.environ.get("DSC_FUZZ") == "1"
SCALE = 20 if FUZZ else 1


def fuzz_settings(n):
    return settings(max_examples=n * SCALE, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


DEFAULT_SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"
KEY = bytes.fromhex("3132333435363738393031323334353637383930313233343536373839303132")
KEY2 = bytes.fromhex("00112233445566778899aabbccddeeff")
COMMANDS = ("ping", "info", "provision", "lock", "wipe", "clock", "press", "display", "state", "wait")
CODES = ("bad-request", "too-long", "unknown-command", "bad-argument", "wrong-state", "locked",
         "busy", "denied", "timeout", "no-debug", "storage", "no-clock", "clock")
REPLY_RE = re.compile(r"^(OK|ERR|WAIT) (\S+)(?: (.*))?$")


# -- a token on a simulated board ------------------------------------------------


class Rig:
    """A token with a manual clock, and the tools to talk to it."""

    def __init__(self, state_dir, debug=True):
        self.dir = str(state_dir)
        self.board = SimBoard(state_dir=self.dir, manual_clock=True)
        self.token = Token(self.board, debug=debug)

    def send(self, data, chunks=None):
        """Feed bytes (optionally cut at the given offsets); return what the token sent."""
        self.board.take_sent()
        cuts = sorted(set(c for c in (chunks or []) if 0 < c < len(data)))
        start = 0
        for end in cuts + [len(data)]:
            self.token.receive(data[start:end])
            start = end
        return self.board.take_sent()

    def request(self, line):
        """One line; the reply lines as str."""
        return self.send(line.encode("latin-1") + b"\n").decode("ascii").splitlines()

    def one(self, line):
        replies = self.request(line)
        assert len(replies) == 1, (line, replies)
        return replies[0]

    def later(self, ms):
        self.board.advance(ms)
        self.token.tick()
        return self.board.take_sent().decode("ascii").splitlines()

    def keys(self, *keys):
        for k in keys:
            self.token.key(k)
        return self.token.ui.lines

    def provision(self, key=KEY, **args):
        words = ["provision", "key=" + key.hex()] + ["%s=%s" % kv for kv in args.items()]
        reply = self.one(" ".join(words))
        assert reply.startswith("OK provision "), reply
        return reply

    def lock(self):
        assert self.request("lock") == ["WAIT lock confirm"]
        replies = self.request("press keys=OK")
        assert sorted(replies) == ["OK lock", "OK press count=1"], replies
        assert self.token.config.state == "locked"

    def config(self):
        c = self.token.config
        return (c.state, c.key, c.suite, c.serial, c.label, c.counter, c.pinlen, c.timeout)

    def files(self):
        return {n: open(os.path.join(self.dir, n), "rb").read() for n in sorted(os.listdir(self.dir))}

    def response_via_keys(self, pin="1234", challenge="123456"):
        self.keys("PWR", *pin, "OK", *challenge, "OK")
        return "".join(self.token.ui.lines)

    def still_works(self):
        """After anything: ping answers, and (if provisioned) the keypad gives the right response."""
        assert self.request("ping") == ["OK ping proto=1"]
        if self.token.ui.state != "off":
            self.keys("PWR")
        if self.token.config.state == "blank":
            assert self.keys("PWR") == ("NO KEY", self.token.config.serial)
            self.keys("PWR")
            return
        c = self.token.config
        assert c.suite == DEFAULT_SUITE
        got = self.response_via_keys("1234", "123456")
        assert got == ocra(DEFAULT_SUITE, KEY, "123456", pin="1234")
        self.keys("PWR")


def make_rig(kind):
    """'blank', 'provisioned' or 'locked', in a fresh temp dir (removed by the caller)."""
    rig = Rig(tempfile.mkdtemp(prefix="dsc-fuzz-"))
    if kind in ("provisioned", "locked"):
        rig.provision(label="Alice%20Smith")
    if kind == "locked":
        rig.lock()
    return rig


@pytest.fixture
def rig(tmp_path):
    return Rig(tmp_path)


@pytest.fixture
def prov(tmp_path):
    r = Rig(tmp_path)
    r.provision(label="Alice%20Smith")
    return r


def kcv(key):
    return hmac.new(key, b"OpenDSC KCV", hashlib.sha256).digest()[:3].hex().upper()


def fields(reply):
    """NAME=VALUE fields of a reply line (values still percent-encoded)."""
    out = {}
    for word in reply.split(" ")[2:]:
        name, _, value = word.partition("=")
        out[name] = value
    return out


def assert_key_not_in(data, key):
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    assert key.hex() not in text.lower(), "the key was sent on the link"


# -- what a line of garbage must get --------------------------------------------

TERMINATORS = st.sampled_from([b"\n", b"\r", b"\r\n"])


def segments(stream):
    """The lines of a byte stream that ends in a terminator (CR, LF or CRLF)."""
    parts = re.split(rb"\r|\n", stream)
    assert parts[-1] == b""
    return parts[:-1]


def is_blank(line):
    return line.strip(b" ") == b""


def first_word(line):
    words = [w for w in line.split(b" ") if w]
    return words[0] if words else b""


def not_control_blank(line):
    """A line of only TAB/VT/FF (and spaces) gets an x: whether such a line is 'blank'
    is a known issue, tested on its own (test_a_line_of_control_whitespace_...)."""
    if not is_blank(line) and line.strip(b" \t\x0b\x0c") == b"":
        return b"x" + line
    return line


def neutralise(line):
    """Make sure a garbage line cannot be a real command (a 'ping' typed by chance)."""
    if first_word(line).lower() in [c.encode() for c in COMMANDS]:
        return b"x" + line.lstrip(b" ")
    return not_control_blank(line)


def expected_error(line):
    """The (command, codes) the reply to a garbage line must have."""
    if len(line) > 256:
        return ("-",), ("too-long",)
    if any(b < 0x20 or b > 0x7E for b in line):
        return ("-",), ("bad-request",)
    word = first_word(line).decode("ascii")
    if re.fullmatch(r"[a-z0-9_-]+", word):
        return ("-", word), ("unknown-command", "bad-request")
    return ("-",), ("bad-request",)


def check_garbage_replies(stream, sent, key=None):
    lines = [s for s in segments(stream) if not is_blank(s)]
    assert sent == b"" or sent.endswith(b"\n"), sent
    replies = sent.decode("ascii").split("\n")[:-1] if sent else []
    assert len(replies) == len(lines), (lines, replies)
    for line, reply in zip(lines, replies):
        m = REPLY_RE.match(reply)
        assert m and m.group(1) == "ERR", (line, reply)
        commands, codes = expected_error(line)
        rest = (m.group(3) or "").split(" ")
        assert m.group(2) in commands and rest[0] in codes, (line, reply)
    if key:
        assert_key_not_in(sent, key)


def garbage_run(kind, stream, cuts):
    rig = make_rig(kind)
    try:
        before, files = rig.config(), rig.files()
        sent = rig.send(stream, cuts)
        check_garbage_replies(stream, sent, rig.token.config.key)
        assert rig.config() == before
        assert rig.files() == files
        assert rig.token.ui.state == "off"
        rig.still_works()
    finally:
        shutil.rmtree(rig.dir, ignore_errors=True)


def with_cuts(stream_strategy):
    @st.composite
    def build(draw):
        stream = draw(stream_strategy)
        cuts = draw(st.lists(st.integers(0, len(stream)), max_size=12))
        return stream, cuts
    return build()


@st.composite
def line_stream(draw, line):
    lines = draw(st.lists(line, min_size=1, max_size=8))
    out = b""
    for ln in lines:
        out += neutralise(ln) + draw(TERMINATORS)
    return out


KINDS = st.sampled_from(["blank", "provisioned", "locked"])
NO_EOL = st.binary(max_size=300).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
PRINTABLE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300)


# -- fuzz properties --------------------------------------------------------------


@fuzz_settings(150)
@given(kind=KINDS, data=with_cuts(st.binary(max_size=800).map(lambda b: b + b"\n")))
def test_fuzz_random_bytes_get_one_error_per_line(kind, data):
    stream, cuts = data
    assume(all(neutralise(s) == s for s in segments(stream)))
    garbage_run(kind, stream, cuts)


@fuzz_settings(150)
@given(kind=KINDS, data=with_cuts(line_stream(NO_EOL)))
def test_fuzz_random_byte_lines_with_cr_lf_crlf(kind, data):
    garbage_run(kind, *data)


@fuzz_settings(150)
@given(kind=KINDS, data=with_cuts(line_stream(PRINTABLE.map(lambda s: s.encode("ascii")))))
def test_fuzz_printable_garbage_lines(kind, data):
    garbage_run(kind, *data)


OVERSIZED = st.builds(
    lambda n, fill, head: (head + fill * n)[: max(257, n)],
    st.integers(257, 5000),
    st.sampled_from([b"x", b"ping ", b"%", b"\x00", b"a=b ", b"provision key=00 "]),
    st.sampled_from([b"", b"ping", b"info ", b"x"]),
)


@fuzz_settings(60)
@given(kind=KINDS, data=with_cuts(line_stream(st.one_of(OVERSIZED, NO_EOL))))
def test_fuzz_oversized_lines_are_answered_too_long(kind, data):
    garbage_run(kind, *data)


# -- structured fuzz: damaged real requests -----------------------------------------

ARGS_OF = {"ping": (), "info": (), "lock": (), "wipe": (), "display": (), "state": (), "clock": ("set",),
           "provision": ("key", "suite", "serial", "label", "pinlen", "timeout", "counter")}
NAME_RE = re.compile(r"[a-z0-9_-]{1,32}")  # docs: lowercase letters, digits, - and _


def errors_required(line):
    """The error codes protocol.md allows for a request line, or None if it may succeed.
    When a line breaks several rules, any of their codes will do."""
    if len(line) > 256:
        return {"too-long"}
    if any(b < 0x20 or b > 0x7E for b in line):
        return {"bad-request"}
    words = line.decode("ascii").split()
    codes = set()
    if not NAME_RE.fullmatch(words[0]):
        return {"bad-request"}
    seen = set()
    for word in words[1:]:
        name, sep, value = word.partition("=")
        if not sep or not NAME_RE.fullmatch(name) or name in seen:
            codes.add("bad-request")
        seen.add(name)
        if re.search(r"%(?![0-9A-Fa-f]{2})", value):
            codes.add("bad-request")
        if re.search(r"%[89A-Fa-f][0-9A-Fa-f]", value):
            codes.add("bad-argument")  # may not decode to UTF-8 text (protocol.md; see test_any_percent_escape_...)
        if words[0] in ARGS_OF and name not in ARGS_OF[words[0]]:
            codes.add("bad-argument")
    if words[0] not in ARGS_OF:
        codes.add("unknown-command")
    return codes or None


def key_fragments(line):
    """16-hex-digit pieces of any key= value a request carried."""
    out = set()
    for word in line.split(b" "):
        if word.startswith(b"key="):
            v = word[4:].lower()
            pieces = (v[i:i + 16] for i in range(0, max(0, len(v) - 15)))
            out.update(p for p in pieces if re.fullmatch(rb"[0-9a-f]{16}", p))
    return out


VALID_REQUESTS = [
    "ping",
    "info",
    "display",
    "state",
    "lock",
    "wipe",
    "clock",
    "clock set=1796094000",
    "provision key=" + KEY2.hex(),
    "provision key=" + KEY2.hex() + " suite=OCRA-1:HOTP-SHA1-6:QN08 serial=AB-12 label=Bob%20X pinlen=6 timeout=30",
    "provision key=" + KEY2.hex() * 2 + " suite=OCRA-1:HOTP-SHA256-8:C-QN06-PSHA1 counter=7",
]
BAD_ESCAPES = ["%", "%4", "%zz", "%G1", "%-1", "% 1", "%%", "%0"]


@st.composite
def damaged_request(draw):
    line = draw(st.sampled_from(VALID_REQUESTS))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["truncate", "escape", "repeat", "unknown-arg", "rename",
                                   "upper", "byte", "join", "empty-value", "no-value",
                                   "corrupt-key", "corrupt-key"]))
        words = line.split(" ")
        if op == "truncate":
            line = line[: draw(st.integers(0, len(line)))]
        elif op == "escape":
            at = draw(st.integers(0, len(line)))
            line = line[:at] + draw(st.sampled_from(BAD_ESCAPES)) + line[at:]
        elif op == "repeat" and len(words) > 1:
            line += " " + draw(st.sampled_from(words[1:]))
        elif op == "unknown-arg":
            line += " " + draw(st.sampled_from(["foo=bar", "x=", "keys=OK", "gen=1", "=", "a=%41"]))
        elif op == "rename":
            words[0] = draw(st.sampled_from(["frobnicate", "pin", "reset", "provisio", "lock2", "dump-key", "-"]))
            line = " ".join(words)
        elif op == "upper":
            line = "".join(c.upper() if c < "\x80" else c for c in line)
        elif op == "byte":
            at = draw(st.integers(0, len(line)))
            b = draw(st.integers(0, 255).filter(lambda c: c not in (10, 13)))
            line = line[:at] + chr(b) + line[at:]
        elif op == "join":
            line += " " + draw(st.sampled_from(VALID_REQUESTS))
        elif op == "corrupt-key" and "key=" in line:
            at = line.index("key=") + 4 + draw(st.integers(0, 40))
            line = line[:at] + draw(st.sampled_from(["g", "Z", " ", "", "0", "x", "-", "%41"])) + line[at + 1:]
        elif op == "empty-value" and len(words) > 1:
            name = words[1].split("=")[0]
            line = " ".join([words[0], name + "="] + words[2:])
        elif op == "no-value" and len(words) > 1:
            line = " ".join([words[0], words[1].split("=")[0]] + words[2:])
    if first_word(line.encode("latin-1")) in (b"press", b"wait"):
        line = "x" + line  # no key presses and no deferred replies in this test
    return not_control_blank(line.encode("latin-1"))


@fuzz_settings(150)
@given(kind=st.sampled_from(["provisioned", "locked"]),
       lines=st.lists(st.one_of(damaged_request(), st.sampled_from([v.encode() for v in VALID_REQUESTS])),
                      min_size=1, max_size=10),
       terminators=st.lists(TERMINATORS, min_size=10, max_size=10),
       data=st.data())
def test_fuzz_damaged_requests_change_nothing_without_an_ok_press(kind, lines, terminators, data):
    """Without a person pressing OK, no request can change a provisioned or locked token."""
    rig = make_rig(kind)
    try:
        before, files = rig.config(), rig.files()
        stream = b"".join(ln + t for ln, t in zip(lines, terminators))
        cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=12), label="cuts")
        sent = rig.send(stream, cuts)
        assert_key_not_in(sent, KEY)
        for ln in lines:  # nor any part of a key a request carried
            for piece in key_fragments(ln):
                assert piece not in sent.lower(), (ln, sent)

        requests = [ln for ln in segments(stream) if not is_blank(ln)]
        replies = sent.decode("ascii").split("\n")[:-1]
        assert sent.endswith(b"\n") or sent == b""
        assert len(replies) == len(requests), (requests, replies)
        waiting = None
        for req, reply in zip(requests, replies):
            m = REPLY_RE.match(reply)
            assert m, reply
            kind_, command = m.group(1), m.group(2)
            word = first_word(req).decode("latin-1")
            event("reply: " + " ".join(reply.split(" ")[:3:2] if kind_ == "ERR" else reply.split(" ")[:1]))
            required = errors_required(req)
            if required is not None:
                assert kind_ == "ERR" and reply.split(" ")[2] in required, (req, reply, required)
            if kind_ == "ERR":
                assert command in ("-", word), (req, reply)
                assert (m.group(3) or "").split(" ")[0] in CODES, reply
            else:
                assert command == word, (req, reply)
            if kind_ == "WAIT":
                assert reply == "WAIT %s confirm" % word and word in ("provision", "lock", "wipe", "clock")
                assert waiting is None, "two confirmations pending at once"
                waiting = word
            if kind_ == "OK":
                assert word in ("ping", "info", "display", "state", "clock"), (req, reply)
        assert rig.config() == before
        assert rig.files() == files
        if waiting:
            assert rig.token.ui.state == "confirm"
            timed_out = rig.later(30_000)
            assert len(timed_out) == 1 and timed_out[0].startswith("ERR %s timeout" % waiting), timed_out
        assert rig.config() == before
        assert rig.files() == files
        assert rig.token.ui.state == "off"
        rig.still_works()
    finally:
        shutil.rmtree(rig.dir, ignore_errors=True)


# -- framing ---------------------------------------------------------------------


@pytest.mark.parametrize("eol", [b"\n", b"\r", b"\r\n"])
def test_each_line_ending_gives_one_reply(rig, eol):
    assert rig.send(b"ping" + eol) == b"OK ping proto=1\n"


def test_blank_lines_get_no_reply(rig):
    assert rig.send(b"\n\r\n\r   \n \r\n") == b""


@pytest.mark.parametrize("line", [b"\t", b"\x0b", b"\x0c", b" \t "])
def test_a_line_of_control_whitespace_is_malformed_not_blank(rig, line):
    assert rig.send(line + b"\n").startswith(b"ERR - bad-request ")


def test_a_line_split_into_single_bytes_is_one_request(rig):
    data = b"ping\r\n"
    assert rig.send(data, list(range(len(data)))) == b"OK ping proto=1\n"


def test_unterminated_line_waits_for_its_terminator(rig):
    assert rig.send(b"pin") == b""
    assert rig.send(b"g") == b""
    assert rig.send(b"\n") == b"OK ping proto=1\n"


def test_256_bytes_is_a_line_and_257_is_too_long(rig):
    line256 = b"frobnicate a=" + b"x" * 243
    assert len(line256) == 256
    assert rig.send(line256 + b"\n").startswith(b"ERR frobnicate unknown-command")
    assert rig.send(line256 + b"y\n").startswith(b"ERR - too-long")


def test_too_long_line_is_discarded_up_to_its_terminator(rig):
    sent = rig.send(b"x" * 300 + b"ping\nping\n")
    assert sent.decode().splitlines()[0].startswith("ERR - too-long")
    assert sent.decode().splitlines()[1:] == ["OK ping proto=1"]


def test_too_long_provision_changes_nothing(rig):
    before = rig.config()
    line = b"provision key=" + KEY.hex().encode() + b" label=" + b"a" * 300 + b"\n"
    sent = rig.send(line)
    assert sent.startswith(b"ERR - too-long")
    assert rig.config() == before and rig.token.config.state == "blank"
    assert_key_not_in(sent, KEY)


# -- every error code ------------------------------------------------------------


@pytest.mark.parametrize("line", [b"ping\x00", b"\x7fping", b"ping \xff", b"pi\tng", b"ping\x1b[2J"])
def test_error_bad_request_for_a_non_printable_byte(rig, line):
    assert rig.send(line + b"\n").startswith(b"ERR - bad-request ")


@pytest.mark.parametrize("line", ["PING", "Ping", "ping!", "p.ng", "=ping", "%70ing"])
def test_error_bad_request_for_a_bad_command_word(rig, line):
    assert rig.one(line).startswith("ERR - bad-request ")


@pytest.mark.parametrize("line", ["info a=1 a=2", "provision key=%s key=%s" % (KEY.hex(), KEY.hex())])
def test_error_bad_request_for_a_repeated_argument(rig, line):
    reply = rig.one(line)
    assert reply.startswith("ERR %s bad-request " % line.split()[0])
    assert rig.token.config.state == "blank"
    assert KEY.hex() not in reply.lower()


@pytest.mark.parametrize("value", ["%zz", "%4", "%", "abc%", "%G0"])
def test_error_bad_request_for_a_bad_escape(rig, value):
    reply = rig.one("provision key=%s label=%s" % (KEY.hex(), value))
    assert reply.startswith("ERR provision bad-request "), reply
    assert rig.token.config.state == "blank"
    assert KEY.hex() not in reply.lower()


@pytest.mark.parametrize("line", ["ping x=%FF", "provision key=%s label=%%FF" % KEY.hex(),
                                  "provision key=%s label=%%C3" % KEY.hex()])
def test_any_percent_escape_is_accepted_as_syntax(rig, line):
    reply = rig.one(line)
    assert reply.startswith("ERR %s bad-argument " % line.split()[0]), reply
    assert rig.token.config.state == "blank"


@pytest.mark.parametrize("line", ["info A=1", "info a", "info =1", "ping a=b=c x"])
def test_error_for_a_malformed_argument_word(rig, line):
    reply = rig.one(line)
    m = REPLY_RE.match(reply)
    assert m and m.group(1) == "ERR" and m.group(2) in ("-", line.split()[0])
    assert m.group(3).split(" ")[0] in ("bad-request", "bad-argument"), reply


def test_error_too_long(rig):
    assert rig.one("x" * 257).startswith("ERR - too-long ")


@pytest.mark.parametrize("name", ["frobnicate", "reset", "dump", "get-key", "key", "provisio"])
def test_error_unknown_command(rig, name):
    assert rig.one(name).startswith("ERR %s unknown-command " % name)


@pytest.mark.parametrize("line", ["ping x=1", "info key=00", "lock now=1", "provision",
                                  "provision suite=" + DEFAULT_SUITE, "press", "press keys=X",
                                  "press keys=1,,2", "press keys=", "wait", "wait gen=x"])
def test_error_bad_argument(rig, line):
    before = rig.config()
    assert rig.one(line).startswith("ERR %s bad-argument " % line.split()[0])
    assert rig.config() == before
    assert rig.token.ui.state == "off"


def test_error_wrong_state_lock_on_a_blank_token(rig):
    assert rig.one("lock").startswith("ERR lock wrong-state ")
    assert rig.token.config.state == "blank" and rig.token.ui.state == "off"


def test_error_wrong_state_lock_on_a_locked_token(prov):
    prov.lock()
    assert prov.one("lock").startswith("ERR lock wrong-state ")


def test_error_locked(prov):
    prov.lock()
    before, files = prov.config(), prov.files()
    reply = prov.one("provision key=" + KEY2.hex())
    assert reply.startswith("ERR provision locked ")
    assert KEY2.hex() not in reply.lower()
    assert prov.config() == before and prov.files() == files
    assert prov.token.ui.state == "off"  # nothing to confirm


@pytest.mark.parametrize("second", ["provision key=" + KEY2.hex(), "lock", "wipe"])
def test_error_busy_while_a_confirmation_is_pending(prov, second):
    assert prov.request("wipe") == ["WAIT wipe confirm"]
    reply = prov.one(second)
    assert reply.startswith("ERR %s busy " % second.split()[0]), reply
    assert KEY2.hex() not in reply.lower()
    # read-only requests and the debug link still work meanwhile
    assert prov.request("ping") == ["OK ping proto=1"]
    assert prov.one("info").startswith("OK info ")
    disp = fields(prov.one("display"))
    assert (unquote(disp["line1"]), unquote(disp["line2"])) == ("WIPE?", "OK=YES")
    # the pending one is still the wipe
    replies = prov.request("press keys=C")
    assert len(replies) == 2 and "OK press count=1" in replies, replies
    assert any(r.startswith("ERR wipe denied") for r in replies), replies
    assert prov.token.config.state == "provisioned"


@pytest.mark.parametrize("deny", ["C", "PWR"])
@pytest.mark.parametrize("command", ["provision key=" + KEY2.hex(), "lock", "wipe"])
def test_error_denied_by_c_or_pwr(prov, command, deny):
    before, files = prov.config(), prov.files()
    name = command.split()[0]
    assert prov.request(command) == ["WAIT %s confirm" % name]
    assert prov.token.ui.state == "confirm"
    prov.board.take_sent()
    prov.keys(deny)
    reply = prov.board.take_sent().decode()
    assert reply.startswith("ERR %s denied" % name), reply
    assert reply.count("\n") == 1
    assert prov.config() == before and prov.files() == files
    # C ends the question and the token is off; the power key, as everywhere, asks for the PIN.
    assert prov.token.ui.state == ("off" if deny == "C" else "pin")


def test_digits_do_not_answer_a_confirmation(prov):
    assert prov.request("wipe") == ["WAIT wipe confirm"]
    for d in "0123456789":
        prov.keys(d)
        assert prov.token.ui.state == "confirm"
    assert prov.board.take_sent() == b""
    assert prov.token.config.state == "provisioned"


@pytest.mark.parametrize("command", ["provision key=" + KEY2.hex(), "lock", "wipe"])
def test_error_timeout_after_30_s_without_ok(prov, command):
    before, files = prov.config(), prov.files()
    name = command.split()[0]
    assert prov.request(command) == ["WAIT %s confirm" % name]
    assert prov.later(29_000) == []
    assert prov.token.ui.state == "confirm"
    replies = prov.later(1_000)
    assert len(replies) == 1 and replies[0].startswith("ERR %s timeout" % name), replies
    assert prov.config() == before and prov.files() == files
    assert prov.token.ui.state == "off"
    # a late OK press changes nothing
    prov.keys("OK")
    assert prov.config() == before and prov.board.take_sent() == b""


@pytest.mark.parametrize("line", ["press keys=OK", "display", "state", "wait gen=0"])
def test_error_no_debug_on_a_release_build(tmp_path, line):
    rig = Rig(tmp_path, debug=False)
    rig.provision()
    reply = rig.one(line)
    assert reply.startswith("ERR %s no-debug " % line.split()[0]), reply
    assert rig.token.ui.state == "off"
    assert rig.one("info").find(" debug=1") == -1


def test_error_storage_when_the_flash_write_fails(rig):
    def broken(name, data):
        raise OSError(5, "flash write failed")
    rig.board.fs.write = broken
    before = rig.config()
    reply = rig.one("provision key=" + KEY.hex())
    assert reply.startswith("ERR provision storage "), reply
    assert KEY.hex() not in reply.lower()
    assert rig.config() == before and rig.token.config.state == "blank"
    assert Rig(rig.dir).token.config.state == "blank"


def test_error_messages_have_a_code_and_text(rig):
    for line in ["frobnicate", "PING", "ping x=1", "lock", "x" * 300, "ping\x01"]:
        reply = rig.one(line)
        parts = reply.split(" ", 3)
        assert parts[0] == "ERR" and parts[2] in CODES and len(parts) == 4 and parts[3].strip(), reply


# -- provision, lock, wipe ----------------------------------------------------------


def test_provision_on_a_blank_token_works_at_once(rig):
    reply = rig.one("provision key=%s serial=DSC00001 label=Alice%%20Smith" % KEY.hex())
    assert reply.upper() == ("OK provision serial=DSC00001 kcv=%s" % kcv(KEY)).upper()
    assert rig.token.ui.state == "off"
    info = fields(rig.one("info"))
    assert info["state"] == "provisioned" and info["serial"] == "DSC00001"
    assert info["suite"] == DEFAULT_SUITE and unquote(info["label"]) == "Alice Smith"
    assert info["kcv"].upper() == kcv(KEY) and info["pinlen"] == "4" and info["timeout"] == "60"
    assert "counter" not in info
    assert rig.response_via_keys("1234", "123456") == ocra(DEFAULT_SUITE, KEY, "123456", pin="1234")


def test_info_on_a_blank_token(rig):
    info = rig.one("info")
    assert info.startswith("OK info ")
    f = fields(info)
    assert f["proto"] == "1" and f["state"] == "blank" and f["debug"] == "1"
    assert re.fullmatch(r"[A-Z0-9-]{1,8}", f["serial"])
    assert "fw" in f
    for name in ("suite", "kcv", "label"):
        assert name not in f


def test_provision_keeps_the_serial_when_none_is_given(rig):
    serial = fields(rig.one("info"))["serial"]
    reply = rig.provision()
    assert fields(reply)["serial"] == serial


def test_provision_of_a_provisioned_token_needs_ok(prov):
    before = prov.config()
    assert prov.request("provision key=%s pinlen=5" % KEY2.hex()) == ["WAIT provision confirm"]
    assert prov.token.ui.state == "confirm"
    assert prov.token.ui.lines == ("NEW KEY?", "OK=YES")
    assert prov.config() == before
    replies = prov.request("press keys=OK")
    assert "OK press count=1" in replies and len(replies) == 2
    done = [r for r in replies if r.startswith("OK provision")]
    assert len(done) == 1 and fields(done[0])["kcv"].upper() == kcv(KEY2)
    assert KEY2.hex() not in " ".join(replies).lower()
    assert prov.token.config.state == "provisioned" and prov.token.config.pinlen == 5
    assert prov.token.ui.state == "off"
    assert prov.response_via_keys("12345", "000000") == ocra(DEFAULT_SUITE, KEY2, "000000", pin="12345")


def test_provision_confirmed_on_the_keypad(prov):
    assert prov.request("provision key=" + KEY2.hex()) == ["WAIT provision confirm"]
    prov.keys("OK")
    assert prov.board.take_sent().decode().startswith("OK provision ")
    assert prov.token.config.key == KEY2


def test_lock_needs_ok_and_then_provision_is_locked(prov):
    assert prov.request("lock") == ["WAIT lock confirm"]
    assert prov.token.ui.lines == ("LOCK?", "OK=YES")
    prov.keys("OK")
    assert prov.board.take_sent() == b"OK lock\n"
    assert fields(prov.one("info"))["state"] == "locked"
    assert prov.one("provision key=" + KEY2.hex()).startswith("ERR provision locked ")
    assert prov.token.config.key == KEY
    # a locked token still gives responses
    assert prov.response_via_keys() == ocra(DEFAULT_SUITE, KEY, "123456", pin="1234")


def test_lock_survives_reboot(prov):
    prov.lock()
    again = Rig(prov.dir)
    assert again.token.config.state == "locked"
    assert again.one("provision key=" + KEY2.hex()).startswith("ERR provision locked ")


def test_wipe_makes_the_token_blank_and_keeps_the_serial(prov):
    serial = prov.token.config.serial
    assert prov.request("wipe") == ["WAIT wipe confirm"]
    assert prov.token.ui.lines == ("WIPE?", "OK=YES")
    prov.keys("OK")
    assert prov.board.take_sent() == b"OK wipe\n"
    info = fields(prov.one("info"))
    assert info["state"] == "blank" and info["serial"] == serial
    for name in ("suite", "label", "kcv", "counter"):
        assert name not in info
    assert prov.token.config.key in (None, b"")
    assert prov.keys("PWR") == ("NO KEY", serial)
    again = Rig(prov.dir)
    assert again.token.config.state == "blank" and again.token.config.serial == serial
    for n, data in again.files().items():
        assert KEY.hex().encode() not in data.lower() and KEY not in data, n


def test_wipe_unlocks_a_locked_token(prov):
    prov.lock()
    assert prov.request("wipe") == ["WAIT wipe confirm"]
    prov.keys("OK")
    assert prov.board.take_sent() == b"OK wipe\n"
    assert prov.one("provision key=" + KEY2.hex()).startswith("OK provision ")
    assert prov.token.config.key == KEY2


BAD_PROVISION_ARGS = [
    ("short key", "key=" + KEY.hex()[:30]),
    ("long key", "key=" + "ab" * 65),
    ("odd hex", "key=" + KEY.hex() + "a"),
    ("non-hex", "key=" + KEY.hex()[:-2] + "zz"),
    ("empty key", "key="),
    ("QA suite", "key=%s suite=OCRA-1:HOTP-SHA256-8:QA08" % KEY.hex()),
    ("QH suite", "key=%s suite=OCRA-1:HOTP-SHA256-8:QH08" % KEY.hex()),
    ("S suite", "key=%s suite=OCRA-1:HOTP-SHA256-8:QN08-S064" % KEY.hex()),
    ("garbage suite", "key=%s suite=OCRA-2:HOTP-MD5-8:QN08" % KEY.hex()),
    ("pinlen 3", "key=%s pinlen=3" % KEY.hex()),
    ("pinlen 9", "key=%s pinlen=9" % KEY.hex()),
    ("pinlen x", "key=%s pinlen=x" % KEY.hex()),
    ("timeout 5", "key=%s timeout=5" % KEY.hex()),
    ("timeout 9", "key=%s timeout=9" % KEY.hex()),
    ("timeout 601", "key=%s timeout=601" % KEY.hex()),
    ("timeout -60", "key=%s timeout=-60" % KEY.hex()),
    ("serial lowercase", "key=%s serial=dsc1" % KEY.hex()),
    ("serial 9 chars", "key=%s serial=ABCDEFGHI" % KEY.hex()),
    ("serial empty", "key=%s serial=" % KEY.hex()),
    ("serial space", "key=%s serial=AB%%20CD" % KEY.hex()),
    ("serial underscore", "key=%s serial=AB_CD" % KEY.hex()),
    ("label 17 chars", "key=%s label=%s" % (KEY.hex(), "L" * 17)),
    ("label control char", "key=%s label=a%%01b" % KEY.hex()),
    ("counter negative", "key=%s suite=OCRA-1:HOTP-SHA256-8:C-QN06-PSHA1 counter=-1" % KEY.hex()),
    ("counter text", "key=%s suite=OCRA-1:HOTP-SHA256-8:C-QN06-PSHA1 counter=ten" % KEY.hex()),
    ("counter 2**64", "key=%s suite=OCRA-1:HOTP-SHA256-8:C-QN06-PSHA1 counter=%d" % (KEY.hex(), 2 ** 64)),
    ("unknown arg", "key=%s colour=red" % KEY.hex()),
]


@pytest.mark.parametrize("what,args", BAD_PROVISION_ARGS, ids=[b[0] for b in BAD_PROVISION_ARGS])
def test_bad_provision_arguments_are_refused_without_echoing_the_key(rig, what, args):
    before, files = rig.config(), rig.files()
    reply = rig.one("provision " + args)
    assert reply.startswith("ERR provision bad-argument "), reply
    key_value = args.split(" ")[0][4:]
    if len(key_value) >= 8:
        assert key_value.lower() not in reply.lower()
        assert key_value[:16].lower() not in reply.lower()
    assert rig.config() == before and rig.files() == files
    assert rig.token.config.state == "blank"


@pytest.mark.parametrize("suite", ["OCRA-1:HOTP-SHA1-6:QN08", "OCRA-1:HOTP-SHA512-8:C-QN08",
                                   "OCRA-1:HOTP-SHA256-8:QN08-PSHA1", "OCRA-1:HOTP-SHA512-8:QN08-T1M",
                                   "OCRA-1:HOTP-SHA256-6:QN04-PSHA512"])
def test_numeric_suites_are_accepted(rig, suite):
    rig.provision(suite=suite)
    assert fields(rig.one("info"))["suite"] == suite


@pytest.mark.parametrize("kind", ["blank", "provisioned", "locked"])
def test_info_never_contains_the_key(tmp_path, kind):
    rig = Rig(tmp_path)
    if kind != "blank":
        rig.provision()
    if kind == "locked":
        rig.lock()
    for line in ["info", "display", "state", "ping"]:
        out = " ".join(rig.request(line))
        assert KEY.hex() not in out.lower()


def test_counter_is_reported_for_counter_suites(rig):
    rig.provision(suite="OCRA-1:HOTP-SHA256-8:C-QN06-PSHA1", counter=41)
    assert fields(rig.one("info"))["counter"] == "41"
    rig.response_via_keys()
    assert fields(rig.one("info"))["counter"] == "42"


LABEL_CHARS = st.characters(min_codepoint=0x20, max_codepoint=0x7E)


@fuzz_settings(100)
@given(label=st.text(alphabet=LABEL_CHARS, max_size=16), data=st.data())
def test_percent_encoded_label_round_trips_via_info(label, data):
    rig = Rig(tempfile.mkdtemp(prefix="dsc-label-"))
    try:
        encoded = ""
        for ch in label:  # space, % and = must be encoded; anything may be
            if ch in " %=" or data.draw(st.booleans(), label="encode %r" % ch):
                encoded += "%%%02X" % ord(ch) if data.draw(st.booleans(), label="upper") else "%%%02x" % ord(ch)
            else:
                encoded += ch
        rig.provision(label=encoded)
        info = rig.one("info")
        value = fields(info)["label"]
        assert " " not in value
        assert unquote(value) == label
        assert rig.token.config.label == label
        again = Rig(rig.dir)
        assert unquote(fields(again.one("info"))["label"]) == label
    finally:
        shutil.rmtree(rig.dir, ignore_errors=True)


# -- debug link ------------------------------------------------------------------


def test_debug_press_display_and_state(prov):
    assert prov.one("press keys=PWR,1,2,3") == "OK press count=4"
    assert prov.one("state") == "OK state ui=pin entered=3 signing=0"
    disp = fields(prov.one("display"))
    assert unquote(disp["line1"]) == "PIN>"
    assert unquote(disp["line2"]) == "***"  # the PIN is never readable over the link
    assert "123" not in prov.one("display")
    prov.one("press keys=4,OK,1,2,3,4,5,6,OK")
    disp = fields(prov.one("display"))
    assert unquote(disp["line1"]) == ocra(DEFAULT_SUITE, KEY, "123456", pin="1234")
    assert prov.one("state").startswith("OK state ui=response ")


def test_debug_wait_reports_a_display_change_or_times_out(prov):
    gen = int(fields(prov.one("display"))["gen"])
    assert prov.request("wait gen=%d ms=500" % gen) == []
    assert prov.later(499) == []
    replies = prov.later(1)
    assert len(replies) == 1 and replies[0].startswith("OK wait changed=0 "), replies
    assert prov.request("wait gen=%d ms=5000" % gen) == []
    prov.keys("PWR")
    replies = prov.board.take_sent().decode().splitlines()
    assert len(replies) == 1 and replies[0].startswith("OK wait changed=1 "), replies
    f = fields(replies[0])
    assert unquote(f["line1"]) == "PIN>" and int(f["gen"]) != gen
    # a stale generation answers at once
    assert prov.one("wait gen=%d" % gen).startswith("OK wait changed=1 ")
