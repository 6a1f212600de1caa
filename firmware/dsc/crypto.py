"""HMAC over hashlib (MicroPython has no hmac module) and constant-time compare."""

try:
    # MicroPython: the u-name is the built-in at once; `import hashlib` first looks on the
    # flash for a hashlib.py that could extend it, a lookup at every boot (docs/firmware.md)
    import uhashlib as hashlib
except ImportError:
    import hashlib  # type: ignore[no-redef]  # CPython

BLOCK_SIZE = {"sha1": 64, "sha256": 64, "sha512": 128}
DIGEST_SIZE = {"sha1": 20, "sha256": 32, "sha512": 64}


def hash_constructor(name):
    """hashlib's constructor for `name`, or the pure-Python one where the board lacks it."""
    if name not in BLOCK_SIZE:
        raise ValueError("unknown hash " + name)
    ctor = getattr(hashlib, name, None)
    if ctor is None:
        from dsc import sha  # only where needed: its SHA-512 constants cost heap

        ctor = getattr(sha, name)
    return ctor


def digest(name, data):
    return hash_constructor(name)(data).digest()


class Hmac:
    """HMAC with the padded key blocks computed once per key (RFC 2104)."""

    def __init__(self, name, key):
        self._new = hash_constructor(name)
        block = BLOCK_SIZE[name]
        if len(key) > block:
            key = self._new(key).digest()
        key = bytes(key) + bytes(block - len(key))
        self._ipad = bytes([b ^ 0x36 for b in key])
        self._opad = bytes([b ^ 0x5C for b in key])

    def digest(self, msg):
        inner = self._new(self._ipad)
        inner.update(msg)
        outer = self._new(self._opad)
        outer.update(inner.digest())
        return outer.digest()


def equal(a, b):
    """Compare two byte or str values in time independent of where they differ."""
    if isinstance(a, str):
        a = a.encode()
    if isinstance(b, str):
        b = b.encode()
    diff = len(a) ^ len(b)
    if len(a) != len(b):
        b = a  # keep the loop's length fixed by `a`; the result is already unequal
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0
