"""The token's keypad/display behaviour, as a user sees it (docs/firmware.md, "Token UI").

Example tests walk every screen of the state table; a hypothesis state machine then
mashes random keys and clock jumps and checks the invariants a user relies on.
Expected responses come from tests/ocra_reference.py, an OCRA implementation that
shares no code with the firmware.
"""

import json
import os
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from boards.sim import SimBoard
from dsc.token import Token
from tests.ocra_reference import ocra, parse_suite

FUZZ = os.environ.get("DSC_FUZZ") == "1"

DEFAULT_SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"
NOPIN_SUITE = "OCRA-1:HOTP-SHA1-6:QN08"
COUNTER_SUITE = "OCRA-1:HOTP-SHA256-8:C-QN06-PSHA1"
KEY = bytes.fromhex("3132333435363738393031323334353637383930313233343536373839303132")
DIGITS = [str(d) for d in range(10)]
VECTORS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "vectors", "rfc6287.json")


# -- helpers -----------------------------------------------------------------


def new_token(state_dir):
    """A token on a simulated board whose clock moves only when the test says so."""
    board = SimBoard(state_dir=str(state_dir), manual_clock=True)
    return board, Token(board)


def request(board, token, line):
    """Send one protocol line and return the reply lines (as str)."""
    board.take_sent()
    token.receive(line.encode("ascii") + b"\n")
    return board.take_sent().decode("ascii").splitlines()


def provision(board, token, key=KEY, **args):
    """Provision a blank token over the link (no OK press needed on a blank token)."""
    words = ["provision", "key=" + key.hex()]
    words += ["%s=%s" % (name, value) for name, value in args.items()]
    replies = request(board, token, " ".join(words))
    assert len(replies) == 1 and replies[0].startswith("OK provision "), replies
    return replies[0]


def press(token, *keys):
    for k in keys:
        token.key(k)
    return screen(token)


def type_digits(token, digits):
    for d in digits:
        token.key(d)
    return screen(token)


def screen(token):
    """The two display lines, checked against what a user can ever be shown."""
    lines = token.ui.lines
    assert token.board.lines == tuple(lines), "ui.lines is not what the board shows"
    assert len(lines) == 2
    for line in lines:
        assert isinstance(line, str) and len(line) <= 8, lines
    text = "".join(lines).lower()
    key_hex = token.config.key.hex() if token.config.key else None
    if key_hex:
        assert key_hex not in text
    return tuple(lines)


def later(board, token, ms):
    board.advance(ms)
    token.tick()
    return screen(token)


@pytest.fixture
def blank(tmp_path):
    return new_token(tmp_path)


@pytest.fixture
def default(tmp_path):
    """A token provisioned with the default suite and the RFC's 32-byte key."""
    board, token = new_token(tmp_path)
    provision(board, token)
    return board, token


def power_on_with_pin(token, pin="1234"):
    press(token, "PWR")
    type_digits(token, pin)
    return press(token, "OK")


# -- the reference OCRA is itself right ---------------------------------------


def test_reference_ocra_matches_every_rfc6287_vector():
    """The tests' oracle reproduces all RFC 6287 Appendix C vectors."""
    with open(VECTORS) as f:
        vectors = json.load(f)["vectors"]
    assert len(vectors) >= 60
    for v in vectors:
        got = ocra(v["suite"], bytes.fromhex(v["key_hex"]), v["question"], v["counter"],
                   v["pin"], v["session"], v["timestamp"])
        assert got == v["expected"], v


def test_reference_ocra_known_default_suite_vector():
    """Spot check: RFC 6287 C.1, OCRA-1:HOTP-SHA256-8:QN08-PSHA1, Q=00000000, PIN 1234."""
    assert ocra("OCRA-1:HOTP-SHA256-8:QN08-PSHA1", KEY, "00000000", pin="1234") == "83238735"


# -- blank token --------------------------------------------------------------


def test_new_token_starts_off_with_blank_display(blank):
    board, token = blank
    assert token.ui.state == "off"
    assert screen(token) == ("", "")


def test_blank_token_shows_no_key_and_its_serial(blank):
    board, token = blank
    assert token.config.state == "blank"
    lines = press(token, "PWR")
    assert token.ui.state == "nokey"
    assert lines == ("NO KEY", token.config.serial)
    info = request(board, token, "info")[0]
    assert "serial=%s " % token.config.serial in info + " "


def test_blank_token_ignores_every_key_and_stays_on_until_idle(blank):
    board, token = blank
    press(token, "PWR")
    for k in DIGITS + ["OK", "C", "PWR"]:
        assert press(token, k) == ("NO KEY", token.config.serial)
        assert token.ui.state == "nokey"


def test_blank_token_turns_off_after_default_idle_timeout(blank):
    board, token = blank
    press(token, "PWR")
    later(board, token, 59_000)
    assert token.ui.state == "nokey"
    assert later(board, token, 1_000) == ("", "")
    assert token.ui.state == "off"


def test_keys_while_off_do_nothing(default):
    board, token = default
    for k in DIGITS + ["OK", "C"]:
        assert press(token, k) == ("", "")
        assert token.ui.state == "off"


# -- PIN prompt ---------------------------------------------------------------


def test_power_on_shows_pin_prompt(default):
    board, token = default
    assert press(token, "PWR") == ("PIN>", "")
    assert token.ui.state == "pin"


def test_pin_digits_are_masked_one_star_each(default):
    board, token = default
    press(token, "PWR")
    for n, d in enumerate("9071", 1):
        lines = press(token, d)
        assert lines == ("PIN>", "*" * n)
        assert d not in "".join(lines)


def test_c_deletes_one_pin_digit(default):
    board, token = default
    press(token, "PWR")
    type_digits(token, "123")
    assert press(token, "C") == ("PIN>", "**")
    assert press(token, "C") == ("PIN>", "*")
    assert press(token, "C") == ("PIN>", "")
    assert press(token, "C") == ("PIN>", "")  # nothing left to delete
    assert token.ui.state == "pin"


def test_c_edits_change_the_pin_used(default):
    """1, 2, 9, C, 3, 4 is the PIN 1234."""
    board, token = default
    press(token, "PWR")
    type_digits(token, "129")
    press(token, "C")
    type_digits(token, "34")
    press(token, "OK")
    type_digits(token, "555555")
    assert press(token, "OK")[0] == ocra(DEFAULT_SUITE, KEY, "555555", pin="1234")


def test_extra_pin_digits_are_ignored(default):
    board, token = default
    press(token, "PWR")
    assert type_digits(token, "123456") == ("PIN>", "****")
    press(token, "OK")
    assert token.ui.state == "challenge"
    type_digits(token, "000000")
    assert press(token, "OK")[0] == ocra(DEFAULT_SUITE, KEY, "000000", pin="1234")


@pytest.mark.parametrize("entered", ["", "1", "12", "123"])
def test_short_pin_shows_pin_len_then_returns_to_empty_prompt_after_1_5_s(default, entered):
    board, token = default
    press(token, "PWR")
    type_digits(token, entered)
    assert press(token, "OK") == ("PIN LEN", "4 DIGITS")
    assert token.ui.state == "message"
    assert later(board, token, 1_400) == ("PIN LEN", "4 DIGITS")
    assert later(board, token, 100) == ("PIN>", "")
    assert token.ui.state == "pin"


@pytest.mark.parametrize("key", ["C", "OK", "5"])
def test_any_key_dismisses_pin_len_message(default, key):
    board, token = default
    press(token, "PWR")
    type_digits(token, "12")
    press(token, "OK")
    lines = press(token, key)
    assert token.ui.state == "pin"
    assert lines == ("PIN>", "")  # the key dismisses the message; the entry is cleared


def test_pin_len_message_says_the_configured_length(tmp_path):
    board, token = new_token(tmp_path)
    provision(board, token, pinlen=6)
    press(token, "PWR")
    type_digits(token, "1234")
    assert press(token, "OK") == ("PIN LEN", "6 DIGITS")


def test_pwr_in_pin_prompt_starts_the_pin_again(default):
    board, token = default
    press(token, "PWR")
    type_digits(token, "12")
    assert press(token, "PWR") == ("PIN>", "")
    assert token.ui.state == "pin"
    type_digits(token, "5678")
    press(token, "OK")
    type_digits(token, "123456")
    assert press(token, "OK")[0] == ocra(DEFAULT_SUITE, KEY, "123456", pin="5678")  # not 1256, nor 125678


# -- challenge prompt -----------------------------------------------------------


def test_full_pin_moves_to_challenge_prompt(default):
    board, token = default
    assert power_on_with_pin(token) == ("CHALLNG>", "")
    assert token.ui.state == "challenge"


def test_challenge_digits_are_shown_and_c_deletes(default):
    board, token = default
    power_on_with_pin(token)
    assert type_digits(token, "123") == ("CHALLNG>", "123")
    assert press(token, "C") == ("CHALLNG>", "12")
    assert type_digits(token, "3456") == ("CHALLNG>", "123456")
    assert type_digits(token, "78") == ("CHALLNG>", "123456")  # QN06: extra digits ignored


def test_long_challenge_shows_its_last_8_digits(tmp_path):
    board, token = new_token(tmp_path)
    suite = "OCRA-1:HOTP-SHA1-6:QN12"
    provision(board, token, suite=suite)
    press(token, "PWR")
    assert token.ui.state == "challenge"
    assert type_digits(token, "12345678") == ("CHALLNG>", "12345678")
    assert type_digits(token, "9") == ("CHALLNG>", "23456789")
    assert type_digits(token, "012") == ("CHALLNG>", "56789012")
    assert press(token, "OK") == (ocra(suite, KEY, "123456789012"), "")


@pytest.mark.parametrize("entered", ["", "1", "12345"])
def test_short_challenge_shows_chal_len_then_returns_to_empty_prompt(default, entered):
    board, token = default
    power_on_with_pin(token)
    type_digits(token, entered)
    assert press(token, "OK") == ("CHAL LEN", "6 DIGITS")
    assert token.ui.state == "message"
    assert later(board, token, 1_500) == ("CHALLNG>", "")
    assert token.ui.state == "challenge"
    # The PIN is still the one entered: a full challenge now gives its response.
    type_digits(token, "123456")
    assert press(token, "OK")[0] == ocra(DEFAULT_SUITE, KEY, "123456", pin="1234")


def test_any_key_dismisses_chal_len_message(default):
    board, token = default
    power_on_with_pin(token)
    type_digits(token, "1")
    press(token, "OK")
    assert press(token, "C") == ("CHALLNG>", "")
    assert token.ui.state == "challenge"


@pytest.mark.parametrize("suite,text", [("OCRA-1:HOTP-SHA1-6:QN10", "10 DIGS"),
                                        ("OCRA-1:HOTP-SHA1-6:QN64", "64 DIGS")])
def test_chal_len_message_fits_the_display_for_long_challenges(tmp_path, suite, text):
    """'10 DIGITS' would be 9 characters: from 10 digits on the message says 'NN DIGS'."""
    board, token = new_token(tmp_path)
    provision(board, token, suite=suite)
    press(token, "PWR")
    assert press(token, "OK") == ("CHAL LEN", text)
    assert token.ui.state == "message"


def test_chal_len_message_says_the_suite_length(tmp_path):
    board, token = new_token(tmp_path)
    provision(board, token, suite=NOPIN_SUITE)
    press(token, "PWR")
    type_digits(token, "123456")
    assert press(token, "OK") == ("CHAL LEN", "8 DIGITS")


@pytest.mark.parametrize("state", ["message-pin", "message-challenge"])
def test_pwr_during_a_message_starts_over_at_the_pin(default, state):
    board, token = default
    press(token, "PWR")
    if state == "message-challenge":
        type_digits(token, "1234")
        press(token, "OK")
    press(token, "OK")
    assert token.ui.state == "message"
    assert press(token, "PWR") == ("PIN>", "")
    assert token.ui.state == "pin"


# -- response -----------------------------------------------------------------


def test_response_after_full_pin_and_challenge_is_rfc6287_ocra(default):
    board, token = default
    power_on_with_pin(token, "1234")
    type_digits(token, "123456")
    lines = press(token, "OK")
    assert token.ui.state == "response"
    assert lines == (ocra(DEFAULT_SUITE, KEY, "123456", pin="1234"), "")


def test_wrong_pin_gives_a_different_response_not_an_error(default):
    """The PIN is an OCRA input; the token never checks it."""
    board, token = default
    responses = {}
    for pin in ("1234", "0000", "9999"):
        power_on_with_pin(token, pin)
        assert token.ui.state == "challenge"
        type_digits(token, "424242")
        responses[pin] = press(token, "OK")[0]
        assert responses[pin] == ocra(DEFAULT_SUITE, KEY, "424242", pin=pin)
        assert press(token, "PWR") == ("PIN>", "")
    assert len(set(responses.values())) == 3


def test_pin_is_never_stored(default, tmp_path):
    """Entering a PIN and getting a response leaves the token's flash untouched."""
    board, token = default

    def snapshot():
        return {n: open(os.path.join(tmp_path, n), "rb").read() for n in sorted(os.listdir(tmp_path))}

    before = snapshot()
    power_on_with_pin(token, "8642")
    type_digits(token, "111111")
    press(token, "OK")
    assert snapshot() == before
    assert "8642" not in repr(vars(token.config))


def test_ok_on_response_starts_a_new_challenge_with_the_same_pin(default):
    board, token = default
    power_on_with_pin(token, "5678")
    type_digits(token, "111111")
    press(token, "OK")
    assert press(token, "OK") == ("CHALLNG>", "")
    assert token.ui.state == "challenge"
    type_digits(token, "222222")
    assert press(token, "OK") == (ocra(DEFAULT_SUITE, KEY, "222222", pin="5678"), "")
    press(token, "OK")
    type_digits(token, "333333")
    assert press(token, "OK") == (ocra(DEFAULT_SUITE, KEY, "333333", pin="5678"), "")


def test_digits_and_c_on_response_screen_change_nothing(default):
    board, token = default
    power_on_with_pin(token)
    type_digits(token, "123456")
    shown = press(token, "OK")
    for k in DIGITS + ["C"]:
        assert press(token, k) == shown
        assert token.ui.state == "response"


def test_pwr_on_response_asks_for_a_new_pin(default):
    board, token = default
    power_on_with_pin(token, "1234")
    type_digits(token, "123456")
    press(token, "OK")
    assert press(token, "PWR") == ("PIN>", "")
    assert token.ui.state == "pin"


def test_pwr_in_challenge_prompt_starts_over_at_the_pin(default):
    board, token = default
    power_on_with_pin(token)
    type_digits(token, "12")
    assert press(token, "PWR") == ("PIN>", "")
    assert token.ui.state == "pin"


def test_ten_digit_response_continues_on_line_two(tmp_path):
    board, token = new_token(tmp_path)
    suite = "OCRA-1:HOTP-SHA512-10:QN06"
    provision(board, token, suite=suite)
    press(token, "PWR")
    type_digits(token, "987654")
    expected = ocra(suite, KEY, "987654")
    assert press(token, "OK") == (expected[:8], expected[8:])


def test_suite_without_pin_skips_the_pin_prompt(tmp_path):
    board, token = new_token(tmp_path)
    provision(board, token, suite=NOPIN_SUITE)
    assert press(token, "PWR") == ("CHALLNG>", "")
    assert token.ui.state == "challenge"
    type_digits(token, "12345678")
    assert press(token, "OK") == (ocra(NOPIN_SUITE, KEY, "12345678"), "")
    assert press(token, "OK") == ("CHALLNG>", "")


def test_rfc_vectors_through_the_keypad(tmp_path):
    """Every numeric RFC 6287 vector the keypad can enter, typed on the token."""
    with open(VECTORS) as f:
        vectors = json.load(f)["vectors"]
    usable = [v for v in vectors if ":QN" in v["suite"] and v["timestamp"] is None and v["counter"] is None]
    assert usable
    for n, v in enumerate(usable):
        board, token = new_token(tmp_path / str(n))
        provision(board, token, key=bytes.fromhex(v["key_hex"]), suite=v["suite"])
        press(token, "PWR")
        if v["pin"] is not None:
            type_digits(token, v["pin"])
            press(token, "OK")
        type_digits(token, v["question"])
        lines = press(token, "OK")
        assert "".join(lines) == v["expected"], v


def test_counter_suite_gives_successive_counters_and_survives_reboot(tmp_path):
    board, token = new_token(tmp_path)
    provision(board, token, suite=COUNTER_SUITE, counter=5)
    power_on_with_pin(token, "1234")
    for counter in (5, 6, 7):
        type_digits(token, "123456")
        lines = press(token, "OK")
        assert lines[0] == ocra(COUNTER_SUITE, KEY, "123456", counter=counter, pin="1234")
        assert token.config.counter == counter + 1  # stored before it is shown
        press(token, "OK")
    info = request(board, token, "info")[0]
    assert " counter=8" in info

    board2, token2 = new_token(tmp_path)  # reboot
    assert token2.config.counter == 8
    assert token2.ui.state == "off"
    power_on_with_pin(token2, "1234")
    type_digits(token2, "123456")
    assert press(token2, "OK")[0] == ocra(COUNTER_SUITE, KEY, "123456", counter=8, pin="1234")


def test_counter_does_not_advance_without_a_response(tmp_path):
    board, token = new_token(tmp_path)
    provision(board, token, suite=COUNTER_SUITE, counter=5)
    power_on_with_pin(token)
    type_digits(token, "123")
    press(token, "OK")  # CHAL LEN
    press(token, "PWR")
    assert token.config.counter == 5
    assert new_token(tmp_path)[1].config.counter == 5


def test_counter_response_is_not_shown_if_the_counter_cannot_be_stored(tmp_path):
    """A counter suite's counter is stored before its response is shown."""
    board, token = new_token(tmp_path)
    provision(board, token, suite=COUNTER_SUITE, counter=5)

    def broken(name, data):
        raise OSError(5, "flash write failed")

    board.fs.write = broken
    power_on_with_pin(token, "1234")
    type_digits(token, "123456")
    lines = press(token, "OK")
    for counter in (5, 6):
        assert ocra(COUNTER_SUITE, KEY, "123456", counter=counter, pin="1234") not in "".join(lines)
    assert token.config.counter == 5
    assert new_token(tmp_path)[1].config.counter == 5


MAX_COUNTER = 2 ** 64 - 1


def test_counter_near_its_maximum_still_gives_responses(tmp_path):
    board, token = new_token(tmp_path)
    provision(board, token, suite=COUNTER_SUITE, counter=MAX_COUNTER - 1)
    power_on_with_pin(token, "1234")
    type_digits(token, "123456")
    assert press(token, "OK")[0] == ocra(COUNTER_SUITE, KEY, "123456", counter=MAX_COUNTER - 1, pin="1234")


def test_exhausted_counter_never_crashes_nor_wraps(tmp_path):
    """At the end of the 8-byte counter the token may refuse, but it must not crash
    and must never start over at counter 0 (a reused counter)."""
    board, token = new_token(tmp_path)
    provision(board, token, suite=COUNTER_SUITE, counter=MAX_COUNTER)
    wrapped = {ocra(COUNTER_SUITE, KEY, "123456", counter=n, pin="1234") for n in (0, 1, 2)}
    for _ in range(3):
        power_on_with_pin(token, "1234")
        type_digits(token, "123456")
        lines = press(token, "OK")  # must not raise
        assert "".join(lines) not in wrapped
        press(token, "PWR")
        assert token.ui.state == "pin"


def test_exhausted_counter_survives_a_reboot(tmp_path):
    board, token = new_token(tmp_path)
    provision(board, token, suite=COUNTER_SUITE, counter=MAX_COUNTER, serial="DSC7")
    assert request(board, token, "lock") == ["WAIT lock confirm"]
    press(token, "OK")
    assert token.config.state == "locked"
    power_on_with_pin(token, "1234")
    type_digits(token, "123456")
    press(token, "OK")
    board2, token2 = new_token(tmp_path)
    assert (token2.config.state, token2.config.key, token2.config.serial) == ("locked", KEY, "DSC7")


def test_time_suite_uses_the_board_clock(tmp_path):
    board, token = new_token(tmp_path)
    suite = "OCRA-1:HOTP-SHA512-8:QN08-T1M"
    provision(board, token, suite=suite)
    press(token, "PWR")
    type_digits(token, "22222222")
    lines = press(token, "OK")
    assert lines[0] == ocra(suite, KEY, "22222222", timestamp=board.epoch() // 60)


def test_pinlen_6(tmp_path):
    board, token = new_token(tmp_path)
    provision(board, token, pinlen=6)
    press(token, "PWR")
    assert type_digits(token, "1234567") == ("PIN>", "******")
    press(token, "OK")
    assert token.ui.state == "challenge"
    type_digits(token, "654321")
    assert press(token, "OK")[0] == ocra(DEFAULT_SUITE, KEY, "654321", pin="123456")


def test_provisioning_survives_reboot_and_token_starts_off(default, tmp_path):
    board2, token2 = new_token(tmp_path)
    assert token2.ui.state == "off"
    assert token2.config.state == "provisioned"
    power_on_with_pin(token2, "1234")
    type_digits(token2, "000001")
    assert press(token2, "OK")[0] == ocra(DEFAULT_SUITE, KEY, "000001", pin="1234")


# -- idle timeout -------------------------------------------------------------


def _reach(token, where):
    """Bring a powered-off provisioned (default suite) token to the given screen."""
    press(token, "PWR")
    if where == "pin":
        type_digits(token, "12")
    elif where in ("challenge", "response"):
        type_digits(token, "1234")
        press(token, "OK")
        type_digits(token, "123456" if where == "response" else "12")
        if where == "response":
            press(token, "OK")
    assert token.ui.state == where


@pytest.mark.parametrize("where", ["pin", "challenge", "response"])
def test_default_idle_timeout_is_60_s(default, where):
    board, token = default
    _reach(token, where)
    later(board, token, 59_900)
    assert token.ui.state == where
    assert later(board, token, 100) == ("", "")
    assert token.ui.state == "off"


def test_key_press_restarts_the_idle_timer(default):
    board, token = default
    press(token, "PWR")
    later(board, token, 50_000)
    press(token, "1")
    later(board, token, 50_000)
    assert screen(token) == ("PIN>", "*")
    later(board, token, 10_000)
    assert token.ui.state == "off"


def test_idle_timeout_forgets_the_pin(default):
    board, token = default
    _reach(token, "response")
    later(board, token, 60_000)
    assert press(token, "PWR") == ("PIN>", "")


@pytest.mark.parametrize("timeout", [10, 25, 600])
def test_configured_idle_timeout(tmp_path, timeout):
    board, token = new_token(tmp_path)
    provision(board, token, timeout=timeout)
    _reach(token, "challenge")
    later(board, token, timeout * 1000 - 100)
    assert token.ui.state == "challenge"
    later(board, token, 100)
    assert token.ui.state == "off"
    assert screen(token) == ("", "")


def test_idle_timeout_also_ends_a_message_when_ticked_often(default):
    """With the main loop's ticks (at least once a second) a message gives way to the
    prompt after 1.5 s, and the token is off once the idle timeout has passed."""
    board, token = default
    press(token, "PWR")
    press(token, "OK")  # PIN LEN
    for _ in range(70):
        later(board, token, 1_000)
    assert screen(token) == ("", "")
    assert token.ui.state == "off"


def test_one_tick_after_a_long_idle_during_a_message_turns_off(default):
    """A tick at time t must leave the token as it should be at t: 70 s after the last key
    the token is off, however few ticks happened in between."""
    board, token = default
    press(token, "PWR")
    press(token, "OK")  # PIN LEN
    assert later(board, token, 70_000) == ("", "")
    assert token.ui.state == "off"


def test_a_large_clock_jump_with_one_tick_turns_off(default):
    board, token = default
    _reach(token, "response")
    assert later(board, token, 10 ** 9) == ("", "")


# -- the power key and the idle time, over any keys --------------------------------

ANY_KEYS = st.lists(st.sampled_from(DIGITS + ["OK", "C", "PWR", "F1", "F2", "F3", "F4"]), max_size=40)


@given(before=ANY_KEYS, pin=st.text(alphabet="0123456789", min_size=4, max_size=4),
       challenge=st.text(alphabet="0123456789", min_size=6, max_size=6))
@settings(max_examples=400 if FUZZ else 60, deadline=None)
def test_power_from_any_screen_asks_for_the_pin_and_forgets_what_was_keyed(before, pin, challenge):
    with tempfile.TemporaryDirectory(prefix="dsc-power-") as state_dir:
        board, token = new_token(state_dir)
        provision(board, token)
        press(token, *before)
        assert press(token, "PWR") == ("PIN>", "")
        assert token.ui.state == "pin" and token.ui.entered == 0
        # Only what is keyed from here counts: the PIN and challenge give their own response.
        type_digits(token, pin)
        assert press(token, "OK") == ("CHALLNG>", "")
        type_digits(token, challenge)
        assert press(token, "OK") == (ocra(DEFAULT_SUITE, KEY, challenge, pin=pin), "")


@given(steps=st.lists(st.tuples(st.sampled_from(DIGITS + ["OK", "C", "PWR"]), st.integers(0, 59_999)), max_size=30),
       timeout=st.integers(10, 120))
@settings(max_examples=300 if FUZZ else 50, deadline=None)
def test_the_token_turns_off_only_after_the_idle_time(steps, timeout):
    """Once on, no key turns the token off: only `timeout` seconds without a key do."""
    with tempfile.TemporaryDirectory(prefix="dsc-idle-") as state_dir:
        board, token = new_token(state_dir)
        provision(board, token, timeout=timeout)
        press(token, "PWR")
        for k, gap in steps:
            later(board, token, gap % (timeout * 1000))
            assert token.ui.state != "off"
            press(token, k)
            assert token.ui.state != "off", "the %s key turned the token off" % k
        later(board, token, timeout * 1000 - 1)
        assert token.ui.state != "off"
        assert later(board, token, 1) == ("", "")
        assert token.ui.state == "off"


# -- the random key masher -----------------------------------------------------

# Weighted: digits dominate, then OK and C, PWR and the letter keys rarer (F1, the keypad's
# A, starts signing at the first prompt; F2-F4 do nothing).
KEYS = st.sampled_from(DIGITS + ["OK"] * 3 + ["C"] * 2 + ["PWR", "F1", "F1", "F2", "F3", "F4"])
SIGNING_LIMITS = {"challenge": 6, "amount": 12, "destination": 8}  # docs/protocol.md "Signing"


def signing_suite(suite):
    """The login suite with its question replaced by QA26 (docs/protocol.md "Signing")."""
    head, _, inputs = suite.rpartition(":")
    return head + ":" + "-".join("QA26" if item[0] == "Q" else item for item in inputs.split("-"))


def amount_lines(entry):
    """AMOUNT> and up to 8 digits; from 9 digits AMT> and the first ones on line 1, the last 8 on line 2."""
    return ("AMOUNT>", entry) if len(entry) <= 8 else ("AMT>" + entry[:-8], entry[-8:])
ADVANCE = st.one_of(
    st.integers(0, 2_000),
    st.integers(0, 2_000),
    st.integers(0, 70_000),
    st.sampled_from([1_499, 1_500, 9_999, 10_000, 59_999, 60_000]),
)
MACHINE_SUITES = [DEFAULT_SUITE, NOPIN_SUITE, COUNTER_SUITE, "OCRA-1:HOTP-SHA1-6:QN04-PSHA256",
                  "OCRA-1:HOTP-SHA512-10:C-QN09", "OCRA-1:HOTP-SHA1-8:QN12-PSHA512"]


class KeyMasher(RuleBasedStateMachine):
    """A model of the state table in docs/firmware.md, checked against the token."""

    @initialize(key=st.binary(min_size=16, max_size=64), suite=st.sampled_from(MACHINE_SUITES),
                pinlen=st.integers(4, 8), timeout=st.integers(10, 120),
                counter=st.integers(0, 2 ** 32))
    def setup(self, key, suite, pinlen, timeout, counter):
        self.dir = tempfile.mkdtemp(prefix="dsc-masher-")
        self.board, self.token = new_token(self.dir)
        args = {"suite": suite, "pinlen": pinlen, "timeout": timeout}
        parsed = parse_suite(suite)
        if parsed["counter"]:
            args["counter"] = counter
        provision(self.board, self.token, key=key, **args)
        self.board.take_sent()
        self.key, self.suite, self.parsed = key, suite, parsed
        self.pinlen = pinlen if parsed["pin_hash"] else 0
        self.timeout_ms = timeout * 1000
        self.counter = counter
        self.now = 0
        self.state = "off"
        self.entry = ""  # digits at the current prompt
        self.pin = None  # the PIN committed since power-on
        self.challenge = None
        self.message = None  # (line1, line2, prompt to return to, shown at)
        self.last_key = 0
        self.responses = 0
        self.signing = False
        self.fields = []  # a signature's challenge and amount, once keyed
        self.signatures = 0

    def teardown(self):
        if getattr(self, "dir", None):
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- model transitions --

    def _prompt(self):
        return "pin" if self.pinlen else "challenge"

    def _off(self):
        self.state, self.entry, self.pin, self.challenge, self.message = "off", "", None, None, None
        self.signing, self.fields = False, []

    def _limit(self):
        s = self.state
        if s == "pin":
            return self.pinlen
        return SIGNING_LIMITS[s] if self.signing else self.parsed["qlen"]

    def _refuse(self, line1, line2):
        self.message = (line1, line2, self.state, self.now)
        self.state, self.entry = "message", ""

    def _model_letter(self, k):
        """F1 at the first prompt (PIN>, or CHALLNG> without a PIN) starts signing; nothing else does anything."""
        s = self.state
        if k != "F1" or self.signing or not (s == "pin" or (s == "challenge" and not self.pinlen)):
            return False
        self.signing = True
        if s == "challenge":
            self.message = ("SIGNING", "", "challenge", self.now)
            self.state, self.entry = "message", ""
        return True

    def _model_signing_ok(self):
        s, entry = self.state, self.entry
        if s == "challenge" and len(entry) < 6:
            self._refuse("CHAL LEN", "6 DIGITS")
        elif s == "challenge":
            self.fields, self.state, self.entry = [entry], "amount", ""
        elif not entry:
            self._refuse("AMOUNT" if s == "amount" else "DEST", "EMPTY")
        elif s == "amount" and int(entry) == 0:
            self._refuse("AMOUNT", "NOT ZERO")
        elif s == "amount":
            self.fields, self.state, self.entry = self.fields + [entry], "destination", ""
        else:
            self.challenge = self.fields[0] + "%012d" % int(self.fields[1]) + "%08d" % int(entry)
            self.state = "response"

    def _model_key(self, k):
        s = self.state
        if k == "PWR":  # on, or on again from the start, whatever the screen
            self._off()
            self.state = self._prompt()
            return
        if s == "off":
            return
        if s == "message":
            self.state, self.entry, self.message = self.message[2], "", None
            return
        if s == "response":
            if k == "OK":
                self.state, self.entry, self.fields = "challenge", "", []
            return
        limit = self._limit()
        if k in DIGITS:
            if len(self.entry) < limit:
                self.entry += k
        elif k == "C":  # a signature's field is cleared whole; the PIN and a login challenge lose a digit
            self.entry = "" if self.signing and s != "pin" else self.entry[:-1]
        elif k == "OK" and self.signing and s != "pin":
            self._model_signing_ok()
        elif k == "OK":
            if len(self.entry) < limit:
                text = "PIN LEN" if s == "pin" else "CHAL LEN"
                count = "%d DIGITS" % limit if limit < 10 else "%d DIGS" % limit
                self.message = (text, count, s, self.now)
                self.state, self.entry = "message", ""
            elif s == "pin":
                self.pin, self.state, self.entry = self.entry, "challenge", ""
            else:
                assert self.pinlen == 0 or (self.pin is not None and len(self.pin) == self.pinlen)
                self.challenge, self.state = self.entry, "response"

    def _model_time(self):
        if self.state == "off":
            return
        if self.now - self.last_key >= self.timeout_ms:
            self._off()
        elif self.state == "message" and self.now - self.message[3] >= 1500:
            self.state, self.entry, self.message = self.message[2], "", None

    def _expected_lines(self):
        s = self.state
        if s == "off":
            return ("", "")
        if s == "pin":
            return ("SIGN PIN" if self.signing else "PIN>", "*" * len(self.entry))
        if s == "challenge":
            return ("CHALLNG>", self.entry[-8:])
        if s == "amount":
            return amount_lines(self.entry)
        if s == "destination":
            return ("DEST>", self.entry)
        if s == "message":
            return self.message[:2]
        return None  # response: checked when it appears

    # -- rules --

    def _press(self, k):
        was = self.state
        if k.startswith("F"):
            if self._model_letter(k):
                self.last_key = self.now
        else:
            if was != "off" or k == "PWR":
                self.last_key = self.now
            self._model_key(k)
        self.token.key(k)
        if self.state == "response" and was != "response":
            expected = ocra(signing_suite(self.suite) if self.signing else self.suite, self.key, self.challenge,
                            counter=self.counter if self.parsed["counter"] else None,
                            pin=self.pin if self.pinlen else None)
            if self.parsed["counter"]:
                self.counter += 1
            if not self.signing:
                self.response_lines = (expected[:8], expected[8:])
                self.responses += 1
                event("responses: %s" % min(self.responses, 3))
            else:
                self.response_lines = ("SIGNED", expected) if len(expected) <= 8 else (expected[:8], expected[8:] + " SIG")
                self.signatures += 1
                event("signatures: %s" % min(self.signatures, 3))
        self.check_against_model()

    @rule()
    def sign(self):
        """A person who signs: the power key, then A."""
        self._press("PWR")
        self._press("F1")

    @rule(k=KEYS)
    def press_key(self, k):
        self._press(k)

    @rule(digits=st.lists(st.sampled_from(DIGITS), min_size=1, max_size=12))
    def type_digits(self, digits):
        for d in digits:
            self._press(d)

    @rule(digits=st.text(alphabet="0123456789", min_size=64, max_size=64))
    def complete_entry(self, digits):
        """A person who wants a response: get to a prompt, fill it up, press OK."""
        if self.state == "off":
            self._press("PWR")
        elif self.state == "response":
            self._press("OK")
        elif self.state == "message":
            self._press("C")
        if self.state in ("pin", "challenge", "amount", "destination"):
            for d in digits[: self._limit() - len(self.entry)]:
                self._press(d)
            self._press("OK")

    @precondition(lambda self: self.state in ("pin", "challenge"))
    @rule(data=st.data())
    def submit_short_entry(self, data):
        """A person who miscounts: press OK with too few digits."""
        limit = self._limit()
        while len(self.entry) >= limit:
            self._press("C")  # on a signature's challenge, one C clears it
        extra = data.draw(st.integers(0, limit - 1 - len(self.entry)), label="extra digits")
        for _ in range(extra):
            self._press(data.draw(st.sampled_from(DIGITS), label="digit"))
        self._press("OK")
        assert self.state == "message"

    def _deadlines(self):
        """When the model says the screen must change next (message end, idle off)."""
        if self.state == "off":
            return []
        times = [self.last_key + self.timeout_ms]
        if self.state == "message":
            times.append(self.message[3] + 1500)
        return times

    @rule(ms=ADVANCE)
    def advance(self, ms):
        """Time passes. The token ticks at least once a second, as its main loop does;
        the test also looks 1 ms before and at every deadline of the model."""
        target = self.now + ms
        while True:
            stops = [t for d in self._deadlines() for t in (d - 1, d) if self.now < t <= target]
            step_to = min([self.now + 1_000, target] + stops)
            self.board.advance(step_to - self.now)
            self.now = step_to
            self._model_time()
            self.token.tick()
            self.check_against_model()
            if self.now >= target:
                break

    @rule(ms=ADVANCE)
    def jump(self, ms):
        """Time passes with a single tick at the end (a long light sleep)."""
        self.now += ms
        self.board.advance(ms)
        self._model_time()
        self.token.tick()
        self.check_against_model()

    @precondition(lambda self: self.parsed["counter"] or self.state == "off")
    @rule()
    def reboot(self):
        """Power cut and restart on the same flash."""
        self.board, self.token = new_token(self.dir)
        self.now, self.last_key = 0, 0
        self._off()
        assert self.token.config.key == self.key
        if self.parsed["counter"]:
            assert self.token.config.counter == self.counter
        self.check_against_model()

    # -- checks --

    def check_against_model(self):
        lines = screen(self.token)
        assert self.token.ui.state == self.state, (self.token.ui.state, self.state, lines)
        assert self.token.ui.signing == self.signing
        if self.state in ("pin", "challenge", "amount", "destination"):
            assert self.token.ui.entered == len(self.entry) <= self._limit()
        if self.state == "response":
            assert lines == self.response_lines
        else:
            assert lines == self._expected_lines()
        if self.state == "pin":
            assert set(lines[1]) <= {"*"}
        text = "".join(lines)
        assert self.key.hex() not in text.lower() and self.key.hex().upper() not in text
        assert self.board.take_sent() == b"", "the token sent something unasked"

    @invariant()
    def display_fits(self):
        if hasattr(self, "token"):
            screen(self.token)


KeyMasher.TestCase.settings = settings(
    max_examples=3000 if FUZZ else 100,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_random_key_mashing_matches_the_state_table = KeyMasher.TestCase
