"""The verifier's fast OATH OCRA (RFC 6287) for CPython, built on stdlib hmac.

    suite = Suite(DEFAULT_SUITE)                     # parse once
    suite.response(key, "123456", pin="1234")        # -> "8 digits"
    check = suite.verifier(key, pin="1234")          # per key/PIN, precomputed
    check.verify("123456", response)                 # -> bool, constant-time

Suites are parsed by the firmware's dsc.ocra (one parser); this module adds only
what must be faster on a server. It computes the same responses as the token:
numeric questions go decimal -> hex -> right-padded with zeros to 128 bytes (an
odd hex length gains a trailing '0'); session information is hex, left-padded
with zeros to the declared length; the timestamp is the count of time steps
since the epoch.
"""

import hashlib
import hmac
import struct

from dsc import ocra as _core

DEFAULT_SUITE = _core.DEFAULT_SUITE

_DIGEST_SIZE = {"sha1": 20, "sha256": 32, "sha512": 64}
_DIGITS = "0123456789"
_HEX = "0123456789abcdefABCDEF"
_Q_BYTES = 128
_QN_MAX_DIGITS = 77  # as the firmware: 10**77 fits in 32 bytes
_ZEROS = [bytes(_Q_BYTES - n) for n in range(_Q_BYTES + 1)]  # padding after n bytes
_U64 = 1 << 64
_U32 = struct.Struct(">I")


def _u64(value, what):
    if not isinstance(value, int) or not 0 <= value < _U64:
        raise ValueError("suite needs %s from 0 to 2**64-1" % what)
    return value.to_bytes(8, "big")


class Suite(_core.Suite):
    """A parsed suite 'OCRA-1:HOTP-SHA<n>-<digits>:[C-]Q<fmt><len>[-P..][-Snnn][-T..]'.

    Parsed by the firmware's own parser (dsc.ocra.Suite), so host and token accept
    exactly the same suites. Attributes as the firmware's: text, hash_name,
    digits, counter (bool), question_format ('N', 'A', 'H'), question_length,
    pin_hash (hash name or None), session_length (bytes, 0 if none), time_step
    (seconds, 0 if none). What this class adds is speed: stdlib hmac and a
    per-key Verifier.
    """

    def __init__(self, text):
        super().__init__(text)
        self._modulus = 10 ** self.digits
        self._format = "%0" + str(self.digits) + "d"
        self._question = {"N": _numeric, "A": _ascii, "H": _hexadecimal}[self.question_format]

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
