"""Persist the token's Config atomically: write a temp file, then rename it over.

A power cut leaves the old file or the new one. Each file ends with a checksum
line, so a torn or corrupted file is recognised and never loaded.
"""

try:
    import uos as os  # MicroPython: the built-in without a flash lookup (dsc/crypto.py)
except ImportError:
    import os  # type: ignore[no-redef]  # CPython

from dsc import crypto
from dsc.config import KEY_MAX, KEY_MIN, Config

FILE = "token.cfg"
TEMP = "token.cfg.tmp"


class DirFS:
    """The few filesystem operations storage needs, rooted at a directory."""

    def __init__(self, root):
        self.root = root

    def _path(self, name):
        return self.root + "/" + name

    def read(self, name):
        try:
            with open(self._path(name), "rb") as f:
                return f.read()
        except OSError:
            return None

    def write(self, name, data):
        path = self._path(name)
        if hasattr(os, "open"):  # CPython: the key is in here, so owner-only (0600) from the start
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC  # type: ignore[attr-defined]  # CPython only
            f = os.fdopen(os.open(path, flags, 0o600), "wb")
        else:  # MicroPython: no modes (a Pico has no other users; the unix port gets a umask)
            f = open(path, "wb")
        with f:
            f.write(data)
            f.flush()
            if hasattr(os, "fsync"):
                os.fsync(f.fileno())

    def rename(self, src, dst):
        try:
            os.rename(self._path(src), self._path(dst))
        except OSError:
            # FAT refuses to rename over a file; load() still finds the temp file.
            self.remove(dst)
            os.rename(self._path(src), self._path(dst))

    def remove(self, name):
        try:
            os.remove(self._path(name))
        except OSError:
            pass


def stored_id(fs, random):
    """A unique id kept in flash, for boards with no chip id (the simulators):
    made once from the board's CSPRNG, so a token keeps its identity between runs."""
    uid = fs.read("uid")
    if uid is None:
        uid = random(8)
        fs.write("uid", uid)
    return uid


def _checksum(body):
    return "check=" + crypto.digest("sha256", body)[:8].hex() + "\n"


def seal(config):
    body = config.encode()
    return body + _checksum(body).encode()


def unseal(data):
    """The Config in `data`, or None when the file is missing, torn or corrupt."""
    if not data:
        return None
    end = data.rfind(b"check=")
    if end < 0 or data[end:] != _checksum(data[:end]).encode():
        return None
    try:
        return Config.decode(data[:end])
    except (ValueError, KeyError, UnicodeError):
        return None


class FileKeyStore:
    """The key kept in the config file with the token's other settings.

    The seam for keeping it elsewhere: Storage records whatever wrap() returns
    in the key's place (at most KEY_RECORD_MAX bytes) and gives unwrap() back
    what it recorded. On an RP2350 a store can keep the key in OTP, or the file
    can hold it encrypted under a key in OTP (docs/threat-model.md); a board
    offers such a store as `board.key_store` and nothing else changes.
    """

    def wrap(self, key):
        return key

    def unwrap(self, recorded):
        """The key; ValueError (or OSError) when this store cannot give it back."""
        return recorded


class Storage:
    def __init__(self, fs, keys=None):
        self.fs = fs
        self.keys = keys if keys is not None else FileKeyStore()

    def load(self, default_serial):
        """The saved Config; a blank one with `default_serial` when none is readable
        (nor its key: a token whose key store cannot give the key back is blank)."""
        config = self._read(FILE)
        if config is None:
            config = self._read(TEMP)  # a save cut short after its temp file was complete
        return config if config is not None else Config(default_serial)

    def save(self, config):
        record = config
        if config.key:
            record = config.copy()
            record.key = self.keys.wrap(config.key)
        self.fs.write(TEMP, seal(record))
        self.fs.rename(TEMP, FILE)

    def _read(self, name):
        config = unseal(self.fs.read(name))
        if config is None or not config.key:
            return config
        try:
            config.key = self.keys.unwrap(config.key)
        except (ValueError, OSError):
            return None
        return config if KEY_MIN <= len(config.key) <= KEY_MAX else None
