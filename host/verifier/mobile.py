"""OpenDSC Mobile's protocol, the server's side of it (docs/mobile.md):
activation codes, the key agreement that gives both sides the OCRA key without
sending it, the PIN hash's transport, and the device's signed messages.

Pure functions: the verifier's storage and the HTTP layer call them and keep
the transactions. Everything read from the app is checked here and refused
with a VerifierError, never a traceback.
"""

import base64
import binascii
import hashlib
import hmac
import json
import secrets

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dsc import signing

from host.verifier.errors import VerifierError
from host.verifier.inputs import DESTINATION_MAX
from host.verifier.kinds.mobile import NUMBER_MAX, NUMBER_MIN, new_number  # noqa: F401  (new_number is part of the protocol)
from host.verifier.kinds.passcode import PASSCODE_CHARS

# No 0/O or 1/I: the code is typed from the screen when the camera cannot read the QR.
CODE_CHARS = PASSCODE_CHARS
CODE_LENGTH = 8
CODE_VALIDITY = 600.0  # seconds
POINT_LENGTH = 65  # a raw uncompressed P-256 point, as WebCrypto exports it
SIGNATURE_LENGTH = 64  # IEEE P1363 r || s, as WebCrypto signs
NONCE_LENGTH = 12
AGREEMENT_INFO = b"OpenDSC mobile v1 activation "
PIN_AAD = b"OpenDSC mobile v1 pin "
DECISIONS = ("approve", "decline")
POLL_WINDOW = 60.0  # seconds a signed poll stays good, either way of the server's clock
MESSAGE_MAX = 1024  # bytes of a signed message


def new_code():
    """A fresh activation code, from a CSPRNG."""
    return "".join(secrets.choice(CODE_CHARS) for _ in range(CODE_LENGTH))


def normalize_code(text):
    """The code as typed (any case, spaces or dashes between groups) -> its canonical form."""
    if not isinstance(text, str) or len(text) > 32:
        raise VerifierError("bad-code", "an activation code is %d letters and digits" % CODE_LENGTH)
    code = text.replace(" ", "").replace("-", "").upper()
    if len(code) != CODE_LENGTH or not all(c in CODE_CHARS for c in code):
        raise VerifierError("bad-code", "an activation code is %d letters and digits" % CODE_LENGTH)
    return code


def code_digest(server_key, code):
    """What the server stores of a code: keyed, so a database dump does not give the codes away."""
    return hmac.new(server_key, b"OpenDSC mobile v1 code " + code.encode(), hashlib.sha256).digest()


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text, what, length=None, most=4096):
    """The bytes of a base64url field (padding optional), or VerifierError naming the field."""
    if not isinstance(text, str) or not 0 < len(text) <= most or text.strip("=") != text.rstrip("="):
        raise VerifierError("bad-" + what, "%s must be base64url" % what)
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise VerifierError("bad-" + what, "%s must be base64url" % what)
    if b64u(data) != text.rstrip("="):  # one spelling per value: no stray bits, no other alphabet
        raise VerifierError("bad-" + what, "%s must be base64url" % what)
    if length is not None and len(data) != length:
        raise VerifierError("bad-" + what, "%s must be %d bytes" % (what, length))
    return data


def public_key(raw, what="key"):
    """A P-256 public key from its raw point; VerifierError unless it is a point on the curve."""
    if not isinstance(raw, bytes) or len(raw) != POINT_LENGTH or raw[0] != 4:
        raise VerifierError("bad-" + what, "%s must be an uncompressed P-256 point" % what)
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError:
        raise VerifierError("bad-" + what, "%s is not a point on P-256" % what)


def raw_point(key):
    return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def derive(shared, app_public, server_public, activation_id):
    """(OCRA key, PIN transport key) from the ECDH secret, bound to both public
    keys and the activation; the app derives the same with WebCrypto's HKDF."""
    okm = HKDF(algorithm=hashes.SHA256(), length=64, salt=hashlib.sha256(app_public + server_public).digest(),
               info=AGREEMENT_INFO + activation_id.encode()).derive(shared)
    return okm[:32], okm[32:]


def agree(app_public, activation_id):
    """The server's half of the key agreement: (its public point, OCRA key, PIN
    key). Its private key lives only inside this call."""
    peer = public_key(app_public, "ecdh")
    private = ec.generate_private_key(ec.SECP256R1())
    server_public = raw_point(private.public_key())
    shared = private.exchange(ec.ECDH(), peer)
    ocra_key, pin_key = derive(shared, app_public, server_public, activation_id)
    return server_public, ocra_key, pin_key


def open_pin(pin_key, activation_id, blob):
    """The PIN hash the app sent, nonce || AES-256-GCM(pin key, hash); VerifierError if it was not sealed so."""
    if len(blob) <= NONCE_LENGTH + 16:
        raise VerifierError("bad-pin", "the PIN is not sealed for this activation")
    try:
        return AESGCM(pin_key).decrypt(blob[:NONCE_LENGTH], blob[NONCE_LENGTH:], PIN_AAD + activation_id.encode())
    except InvalidTag:
        raise VerifierError("bad-pin", "the PIN is not sealed for this activation")


def canonical(obj):
    """The bytes a device signs: JSON with sorted keys and no spaces."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def check_signature(device_public, message, signature):
    """VerifierError unless `signature` (P1363, 64 bytes) is the device key's over `message`."""
    key = public_key(device_public, "device-key")
    if not isinstance(signature, bytes) or len(signature) != SIGNATURE_LENGTH:
        raise VerifierError("bad-signature", "the signature is not the device's")
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    try:
        key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        raise VerifierError("bad-signature", "the signature is not the device's")


def parse_signed(message, fields, most=MESSAGE_MAX, together=()):
    """The JSON object of a signed message, which must be canonical and have
    exactly `fields` (a signature over one spelling is not a signature over another),
    or exactly `fields` and `together`."""
    if not isinstance(message, str) or len(message.encode()) > most:
        raise VerifierError("bad-message", "the message must be canonical JSON of at most %d bytes" % most)
    try:
        obj = json.loads(message)
    except ValueError:
        raise VerifierError("bad-message", "the message must be canonical JSON")
    if (not isinstance(obj, dict) or set(obj) not in (set(fields), set(fields) | set(together))
            or canonical(obj) != message.encode()):
        raise VerifierError("bad-message", "the message must be canonical JSON with " + ", ".join(sorted(fields))
                            + (" (and " + ", ".join(together) + ")" if together else ""))
    return obj


def _digits(value, most):
    """1 to `most` ASCII digits, as a withdrawal's fields are signed (docs/protocol.md, "Signing")."""
    return isinstance(value, str) and 0 < len(value) <= most and all("0" <= c <= "9" for c in value)


ANSWER_FIELDS = ("decision", "number", "response", "transaction")
# A withdrawal's answer also names what the phone showed and signed over (docs/mobile.md).
WITHDRAWAL_FIELDS = ("amount", "destination", "destination_digits")


def parse_answer(message):
    """A signed answer to a login: {decision, number, response, transaction}; to a
    withdrawal, also {amount, destination, destination_digits} as the phone showed them."""
    obj = parse_signed(message, ANSWER_FIELDS, together=WITHDRAWAL_FIELDS)
    if "amount" in obj:
        amount, text, digits = obj["amount"], obj["destination"], obj["destination_digits"]
        if not _digits(amount, signing.AMOUNT_DIGITS):
            raise VerifierError("bad-message", "amount is the withdrawal's amount, its digits")
        if not isinstance(text, str) or not 0 < len(text) <= DESTINATION_MAX:
            raise VerifierError("bad-message", "destination is the withdrawal's destination account as shown")
        if not _digits(digits, signing.DESTINATION_DIGITS):
            raise VerifierError("bad-message", "destination_digits are the destination's digits that are signed")
    decision, number, response, transaction = obj["decision"], obj["number"], obj["response"], obj["transaction"]
    if decision not in DECISIONS:
        raise VerifierError("bad-message", "decision is approve or decline")
    if type(number) is not int or not NUMBER_MIN <= number <= NUMBER_MAX:
        raise VerifierError("bad-message", "number is the two-digit number picked")
    if not isinstance(response, str) or len(response) > 16 or not all("0" <= c <= "9" for c in response):
        raise VerifierError("bad-message", "response is the OCRA response's digits")
    if (decision == "approve") != bool(response):
        raise VerifierError("bad-message", "an approval carries the response, a decline none")
    if not isinstance(transaction, str) or not 0 < len(transaction) <= 64:
        raise VerifierError("bad-message", "transaction is the login's transaction id")
    return obj


def parse_poll(message, now, fields=(), most=MESSAGE_MAX):
    """A signed poll {device, poll}: which device asks, and when; VerifierError if stale.
    A request that carries more (a push subscription) names its other `fields`."""
    obj = parse_signed(message, ("device", "poll") + tuple(fields), most)
    if not isinstance(obj["device"], str) or not 0 < len(obj["device"]) <= 32:
        raise VerifierError("bad-message", "device is the app's serial")
    if type(obj["poll"]) is not int or abs(obj["poll"] - now) > POLL_WINDOW:
        raise VerifierError("stale-poll", "the poll's time is more than %d s from the server's" % POLL_WINDOW)
    return obj


def numbers_to_pick(right):
    """The three numbers the app shows: the right one and two others, shuffled."""
    others = [n for n in range(NUMBER_MIN, NUMBER_MAX + 1) if n != right]
    picks = [right] + [others.pop(secrets.randbelow(len(others))) for _ in range(2)]
    shuffled = []
    while picks:
        shuffled.append(picks.pop(secrets.randbelow(len(picks))))
    return shuffled

