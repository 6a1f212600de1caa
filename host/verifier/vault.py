"""Secrets at rest: AES-256-GCM under a master key kept in a file.

Every sealed value is bound to where it is stored (its context, e.g.
"device:7:key") as associated data, so a ciphertext copied to another row or
field does not decrypt.
"""

import os
import secrets

from cryptography.exceptions import InvalidTag

from host.files import create_private
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT = b"\x01"  # version byte of a sealed value
CANARY = b"OpenDSC master key check"


class VaultError(Exception):
    """A master key or sealed value problem, said in one line without secrets."""


def read_key_file(path):
    try:
        with open(path) as f:
            text = f.read().strip()
    except FileNotFoundError:
        raise VaultError("no master key file at %s (dsc db init creates it)" % path)
    except OSError as e:
        raise VaultError("cannot read master key file %s: %s" % (path, e.strerror))
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise VaultError("master key file %s must hold 64 hex digits" % path)
    return key


def write_key_file(path, key):
    """Write a new key file readable by its owner only; never overwrite one."""
    try:
        f = create_private(path)
    except FileExistsError:
        raise VaultError("%s already exists" % path)
    except OSError as e:
        raise VaultError("cannot create master key file %s: %s" % (path, e.strerror))
    with f:
        f.write(key.hex() + "\n")
        f.flush()
        os.fsync(f.fileno())


def new_key():
    return secrets.token_bytes(32)


class Vault:
    def __init__(self, key):
        self._aead = AESGCM(key)

    def seal(self, plaintext, context):
        nonce = secrets.token_bytes(12)
        return FORMAT + nonce + self._aead.encrypt(nonce, plaintext, context.encode())

    def open(self, blob, context):
        if not blob or blob[:1] != FORMAT or len(blob) < 1 + 12 + 16:
            raise VaultError("sealed value for %s is damaged" % context)
        try:
            return self._aead.decrypt(blob[1:13], blob[13:], context.encode())
        except InvalidTag:
            raise VaultError("cannot decrypt %s: wrong master key or damaged data" % context)

    def canary(self):
        return self.seal(CANARY, "meta:canary")

    def unlocks(self, canary):
        try:
            return self.open(canary, "meta:canary") == CANARY
        except VaultError:
            return False
