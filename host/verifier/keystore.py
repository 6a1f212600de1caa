"""Secrets at rest: AES-256-GCM under master keys that can be rotated while
other verifier processes run.

- Each sealed value names the key that sealed it (a key id in its header) and is
  bound to where it is stored (its context, e.g. "device:7:secret") as
  associated data, so a ciphertext copied to another row or field does not open.
- The keys live in a key ring file (one "ID HEX" line each, mode 0600); the
  database knows only their ids, states and canaries (store.master_keys).
- A writer reads the current key id inside its own write transaction, so it
  can never seal with a key that a rotation has already replaced; a process
  that meets a key id it has not loaded re-reads the key ring.
- Rotation is a state machine whose every step is safe to cut short with SIGKILL
  and is finished by the next rotation (see rotate()).
"""

import fcntl
import hashlib
import hmac
import os
import secrets
import stat
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select

from host.verifier import store
from host.verifier.store import challenges, devices, master_keys, meta, mobile_activations, oidc_keys, push_keys

LEGACY, FORMAT = b"\x01", b"\x02"   # 0x01: sealed before key ids (key 1); 0x02: key id follows
CANARY = b"OpenDSC master key check"
CANARY_CONTEXT = "meta:canary"
ACTIVE, RETIRING, RETIRED = "active", "retiring", "retired"
BATCH = 500

# Every sealed column: (table, primary key column, column, its context).
SEALED = (
    (devices, devices.c.id, devices.c.secret, "device:%s:secret"),
    (devices, devices.c.id, devices.c.pin, "device:%s:pin"),
    (challenges, challenges.c.id, challenges.c.payload, "challenge:%s:payload"),
    (mobile_activations, mobile_activations.c.id, mobile_activations.c.sealed, "mobile-activation:%s:keys"),
    (push_keys, push_keys.c.id, push_keys.c.private_key, "push-key:%s:private"),
    (oidc_keys, oidc_keys.c.kid, oidc_keys.c.private_key, "oidc-key:%s:private"),  # host/oidc/keys.py
)


class VaultError(Exception):
    """A master key or sealed value problem, said in one line without secrets."""


# ---- the key ring file ------------------------------------------------------------

def read_keyring(path):
    """{key id: key} from a key ring file, refusing one that others may read."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise VaultError("no master key file at %s (dsc db init creates it)" % path)
    except OSError as e:
        raise VaultError("cannot read master key file %s: %s" % (path, e.strerror))
    with os.fdopen(fd) as f:
        mode = os.fstat(f.fileno()).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise VaultError("master key file %s is accessible by others (mode %03o): chmod 600 %s" % (
                path, stat.S_IMODE(mode), path))
        text = f.read(1 << 16)
    lines = [line.split() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if len(lines) == 1 and len(lines[0]) == 1:
        lines = [["1", lines[0][0]]]  # a key file from before key ids: key 1
    keys = {}
    for fields in lines:
        try:
            key_id, key = int(fields[0]), bytes.fromhex(fields[1])
        except (ValueError, IndexError):
            key_id, key = 0, b""
        if len(fields) != 2 or not 0 < key_id < 1 << 31 or len(key) != 32 or key_id in keys:
            raise VaultError("master key file %s must hold lines of a key id and 64 hex digits" % path)
        keys[key_id] = key
    if not keys:
        raise VaultError("master key file %s holds no key" % path)
    return keys


def write_keyring(path, keys, new=False):
    """Write the key ring atomically (a new file renamed over the old one), mode
    0600; with new=True, never replace an existing file."""
    text = "# OpenDSC master keys: key id, key. Keep this file secret and backed up.\n" + "".join(
        "%d %s\n" % (key_id, keys[key_id].hex()) for key_id in sorted(keys))
    tmp = path + ".tmp"
    try:
        if os.path.exists(tmp):
            os.remove(tmp)  # left by a write that was cut short
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if new:
            os.link(tmp, path)  # fails if a file appeared meanwhile
            os.remove(tmp)
        else:
            os.replace(tmp, path)
        dirfd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)
    except FileExistsError:
        os.remove(tmp)
        raise VaultError("%s already exists" % path)
    except OSError as e:
        raise VaultError("cannot write master key file %s: %s" % (path, e.strerror))


def new_key():
    return secrets.token_bytes(32)


def key_id_of(blob):
    """The id of the key that sealed `blob`, or None if it is not a sealed value."""
    if blob[:1] == FORMAT and len(blob) >= 5:
        return struct.unpack(">I", blob[1:5])[0]
    if blob[:1] == LEGACY:
        return 1
    return None


# ---- sealing and opening ------------------------------------------------------------

class Keystore:
    def __init__(self, path):
        self.path = path
        self._keys = read_keyring(path)
        self._aeads = {}

    def _aead(self, key_id):
        aead = self._aeads.get(key_id)
        if aead is None:
            if key_id not in self._keys:
                self._keys = read_keyring(self.path)  # rotated by another process since we loaded it
            if key_id not in self._keys:
                raise VaultError("master key %d is not in %s" % (key_id, self.path))
            aead = self._aeads[key_id] = AESGCM(self._keys[key_id])
        return aead

    def current(self, conn):
        """The active key id, read inside the caller's transaction: a rotation
        waits for the transactions that hold this row (FOR SHARE; SQLite's write
        lock does the same)."""
        value = conn.execute(select(meta.c.value).where(meta.c.name == "current_key")
                             .with_for_update(read=True)).scalar()
        if value is None:
            raise VaultError("the database has no master key (dsc db init)")
        return int(value)

    def seal(self, conn, plaintext, context):
        """Seal under the key that is current in `conn`'s transaction."""
        return self.seal_with(self.current(conn), plaintext, context)

    def seal_with(self, key_id, plaintext, context):
        nonce = secrets.token_bytes(12)
        header = FORMAT + struct.pack(">I", key_id)
        return header + nonce + self._aead(key_id).encrypt(nonce, plaintext, context.encode())

    def open(self, blob, context):
        key_id = key_id_of(blob or b"")
        body = blob[5:] if blob[:1] == FORMAT else (blob or b"")[1:]
        if key_id is None or len(body) < 12 + 16:
            raise VaultError("sealed value for %s is damaged" % context)
        try:
            return self._aead(key_id).decrypt(body[:12], body[12:], context.encode())
        except InvalidTag:
            raise VaultError("cannot decrypt %s: wrong master key or damaged data" % context)

    def digest_with(self, key_id, data, context):
        """HMAC-SHA256 of `data` under a key derived from master key `key_id`: what
        the database keeps of a short-lived code, useless without the key ring."""
        self._aead(key_id)  # loads the key ring again if another process rotated
        mac_key = hmac.new(self._keys[key_id], b"OpenDSC digest key " + context.encode(), hashlib.sha256).digest()
        return hmac.new(mac_key, data, hashlib.sha256).digest()

    def digests(self, data, context):
        """digest_with under every key in the ring: a code issued before a rotation is still found."""
        return [self.digest_with(key_id, data, context) for key_id in sorted(self._keys)]

    def opens(self, key_id, canary):
        try:
            return key_id_of(canary) == key_id and self.open(canary, CANARY_CONTEXT) == CANARY
        except VaultError:
            return False

    def check(self, conn):
        """Refuse a key ring that does not hold the database's current key."""
        key_id = self.current(conn)
        canary = conn.execute(select(master_keys.c.canary).where(master_keys.c.id == key_id)).scalar()
        if canary is None or not self.opens(key_id, canary):
            raise VaultError("the master key file %s does not open this database" % self.path)

    def install_first_key(self, conn, now):
        """A new database adopts the key ring's only key (dsc db init)."""
        if conn.execute(select(master_keys.c.id)).first() is not None:
            return
        if len(self._keys) != 1:
            raise VaultError("master key file %s holds several keys; a new database needs one" % self.path)
        (key_id,) = self._keys
        conn.execute(master_keys.insert().values(id=key_id, state=ACTIVE, created_at=now,
                                                 canary=self.seal_with(key_id, CANARY, CANARY_CONTEXT)))
        store.set_meta(conn, "current_key", str(key_id).encode())

    # ---- rotation ------------------------------------------------------------------

    def rotate(self, engine, now):
        """Make a new key current and re-seal everything under it. The steps:

        1. the new key is added to the key ring file (atomic rename);
        2. one transaction makes it current: the old key becomes "retiring";
        3. values sealed with other keys are re-sealed, in batches;
        4. when none remains, the retiring keys become "retired";
        5. the key ring file drops retired keys (and keys no step 2 adopted).

        Killed anywhere, the data stays readable (a retiring key stays in the
        file), and the next rotation first finishes steps 3-5. Rotations are
        serialised by a lock file beside the key ring. Returns the new key id."""
        with self._rotation_lock():
            self.finish_rotation(engine)
            keys = read_keyring(self.path)
            with engine.begin() as conn:
                # Ids are never reused, not even one a killed rotation wrote but never
                # adopted: another process may still hold that key under that id.
                known = [row.id for row in conn.execute(select(master_keys.c.id))]
                last = int(store.get_meta(conn, "last_key_id") or b"0")
                new_id = max(list(keys) + known + [last]) + 1
                store.set_meta(conn, "last_key_id", str(new_id).encode())
            keys[new_id] = new_key()
            write_keyring(self.path, keys)                                   # 1
            self._keys = keys
            with engine.begin() as conn:                                     # 2
                conn.execute(select(meta.c.value).where(meta.c.name == "current_key").with_for_update()).scalar()
                conn.execute(master_keys.update().where(master_keys.c.state == ACTIVE).values(state=RETIRING))
                conn.execute(master_keys.insert().values(
                    id=new_id, state=ACTIVE, created_at=now, canary=self.seal_with(new_id, CANARY, CANARY_CONTEXT)))
                store.set_meta(conn, "current_key", str(new_id).encode())
            self.finish_rotation(engine)                                      # 3-5
        return new_id

    def finish_rotation(self, engine):
        """Steps 3-5 of rotate(); call with the rotation lock held."""
        for table, pk, column, context in SEALED:                            # 3
            after = None
            while True:
                with engine.begin() as conn:
                    current = self.current(conn)
                    query = select(pk, column).where(column.is_not(None)).order_by(pk).limit(BATCH).with_for_update()
                    if after is not None:
                        query = query.where(pk > after)
                    rows = conn.execute(query).all()
                    for key, blob in rows:
                        if key_id_of(blob) != current:
                            ctx = context % key
                            conn.execute(table.update().where(pk == key).values(
                                {column.name: self.seal_with(current, self.open(blob, ctx), ctx)}))
                if len(rows) < BATCH:
                    break
                after = rows[-1][0]
        with engine.begin() as conn:                                         # 4
            current = self.current(conn)
            for table, pk, column, context in SEALED:
                for (blob,) in conn.execute(select(column).where(column.is_not(None))):
                    if key_id_of(blob) != current:
                        raise VaultError("a value sealed with an old key remains; run the rotation again")
            conn.execute(master_keys.update().where(master_keys.c.state == RETIRING).values(state=RETIRED))
            live = {row.id for row in conn.execute(select(master_keys.c.id).where(master_keys.c.state != RETIRED))}
        keys = read_keyring(self.path)                                       # 5
        if set(keys) - live:
            missing = live - set(keys)
            if missing:
                raise VaultError("master key %d is missing from %s" % (min(missing), self.path))
            write_keyring(self.path, {k: v for k, v in keys.items() if k in live})

    def _rotation_lock(self):
        return _FileLock(self.path + ".lock")


class _FileLock:
    def __init__(self, path):
        self.path = path

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
