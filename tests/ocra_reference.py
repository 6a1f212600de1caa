"""An independent RFC 6287 (OCRA) implementation, used as the tests' oracle.

Written from the RFC text (section 5 and the Appendix A reference code), on the
standard library's hmac/hashlib only. It deliberately shares no code with the
firmware's dsc.ocra, so that a bug there cannot hide itself in the tests.

    ocra(suite, key, question, counter=None, pin=None, session=None, timestamp=None) -> str

- question: the challenge as the user would type/see it: a decimal string for QN,
  an ASCII string for QA, a hex string for QH.
- counter: int, required when the suite has `C`.
- pin: the cleartext PIN (str), hashed with the suite's P hash; required for `P`.
- session: bytes, or a hex string; left-padded with zero bytes to the S length.
- timestamp: int, the number of time steps (already divided by the step size).
"""

import hashlib
import hmac
import re

_HASHES = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}

_CRYPTO_RE = re.compile(r"^HOTP-(SHA1|SHA256|SHA512)-(\d+)$")
_DATA_RE = re.compile(
    r"^(?:(C)-)?"  # counter
    r"Q([ANH])(\d\d)"  # question format and maximum length
    r"(?:-P(SHA1|SHA256|SHA512))?"  # hashed PIN
    r"(?:-S(\d\d\d))?"  # session information length in bytes
    r"(?:-T(\d+[SMH]))?$"  # time step
)


def parse_suite(suite):
    """Split an OCRA suite string into its parts; raises ValueError if malformed."""
    parts = suite.split(":")
    if len(parts) != 3 or parts[0] != "OCRA-1":
        raise ValueError("bad OCRA suite: %r" % suite)
    m = _CRYPTO_RE.match(parts[1])
    if not m:
        raise ValueError("bad crypto function: %r" % parts[1])
    hash_name, digits = m.group(1), int(m.group(2))
    if digits != 0 and not 4 <= digits <= 10:
        raise ValueError("bad digit count: %d" % digits)
    d = _DATA_RE.match(parts[2])
    if not d:
        raise ValueError("bad data input: %r" % parts[2])
    counter, qfmt, qlen, pin_hash, slen, tstep = d.groups()
    if not 4 <= int(qlen) <= 64:
        raise ValueError("bad question length")
    return {
        "hash": hash_name,
        "digits": digits,
        "counter": counter is not None,
        "qformat": qfmt,
        "qlen": int(qlen),
        "pin_hash": pin_hash,
        "session_len": int(slen) if slen else None,
        "time_step": tstep,
    }


def _question_bytes(fmt, question):
    """Q: the question as 128 bytes (RFC 6287 5.1 and the Appendix A code)."""
    if fmt == "N":
        if not question.isdigit():
            raise ValueError("numeric question expected")
        hexstr = "%X" % int(question, 10)
    elif fmt == "A":
        hexstr = question.encode("ascii").hex()
    else:  # "H"
        hexstr = question
    if len(hexstr) > 256:
        raise ValueError("question too long")
    hexstr = hexstr + "0" * (256 - len(hexstr))  # right-padded with '0' hex digits
    return bytes.fromhex(hexstr)


def ocra(suite, key, question, counter=None, pin=None, session=None, timestamp=None):
    """The OCRA response (a string of the suite's number of digits)."""
    p = parse_suite(suite)
    msg = suite.encode("ascii") + b"\x00"
    if p["counter"]:
        if counter is None:
            raise ValueError("suite needs a counter")
        msg += int(counter).to_bytes(8, "big")
    msg += _question_bytes(p["qformat"], question)
    if p["pin_hash"]:
        if pin is None:
            raise ValueError("suite needs a PIN")
        msg += _HASHES[p["pin_hash"]](str(pin).encode("ascii")).digest()
    if p["session_len"] is not None:
        if session is None:
            raise ValueError("suite needs session information")
        if isinstance(session, str):
            session = bytes.fromhex(session)
        if len(session) > p["session_len"]:
            raise ValueError("session information too long")
        msg += b"\x00" * (p["session_len"] - len(session)) + session
    if p["time_step"]:
        if timestamp is None:
            raise ValueError("suite needs a timestamp")
        msg += int(timestamp).to_bytes(8, "big")

    mac = hmac.new(key, msg, _HASHES[p["hash"]]).digest()
    if p["digits"] == 0:
        return mac.hex()
    offset = mac[-1] & 0x0F
    binary = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(binary % 10 ** p["digits"]).zfill(p["digits"])
