"""Password hashing with scrypt (memory-hard; in the standard library)."""

import base64
import hashlib
import hmac
import secrets

N, R, P = 2 ** 14, 8, 1  # 16 MiB of memory per hash
MAXMEM = 64 * 1024 * 1024


def _b64(data):
    return base64.b64encode(data).decode()


def hash_password(password):
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, maxmem=MAXMEM, dklen=32)
    return "scrypt$%d$%d$%d$%s$%s" % (N, R, P, _b64(salt), _b64(digest))


def check_password(password, stored):
    """True when `password` matches; compared in constant time."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        n, r, p = int(n), int(r), int(p)
        salt, digest = base64.b64decode(salt), base64.b64decode(digest)
    except ValueError:
        return False
    if kind != "scrypt":
        return False
    got = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=MAXMEM, dklen=len(digest))
    return hmac.compare_digest(got, digest)


_dummy = []


def check_nobody(password):
    """Spend the time of one check for a user that does not exist (always False),
    so a wrong user name takes as long as a wrong password."""
    if not _dummy:
        _dummy.append(hash_password(secrets.token_hex(16)))
    check_password(password, _dummy[0])
    return False
