"""The token's configuration and its text encoding on flash."""

try:
    import ubinascii as binascii  # MicroPython: the built-in without a flash lookup (dsc/crypto.py)
except ImportError:
    import binascii  # type: ignore[no-redef]  # CPython

from dsc import ocra

BLANK = "blank"
PROVISIONED = "provisioned"
LOCKED = "locked"
STATES = (BLANK, PROVISIONED, LOCKED)

SERIAL_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"
DIGITS = "0123456789"  # ASCII only: "١٢٣٤" is not a PIN
_HEX = "0123456789abcdefABCDEF"
KEY_MIN, KEY_MAX = 16, 64
KEY_RECORD_MAX = 256  # what a key store may record in the key's place (dsc.storage)
PINLEN_MIN, PINLEN_MAX = 4, 8
TIMEOUT_MIN, TIMEOUT_MAX = 10, 600
LABEL_MAX = 16
COUNTER_MAX = (1 << 64) - 1  # the last value is never used: its successor must be storable


def check_serial(serial):
    if not 1 <= len(serial) <= 8 or any(c not in SERIAL_CHARS for c in serial):
        raise ValueError("serial must be 1-8 characters A-Z 0-9 -")
    return serial


def key_from_hex(text):
    """A token key written as hex, 16 to 64 bytes; the ValueError never echoes it."""
    if not text or len(text) % 2 or any(c not in _HEX for c in text):
        raise ValueError("key must be an even number of hex digits")
    if not KEY_MIN * 2 <= len(text) <= KEY_MAX * 2:
        raise ValueError("key must be " + str(KEY_MIN) + " to " + str(KEY_MAX) + " bytes")
    return binascii.unhexlify(text)


def check_pin(pin):
    """A PIN the token's keypad can enter: PINLEN_MIN to PINLEN_MAX ASCII digits.
    The ValueError never echoes it."""
    if not PINLEN_MIN <= len(pin) <= PINLEN_MAX or any(c not in DIGITS for c in pin):
        raise ValueError("a PIN is " + str(PINLEN_MIN) + " to " + str(PINLEN_MAX) + " digits 0-9")
    return pin


def check_label(label):
    if len(label) > LABEL_MAX or any(c < " " or c > "~" for c in label):
        raise ValueError("label must be at most 16 printable characters")
    return label


def check_token_suite(text):
    """Parse a suite the token can run from its keypad: numeric question, no session."""
    suite = ocra.Suite(text)
    if suite.question_format != "N":
        raise ValueError("the keypad enters digits only: suite needs a QN question")
    if suite.session_length:
        raise ValueError("the token cannot take session information (S)")
    return suite


def bounded_int(text, low, high, what):
    if not text or len(text) > 20 or any(c not in DIGITS for c in text):
        raise ValueError(what + " must be a number")
    n = int(text)
    if n < low or n > high:
        raise ValueError(what + " must be from " + str(low) + " to " + str(high))
    return n


class Config:
    """What the token keeps: state, serial, and once provisioned its key and suite."""

    def __init__(self, serial=""):
        self.state = BLANK
        self.serial = serial
        self.suite = ""
        self.key = b""
        self.label = ""
        self.pinlen = 4
        self.timeout = 60
        self.counter = 0

    def copy(self):
        c = Config(self.serial)
        for name in ("state", "suite", "key", "label", "pinlen", "timeout", "counter"):
            setattr(c, name, getattr(self, name))
        return c

    def encode(self):
        """Text lines `name=value`; the key as hex, the label hex-encoded too."""
        lines = [
            "state=" + self.state,
            "serial=" + self.serial,
            "suite=" + self.suite,
            "key=" + binascii.hexlify(self.key).decode(),
            "label=" + binascii.hexlify(self.label.encode()).decode(),
            "pinlen=" + str(self.pinlen),
            "timeout=" + str(self.timeout),
            "counter=" + str(self.counter),
        ]
        return ("\n".join(lines) + "\n").encode()

    @staticmethod
    def decode(data):
        """Rebuild a Config from encode()'s output; ValueError if anything is off."""
        fields = {}
        for line in data.decode().split("\n"):
            if line:
                name, sep, value = line.partition("=")
                if not sep:
                    raise ValueError("bad config line")
                fields[name] = value
        c = Config(check_serial(fields["serial"]))
        c.state = fields["state"]
        if c.state not in STATES:
            raise ValueError("bad state")
        c.key = binascii.unhexlify(fields["key"])
        c.label = check_label(binascii.unhexlify(fields["label"]).decode())
        c.pinlen = bounded_int(fields["pinlen"], PINLEN_MIN, PINLEN_MAX, "pinlen")
        c.timeout = bounded_int(fields["timeout"], TIMEOUT_MIN, TIMEOUT_MAX, "timeout")
        c.counter = bounded_int(fields["counter"], 0, COUNTER_MAX, "counter")
        c.suite = fields["suite"]
        if c.state != BLANK:
            check_token_suite(c.suite)
            if not 0 < len(c.key) <= KEY_RECORD_MAX:  # the key itself is checked once its store gave it back
                raise ValueError("bad key record")
        return c
