"""Token storage: a save cut short at any point leaves the old or the new state."""

import hashlib

import pytest

from boards.sim import SimBoard
from dsc import storage
from dsc.config import LOCKED, PROVISIONED, Config
from dsc.storage import DirFS, Storage
from dsc.token import Token


class PowerCut(Exception):
    pass


class CrashingFS:
    """An in-memory filesystem whose power fails after `budget` bytes/operations.

    A write is applied byte by byte, so a cut can tear it anywhere; a rename
    either happens or not (littlefs and POSIX renames are atomic).
    """

    def __init__(self, files, budget):
        self.files = dict(files)
        self.budget = budget

    def _spend(self):
        if self.budget <= 0:
            raise PowerCut()
        self.budget -= 1

    def read(self, name):
        return self.files.get(name)

    def write(self, name, data):
        self._spend()
        self.files[name] = b""  # open(..., "wb") truncates first
        for i in range(len(data)):
            self._spend()
            self.files[name] = data[:i + 1]

    def rename(self, src, dst):
        self._spend()
        self.files[dst] = self.files.pop(src)

    def remove(self, name):
        self._spend()
        self.files.pop(name, None)


def config(key, counter, state=PROVISIONED):
    c = Config("DSC00001")
    c.state = state
    c.suite = "OCRA-1:HOTP-SHA256-8:C-QN06-PSHA1"
    c.key = key
    c.label = "Alice Smith"
    c.counter = counter
    return c


def same(a, b):
    return a.encode() == b.encode()


@pytest.mark.parametrize("leftover_temp", [False, True], ids=["clean", "stale-temp-file"])
def test_a_save_cut_at_every_step_leaves_old_or_new_state(leftover_temp):
    old, new = config(b"k" * 32, 7), config(b"n" * 32, 8, LOCKED)
    base = {storage.FILE: storage.seal(old)}
    if leftover_temp:
        base[storage.TEMP] = storage.seal(old)[:40]  # an earlier cut tore the temp file
    steps = len(storage.seal(new)) + 3
    outcomes = set()
    for budget in range(steps + 1):
        fs = CrashingFS(base, budget)
        try:
            Storage(fs).save(new)
        except PowerCut:
            pass
        loaded = Storage(CrashingFS(fs.files, 10 ** 9)).load("BLANK000")
        assert same(loaded, old) or same(loaded, new), "cut after %d steps gave another state" % budget
        outcomes.add("new" if same(loaded, new) else "old")
    assert outcomes == {"old", "new"}


def test_a_blank_token_cut_while_first_provisioned_stays_blank_or_provisioned():
    new = config(b"k" * 32, 0)
    for budget in range(len(storage.seal(new)) + 3):
        fs = CrashingFS({}, budget)
        try:
            Storage(fs).save(new)
        except PowerCut:
            pass
        loaded = Storage(CrashingFS(fs.files, 10 ** 9)).load("BLANK000")
        assert loaded.state == "blank" and loaded.serial == "BLANK000" or same(loaded, new)


def test_a_corrupted_file_is_never_loaded(tmp_path):
    fs = DirFS(str(tmp_path))
    Storage(fs).save(config(b"k" * 32, 3))
    data = bytearray(fs.read(storage.FILE))
    for i in range(0, len(data), 7):
        flipped = bytearray(data)
        flipped[i] ^= 0x01
        fs.write(storage.FILE, bytes(flipped))
        loaded = Storage(fs).load("BLANK000")
        assert loaded.state == "blank", "a flipped bit at byte %d was loaded" % i


class FullFlash(DirFS):
    def write(self, name, data):
        raise OSError(28, "no space left on device")


def test_a_failed_flash_write_changes_nothing_and_is_reported(tmp_path):
    board = SimBoard(str(tmp_path), manual_clock=True)
    token = Token(board)
    token.receive(b"provision key=" + b"ab" * 32 + b" serial=DSC00001 counter=5 suite=OCRA-1:HOTP-SHA1-6:C-QN06\n")
    assert board.take_sent().startswith(b"OK provision")
    before = token.config.encode()
    token.storage.fs = FullFlash(str(tmp_path))
    token.receive(b"wipe\npress keys=OK\n")
    assert "ERR wipe storage" in board.take_sent().decode()
    for k in ["PWR", "1", "2", "3", "4", "5", "6", "OK"]:
        token.key(k)
    assert token.ui.lines[0] == "ERROR"  # no response whose counter step was not stored
    assert token.config.encode() == before
    assert Token(SimBoard(str(tmp_path), manual_clock=True)).config.encode() == before


class SealedKeys:
    """A key store like the one an RP2350 could have: the file holds the key
    only encrypted (here a keyed XOR stream with a check tag, standing in for
    AES under a key in OTP). A different device key cannot unwrap it."""

    def __init__(self, device_key):
        self.device_key = device_key

    def _stream(self, n):
        return (self.device_key * n)[:n]

    def _tag(self, key):
        return hashlib.sha256(self.device_key + key).digest()[:4]

    def wrap(self, key):
        return self._tag(key) + bytes(a ^ b for a, b in zip(key, self._stream(len(key))))

    def unwrap(self, recorded):
        key = bytes(a ^ b for a, b in zip(recorded[4:], self._stream(len(recorded) - 4)))
        if self._tag(key) != recorded[:4]:
            raise ValueError("not this device's key")
        return key


def test_a_key_store_from_the_board_keeps_the_key_out_of_the_file(tmp_path):
    """The seam an OTP key store will use: the board offers `key_store`, the
    flash never holds the key, and the token works as before across a restart."""
    from tests.ocra_reference import ocra

    key = bytes(range(1, 33))
    board = SimBoard(str(tmp_path), manual_clock=True)
    board.key_store = SealedKeys(b"\x5a\xa5\x3c\xc3" * 8)
    token = Token(board)
    token.receive(b"provision key=" + key.hex().encode() + b"\n")
    assert board.take_sent().startswith(b"OK provision")
    flash = (tmp_path / storage.FILE).read_bytes()
    assert key.hex().encode() not in flash and key not in flash

    again = SimBoard(str(tmp_path), manual_clock=True)
    again.key_store = SealedKeys(b"\x5a\xa5\x3c\xc3" * 8)
    restarted = Token(again)
    assert restarted.config.state == PROVISIONED and restarted.config.key == key
    assert restarted.respond("1234", "123456") == ocra("OCRA-1:HOTP-SHA256-8:QN06-PSHA1", key, "123456", pin="1234")

    other = SimBoard(str(tmp_path), manual_clock=True)
    other.key_store = SealedKeys(b"\x01" * 32)  # the flash moved to another chip
    assert Token(other).config.state == "blank", "a key that cannot be unwrapped is no key"
