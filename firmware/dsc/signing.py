"""Transaction signing (dynamic linking): the OCRA question that binds a withdrawal's
amount and destination into the response. The one rule for the token, the verifier
and the phone (host/mobile/static/signing.js follows it); docs/protocol.md, "Signing",
says it with test vectors.

    suite_for("OCRA-1:HOTP-SHA256-8:QN06-PSHA1")  -> "OCRA-1:HOTP-SHA256-8:QA26-PSHA1"
    question("123456", 150000, "4321")            -> "123456" + "000000150000" + "00004321"

- The signing suite is the device's login suite with its question replaced by QA26,
  so the suite text, which OCRA hashes first, differs: a signature never passes as a
  login response, nor a login response as a signature.
- The question is 26 ASCII digits in fixed fields: the 6-digit challenge, the amount
  in minor units zero-padded to 12 digits, the destination's digits (its last 8, as
  the user keys them) zero-padded to 8. Fixed fields make the fields -> question map
  one-to-one. QA (ASCII), not QN: OCRA turns a QN question into the hex of its number,
  right-padded with zero bytes, so numbers 16 or 256 times apart could share a question.
"""

CHALLENGE_DIGITS = 6
AMOUNT_DIGITS = 12
DESTINATION_DIGITS = 8
QUESTION = "QA" + str(CHALLENGE_DIGITS + AMOUNT_DIGITS + DESTINATION_DIGITS)
AMOUNT_MAX = 10 ** AMOUNT_DIGITS - 1


def _digits(text, low, high, what):
    if not isinstance(text, str) or not low <= len(text) <= high:
        raise ValueError(what + " must be " + str(low) + " to " + str(high) + " digits")
    for c in text:
        if not "0" <= c <= "9":
            raise ValueError(what + " must be digits")
    return text


def _padded(text, width):
    return "0" * (width - len(text)) + text  # MicroPython's str has no zfill


def amount_digits(amount):
    """The amount (an int, or the digits keyed) as its 12-digit field; 1 to AMOUNT_MAX."""
    if isinstance(amount, str):
        amount = int(_digits(amount, 1, AMOUNT_DIGITS, "amount"))
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= AMOUNT_MAX:
        raise ValueError("amount must be 1 to " + str(AMOUNT_MAX))
    return _padded(str(amount), AMOUNT_DIGITS)


def destination_digits(text):
    """The digits a user keys for a destination: its last DESTINATION_DIGITS digits (1 to 8 of them)."""
    return _digits(text, 1, DESTINATION_DIGITS, "destination")


def question(challenge, amount, destination):
    """The 26-digit QA question for a challenge, an amount and a destination's digits."""
    return (_digits(challenge, CHALLENGE_DIGITS, CHALLENGE_DIGITS, "challenge") + amount_digits(amount)
            + _padded(destination_digits(destination), DESTINATION_DIGITS))


def suite_for(login_suite):
    """The signing suite of a device whose login suite is `login_suite` (its question
    replaced by QA26; its hash, digits, counter, PIN, session and time inputs kept)."""
    parts = login_suite.split(":")
    if len(parts) != 3:
        raise ValueError("suite must look like OCRA-1:HOTP-SHA1-6:QN08")
    items = parts[2].split("-")
    found = False
    for i in range(len(items)):
        if items[i][:1] == "Q":
            if items[i] == QUESTION:  # its login responses would be signatures
                raise ValueError("a login suite must not ask the signing question " + QUESTION)
            items[i] = QUESTION
            found = True
    if not found:
        raise ValueError("suite needs a question QN, QA or QH with 2 digits")
    return parts[0] + ":" + parts[1] + ":" + "-".join(items)
