"""The verifier's own OATH OCRA (RFC 6287) for CPython, built on stdlib hmac.

    suite = Suite(DEFAULT_SUITE)                     # parse once
    suite.response(key, "123456", pin="1234")        # -> "8 digits"
    check = suite.verifier(key, pin="1234")          # per key/PIN, precomputed
    check.verify("123456", response)                 # -> bool, constant-time

It accepts the same suites and inputs as the firmware's dsc.ocra and computes
the same responses: numeric questions go decimal -> hex -> right-padded with
zeros to 128 bytes (an odd hex length gains a trailing '0'); session
information is hex, left-padded with zeros to the declared length; the
timestamp is the count of time steps since the epoch.
"""

import hashlib
import hmac
import struct

DEFAULT_SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"

_HASHES = {"SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}
_DIGEST_SIZE = {"sha1": 20, "sha256": 32, "sha512": 64}
_STEPS = {"S": (59, 1), "M": (59, 60), "H": (48, 3600)}  # unit: (max count, seconds)
_DIGITS = "0123456789"
_HEX = "0123456789abcdefABCDEF"
_Q_BYTES = 128
_QN_MAX_DIGITS = 77  # as the firmware: 10**77 fits in 32 bytes
_ZEROS = [bytes(_Q_BYTES - n) for n in range(_Q_BYTES + 1)]  # padding after n bytes
_U64 = 1 << 64
_U32 = struct.Struct(">I")


def _number(text, low, high, what):
    """1-3 ASCII digits in [low, high], as the firmware reads suite numbers."""
    if not text or len(text) > 3 or text.strip(_DIGITS):
        raise ValueError("bad %s in suite: %r" % (what, text))
    n = int(text)
    if not low <= n <= high:
        raise ValueError("%s %d out of range %d-%d in suite" % (what, n, low, high))
    return n


def _u64(value, what):
    if not isinstance(value, int) or not 0 <= value < _U64:
        raise ValueError("suite needs %s from 0 to 2**64-1" % what)
    return value.to_bytes(8, "big")


class Suite:
    """A parsed suite 'OCRA-1:HOTP-SHA<n>-<digits>:[C-]Q<fmt><len>[-P..][-Snnn][-T..]'.

    Attributes as the firmware's: text, hash_name, digits, counter (bool),
    question_format ('N', 'A', 'H'), question_length, pin_hash (hash name or
    None), session_length (bytes, 0 if none), time_step (seconds, 0 if none).
    """

    def __init__(self, text):
        if not isinstance(text, str):
            raise ValueError("suite must be a string, not %s" % type(text).__name__)
        parts = text.split(":")
        if len(parts) != 3 or parts[0] != "OCRA-1":
            raise ValueError("suite must look like OCRA-1:HOTP-SHA1-6:QN08, got %r" % text)
        func = parts[1].split("-")
        if len(func) != 3 or func[0] != "HOTP" or func[1] not in _HASHES:
            raise ValueError("crypto function must be HOTP-SHA1, HOTP-SHA256 or HOTP-SHA512, got %r" % parts[1])
        self.text = text
        self.hash_name = _HASHES[func[1]]
        self.digits = _number(func[2], 4, 10, "digits")
        self.counter = False
        self.pin_hash = None
        self.session_length = 0
        self.time_step = 0
        self._parse_inputs(parts[2].split("-"))
        self._prefix = text.encode() + b"\x00"
        self._modulus = 10 ** self.digits
        self._format = "%0" + str(self.digits) + "d"
        self._question = {"N": _numeric, "A": _ascii, "H": _hexadecimal}[self.question_format]

    def _parse_inputs(self, items):
        item = items[0]
        i = 0
        if item == "C":
            self.counter = True
            i = 1
        q = items[i] if i < len(items) else ""
        if len(q) != 4 or q[0] != "Q" or q[1] not in ("N", "A", "H"):
            raise ValueError("suite needs a question QN, QA or QH with 2 digits, got %r" % q)
        self.question_format = q[1]
        self.question_length = _number(q[2:], 4, 64, "question length")
        i += 1
        if i < len(items) and items[i][:1] == "P":
            if items[i][1:] not in _HASHES:
                raise ValueError("PIN hash must be PSHA1, PSHA256 or PSHA512, got %r" % items[i])
            self.pin_hash = _HASHES[items[i][1:]]
            i += 1
        if i < len(items) and items[i][:1] == "S":
            if len(items[i]) != 4:
                raise ValueError("session length must have 3 digits, as S064, got %r" % items[i])
            self.session_length = _number(items[i][1:], 1, 512, "session length")
            i += 1
        if i < len(items) and items[i][:1] == "T" and len(items[i]) >= 3:
            unit = items[i][-1]
            if unit not in _STEPS:
                raise ValueError("time step unit must be S, M or H, got %r" % items[i])
            high, scale = _STEPS[unit]
            self.time_step = _number(items[i][1:-1], 1, high, "time step") * scale
            i += 1
        if i != len(items):
            raise ValueError("unexpected %r in suite data input %r" % (items[i], "-".join(items)))

    def __repr__(self):
        return "Suite(%r)" % self.text

    def question_bytes(self, question):
        """The 128-byte Q field for a question in this suite's format."""
        raw = self._question(question)
        return raw + _ZEROS[len(raw)]

    def pin_digest(self, pin):
        """The PIN hash this suite signs (pin: str, encoded UTF-8, or bytes)."""
        if pin is None:
            raise ValueError("suite needs a PIN")
        return hashlib.new(self.pin_hash, pin.encode() if isinstance(pin, str) else bytes(pin)).digest()

    def verifier(self, key, pin=None, pin_hash=None):
        """A Verifier for one key and PIN (or stored PIN hash)."""
        return Verifier(self, key, pin, pin_hash)

    def message(self, question, counter=None, pin=None, pin_hash=None, session=None, timestamp=None):
        """The data input the HMAC signs, built from the fields this suite declares."""
        return Verifier(self, b"", pin, pin_hash).message(question, counter, session, timestamp)

    def response(self, key, question, counter=None, pin=None, pin_hash=None, session=None, timestamp=None):
        """The OCRA response for `key` (bytes) and the inputs the suite declares."""
        return Verifier(self, key, pin, pin_hash).response(question, counter, session, timestamp)

    def verify(self, key, question, response, counter=None, pin=None, pin_hash=None, session=None, timestamp=None):
        """True when `response` matches, compared in constant time."""
        return Verifier(self, key, pin, pin_hash).verify(question, response, counter, session, timestamp)

    def timestamp(self, epoch_seconds):
        """Time steps since the epoch for this suite's T input (None without T)."""
        return int(epoch_seconds) // self.time_step if self.time_step else None


class Verifier:
    """Computes and checks responses for one suite, key and PIN.

    The suite prefix, PIN hash and HMAC name are fixed here, so verify() costs
    one hmac.digest plus building the question bytes and truncating.
    """

    __slots__ = ("suite", "_key", "_hash", "_head", "_tail", "_question", "_modulus", "_format", "_simple")

    def __init__(self, suite, key, pin=None, pin_hash=None):
        if not isinstance(key, (bytes, bytearray, memoryview)):
            raise ValueError("key must be bytes")
        self.suite = suite
        self._key = bytes(key)
        self._hash = suite.hash_name
        self._head = suite._prefix
        self._tail = b""
        if suite.pin_hash:
            if pin_hash is None:
                pin_hash = suite.pin_digest(pin)
            if len(pin_hash) != _DIGEST_SIZE[suite.pin_hash]:
                raise ValueError("PIN hash has the wrong length for %s" % suite.pin_hash)
            self._tail = bytes(pin_hash)
        self._question = suite._question
        self._modulus = suite._modulus
        self._format = suite._format
        self._simple = not (suite.counter or suite.session_length or suite.time_step)

    def message(self, question, counter=None, session=None, timestamp=None):
        """The data input for these inputs (suite prefix, C, Q, P, S, T)."""
        suite = self.suite
        msg = self._head
        if suite.counter:
            msg += _u64(counter, "a counter")
        raw = self._question(question)
        msg += raw + _ZEROS[len(raw)] + self._tail
        if suite.session_length:
            msg += _session(session, suite.session_length)
        if suite.time_step:
            msg += _u64(timestamp, "a timestamp (time steps since the epoch)")
        return msg

    def response(self, question, counter=None, session=None, timestamp=None):
        """The OCRA response string for these inputs."""
        mac = hmac.digest(self._key, self.message(question, counter, session, timestamp), self._hash)
        return self._format % ((_U32.unpack_from(mac, mac[-1] & 0x0F)[0] & 0x7FFFFFFF) % self._modulus)

    def verify(self, question, response, counter=None, session=None, timestamp=None):
        """True when `response` (str or bytes) matches; bad inputs raise ValueError."""
        if self._simple:  # no C, S or T: the common case, inlined
            raw = self._question(question)
            msg = self._head + raw + _ZEROS[len(raw)] + self._tail
        else:
            msg = self.message(question, counter, session, timestamp)
        mac = hmac.digest(self._key, msg, self._hash)  # dynamic truncation (RFC 4226 5.3):
        expected = self._format % ((_U32.unpack_from(mac, mac[-1] & 0x0F)[0] & 0x7FFFFFFF) % self._modulus)
        try:
            return hmac.compare_digest(expected, response)
        except TypeError:  # bytes, non-ASCII text or not a string at all
            return isinstance(response, (bytes, bytearray)) and hmac.compare_digest(expected.encode(), response)


# The question encoders return Q's bytes before its zero padding to 128 bytes.

def _numeric(question):
    """QN: decimal -> hex; an odd hex length is shifted a nibble left."""
    if type(question) is not str or question.strip(_DIGITS) or not 0 < len(question) <= _QN_MAX_DIGITS:
        raise ValueError("numeric question must be 1 to 77 decimal digits, got %r" % (question,))
    n = int(question)
    nibbles = (n.bit_length() + 3) >> 2 or 1
    if nibbles & 1:  # the reference code right-pads the hex string with '0'
        return (n << 4).to_bytes((nibbles + 1) >> 1, "big")
    return n.to_bytes(nibbles >> 1, "big")


def _ascii(question):
    """QA: printable ASCII, at most 128 bytes."""
    if not isinstance(question, str) or not question:
        raise ValueError("question must be a non-empty string")
    raw = question.encode()
    if len(raw) > _Q_BYTES or any(b < 0x20 or b > 0x7E for b in raw):
        raise ValueError("alphanumeric question must be printable ASCII, at most 128 characters")
    return raw


def _hexadecimal(question):
    """QH: hex digits, at most 256; an odd count gains a trailing '0'."""
    if not isinstance(question, str) or not question or question.strip(_HEX):
        raise ValueError("hex question must be hex digits, got %r" % (question,))
    if len(question) > 2 * _Q_BYTES:
        raise ValueError("hex question longer than 128 bytes")
    return bytes.fromhex(question + "0" if len(question) & 1 else question)


def _session(session, length):
    """S: hex session information left-padded with zeros to `length` bytes."""
    if not isinstance(session, str) or session.strip(_HEX) or len(session) > 2 * length:
        raise ValueError("suite needs session information as hex, at most %d bytes" % length)
    return bytes.fromhex(session.rjust(2 * length, "0"))
