"""Issue 7 on the token's side of the link: a stale half line is never run, every
receive buffer is bounded, the display follows a provisioning, the debug link is
attached from the top, and the firmware's rules are the host's rules."""

import os
import subprocess
import sys
import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

import dsc.debuglink  # noqa: F401  (the top attaches the debug link: here the tests are the top)
from boards.sim import SimBoard
from dsc import config, protocol
from dsc.token import Token

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIRMWARE = os.path.join(ROOT, "firmware")
KEY = bytes(range(32))


def rig(tmp_path, **kw):
    board = SimBoard(str(tmp_path), manual_clock=True, **kw)
    return board, Token(board)


def send(board, token, data):
    board.take_sent()
    token.receive(data)
    return board.take_sent().decode().splitlines()


# -- 5. leftover bytes on the link -------------------------------------------------


def test_a_half_line_left_by_the_last_client_is_dropped_when_the_next_connects(tmp_path):
    board, token = rig(tmp_path)
    assert send(board, token, b"provision key=" + KEY.hex().encode() + b"\n")[0].startswith("OK provision")
    board.feed(b"wipe")  # the last client's half line
    token.poll()
    board.connect()  # a new client (a re-plug)
    board.feed(b"\ninfo\n")  # a client that ends "any half line" with a newline first
    token.poll()
    replies = board.take_sent().decode().splitlines()
    assert not any(r.startswith("WAIT wipe") for r in replies), replies
    assert token.ui.state != "confirm" and token.ui.lines != ("WIPE?", "OK=YES")
    assert any(r.startswith("OK info") for r in replies)


def test_bytes_that_arrive_before_the_token_hears_of_the_new_client_wait_for_it(tmp_path):
    """connect() and the new client's bytes can both come between two polls: the
    token still drops the old half line before it reads the new bytes."""
    board, token = rig(tmp_path)
    send(board, token, b"provision key=" + KEY.hex().encode() + b"\n")
    token.receive(b"wipe")
    board.connect()
    board.feed(b"\nping\n")
    assert board.serial_read() == b""  # held back until serial_reset() is taken
    token.poll()
    assert board.take_sent() == b"OK ping proto=1\n"
    assert token.config.state == "provisioned" and token.ui.state != "confirm"


def test_a_megabyte_without_a_newline_holds_at_most_a_line(tmp_path):
    board, token = rig(tmp_path)
    chunk = b"x" * 4096
    for _ in range(256):
        token.receive(chunk)
        assert len(token.link._buf) <= protocol.MAX_LINE
    assert send(board, token, b"\nping\n") == ["ERR - too-long line exceeds 256 bytes", "OK ping proto=1"]


def test_one_huge_chunk_is_not_copied_into_the_line_buffer(tmp_path):
    board, token = rig(tmp_path)
    replies = send(board, token, b"y" * (1 << 20) + b"\nping\n")
    assert replies == ["ERR - too-long line exceeds 256 bytes", "OK ping proto=1"]
    assert token.link._buf == b""


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([b"ping", b"\n", b"\r", b"x" * 100, b"info", b" ", b"\x00", b"wipe"]), max_size=40),
       st.data())
def test_replies_do_not_depend_on_how_bytes_are_cut_and_the_buffer_stays_bounded(pieces, data):
    stream = b"".join(pieces)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    outs = []
    with tempfile.TemporaryDirectory() as flash:  # one flash: the same serial both times
        for parts in ([stream], [stream[a:b] for a, b in zip([0] + cuts, cuts + [len(stream)])]):
            board = SimBoard(flash, manual_clock=True)
            token = Token(board, debug=False)
            for p in parts:
                token.receive(p)
                assert len(token.link._buf) <= protocol.MAX_LINE
            outs.append(board.take_sent())
    assert outs[0] == outs[1]


# -- section 2: the display after provisioning ---------------------------------------


def test_provisioning_a_token_that_shows_no_key_brings_up_the_pin_prompt(tmp_path):
    board, token = rig(tmp_path)
    token.key("PWR")
    assert token.ui.lines[0] == "NO KEY"
    assert send(board, token, b"provision key=" + KEY.hex().encode() + b"\n")[0].startswith("OK provision")
    assert token.ui.lines == ("PIN>", "") and board.lines == ("PIN>", "")


def test_provisioning_a_suite_without_pin_brings_up_the_challenge_prompt(tmp_path):
    board, token = rig(tmp_path)
    token.key("PWR")
    send(board, token, b"provision key=" + KEY.hex().encode() + b" suite=OCRA-1:HOTP-SHA1-6:QN06\n")
    assert board.lines == ("CHALLNG>", "")


def test_provisioning_a_token_that_is_off_leaves_it_off(tmp_path):
    board, token = rig(tmp_path)
    send(board, token, b"provision key=" + KEY.hex().encode() + b"\n")
    assert token.ui.state == "off" and board.lines == ("", "")


# -- section 4: the debug link attached from the top ---------------------------------


def _fresh(code):
    out = subprocess.run([sys.executable, "-c", code], cwd=FIRMWARE, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_the_core_never_imports_the_debug_link():
    out = _fresh("import sys; import dsc.token, dsc.protocol; print('dsc.debuglink' in sys.modules)")
    assert out.strip() == "False"
    for name in ("protocol.py", "token.py", "ui.py", "config.py"):
        source = open(os.path.join(FIRMWARE, "dsc", name)).read()
        assert "import debuglink" not in source and "dsc.debuglink" not in source, name


def test_without_the_debug_link_its_commands_are_refused_and_with_it_they_work():
    code = """
import tempfile
from boards.sim import SimBoard
from dsc.token import Token
def ask(line):
    board = SimBoard(tempfile.mkdtemp(), manual_clock=True)
    token = Token(board)
    token.receive(line + b"\\n")
    return board.take_sent().decode().strip()
print(ask(b"press keys=PWR"))
import dsc.debuglink
print(ask(b"press keys=PWR"))
"""
    assert _fresh(code).splitlines() == ["ERR press no-debug the debug link is not in release builds",
                                         "OK press count=1"]


def test_a_link_built_without_debug_refuses_the_debug_commands_even_when_they_are_registered(tmp_path):
    board = SimBoard(str(tmp_path), manual_clock=True)
    token = Token(board, debug=False)
    assert send(board, token, b"display\n") == ["ERR display no-debug the debug link is not in release builds"]


def test_debuglink_and_protocol_import_in_either_order():
    for order in ("import dsc.debuglink, dsc.protocol", "import dsc.protocol, dsc.debuglink"):
        _fresh(order + "; import dsc.protocol as p; assert p.debug_attached()")


# -- section 4 and 8: one set of rules; flash files owner-only ----------------------------


HEXCHARS = "0123456789abcdefABCDEF"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=HEXCHARS + "xg ١", max_size=140))
def test_the_key_rule_takes_exactly_16_to_64_bytes_of_hex(text):
    ok = len(text) % 2 == 0 and 32 <= len(text) <= 128 and all(c in HEXCHARS for c in text)
    try:
        key = config.key_from_hex(text)
    except ValueError as e:
        assert not ok
        assert len(text) < 8 or text not in str(e), "never echo a key"
    else:
        assert ok and key == bytes.fromhex(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789١٢٣٤٥٦٧٨٩٠²³a ", max_size=10))
def test_the_pin_rule_takes_4_to_8_ascii_digits_only(pin):
    ok = 4 <= len(pin) <= 8 and all(c in "0123456789" for c in pin)
    try:
        config.check_pin(pin)
    except ValueError as e:
        assert not ok
        assert len(pin) < 4 or pin not in str(e), "never echo a PIN"
    else:
        assert ok


def test_the_flash_files_are_owner_only(tmp_path):
    board, token = rig(tmp_path)
    send(board, token, b"provision key=" + KEY.hex().encode() + b"\n")
    names = sorted(os.listdir(tmp_path))
    assert "token.cfg" in names and "uid" in names
    for name in names:
        assert os.stat(tmp_path / name).st_mode & 0o777 == 0o600, name


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["PWR", "OK", "C", "1", "2", "3", "4"]), max_size=12),
       st.lists(st.sampled_from(["PWR", "OK", "C", "1", "2", "3", "4", "5", "6"]), max_size=12))
def test_no_key_is_never_shown_by_a_provisioned_token(before, after):
    with tempfile.TemporaryDirectory() as flash:
        board = SimBoard(flash, manual_clock=True)
        token = Token(board)
        for k in before:
            token.key(k)
        token.receive(b"provision key=" + KEY.hex().encode() + b"\n")
        assert token.config.state == "provisioned"
        for k in after:
            assert board.lines[0] != "NO KEY"
            token.key(k)
        assert board.lines[0] != "NO KEY"
