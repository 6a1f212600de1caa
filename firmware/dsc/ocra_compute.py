"""The OCRA computation (RFC 6287) for a parsed dsc.ocra.Suite.

Apart from the suite's parser so that a token boots without it (docs/firmware.md):
the token imports this module in its first idle moment once the display is on,
while the PIN is keyed, or at its first use if that comes sooner.

Where the RFC text leaves room this follows its reference code: numeric
questions are converted to hex and right-padded; session information is a hex
string left-padded with zeros to the declared length; the timestamp is the
count of time steps since the epoch.
"""

from dsc import crypto

_HEX = "0123456789abcdefABCDEF"
_DIGITS = "0123456789"
_QUESTION_BYTES = 128
_POW10 = [10 ** i for i in range(11)]


def question_bytes(suite, question):
    """The 128-byte Q field for a question in the suite's format."""
    if not isinstance(question, str) or not question:
        raise ValueError("question must be a non-empty string")
    fmt = suite.question_format
    if fmt == "N":
        if any(c not in _DIGITS for c in question) or len(question) > 77:
            raise ValueError("numeric question must be decimal digits")
        hexq = "%x" % int(question)
    elif fmt == "A":
        raw = question.encode()
        if len(raw) > _QUESTION_BYTES or any(b < 0x20 or b > 0x7E for b in raw):
            raise ValueError("alphanumeric question must be printable ASCII, at most 128")
        return raw + bytes(_QUESTION_BYTES - len(raw))
    else:
        if any(c not in _HEX for c in question):
            raise ValueError("hex question must be hex digits")
        hexq = question
    if len(hexq) > 2 * _QUESTION_BYTES:
        raise ValueError("question longer than 128 bytes")
    if len(hexq) % 2:
        hexq += "0"  # the reference code right-pads the hex string with zeros
    n = len(hexq) // 2
    return bytes([int(hexq[2 * k:2 * k + 2], 16) for k in range(n)]) + bytes(_QUESTION_BYTES - n)


def message(suite, question, counter=None, pin=None, pin_hash=None, session=None, timestamp=None):
    """The data input the HMAC signs, built from the fields the suite declares."""
    parts = [suite._prefix]
    if suite.counter:
        if counter is None or counter < 0 or counter >= 1 << 64:
            raise ValueError("suite needs a counter from 0 to 2**64-1")
        parts.append(counter.to_bytes(8, "big"))
    parts.append(question_bytes(suite, question))
    if suite.pin_hash:
        if pin_hash is None:
            if pin is None:
                raise ValueError("suite needs a PIN")
            pin_hash = crypto.digest(suite.pin_hash, pin.encode() if isinstance(pin, str) else pin)
        if len(pin_hash) != crypto.DIGEST_SIZE[suite.pin_hash]:
            raise ValueError("PIN hash has the wrong length for the suite")
        parts.append(pin_hash)
    if suite.session_length:
        if session is None or any(c not in _HEX for c in session) or len(session) > 2 * suite.session_length:
            raise ValueError("suite needs session information as hex, at most the declared length")
        s = "0" * (2 * suite.session_length - len(session)) + session
        parts.append(bytes([int(s[2 * k:2 * k + 2], 16) for k in range(suite.session_length)]))
    if suite.time_step:
        if timestamp is None or timestamp < 0 or timestamp >= 1 << 64:
            raise ValueError("suite needs a timestamp (time steps since the epoch)")
        parts.append(timestamp.to_bytes(8, "big"))
    return b"".join(parts)


def truncate(suite, mac):
    """HOTP dynamic truncation to the suite's digits, as a zero-padded string."""
    o = mac[-1] & 0x0F
    code = ((mac[o] & 0x7F) << 24 | mac[o + 1] << 16 | mac[o + 2] << 8 | mac[o + 3]) % _POW10[suite.digits]
    s = str(code)
    return "0" * (suite.digits - len(s)) + s


def response(suite, key, question, counter=None, pin=None, pin_hash=None, session=None, timestamp=None):
    """The OCRA response for `key` (bytes) and the inputs the suite declares."""
    msg = message(suite, question, counter, pin, pin_hash, session, timestamp)
    return truncate(suite, crypto.Hmac(suite.hash_name, key).digest(msg))


def verify(suite, key, question, given, counter=None, pin=None, pin_hash=None, session=None, timestamp=None):
    """True when the `given` response matches, compared in constant time."""
    expected = response(suite, key, question, counter, pin, pin_hash, session, timestamp)
    return crypto.equal(expected, given)
