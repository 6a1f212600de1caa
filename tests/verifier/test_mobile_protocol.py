"""OpenDSC Mobile's protocol on the server (host/verifier/mobile.py), against an
app written here from docs/mobile.md with what WebCrypto gives a page: raw
P-256 points, P1363 signatures, HKDF and AES-GCM."""

import hashlib
import json
import os

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from host.verifier import mobile
from host.verifier.errors import VerifierError
from host.verifier.kinds import KINDS, MOBILE
from tests.ocra_reference import ocra

SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"


class App:
    """The phone's side, as docs/mobile.md has the PWA do it."""

    def __init__(self):
        self.ecdh = ec.generate_private_key(ec.SECP256R1())
        self.device = ec.generate_private_key(ec.SECP256R1())

    def ecdh_public(self):
        return mobile.raw_point(self.ecdh.public_key())

    def device_public(self):
        return mobile.raw_point(self.device.public_key())

    def derive(self, server_public, activation_id):
        peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), server_public)
        return mobile.derive(self.ecdh.exchange(ec.ECDH(), peer), self.ecdh_public(), server_public, activation_id)

    def seal_pin(self, pin_key, activation_id, pin):
        nonce = os.urandom(12)
        aad = b"OpenDSC mobile v1 pin " + activation_id.encode()
        return nonce + AESGCM(pin_key).encrypt(nonce, hashlib.sha1(pin.encode()).digest(), aad)

    def sign(self, message):
        r, s = decode_dss_signature(self.device.sign(message, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")  # WebCrypto's P1363 form


def answer(transaction="T-1", number=42, response="12345678", decision="approve"):
    # Written out in sorted key order, as the app's JavaScript writes it.
    return '{"decision":"%s","number":%d,"response":"%s","transaction":"%s"}' % (decision, number, response, transaction)


def test_both_sides_derive_the_same_ocra_key_without_sending_it():
    app = App()
    server_public, ocra_key, pin_key = mobile.agree(app.ecdh_public(), "A-1")
    assert app.derive(server_public, "A-1") == (ocra_key, pin_key)
    assert len(ocra_key) == 32 and ocra_key != pin_key
    # The same response on both sides, with the PIN as an input, as on the hardware token.
    app_key, _ = app.derive(server_public, "A-1")
    assert ocra(SUITE, app_key, "123456", pin="2468") == ocra(SUITE, ocra_key, "123456", pin="2468")
    # Nothing that crossed the network holds the key.
    assert ocra_key not in server_public + app.ecdh_public() + app.device_public()


def test_each_activation_gets_its_own_key():
    app = App()
    first = mobile.agree(app.ecdh_public(), "A-1")
    second = mobile.agree(app.ecdh_public(), "A-1")
    assert first[1] != second[1], "a fresh server key each time"
    server_public, ocra_key, _ = first
    assert app.derive(server_public, "A-2")[0] != ocra_key, "bound to the activation id"


@pytest.mark.parametrize("raw", [b"", b"\x04" + b"\x00" * 64, b"\x02" + bytes(range(32)), bytes(range(65)),
                                 b"\x04" + b"\xff" * 64],
                         ids=["empty", "zero-point", "compressed", "no-prefix", "off-curve"])
def test_a_key_that_is_not_a_p256_point_is_refused(raw):
    with pytest.raises(VerifierError) as e:
        mobile.agree(raw, "A-1")
    assert e.value.code == "bad-ecdh"


def test_the_pin_hash_arrives_sealed_and_only_for_its_activation():
    app = App()
    server_public, _, pin_key = mobile.agree(app.ecdh_public(), "A-1")
    _, app_pin_key = app.derive(server_public, "A-1")
    blob = app.seal_pin(app_pin_key, "A-1", "2468")
    assert mobile.open_pin(pin_key, "A-1", blob) == hashlib.sha1(b"2468").digest()
    assert b"2468" not in blob and hashlib.sha1(b"2468").digest() not in blob
    for bad_id, bad_blob in (("A-2", blob), ("A-1", blob[:-1] + bytes([blob[-1] ^ 1])), ("A-1", blob[:20])):
        with pytest.raises(VerifierError) as e:
            mobile.open_pin(pin_key, bad_id, bad_blob)
        assert e.value.code == "bad-pin"


def test_a_signed_answer_is_checked_against_the_device_key():
    app, other = App(), App()
    message = answer()
    assert mobile.canonical(json.loads(message)) == message.encode(), "the app's spelling is the canonical one"
    mobile.check_signature(app.device_public(), message.encode(), app.sign(message.encode()))
    refusals = [
        (app.device_public(), answer(number=43).encode(), app.sign(message.encode())),  # another message
        (other.device_public(), message.encode(), app.sign(message.encode())),  # another phone's key
        (app.device_public(), message.encode(), app.device.sign(message.encode(), ec.ECDSA(hashes.SHA256()))),  # DER
        (app.device_public(), message.encode(), bytes(64)),
    ]
    sig = bytearray(app.sign(message.encode()))
    sig[10] ^= 1
    refusals.append((app.device_public(), message.encode(), bytes(sig)))
    for key, msg, signature in refusals:
        with pytest.raises(VerifierError) as e:
            mobile.check_signature(key, msg, signature)
        assert e.value.code == "bad-signature"


@pytest.mark.parametrize("message, why", [
    (answer(decision="maybe"), "decision"),
    (answer(number=9), "number"),
    (answer(number=100), "number"),
    ('{"decision":"approve","number":true,"response":"1","transaction":"T"}', "number"),
    (answer(response="12ab5678"), "response"),
    (answer(response=""), "approval"),
    (answer(decision="decline"), "decline"),
    (answer(transaction=""), "transaction"),
    ('{"number":42,"decision":"approve","response":"12345678","transaction":"T-1"}', "canonical"),
    ('{"decision": "approve","number":42,"response":"12345678","transaction":"T-1"}', "canonical"),
    ('{"decision":"approve","extra":1,"number":42,"response":"12345678","transaction":"T-1"}', "canonical"),
    ("[]", "canonical"),
    ("not json", "canonical"),
    ("x" * 2000, "canonical"),
])
def test_a_malformed_answer_is_refused_with_one_error(message, why):
    with pytest.raises(VerifierError) as e:
        mobile.parse_answer(message)
    assert e.value.code == "bad-message" and why in str(e.value), str(e.value)


def withdrawal_answer(**values):
    fields = {"amount": "150000", "destination": "Mizuho Bank 1234567", "destination_digits": "1234567"}
    fields.update(values)
    return mobile.canonical(dict(json.loads(answer()), **fields)).decode()


@pytest.mark.parametrize("message, why", [
    (withdrawal_answer(amount=150000), "amount"), (withdrawal_answer(amount="1,500"), "amount"),
    (withdrawal_answer(amount=""), "amount"), (withdrawal_answer(amount="1" * 13), "amount"),
    (withdrawal_answer(destination=""), "destination"), (withdrawal_answer(destination="x" * 65), "destination"),
    (withdrawal_answer(destination=7), "destination"), (withdrawal_answer(destination_digits="12-4"), "digits"),
    (withdrawal_answer(destination_digits="123456789"), "digits"), (withdrawal_answer(destination_digits=""), "digits"),
    (withdrawal_answer()[:-1] + ',"zz":1}', "canonical"),
    (mobile.canonical({k: v for k, v in json.loads(withdrawal_answer()).items() if k != "destination"}).decode(),
     "canonical"),
])
def test_a_malformed_withdrawal_answer_is_refused_with_one_error(message, why):
    with pytest.raises(VerifierError) as e:
        mobile.parse_answer(message)
    assert e.value.code == "bad-message" and why in str(e.value), str(e.value)
    assert mobile.parse_answer(withdrawal_answer())["destination_digits"] == "1234567"


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(mobile.WITHDRAWAL_FIELDS),
                       st.text(max_size=70) | st.text("0123456789", min_size=1, max_size=13) | st.integers(), min_size=3))
def test_a_withdrawal_answer_keeps_its_values_verbatim_or_is_refused(values):
    def digits(v, most):
        return isinstance(v, str) and 0 < len(v) <= most and all("0" <= c <= "9" for c in v)

    good = (digits(values["amount"], 12) and digits(values["destination_digits"], 8)
            and isinstance(values["destination"], str) and 0 < len(values["destination"]) <= 64)
    try:
        parsed = mobile.parse_answer(withdrawal_answer(**values))
    except VerifierError as e:
        assert e.code == "bad-message" and not good, values
    else:
        assert good and {k: parsed[k] for k in values} == values


def test_a_decline_is_a_signed_message_too():
    decline = answer(decision="decline", response="")
    assert mobile.parse_answer(decline)["decision"] == "decline"


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=300), st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=12).map(lambda v: json.dumps(v, sort_keys=True, separators=(",", ":")))))
def test_any_message_is_parsed_or_refused_never_a_crash(message):
    for parse in (mobile.parse_answer, lambda m: mobile.parse_poll(m, 1_800_000_000)):
        try:
            parse(message)
        except VerifierError:
            pass


def test_a_poll_is_good_for_a_minute_either_way():
    def poll(t):
        return '{"device":"MA-1234","poll":%d}' % t

    now = 1_800_000_000
    assert mobile.parse_poll(poll(now - 60), now)["device"] == "MA-1234"
    assert mobile.parse_poll(poll(now + 60), now)
    for t in (now - 61, now + 61):
        with pytest.raises(VerifierError) as e:
            mobile.parse_poll(poll(t), now)
        assert e.value.code == "stale-poll"


def test_activation_codes_are_random_typeable_and_stored_keyed():
    codes = {mobile.new_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(len(c) == 8 and not set(c) & set("01OI") for c in codes)
    code = sorted(codes)[0]
    assert mobile.normalize_code(code.lower()[:4] + "-" + code.lower()[4:]) == code
    assert mobile.normalize_code(" ".join(code)) == code
    for bad in ("", "ABC", code + "A", code[:7] + "0", code[:7] + "é", None, 12345678):
        with pytest.raises(VerifierError):
            mobile.normalize_code(bad)
    a, b = os.urandom(32), os.urandom(32)
    assert mobile.code_digest(a, code) != mobile.code_digest(b, code)
    assert code.encode() not in mobile.code_digest(a, code)


def test_base64url_fields_have_one_spelling():
    assert mobile.unb64u(mobile.b64u(b"\x00\xffabc"), "pin") == b"\x00\xffabc"
    for bad in ("", "a", "ab+/", "AB==x", "A?", "AB=C", 5, "AR"):
        with pytest.raises(VerifierError) as e:
            mobile.unb64u(bad, "pin")
        assert e.value.code == "bad-pin"
    with pytest.raises(VerifierError):
        mobile.unb64u(mobile.b64u(b"abc"), "pin", length=4)


def test_the_number_to_pick_is_among_three_different_ones():
    for _ in range(100):
        right = mobile.new_number()
        picks = mobile.numbers_to_pick(right)
        assert 10 <= right <= 99 and right in picks and len(set(picks)) == 3
        assert all(10 <= n <= 99 for n in picks)


def test_the_mobile_kind_ranks_between_the_cards_and_the_token_with_the_seeds_limits():
    levels = {name: k.level for name, k in KINDS.items()}
    assert levels["code-card"] < levels["online-card"] < levels["temp-passcode"] < levels[MOBILE] < levels["token"]
    assert KINDS[MOBILE].withdrawal_limits == (200000, 600000)
    assert "login" in KINDS[MOBILE].purposes and "share" not in KINDS[MOBILE].purposes
