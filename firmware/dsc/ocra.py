"""OATH OCRA challenge-response (RFC 6287), portable to MicroPython.

    suite = Suite("OCRA-1:HOTP-SHA256-8:QN06-PSHA1")   # parse once
    suite.response(key, "123456", pin="1234")          # -> "8 digits"

Where the RFC text leaves room this follows its reference code: numeric
questions are converted to hex and right-padded; session information is a hex
string left-padded with zeros to the declared length; the timestamp is the
count of time steps since the epoch.
"""

from dsc import crypto

_HEX = "0123456789abcdefABCDEF"
_DIGITS = "0123456789"
_STEP_LIMITS = {"S": (1, 59, 1), "M": (1, 59, 60), "H": (1, 48, 3600)}
_QUESTION_BYTES = 128
_POW10 = [10 ** i for i in range(11)]


def _number(text, low, high, what):
    if not text or len(text) > 3 or any(c not in _DIGITS for c in text):
        raise ValueError("bad " + what + " in suite")
    n = int(text)
    if n < low or n > high:
        raise ValueError(what + " out of range in suite")
    return n


class Suite:
    """A parsed OCRA suite: 'OCRA-1:HOTP-<hash>-<digits>:<data input>'.

    Attributes: text, hash_name, digits, counter (bool), question_format
    ('N', 'A' or 'H'), question_length, pin_hash (hash name or None),
    session_length (bytes, 0 if none), time_step (seconds, 0 if none).
    """

    def __init__(self, text):
        if not isinstance(text, str):
            raise ValueError("suite must be text")
        parts = text.split(":")
        if len(parts) != 3 or parts[0] != "OCRA-1":
            raise ValueError("suite must look like OCRA-1:HOTP-SHA1-6:QN08")
        func = parts[1].split("-")
        if len(func) != 3 or func[0] != "HOTP" or func[1] not in ("SHA1", "SHA256", "SHA512"):
            raise ValueError("crypto function must be HOTP-SHA1, HOTP-SHA256 or HOTP-SHA512")
        self.text = text
        self.hash_name = func[1].lower()
        self.digits = _number(func[2], 4, 10, "digits")
        self.counter = False
        self.question_format = None
        self.question_length = 0
        self.pin_hash = None
        self.session_length = 0
        self.time_step = 0
        self._parse_inputs(parts[2].split("-"))
        self._prefix = text.encode() + b"\x00"
        self._pin_size = crypto.DIGEST_SIZE[self.pin_hash] if self.pin_hash else 0

    def _parse_inputs(self, items):
        i = 0
        if items[i] == "C":
            self.counter = True
            i += 1
        if i >= len(items) or len(items[i]) != 4 or items[i][0] != "Q" or items[i][1] not in "NAH":
            raise ValueError("suite needs a question QN, QA or QH with 2 digits")
        self.question_format = items[i][1]
        self.question_length = _number(items[i][2:], 4, 64, "question length")
        i += 1
        if i < len(items) and items[i][:1] == "P":
            name = items[i][1:]
            if name not in ("SHA1", "SHA256", "SHA512"):
                raise ValueError("PIN hash must be PSHA1, PSHA256 or PSHA512")
            self.pin_hash = name.lower()
            i += 1
        if i < len(items) and items[i][:1] == "S":
            self.session_length = _number(items[i][1:], 1, 512, "session length")
            if len(items[i]) != 4:
                raise ValueError("session length must have 3 digits, as S064")
            i += 1
        if i < len(items) and items[i][:1] == "T" and len(items[i]) >= 3:
            unit = items[i][-1]
            if unit not in _STEP_LIMITS:
                raise ValueError("time step unit must be S, M or H")
            low, high, scale = _STEP_LIMITS[unit]
            self.time_step = _number(items[i][1:-1], low, high, "time step") * scale
            i += 1
        if i != len(items):
            raise ValueError("unexpected '" + items[i] + "' in suite data input")

    def __repr__(self):
        return "Suite(" + repr(self.text) + ")"

    def question_bytes(self, question):
        """The 128-byte Q field for a question in this suite's format."""
        if not isinstance(question, str) or not question:
            raise ValueError("question must be a non-empty string")
        fmt = self.question_format
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

    def message(self, question, counter=None, pin=None, pin_hash=None, session=None, timestamp=None):
        """The data input the HMAC signs, built from the fields this suite declares."""
        parts = [self._prefix]
        if self.counter:
            if counter is None or counter < 0 or counter >= 1 << 64:
                raise ValueError("suite needs a counter from 0 to 2**64-1")
            parts.append(counter.to_bytes(8, "big"))
        parts.append(self.question_bytes(question))
        if self.pin_hash:
            if pin_hash is None:
                if pin is None:
                    raise ValueError("suite needs a PIN")
                pin_hash = crypto.digest(self.pin_hash, pin.encode() if isinstance(pin, str) else pin)
            if len(pin_hash) != self._pin_size:
                raise ValueError("PIN hash has the wrong length for the suite")
            parts.append(pin_hash)
        if self.session_length:
            if session is None or any(c not in _HEX for c in session) or len(session) > 2 * self.session_length:
                raise ValueError("suite needs session information as hex, at most the declared length")
            s = "0" * (2 * self.session_length - len(session)) + session
            parts.append(bytes([int(s[2 * k:2 * k + 2], 16) for k in range(self.session_length)]))
        if self.time_step:
            if timestamp is None or timestamp < 0 or timestamp >= 1 << 64:
                raise ValueError("suite needs a timestamp (time steps since the epoch)")
            parts.append(timestamp.to_bytes(8, "big"))
        return b"".join(parts)

    def truncate(self, mac):
        """HOTP dynamic truncation to this suite's digits, as a zero-padded string."""
        o = mac[-1] & 0x0F
        code = ((mac[o] & 0x7F) << 24 | mac[o + 1] << 16 | mac[o + 2] << 8 | mac[o + 3]) % _POW10[self.digits]
        s = str(code)
        return "0" * (self.digits - len(s)) + s

    def response(self, key, question, counter=None, pin=None, pin_hash=None, session=None, timestamp=None):
        """The OCRA response for `key` (bytes) and the inputs the suite declares."""
        msg = self.message(question, counter, pin, pin_hash, session, timestamp)
        return self.truncate(crypto.Hmac(self.hash_name, key).digest(msg))

    def verify(self, key, question, response, counter=None, pin=None, pin_hash=None, session=None, timestamp=None):
        """True when `response` matches, compared in constant time."""
        expected = self.response(key, question, counter, pin, pin_hash, session, timestamp)
        return crypto.equal(expected, response)

    def timestamp(self, epoch_seconds):
        """Time steps since the epoch for this suite's T input."""
        return int(epoch_seconds) // self.time_step if self.time_step else None


DEFAULT_SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"
