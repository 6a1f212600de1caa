"""RFC 6030 PSKC seed files: provision tokens in one place, enrol them in another.

    write_pskc("batch-7.pskcxml", tokens, password="...")   # at the bench
    tokens = read_pskc("batch-7.pskcxml", password="...")   # at the verifier

`tokens` is a list of dicts {serial, key (bytes), suite, label, counter}; label
and counter may be None. Files are read and written with python-pskc
(import name `pskc`); this module adds the policy around it.

How OCRA is carried
-------------------
RFC 6030 defines no OCRA profile, and the IANA PSKC algorithm registry holds only
HOTP and PIN. The one published OCRA profile is section 3 of the expired draft
draft-hoyer-keyprov-pskc-algorithm-profiles-01, whose algorithm URI,
urn:ietf:params:xml:ns:keyprov:pskc#OCRA-1, is also the one python-pskc
documents for Key.algorithm. That draft's example predates RFC 6030's final
schema and appends the rest of the suite to the URI
("...#OCRA-1:HOTP-SHA512-8:C-QN08"). RFC 6030's schema has a place for it
instead: <AlgorithmParameters><Suite>, "additional characteristics of the
algorithm". So a key written here has

    <Key Id="SERIAL" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc#OCRA-1">
      <AlgorithmParameters>
        <Suite>OCRA-1:HOTP-SHA256-8:QN06-PSHA1</Suite>      (the whole suite)
        <ChallengeFormat Encoding="DECIMAL" Min="4" Max="6"/>
        <ResponseFormat Encoding="DECIMAL" Length="8"/>
      </AlgorithmParameters>
      ... <Policy><KeyUsage>CR</KeyUsage></Policy>

with the serial in <DeviceInfo><SerialNo>, the label in <FriendlyName>. The
reader takes that form, and also the draft's form, with the suite appended to
the URI (if both are given they must agree). Any other algorithm, HOTP
included, is refused. The suite must be one host.ocra.Suite accepts.

Protection
----------
Every secret (and the counter, if there is one) is encrypted with AES-CBC and
carries an HMAC-SHA256 <ValueMAC> over its ciphertext, keyed with a random MAC
key that is itself encrypted in <MACMethod><MACKey>. The encryption key is
either a pre-shared 16 or 32-byte key (AES-128/AES-256, nothing in the file
but the ciphertexts) or derived from a passphrase with PBKDF2, random 16-byte
salt, 1,300,000 iterations, into an AES-256 key. PBKDF2's PRF is left at its
default, HMAC-SHA1 (as in RFC 6030's own PBKDF2 example): python-pskc 1.4
writes a <PRF> it does not read back (text, where it reads an Algorithm
attribute), so a file naming another PRF would not open again. HMAC-SHA1 is
sound as a PRF; the iteration count is OWASP's figure for it.

The reader is stricter than RFC 6030: every secret must be AES-CBC encrypted
and carry a ValueMAC, or the file is refused (python-pskc itself skips the MAC
check when the ValueMAC is missing, and accepts plaintext secrets). It does not
pass on errors it cannot vouch for: every problem is a PskcError with a
one-line message that never holds key material.

Limit: PSKC's MAC covers each encrypted value on its own. Serials, suites,
labels and the binding of a ciphertext to its serial are not authenticated, so
someone who can write the file could swap two tokens' secrets or change a
suite, or drop a whole token, without the MAC noticing (they still cannot
read, alter or forge a secret).
Move the file over an authenticated channel or check its digest out of band.
"""

import io
import os
import xml.parsers.expat

import pskc
from pskc.algorithms import normalise_algorithm
from pskc.exceptions import PSKCError as _LibError
from pskc.key import EncryptedValue

from dsc.config import KEY_MAX, KEY_MIN  # the token's key-length rule
from host import ocra
from host.verifier.inputs import SERIAL  # serials the verifier accepts

OCRA_ALGORITHM = "urn:ietf:params:xml:ns:keyprov:pskc#OCRA-1"
MANUFACTURER = "OpenDSC"
PBKDF2_ITERATIONS = 1300000      # OWASP's figure for PBKDF2-HMAC-SHA1
MAX_PBKDF2_ITERATIONS = 10000000  # a read refuses more (a few seconds of work)
MAX_FILE_BYTES = 16 << 20
LABEL_MAX = 128
COUNTER_MAX = (1 << 64) - 1

_MAC_WRITE = "hmac-sha256"
_CIPHERS = {normalise_algorithm("aes%d-cbc" % bits): bits // 8 for bits in (128, 192, 256)}
_MACS = {normalise_algorithm("hmac-" + h) for h in ("sha1", "sha224", "sha256", "sha384", "sha512")}
_PBKDF2 = normalise_algorithm("pbkdf2")
_CHALLENGE_ENCODING = {"N": "DECIMAL", "A": "ALPHANUMERIC", "H": "HEXADECIMAL"}
_FIELDS = {"serial", "key", "suite", "label", "counter"}
_BAD_SECRET = "cannot decrypt: wrong password or key, or the file was altered (MAC check failed)"


class PskcError(Exception):
    """A PSKC file that cannot be written or read; str() is one line, no key material."""


def write_pskc(path, tokens, password=None, key=None):
    """Write `tokens` to a new PSKC file at `path` (mode 0600, never overwritten).

    Give exactly one of `password` (PBKDF2) or `key` (16 or 32 bytes, pre-shared).
    """
    _one_secret(password, key)
    if key is not None and (not isinstance(key, (bytes, bytearray)) or len(key) not in (16, 32)):
        raise PskcError("a pre-shared key is 16 or 32 bytes")
    if isinstance(tokens, (dict, str, bytes)) or not hasattr(tokens, "__iter__"):
        raise PskcError("tokens must be a list of dicts")
    entries = [_entry(t, "token %d" % (i + 1)) for i, t in enumerate(tokens)]
    if not entries:
        raise PskcError("no tokens to write")
    _unique([e["serial"] for e in entries])

    container = pskc.PSKC()
    container.mac.algorithm = _MAC_WRITE
    fields = ["secret", "counter"]
    try:
        if password is not None:
            container.encryption.setup_pbkdf2(password, algorithm="aes256-cbc", iterations=PBKDF2_ITERATIONS,
                                              fields=fields)
        else:
            container.encryption.setup_preshared_key(key=bytes(key), algorithm="aes%d-cbc" % (len(key) * 8),
                                                     fields=fields)
        for e in entries:
            suite = ocra.Suite(e["suite"])
            attrs = dict(
                id=e["serial"], serial=e["serial"], manufacturer=MANUFACTURER, algorithm=OCRA_ALGORITHM,
                algorithm_suite=suite.text, secret=e["key"],
                challenge_encoding=_CHALLENGE_ENCODING[suite.question_format],
                challenge_min_length=4, challenge_max_length=suite.question_length,
                response_encoding="DECIMAL", response_length=suite.digits, policy__key_usage=["CR"])
            if e["label"] is not None:
                attrs["friendly_name"] = e["label"]
            if e["counter"] is not None:
                attrs["counter"] = e["counter"]
            container.add_key(**attrs)
        out = io.BytesIO()
        container.write(out)
        data = out.getvalue()
        # Read our own output back with the key just used: whatever we write,
        # read_pskc takes, secrets encrypted and MACed.
        _well_formed(data)
        check = pskc.PSKC(io.BytesIO(data))
        _algorithms(check)
        check.encryption.key = container.encryption.key
    except PskcError:
        raise
    except Exception:
        raise PskcError("python-pskc could not build the file")
    if _decode(check) != entries:
        raise PskcError("the file written does not read back the same")
    _create(path, data)


def read_pskc(path, password=None, key=None):
    """The tokens in the PSKC file at `path`, after checking every MAC.

    Give the `password` or the pre-shared `key` it was written with. Returns a
    list of dicts {serial, key, suite, label, counter}; raises PskcError.
    """
    _one_secret(password, key)
    return parse_pskc(_load(path), password=password, key=key)


def parse_pskc(data, password=None, key=None):
    """read_pskc for a file's bytes (an upload to the operator API)."""
    _one_secret(password, key)
    if key is not None and not isinstance(key, (bytes, bytearray)):
        raise PskcError("a pre-shared key is bytes")
    if len(data) > MAX_FILE_BYTES:
        raise PskcError("not a PSKC file: larger than %d MiB" % (MAX_FILE_BYTES >> 20))
    _well_formed(data)
    try:
        container = pskc.PSKC(io.BytesIO(data))
    except _LibError as e:
        raise PskcError("not a PSKC file: %s" % _line(str(e)))
    except Exception:
        raise PskcError("not a PSKC file")
    _unlock(container, password, key)
    return _decode(container)


# --- writing -----------------------------------------------------------------

def _one_secret(password, key):
    if (password is None) == (key is None):
        raise PskcError("give either a password or a pre-shared key")
    if password is not None and (not isinstance(password, (str, bytes)) or not password):
        raise PskcError("the password must be a non-empty string")


def _entry(token, where):
    """A token dict checked and normalised (the shape read_pskc returns)."""
    if not isinstance(token, dict):
        raise PskcError("%s: not a dict" % where)
    unknown = set(token) - _FIELDS
    if unknown:
        raise PskcError("%s: unknown field(s) %s" % (where, ", ".join(sorted(map(str, unknown)))))
    serial = token.get("serial")
    if not isinstance(serial, str) or not SERIAL.fullmatch(serial):
        raise PskcError("%s: a serial is 1-64 of A-Z a-z 0-9 -" % where)
    where = "token %s" % serial
    return {"serial": serial, "key": _key(token.get("key"), where), "suite": _suite(token.get("suite"), where),
            "label": _label(token.get("label"), where), "counter": _counter(token.get("counter"), where)}


def _key(value, where):
    if not isinstance(value, (bytes, bytearray)):
        raise PskcError("%s: the key must be bytes" % where)
    if not KEY_MIN <= len(value) <= KEY_MAX:
        raise PskcError("%s: the key is %d bytes, not %d to %d" % (where, len(value), KEY_MIN, KEY_MAX))
    return bytes(value)


def _suite(value, where):
    if not isinstance(value, str) or not value:
        raise PskcError("%s: no OCRA suite" % where)
    if not value.startswith("OCRA-1:"):
        raise PskcError("%s: suite %s is not OCRA-1" % (where, _show(value)))
    try:
        return ocra.Suite(value).text
    except ValueError:
        raise PskcError("%s: unsupported OCRA suite %s" % (where, _show(value)))


def _label(value, where):
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > LABEL_MAX or not value.isprintable():
        raise PskcError("%s: a label is 1-%d printable characters" % (where, LABEL_MAX))
    return value


def _counter(value, where):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= COUNTER_MAX:
        raise PskcError("%s: the counter must be an integer from 0 to 2**64-1" % where)
    return value


def _unique(serials):
    seen = set()
    for s in serials:
        if s in seen:
            raise PskcError("serial %s appears twice" % _show(s))
        seen.add(s)


def _create(path, data):
    """Create `path` (O_EXCL: never overwrite, never follow a symlink), mode 0600."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    except FileExistsError:
        raise PskcError("%s already exists; not overwriting it" % _show(os.fspath(path)))
    except OSError as e:
        raise PskcError("cannot create %s: %s" % (_show(os.fspath(path)), e.strerror or e.__class__.__name__))
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # whatever the umask
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except OSError as e:
        os.close(fd)
        os.unlink(path)
        raise PskcError("cannot write %s: %s" % (_show(os.fspath(path)), e.strerror or e.__class__.__name__))
    os.close(fd)


# --- reading -----------------------------------------------------------------

def _load(path):
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise PskcError("cannot read %s: %s" % (_show(os.fspath(path)), e.strerror or e.__class__.__name__))
    if len(data) > MAX_FILE_BYTES:
        raise PskcError("not a PSKC file: larger than %d MiB" % (MAX_FILE_BYTES >> 20))
    return data


def _well_formed(data):
    """An expat pass before python-pskc's: well-formed XML with no DTD (no entity tricks)."""
    parser = xml.parsers.expat.ParserCreate()

    def refuse(*_):
        raise PskcError("not a PSKC file: it has a DTD or entity declarations")
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    try:
        parser.Parse(data, True)
    except PskcError:
        raise
    except xml.parsers.expat.ExpatError as e:
        raise PskcError("not a PSKC file: not well-formed XML (line %s)" % getattr(e, "lineno", "?"))
    except Exception:  # LookupError for an unknown encoding="...", and the like
        raise PskcError("not a PSKC file: unreadable XML")


def _algorithms(container):
    """The file's cipher, after checking it and the MAC algorithm are ones we take."""
    cipher = container.encryption.algorithm
    if cipher is None:
        raise PskcError("the file is not encrypted (no encryption algorithm)")
    if cipher not in _CIPHERS:
        raise PskcError("unsupported encryption algorithm %s (AES-CBC only)" % _show(cipher))
    if container.mac.algorithm not in _MACS:
        if container.mac.algorithm is None:
            raise PskcError("the file has no MAC method")
        raise PskcError("unsupported MAC algorithm %s" % _show(container.mac.algorithm))
    return cipher


def _unlock(container, password, key):
    """Set the decryption key from the password or the pre-shared key."""
    cipher = _algorithms(container)
    derivation = container.encryption.derivation
    if password is not None:
        if derivation.algorithm is None:
            raise PskcError("the file is protected by a pre-shared key, not a password")
        if derivation.algorithm != _PBKDF2:
            raise PskcError("unsupported key derivation %s" % _show(derivation.algorithm))
        iterations = derivation.pbkdf2_iterations
        if not isinstance(iterations, int) or not 1 <= iterations <= MAX_PBKDF2_ITERATIONS:
            raise PskcError("PBKDF2 iteration count out of range (1 to %d)" % MAX_PBKDF2_ITERATIONS)
        if derivation.pbkdf2_key_length != _CIPHERS[cipher]:
            raise PskcError("PBKDF2 key length does not match the cipher")
        try:
            container.encryption.derive_key(password)
        except Exception:
            raise PskcError("cannot derive the key from the password (PBKDF2 parameters)")
    else:
        if derivation.algorithm is not None:
            raise PskcError("the file is protected by a password, not a pre-shared key")
        if len(key) != _CIPHERS[cipher]:
            raise PskcError("the pre-shared key is %d bytes; this file needs %d" % (len(key), _CIPHERS[cipher]))
        container.encryption.key = bytes(key)


def _decode(container):
    """The checked token dicts of an unlocked PSKC container."""
    try:
        keys = list(container.keys)
    except Exception:
        raise PskcError("not a PSKC file")
    if not keys:
        raise PskcError("the file holds no keys")
    cipher = container.encryption.algorithm
    tokens = []
    for n, k in enumerate(keys, 1):
        where = "key %d" % n
        try:
            suite = _suite_of(k, where)
            serial = k.serial
            if not isinstance(serial, str) or not SERIAL.fullmatch(serial):
                raise PskcError("%s: missing or bad serial %s (1-64 of A-Z a-z 0-9 -)" % (where, _show(serial)))
            where = "token %s" % serial
            secret = _protected(k, "secret", cipher, where)
            if secret is None:
                raise PskcError("%s: no secret" % where)
            counter = _protected(k, "counter", cipher, where)
            label = k.friendly_name
        except PskcError:
            raise
        except Exception:
            raise PskcError("%s: unreadable" % where)
        tokens.append({"serial": serial, "key": _key(secret, where), "suite": suite,
                       "label": _label(label, where), "counter": _counter(counter, where)})
    _unique([t["serial"] for t in tokens])
    return tokens


def _suite_of(k, where):
    """The OCRA suite of a python-pskc key: the Suite element and/or the draft's URI form."""
    algorithm = k.algorithm or ""
    base = OCRA_ALGORITHM.lower()
    if algorithm.lower() == base:
        in_uri = None
    elif algorithm.lower().startswith(base + ":"):
        in_uri = "OCRA-1:" + algorithm[len(base) + 1:]  # draft form: ...#OCRA-1:HOTP-SHA512-8:C-QN08
    else:
        raise PskcError("%s: unsupported algorithm %s; only OCRA (%s) is read" % (
            where, _show(k.algorithm), OCRA_ALGORITHM))
    element = k.algorithm_suite
    if in_uri and element and in_uri != element:
        raise PskcError("%s: the suite in the algorithm URI and in <Suite> differ" % where)
    return _suite(element or in_uri, where)


def _protected(k, field, cipher, where):
    """A Data value that must be AES-CBC ciphertext with a ValueMAC, decrypted and MAC-checked.

    python-pskc keeps the raw value in Key._<field>; should that ever change,
    getattr finds nothing where there is a value and the file is refused.
    """
    raw = getattr(k, "_" + field, None)
    if raw is None:
        if getattr(k, field) is not None:
            raise PskcError("%s: cannot check the %s's MAC" % (where, field))
        return None
    if not isinstance(raw, EncryptedValue):
        if field == "counter":
            return getattr(k, field)  # a plaintext counter is common (RFC 6030 figures); not secret
        raise PskcError("%s: the %s is not encrypted" % (where, field))
    if not raw.mac_value:
        raise PskcError("%s: the %s has no MAC" % (where, field))
    if raw.algorithm is not None and normalise_algorithm(raw.algorithm) != cipher:
        raise PskcError("%s: the %s uses another cipher than the file" % (where, field))
    try:
        return getattr(k, field)
    except Exception:
        raise PskcError("%s: %s" % (where, _BAD_SECRET))


def _show(value, limit=48):
    """A short one-line repr of an untrusted value for an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _line(text, limit=120):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."
