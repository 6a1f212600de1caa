"""Transaction signing on the keypad token (issue 19), from the issue's text and the
keypad spec, as a user sees it: at PIN> the letter key A (its key name `F1`) starts
signing; after the PIN the token asks CHALLNG>, AMOUNT> and DEST>, each OK moves on,
C clears what was keyed, the power key cancels to PIN>; the token shows the 8-digit
signature of docs/protocol.md "Signing".

The expected signatures are docs/protocol.md's vectors (read from the doc by
test_signing_vectors.py) and tests/ocra_reference.py's, never the firmware's own code."""

import pytest

from tests.firmware.test_signing_vectors import VECTORS, vector_id
from tests.firmware.test_ui_property import DEFAULT_SUITE, KEY, new_token, press, provision, screen, type_digits
from tests.ocra_reference import ocra

SIGNING_SUITE = "OCRA-1:HOTP-SHA256-8:QA26-PSHA1"  # DEFAULT_SUITE with its question QA26
SIGN_KEY = "F1"  # the keypad's A
FIELDS = (("CHALLNG>", "challenge"), ("AMOUNT>", "amount"), ("DEST>", "destination"))


@pytest.fixture
def token(tmp_path):
    """A token with the default suite and RFC 6287's 32-byte key (the doc's vectors' key)."""
    board, token = new_token(tmp_path)
    provision(board, token)
    return token


def signature(challenge, amount, destination, pin="1234"):
    question = challenge + str(amount).rjust(12, "0") + destination.rjust(8, "0")
    return ocra(SIGNING_SUITE, KEY, question, pin=pin)


def start_signing(token, pin="1234"):
    assert press(token, "PWR")[0] == "PIN>"
    press(token, SIGN_KEY)
    type_digits(token, pin)
    return press(token, "OK")


def key_fields(token, values):
    """Each field at its own prompt, OK after each: the screen at the end."""
    for (prompt, _), value in zip(FIELDS, values):
        assert screen(token)[0] == prompt, (screen(token), prompt)
        type_digits(token, value)
        press(token, "OK")
    return screen(token)


def shows(lines, code):
    return code in lines or code in "".join(lines).replace(" ", "")


@pytest.mark.parametrize("row", VECTORS, ids=vector_id)
def test_the_keypad_signs_the_docs_vectors(token, row):
    assert start_signing(token, row["pin"])[0] == "CHALLNG>"
    lines = key_fields(token, (row["challenge"], str(row["amount"]), row["destination"]))
    assert shows(lines, row["response"]), lines


def test_each_field_has_its_own_prompt_and_the_signature_differs_from_the_login_response(token):
    start_signing(token)
    seen = []
    for prompt, _ in FIELDS:
        seen.append(screen(token)[0])
        type_digits(token, {"CHALLNG>": "123456", "AMOUNT>": "150000", "DEST>": "4321"}[prompt])
        press(token, "OK")
    assert seen == [prompt for prompt, _ in FIELDS]
    lines = screen(token)
    assert shows(lines, signature("123456", 150000, "4321")), lines
    assert not shows(lines, ocra(DEFAULT_SUITE, KEY, "123456", pin="1234"))


def test_without_the_sign_key_the_token_answers_a_login_as_before(token):
    press(token, "PWR")
    type_digits(token, "1234")
    assert press(token, "OK") == ("CHALLNG>", "")
    type_digits(token, "123456")
    assert press(token, "OK")[0] == ocra(DEFAULT_SUITE, KEY, "123456", pin="1234")


@pytest.mark.parametrize("field", range(3), ids=[p for p, _ in FIELDS])
def test_c_clears_what_was_keyed_in_each_field(token, field):
    """Digits keyed by mistake, cleared with C, then the right ones: the right signature."""
    start_signing(token)
    values = ["123456", "150000", "4321"]
    for i, (prompt, _) in enumerate(FIELDS):
        assert screen(token)[0] == prompt
        if i == field:
            type_digits(token, "98765")
            for _ in range(12):  # C until the field is empty, whether C takes one digit or all
                press(token, "C")
            assert screen(token) == (prompt, "")
        type_digits(token, values[i])
        press(token, "OK")
    assert shows(screen(token), signature(*values))


@pytest.mark.parametrize("field", range(3), ids=[p for p, _ in FIELDS])
def test_the_power_key_cancels_to_the_pin_prompt(token, field):
    start_signing(token)
    for value in ("123456", "150000")[:field]:
        type_digits(token, value)
        press(token, "OK")
    assert screen(token)[0] == FIELDS[field][0]
    type_digits(token, "12")
    assert press(token, "PWR") == ("PIN>", "")
    # nothing carries over: a login from here answers the login challenge
    type_digits(token, "1234")
    assert press(token, "OK") == ("CHALLNG>", "")
    type_digits(token, "654321")
    assert press(token, "OK")[0] == ocra(DEFAULT_SUITE, KEY, "654321", pin="1234")


@pytest.mark.parametrize("amount,destination", [(150001, "4321"), (150000, "4322"), (1500000, "4321"),
                                                (150000, "14321")])
def test_any_other_amount_or_destination_gives_another_signature(token, amount, destination):
    start_signing(token)
    lines = key_fields(token, ("123456", str(amount), destination))
    assert shows(lines, signature("123456", amount, destination)), lines
    assert not shows(lines, signature("123456", 150000, "4321"))
