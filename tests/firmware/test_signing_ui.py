"""Signing on the keypad (issue 19), screen by screen (docs/firmware.md, "Token UI"):
A (the key F1) at the first prompt starts it, the token asks CHALLNG>, AMOUNT> and
DEST>, C clears a field, OK moves on, the power key cancels, and the signature shown
is docs/protocol.md's "Signing" as tests/ocra_reference.py computes it (never the
firmware's own code). The random key masher of test_ui_property.py covers the same
screens with any keys and time."""

import pytest

from tests.firmware.test_ui_property import (COUNTER_SUITE, DEFAULT_SUITE, KEY, NOPIN_SUITE, later, new_token, press,
                                             provision, request, screen, type_digits)
from tests.ocra_reference import ocra


def signing_suite(login_suite):
    """The login suite with its question replaced by QA26, written out here from the doc."""
    head, _, inputs = login_suite.rpartition(":")
    return head + ":" + "-".join("QA26" if item[0] == "Q" else item for item in inputs.split("-"))


def signature(challenge, amount, destination, suite=DEFAULT_SUITE, pin="1234", key=KEY, **inputs):
    question = challenge + "%012d" % int(amount) + "%08d" % int(destination)
    return ocra(signing_suite(suite), key, question, pin=pin, **inputs)


@pytest.fixture
def token(tmp_path):
    board, token = new_token(tmp_path)
    provision(board, token)
    return token


def sign_from_pin(token, pin="1234"):
    """PWR, A, the PIN and OK: the signing challenge prompt."""
    press(token, "PWR")
    assert press(token, "F1") == ("SIGN PIN", "")
    type_digits(token, pin)
    return press(token, "OK")


def key_field(token, digits):
    type_digits(token, digits)
    return press(token, "OK")


def test_a_starts_signing_and_each_field_has_its_own_prompt(token):
    assert press(token, "PWR") == ("PIN>", "")
    assert token.ui.signing is False
    assert press(token, "F1") == ("SIGN PIN", ""), "the display says the token is signing"
    assert type_digits(token, "12") == ("SIGN PIN", "**"), "the PIN stays masked"
    type_digits(token, "34")
    assert press(token, "OK") == ("CHALLNG>", "")
    assert key_field(token, "123456") == ("AMOUNT>", "")
    assert token.ui.state == "amount" and token.ui.signing
    assert key_field(token, "150000") == ("DEST>", "")
    assert token.ui.state == "destination"
    assert key_field(token, "12345678") == ("SIGNED", "02904355"), "docs/protocol.md's first vector"
    assert token.ui.state == "response"


def test_a_pressed_while_keying_the_pin_keeps_the_digits_keyed(token):
    press(token, "PWR")
    type_digits(token, "12")
    assert press(token, "F1") == ("SIGN PIN", "**")
    type_digits(token, "34")
    press(token, "OK")
    key_field(token, "123456")
    key_field(token, "150000")
    assert key_field(token, "4321")[1] == signature("123456", 150000, "4321")


def test_a_twelve_digit_amount_is_all_on_the_display_while_it_is_keyed(token):
    sign_from_pin(token)
    key_field(token, "999999")
    assert type_digits(token, "12345678") == ("AMOUNT>", "12345678")
    assert type_digits(token, "9") == ("AMT>1", "23456789")
    assert type_digits(token, "012") == ("AMT>1234", "56789012")
    assert type_digits(token, "3") == ("AMT>1234", "56789012"), "a 13th digit is not taken"
    assert press(token, "OK") == ("DEST>", "")
    assert key_field(token, "99999999")[1] == signature("999999", 123456789012, "99999999")


@pytest.mark.parametrize("field", range(3))
def test_c_clears_the_whole_field_on_each_signing_prompt(token, field):
    sign_from_pin(token)
    values = ["123456", "150000", "4321"]
    for i, value in enumerate(values):
        prompt = screen(token)[0]
        if i == field:
            type_digits(token, "987")
            assert press(token, "C") == (prompt, ""), "one C clears what was keyed"
            assert token.ui.entered == 0
        key_field(token, value)
    assert screen(token) == ("SIGNED", signature(*values))


def test_c_at_the_signing_pin_prompt_still_deletes_one_digit(token):
    press(token, "PWR", "F1")
    type_digits(token, "123")
    assert press(token, "C") == ("SIGN PIN", "**")


@pytest.mark.parametrize("prompt,keyed,message", [
    ("CHALLNG>", "", ("CHAL LEN", "6 DIGITS")),
    ("CHALLNG>", "12345", ("CHAL LEN", "6 DIGITS")),
    ("AMOUNT>", "", ("AMOUNT", "EMPTY")),
    ("AMOUNT>", "000", ("AMOUNT", "NOT ZERO")),
    ("DEST>", "", ("DEST", "EMPTY")),
])
def test_an_empty_or_invalid_field_is_refused_with_a_message_and_keyed_again(token, prompt, keyed, message):
    board = token.board
    sign_from_pin(token)
    for value in {"CHALLNG>": [], "AMOUNT>": ["123456"], "DEST>": ["123456", "150000"]}[prompt]:
        key_field(token, value)
    assert screen(token)[0] == prompt
    assert key_field(token, keyed) == message
    assert token.ui.state == "message"
    assert later(board, token, 1500) == (prompt, ""), "back to the same prompt, its field empty"
    # what was keyed before the refused field still counts
    for value in ["123456", "150000", "4321"][["CHALLNG>", "AMOUNT>", "DEST>"].index(prompt):]:
        key_field(token, value)
    assert screen(token) == ("SIGNED", signature("123456", 150000, "4321"))


def test_leading_zeros_of_the_amount_and_destination_are_the_same_field(token):
    sign_from_pin(token)
    key_field(token, "123456")
    key_field(token, "000150000")
    assert key_field(token, "00004321")[1] == signature("123456", 150000, "4321")


@pytest.mark.parametrize("at", ["SIGN PIN", "CHALLNG>", "AMOUNT>", "DEST>", "SIGNED"])
def test_the_power_key_cancels_signing_from_any_of_its_screens(token, at):
    press(token, "PWR", "F1")
    for step in ["1234", "123456", "150000", "4321"][:["SIGN PIN", "CHALLNG>", "AMOUNT>", "DEST>", "SIGNED"].index(at)]:
        key_field(token, step)
    assert screen(token)[0] == at
    type_digits(token, "9")
    assert press(token, "PWR") == ("PIN>", "")
    assert token.ui.signing is False and token.ui.entered == 0
    type_digits(token, "1234")
    press(token, "OK")
    assert key_field(token, "123456") == (ocra(DEFAULT_SUITE, KEY, "123456", pin="1234"), ""), "a login again"


def test_ok_on_the_signature_asks_for_the_next_signatures_challenge_with_the_same_pin(token):
    sign_from_pin(token, "5678")
    for value in ("123456", "150000", "12345678"):
        key_field(token, value)
    assert screen(token) == ("SIGNED", "21477087"), "docs/protocol.md's vector for PIN 5678"
    assert press(token, "OK") == ("CHALLNG>", "")
    assert token.ui.signing
    for value in ("123456", "150001"):
        key_field(token, value)
    assert key_field(token, "12345678") == ("SIGNED", signature("123456", 150001, "12345678", pin="5678"))


@pytest.mark.parametrize("where", ["off", "nokey", "challenge", "response", "amount"])
def test_a_elsewhere_does_nothing(tmp_path, where):
    board, token = new_token(tmp_path)
    if where == "nokey":
        press(token, "PWR")
    elif where != "off":
        provision(board, token)
        press(token, "PWR")
        if where == "amount":
            press(token, "F1")
        key_field(token, "1234")
        if where in ("response", "amount"):
            key_field(token, "123456")
    before, state, signing = screen(token), token.ui.state, token.ui.signing
    for k in ("F1", "F2", "F3", "F4"):
        assert press(token, k) == before
    assert (token.ui.state, token.ui.signing) == (state, signing)


def test_the_other_letter_keys_do_nothing_at_the_pin_prompt(token):
    press(token, "PWR")
    for k in ("F2", "F3", "F4"):
        assert press(token, k) == ("PIN>", "")
    assert not token.ui.signing


def test_a_suite_without_a_pin_signs_from_its_first_challenge_prompt(tmp_path):
    board, token = new_token(tmp_path)
    provision(board, token, suite=NOPIN_SUITE)
    assert press(token, "PWR") == ("CHALLNG>", "")
    assert press(token, "F1") == ("SIGNING", ""), "the display says the token is signing"
    assert later(board, token, 1500) == ("CHALLNG>", "")
    assert token.ui.signing
    key_field(token, "123456")
    key_field(token, "150000")
    # a 6-digit suite signs with 6 digits
    assert key_field(token, "4321") == ("SIGNED", signature("123456", 150000, "4321", NOPIN_SUITE, pin=None))


def test_a_ten_digit_signature_is_marked_too(tmp_path):
    suite = "OCRA-1:HOTP-SHA512-10:QN08-PSHA256"
    board, token = new_token(tmp_path)
    provision(board, token, suite=suite)
    sign_from_pin(token)
    key_field(token, "123456")
    key_field(token, "1")
    expected = signature("123456", 1, "0", suite)
    assert key_field(token, "0") == (expected[:8], expected[8:] + " SIG")


def test_a_counter_suite_signs_with_the_next_counter_and_stores_it(tmp_path):
    board, token = new_token(tmp_path)
    provision(board, token, suite=COUNTER_SUITE, counter=41)
    sign_from_pin(token)
    for value in ("123456", "150000"):
        key_field(token, value)
    assert key_field(token, "4321")[1] == signature("123456", 150000, "4321", COUNTER_SUITE, counter=41)
    assert token.config.counter == 42
    press(token, "PWR")
    type_digits(token, "1234")
    press(token, "OK")
    assert key_field(token, "123456")[0] == ocra(COUNTER_SUITE, KEY, "123456", counter=42, pin="1234")


def test_a_token_is_never_provisioned_with_the_signing_question_as_its_login_suite(tmp_path):
    """Its signatures would be login responses: the keypad enters digits, so a QA26 login suite is refused."""
    board, token = new_token(tmp_path)
    replies = request(board, token, "provision key=%s suite=OCRA-1:HOTP-SHA256-8:QA26-PSHA1" % KEY.hex())
    assert replies[0].startswith("ERR provision bad-argument") and token.config.state == "blank"


def test_signing_ends_at_the_idle_timeout_like_every_screen(token):
    board = token.board
    sign_from_pin(token)
    key_field(token, "123456")
    later(board, token, 59_999)
    assert token.ui.state == "amount"
    assert later(board, token, 1) == ("", "")
    assert press(token, "PWR") == ("PIN>", ""), "not signing any more"


def test_the_debug_link_presses_a_and_says_when_the_token_is_signing(token):
    board = token.board
    assert request(board, token, "press keys=PWR,F1,1,2,3,4,OK,1,2,3,4,5,6,OK") == ["OK press count=14"]
    assert request(board, token, "state") == ["OK state ui=amount entered=0 signing=1"]
    request(board, token, "press keys=1,5,0,0,0,0,OK")
    assert request(board, token, "state") == ["OK state ui=destination entered=0 signing=1"]
    request(board, token, "press keys=4,3,2,1,OK")
    assert request(board, token, "display")[0].startswith(
        "OK display line1=SIGNED line2=%s " % signature("123456", 150000, "4321"))
    request(board, token, "press keys=PWR")
    assert request(board, token, "state") == ["OK state ui=pin entered=0 signing=0"]
    assert request(board, token, "press keys=F5")[0].startswith("ERR press bad-argument")
