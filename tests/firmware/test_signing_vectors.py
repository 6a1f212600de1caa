"""Transaction signing (issue 19): docs/protocol.md's "Signing" vectors, read from the
doc itself and recomputed here with the `cryptography` package's HMAC, the OCRA data
assembled in this file from RFC 6287 section 5 (suite text, 0x00, the question as 128
bytes, the PIN's hash; dynamic truncation). The project's code (firmware/dsc/signing.py,
the firmware's dsc.ocra, host/ocra.py) must give the same questions and responses.

Properties: a change to the amount or the destination changes the question (the
fields are fixed, so the question gives them back), and no valid login suite signs
with itself.
"""

import pathlib
import re

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dsc import ocra as firmware_ocra
from dsc import signing
from host import ocra as host_ocra
from tests.ocra_reference import parse_suite

PROTOCOL_DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
_HASHES = {"SHA1": hashes.SHA1, "SHA256": hashes.SHA256, "SHA512": hashes.SHA512}


# --- the doc -------------------------------------------------------------------

def signing_section():
    text = PROTOCOL_DOC.read_text(encoding="utf-8")
    start = text.index("\n## Signing")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else len(text)]


def doc_facts():
    """What the Signing section states: key, login suite, PIN, the login example and the suite example."""
    section = signing_section()
    key = re.search(r"key `([0-9a-fA-F]{32,128})`", section).group(1)
    login_suite = re.search(r"login suite `(OCRA-1:[^`]+)`", section).group(1)
    pin = re.search(r"PIN `(\d+)`\s+unless given", section).group(1)
    login_challenge, login_response = re.search(r"login response to `(\d+)` is `(\d+)`", section).groups()
    example_login, example_signing = re.search(r"`(OCRA-1:[^`]+)` signs with `(OCRA-1:[^`]+)`", section).groups()
    return {"key": bytes.fromhex(key), "login_suite": login_suite, "pin": pin,
            "login_challenge": login_challenge, "login_response": login_response,
            "example": (example_login, example_signing)}


def doc_vectors():
    """The vector table's rows: challenge, amount, destination digits, PIN, question, response."""
    pin = doc_facts()["pin"]
    rows = []
    for line in signing_section().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or not re.fullmatch(r"`\d+`", cells[3]):
            continue
        destination = re.match(r"(\d+)", cells[2]).group(1)
        row_pin = re.search(r"PIN `(\d+)`", cells[2])
        rows.append({"challenge": cells[0], "amount": int(cells[1].replace(",", "")), "destination": destination,
                     "pin": row_pin.group(1) if row_pin else pin, "question": cells[3].strip("`"),
                     "response": cells[4].strip("`")})
    return rows


VECTORS = doc_vectors()


def vector_id(row):
    return "%s-%d-%s-pin%s" % (row["challenge"], row["amount"], row["destination"], row["pin"])


# --- an OCRA written here from RFC 6287 section 5, on `cryptography`'s HMAC ------

def ocra_by_rfc(suite, key, question, pin):
    """OCRA for suites 'OCRA-1:HOTP-<hash>-<digits>:Q<N|A><nn>[-P<hash>]' (no counter,
    session or time: the vectors have none)."""
    crypto, data = suite.split(":")[1:]
    _, hash_name, digits = crypto.split("-")
    items = data.split("-")
    assert items[0][:2] in ("QN", "QA") and len(items) <= 2, "this test's OCRA has no " + data
    if items[0][1] == "N":  # the number's hex digits, then '0' digits to 256 (RFC 6287 5.1 and its Appendix A)
        hex_question = "%X" % int(question)
        q = bytes.fromhex((hex_question + "0" * (256 - len(hex_question))))
    else:  # one ASCII byte per character, then zero bytes
        q = question.encode("ascii") + bytes(128 - len(question))
    message = suite.encode("ascii") + b"\x00" + q
    if len(items) == 2:
        assert items[1][0] == "P"
        digest = hashes.Hash(_HASHES[items[1][1:]]())
        digest.update(pin.encode("ascii"))
        message += digest.finalize()
    mac = crypto_hmac.HMAC(key, _HASHES[hash_name]())
    mac.update(message)
    tag = mac.finalize()
    offset = tag[-1] & 0x0F
    number = int.from_bytes(tag[offset:offset + 4], "big") & 0x7FFFFFFF
    return str(number % 10 ** int(digits)).zfill(int(digits))


def question_by_layout(challenge, amount, destination):
    """The doc's layout: 6-digit challenge, amount zero-padded to 12, destination digits zero-padded to 8."""
    return challenge + str(amount).rjust(12, "0") + destination.rjust(8, "0")


# --- the vectors ---------------------------------------------------------------

def test_the_doc_has_the_vectors_the_issue_asks_for():
    """Amount alone and destination alone changed, a short destination, the extremes, another PIN."""
    assert len(VECTORS) >= 7
    base = VECTORS[0]
    assert any(r["amount"] != base["amount"] and r["destination"] == base["destination"] for r in VECTORS)
    assert any(r["amount"] == base["amount"] and r["destination"] != base["destination"] for r in VECTORS)
    assert any(r["pin"] != base["pin"] for r in VECTORS)
    assert len({r["response"] for r in VECTORS if r["pin"] == base["pin"]}) == len(
        [r for r in VECTORS if r["pin"] == base["pin"]])


def test_the_doc_login_example_and_signing_suite():
    facts = doc_facts()
    assert ocra_by_rfc(facts["login_suite"], facts["key"], facts["login_challenge"], facts["pin"]) == facts["login_response"]
    login, signing_suite = facts["example"]
    assert signing.suite_for(login) == signing_suite
    assert signing_suite.split(":")[2].split("-")[0] == "QA26"
    assert signing.suite_for(facts["login_suite"]) != facts["login_suite"]


@pytest.mark.parametrize("row", VECTORS, ids=vector_id)
def test_signing_vector_by_an_independent_ocra(row):
    facts = doc_facts()
    suite = signing.suite_for(facts["login_suite"])
    assert question_by_layout(row["challenge"], row["amount"], row["destination"]) == row["question"]
    assert ocra_by_rfc(suite, facts["key"], row["question"], row["pin"]) == row["response"]


@pytest.mark.parametrize("row", VECTORS, ids=vector_id)
def test_signing_vector_by_the_project_code(row):
    facts = doc_facts()
    suite = signing.suite_for(facts["login_suite"])
    question = signing.question(row["challenge"], row["amount"], row["destination"])
    assert question == row["question"]
    assert signing.question(row["challenge"], str(row["amount"]), row["destination"]) == question  # digits as keyed
    assert firmware_ocra.Suite(suite).response(facts["key"], question, pin=row["pin"]) == row["response"]
    assert host_ocra.Suite(suite).response(facts["key"], question, pin=row["pin"]) == row["response"]
    check = host_ocra.Suite(suite).verifier(facts["key"], pin=row["pin"])
    assert check.verify(question, row["response"])


@pytest.mark.parametrize("row", VECTORS, ids=vector_id)
def test_a_signature_is_not_the_login_response_to_its_challenge(row):
    facts = doc_facts()
    login = ocra_by_rfc(facts["login_suite"], facts["key"], row["challenge"], row["pin"])
    assert login != row["response"]
    assert not host_ocra.Suite(facts["login_suite"]).verifier(facts["key"], pin=row["pin"]).verify(
        row["challenge"], row["response"])


# --- properties ----------------------------------------------------------------

challenges = st.text("0123456789", min_size=6, max_size=6)
amounts = st.integers(1, 999_999_999_999)
destinations = st.text("0123456789", min_size=1, max_size=8)


@settings(max_examples=500, deadline=None)
@given(challenges, amounts, destinations, challenges, amounts, destinations)
def test_property_the_question_changes_with_any_field(c1, a1, d1, c2, a2, d2):
    """Fixed fields: the same question means the same challenge, amount and destination
    (the destination as the number it keys: '0042' and '42' are one field value)."""
    q1, q2 = signing.question(c1, a1, d1), signing.question(c2, a2, d2)
    assert len(q1) == 26 and q1.isdigit()
    assert (q1 == q2) == ((c1, a1, int(d1)) == (c2, a2, int(d2)))
    assert (q1[:6], int(q1[6:18]), int(q1[18:])) == (c1, a1, int(d1))


@settings(max_examples=300, deadline=None)
@given(challenges, amounts, destinations, st.integers(1, 999_999_999_999), st.text("0123456789", min_size=1, max_size=8))
def test_property_another_amount_or_destination_changes_the_question(challenge, amount, destination, other_amount,
                                                                   other_destination):
    question = signing.question(challenge, amount, destination)
    if other_amount != amount:
        assert signing.question(challenge, other_amount, destination) != question
    if int(other_destination) != int(destination):
        assert signing.question(challenge, amount, other_destination) != question


def assert_not_enrollable(login_suite):
    """A login suite with no signing suite must be one no token can be enrolled with."""
    import tempfile

    from host.verifier import service
    from host.verifier.errors import VerifierError

    with tempfile.TemporaryDirectory() as tmp:
        db, keyring = tmp + "/v.db", tmp + "/master.key"
        service.init_db(db, keyring)
        verifier = service.Verifier(db, keyring)
        try:
            verifier.add_user("alice", "correct horse battery")
            with pytest.raises(VerifierError):
                verifier.enroll_token("alice", "DSC00001", bytes(32), "1234", suite=login_suite, active=True)
        finally:
            verifier.close()


@st.composite
def login_suites(draw):
    """Any suite RFC 6287's grammar allows (as tests/ocra_reference.py and the firmware parse it)."""
    items = ["C"] if draw(st.booleans()) else []
    items.append("Q%s%02d" % (draw(st.sampled_from("NAH")), draw(st.integers(4, 64))))
    if draw(st.booleans()):
        items.append("P" + draw(st.sampled_from(sorted(_HASHES))))
    if draw(st.booleans()):
        items.append("S%03d" % draw(st.integers(1, 512)))
    if draw(st.booleans()):
        unit = draw(st.sampled_from("SMH"))
        items.append("T%d%s" % (draw(st.integers(1, 48 if unit == "H" else 59)), unit))
    return "OCRA-1:HOTP-%s-%d:%s" % (draw(st.sampled_from(sorted(_HASHES))), draw(st.integers(4, 10)), "-".join(items))


@settings(max_examples=500, deadline=None)
@given(login_suites())
@example("OCRA-1:HOTP-SHA256-8:QN06-PSHA1")
@example("OCRA-1:HOTP-SHA1-6:QA26")  # a token may be enrolled with it (the verifier takes any suite the token parses)
def test_property_no_login_suite_signs_with_itself(login_suite):
    """The signing suite is valid, differs from the login suite (so a login response
    never passes as a signature, nor the reverse), asks the 26-character ASCII question,
    and keeps the login suite's hash, digits, counter, PIN, session and time. Either
    suite_for gives every login suite another suite, or it refuses the login suites it
    cannot (ValueError), and then the verifier must not enroll a device with them."""
    firmware_ocra.Suite(login_suite)  # the generator makes only suites the token accepts
    try:
        signing_suite = signing.suite_for(login_suite)
    except ValueError:
        assert_not_enrollable(login_suite)
        return
    assert signing_suite != login_suite
    login, signs = parse_suite(login_suite), parse_suite(signing_suite)
    assert (signs["qformat"], signs["qlen"]) == ("A", 26)
    assert {k: v for k, v in signs.items() if k not in ("qformat", "qlen")} == \
        {k: v for k, v in login.items() if k not in ("qformat", "qlen")}
    firmware_ocra.Suite(signing_suite)
