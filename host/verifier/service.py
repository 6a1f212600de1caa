"""The verifier's policies: users, devices, challenges and responses, lockout,
activation, PIN change, and the audit log.

Every state change happens in one transaction; on SQLite the write lock is taken
at BEGIN, so racing processes see each other's effects in order: a challenge is
consumed exactly once, and no failure is lost from a lockout count.
"""

import hmac
import json
import re
import secrets
import time

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from host import ocra
from host.verifier import cards, passwords, store
from host.verifier.store import audit, challenges, devices, shares, users, withdrawals
from host.verifier.vault import Vault, VaultError, new_key, read_key_file, write_key_file

DAY = 86400.0
# The devices a user may use: their own and those shared with them.
_DEVICES_QUERY = select(devices).where(
    (devices.c.user_id == bindparam("user_id"))
    | devices.c.id.in_(select(shares.c.device_id).where(shares.c.user_id == bindparam("user_id"))))
# One read for a verification: the challenge, its user, and the device it is for.
_FINISH_QUERY = (
    select(challenges.c.id.label("challenge_id"), challenges.c.user_id.label("challenge_user"),
           challenges.c.purpose, challenges.c.challenge, challenges.c.payload, challenges.c.expires_at,
           challenges.c.consumed, users.c.username, users.c.failures, devices)
    .join(users, users.c.id == challenges.c.user_id)
    .join(devices, devices.c.id == challenges.c.device_id)
    .where(challenges.c.id == bindparam("challenge_id"))
)
PURPOSES = ("login", "pin-change", "activation", "share", "withdrawal", "card")
# Device kinds and their security levels: the default device is the highest active one.
LEVELS = {"dsc": 40, "temp-passcode": 30, "online-card": 20, "code-card": 10}
WITHDRAWAL_LIMITS = {"dsc": None, "code-card": (200000, 600000), "online-card": (200000, 600000),
                     "temp-passcode": (200000, 600000)}
IDENTITY = ("birth_date", "citizenship", "residence", "id_type", "id_number")
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
SERIAL = re.compile(r"^[A-Za-z0-9-]{1,64}$")


TEMPORARY = ("temp-passcode", "online-card")


class _Refuse(Exception):
    """A right response whose purpose cannot be carried out (e.g. a limit reached meanwhile)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def _business_days_start(now, count):
    """Midnight (UTC) starting the window of the last `count` business days up to today."""
    day = now - now % DAY
    found = 0
    while True:
        if time.gmtime(day).tm_wday < 5:
            found += 1
            if found == count:
                return day
        day -= DAY


class _User:
    """The user fields a verification needs."""

    def __init__(self, user_id, username, failures):
        self.id = user_id
        self.username = username
        self.failures = failures


def _check_format(kind, response):
    """Refuse a response typed with spaces or other characters, before it counts."""
    if kind == "temp-passcode":
        ok = 0 < len(response) <= 32 and all(c in PASSCODE_CHARS for c in response)
        if not ok:
            raise VerifierError("bad-response", "type the passcode's capital letters and digits only, without spaces")
    elif not response or len(response) > 16 or not all(c in "0123456789" for c in response):
        raise VerifierError("bad-response", "type the response's digits only, without spaces")


PASSCODE_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: read aloud and typed by people


class VerifierError(Exception):
    """A refusal to report as one line; `code` is for programs."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class Policy:
    """The numbers a deployment may change."""

    def __init__(self, challenge_ttl=120, lockout_failures=10, lockout_window=DAY, lockout_duration=DAY,
                 activation_delay=14 * DAY, counter_window=10, time_window=1, temp_full_access=2 * DAY,
                 temp_card_only=10 * DAY, online_card_validity=21 * DAY, card_size=cards.SIZE,
                 withdrawal_limits=None):
        self.challenge_ttl = challenge_ttl
        self.lockout_failures = lockout_failures
        self.lockout_window = lockout_window
        self.lockout_duration = lockout_duration
        self.activation_delay = activation_delay
        self.counter_window = counter_window
        self.time_window = time_window
        self.temp_full_access = temp_full_access
        self.temp_card_only = temp_card_only
        self.online_card_validity = online_card_validity
        self.card_size = card_size
        # kind -> (per day, per five business days); None: no limit
        self.withdrawal_limits = withdrawal_limits or dict(WITHDRAWAL_LIMITS)


def load_policy(path):
    """A Policy from a JSON file: any Policy field, times in seconds, and
    "withdrawal_limits": {"kind": [per_day, per_five_business_days] or null}."""
    try:
        with open(path) as f:
            fields = json.load(f)
    except OSError as e:
        raise VerifierError("bad-policy", "cannot read policy file %s: %s" % (path, e.strerror))
    except ValueError as e:
        raise VerifierError("bad-policy", "policy file %s is not JSON: %s" % (path, e))
    known = Policy().__dict__
    if not isinstance(fields, dict) or set(fields) - set(known):
        raise VerifierError("bad-policy", "policy file %s: unknown fields %s" % (
            path, ", ".join(sorted(set(fields) - set(known))) if isinstance(fields, dict) else "(not an object)"))
    limits = fields.get("withdrawal_limits")
    if limits is not None:
        if not isinstance(limits, dict) or set(limits) - set(LEVELS):
            raise VerifierError("bad-policy", "withdrawal_limits names device kinds: " + ", ".join(LEVELS))
        checked = dict(WITHDRAWAL_LIMITS)
        for kind, pair in limits.items():
            if pair is not None and not (isinstance(pair, list) and len(pair) == 2
                                         and all(isinstance(n, int) and n >= 0 for n in pair)):
                raise VerifierError("bad-policy", "withdrawal limit for %s must be [per_day, per_five_days] or null" % kind)
            checked[kind] = tuple(pair) if pair is not None else None
        fields["withdrawal_limits"] = checked
    for name, value in fields.items():
        if name != "withdrawal_limits" and (not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0):
            raise VerifierError("bad-policy", "policy field %s must be a number >= 0" % name)
    return Policy(**fields)


def init_db(db, master_key_file):
    """Create the schema and, if absent, the master key file (mode 0600)."""
    import os

    if not os.path.exists(master_key_file):
        write_key_file(master_key_file, new_key())
    vault = Vault(read_key_file(master_key_file))
    engine = store.engine_for(db)
    with engine.begin() as conn:
        found = store.migrate(conn)
        canary = store.get_meta(conn, "canary")
        if canary is None:
            store.set_meta(conn, "canary", vault.canary())
        elif not vault.unlocks(canary):
            raise VaultError("the master key file does not open this database")
    engine.dispose()
    return found


def normal_username(name):
    name = (name or "").strip().lower()
    if not USERNAME.match(name):
        raise VerifierError("bad-username", "a user name is 1-64 of a-z 0-9 . _ - (starting with a letter or digit)")
    return name


class Verifier:
    def __init__(self, db, master_key_file, clock=time.time, policy=None):
        self.clock = clock
        self.policy = policy or Policy()
        self._suites = {}
        self.vault = Vault(read_key_file(master_key_file))
        self.master_key_file = master_key_file
        self.engine = store.engine_for(db)
        with self.engine.connect() as conn:
            found = store.version(conn)
            if found == 0:
                raise VerifierError("no-database", "the database is not initialised (dsc db init)")
            if found != store.SCHEMA_VERSION:
                raise VerifierError("old-database", "the database has schema %d; run dsc db init to migrate it" % found)
            self._open_vault(store.get_meta(conn, "canary"))

    def _open_vault(self, canary):
        """Use the master key that opens this database, finishing a rotation that
        was cut short between its commit and the key file's replacement."""
        import os

        pending = self.master_key_file + ".new"
        if self.vault.unlocks(canary):
            if os.path.exists(pending):
                os.remove(pending)  # a rotation that never committed
            return
        if os.path.exists(pending):
            fresh = Vault(read_key_file(pending))
            if fresh.unlocks(canary):
                os.replace(pending, self.master_key_file)
                self.vault = fresh
                return
        raise VerifierError("wrong-master-key", "the master key file does not open this database")

    def close(self):
        self.engine.dispose()

    # -- users and devices ----------------------------------------------------

    def add_user(self, name, password, birth_date="", citizenship="", residence="", id_type="", id_number=""):
        name = normal_username(name)
        if len(password) < 8:
            raise VerifierError("weak-password", "a password needs at least 8 characters")
        row = dict(username=name, password_hash=passwords.hash_password(password), birth_date=birth_date,
                   citizenship=citizenship, residence=residence, id_type=id_type, id_number=id_number,
                   failures="[]", created_at=self.clock())
        try:
            with self.engine.begin() as conn:
                conn.execute(users.insert().values(**row))
        except IntegrityError:
            raise VerifierError("user-exists", "user %s already exists" % name)
        return name

    def enroll_token(self, name, serial, key, pin, suite=ocra.DEFAULT_SUITE, active=False, counter=0):
        """A DSC token shipped to `name`; active at once with active=True, else on
        its first completed challenge or after the activation delay."""
        name = normal_username(name)
        if not SERIAL.match(serial or ""):
            raise VerifierError("bad-serial", "a serial is 1-64 of A-Z a-z 0-9 -")
        try:
            parsed = ocra.Suite(suite)
        except ValueError as e:
            raise VerifierError("bad-suite", str(e))
        if not 16 <= len(key) <= 64:
            raise VerifierError("bad-key", "a token key is 16 to 64 bytes")
        if parsed.pin_hash:
            if not (pin and pin.isdigit() and pin.isascii() and 4 <= len(pin) <= 8):
                raise VerifierError("bad-pin", "the PIN must be 4 to 8 digits")
        now = self.clock()
        with self.engine.begin() as conn:
            user = self._user(conn, name)
            try:
                result = conn.execute(devices.insert().values(
                    user_id=user.id, kind="dsc", serial=serial, suite=suite, status="active" if active else "shipped",
                    secret=b"", counter=counter, shipped_at=now, activated_at=now if active else None, created_at=now))
            except IntegrityError:
                raise VerifierError("device-exists", "a dsc token with serial %s is already enrolled" % serial)
            device_id = result.inserted_primary_key[0]
            sealed = {"secret": self.vault.seal(key, "device:%d:secret" % device_id)}
            if parsed.pin_hash:
                sealed["pin"] = self.vault.seal(parsed.pin_digest(pin), "device:%d:pin" % device_id)
            conn.execute(devices.update().where(devices.c.id == device_id).values(**sealed))
        return serial

    def devices(self, name):
        name = normal_username(name)
        with self.engine.connect() as conn:
            user = self._user(conn, name)
            rows = conn.execute(select(devices).where(devices.c.user_id == user.id).order_by(devices.c.id)).all()
        now = self.clock()
        return [{"kind": d.kind, "serial": d.serial, "suite": d.suite, "status": self._status(d, now),
                 "level": LEVELS[d.kind], "shipped_at": d.shipped_at, "activated_at": d.activated_at,
                 "expires_at": d.expires_at} for d in rows]

    def issue_temp_passcode(self, name):
        """For a misplaced token: one passcode, shown only now. Full access for two
        days, then for ten more only the issue of an online code card."""
        name = normal_username(name)
        now = self.clock()
        with self.engine.begin() as conn:
            user = self._user(conn, name)
            mine = conn.execute(select(devices).where(devices.c.user_id == user.id)
                                .where(devices.c.kind == "temp-passcode")).all()
            if any(self._status(d, now) == "active" for d in mine):
                raise VerifierError("passcode-exists", "%s already has a temporary passcode" % name)
            passcode = "".join(secrets.choice(PASSCODE_CHARS) for _ in range(10))
            serial = "TP-" + secrets.token_hex(4).upper()
            self._insert_device(conn, user.id, "temp-passcode", serial, passcode.encode(), now,
                                expires_at=now + self.policy.temp_full_access + self.policy.temp_card_only)
            self._audit_in(conn, name, "temp-passcode:" + serial, "issue", "ok", "temporary passcode issued", now)
        return {"serial": serial, "passcode": passcode, "full_access_until": now + self.policy.temp_full_access,
                "expires_at": now + self.policy.temp_full_access + self.policy.temp_card_only}

    def issue_printed_card(self, name):
        """A permanent printed security code card (the lowest level), to be mailed."""
        name = normal_username(name)
        now = self.clock()
        with self.engine.begin() as conn:
            user = self._user(conn, name)
            card = self._new_card(conn, user.id, "code-card", now)
            self._audit_in(conn, name, "code-card:" + card["serial"], "issue", "ok", "printed card issued", now)
        return card

    def _new_card(self, conn, user_id, kind, now):
        grid = cards.new_grid(self.policy.card_size)
        serial = ("OC-" if kind == "online-card" else "CC-") + secrets.token_hex(4).upper()
        expires = now + self.policy.online_card_validity if kind == "online-card" else None
        self._insert_device(conn, user_id, kind, serial, cards.encode(grid), now, expires_at=expires)
        return {"kind": kind, "serial": serial, "grid": grid, "expires_at": expires}

    def _insert_device(self, conn, user_id, kind, serial, secret, now, expires_at=None):
        result = conn.execute(devices.insert().values(
            user_id=user_id, kind=kind, serial=serial, suite="", status="active", secret=b"", counter=0,
            shipped_at=now, activated_at=now, expires_at=expires_at, created_at=now))
        dev_id = result.inserted_primary_key[0]
        conn.execute(devices.update().where(devices.c.id == dev_id)
                     .values(secret=self.vault.seal(secret, "device:%d:secret" % dev_id)))
        return dev_id

    def set_token_status(self, name, serial, active):
        """Activate or deactivate a user's DSC token. Activating it ends the user's
        temporary devices (temporary passcode, online card) at once."""
        name = normal_username(name)
        now = self.clock()
        with self.engine.begin() as conn:
            user = self._user(conn, name)
            dev = conn.execute(select(devices).where(devices.c.user_id == user.id).where(devices.c.kind == "dsc")
                               .where(devices.c.serial == serial)).first()
            if dev is None:
                raise VerifierError("no-device", "%s has no dsc token %s" % (name, serial))
            status = "active" if active else "inactive"
            conn.execute(devices.update().where(devices.c.id == dev.id).values(
                status=status, activated_at=now if active else dev.activated_at))
            if active:
                self._revoke_temporary(conn, user.id, now)
            self._audit_in(conn, name, "dsc:" + serial, "status", "ok", status, now)
        return status

    def replace_token(self, name, serial):
        """A lost token: deactivate it and issue a temporary passcode; the new
        token is enrolled as usual and ends the passcode when activated."""
        self.set_token_status(name, serial, active=False)
        return self.issue_temp_passcode(name)

    def start_share(self, requester, owner, owner_password, device=None):
        """`requester` asks to use `owner`'s device: both must have identical identity
        data and no temporary device, the device must be the owner's highest-level
        one, and the owner's credentials and a challenge from the device prove it."""
        requester, owner = normal_username(requester), normal_username(owner)
        if requester == owner:
            raise VerifierError("same-user", "a user cannot share a device with themselves")
        now = self.clock()
        with self.engine.connect() as conn:
            req = self._user(conn, requester)
            own = conn.execute(select(users).where(users.c.username == owner)).first()
            if own is None:
                raise VerifierError("bad-credentials", "wrong user name or password")
            if any(getattr(req, f) != getattr(own, f) or not getattr(req, f) for f in IDENTITY):
                raise VerifierError("different-identity", "different identification information")
            for uid in (req.id, own.id):
                temp = conn.execute(select(devices).where(devices.c.user_id == uid)
                                    .where(devices.c.kind.in_(TEMPORARY))).all()
                if any(self._status(d, now) == "active" for d in temp):
                    raise VerifierError("temporary-device", "a user with a temporary device cannot share devices")
            active = [d for d in conn.execute(select(devices).where(devices.c.user_id == own.id)).all()
                      if self._status(d, now) == "active"]
        if not active:
            raise VerifierError("no-device", "%s has no active device to share" % owner)
        best = max(LEVELS[d.kind] for d in active)
        chosen = [d for d in active if device is None or d.serial == device]
        if not chosen:
            raise VerifierError("no-device", "%s has no active device %s" % (owner, device))
        pick = max(chosen, key=lambda d: (LEVELS[d.kind], d.id))
        if LEVELS[pick.kind] < best or pick.kind != "dsc":
            raise VerifierError("less-secure-device", "less secure device")
        if self._locked_until(own.failures, now):
            self._fail(own.id, owner, "", "share", "locked")
            raise VerifierError("locked", self._locked_message(own.id))
        if not passwords.check_password(owner_password, own.password_hash):
            self._fail(own.id, owner, "", "share", "wrong password")
            raise VerifierError("bad-credentials", "wrong user name or password")
        return self.issue(own, pick.serial, "share", now=now, payload=str(req.id).encode())

    # -- challenges -------------------------------------------------------------

    def start(self, name, password, device=None, purpose="login", new_pin=None, amount=None):
        """Check the password, then issue a challenge for a device of the user's.

        A wrong password, or any attempt while locked out, counts as a failed login."""
        if purpose not in PURPOSES:
            raise VerifierError("bad-purpose", "purpose must be one of " + ", ".join(PURPOSES))
        name = normal_username(name)
        with self.engine.connect() as conn:
            user = conn.execute(select(users).where(users.c.username == name)).first()
        if user is None:
            passwords.check_nobody(password)
            self._audit(name, "", purpose, "fail", "unknown user")
            raise VerifierError("bad-credentials", "wrong user name or password")
        now = self.clock()
        if self._locked_until(user.failures, now):
            self._fail(user.id, name, "", purpose, "locked")
            raise VerifierError("locked", self._locked_message(user.id))
        if not passwords.check_password(password, user.password_hash):
            self._fail(user.id, name, "", purpose, "wrong password")
            raise VerifierError("bad-credentials", "wrong user name or password")
        return self.issue(user, device, purpose, new_pin, now, amount)

    def issue(self, user, device=None, purpose="login", new_pin=None, now=None, amount=None, payload=None):
        """Issue a challenge to a user whose first factor is already checked
        (start() does that; a portal with its own sessions may call this)."""
        now = self.clock() if now is None else now
        if purpose == "withdrawal":
            if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
                raise VerifierError("bad-amount", "a withdrawal needs a positive whole amount")
            payload = str(amount).encode()
        with self.engine.begin() as conn:
            dev = self._pick_device(conn, user.id, device, purpose, now, amount)
            if purpose == "pin-change":
                suite = ocra.Suite(dev.suite)
                if not suite.pin_hash:
                    raise VerifierError("no-pin", "this token's suite takes no PIN")
                if not (new_pin and new_pin.isdigit() and new_pin.isascii() and 4 <= len(new_pin) <= 8):
                    raise VerifierError("bad-pin", "the new PIN must be 4 to 8 digits")
                payload = suite.pin_digest(new_pin)
            challenge_id = secrets.token_hex(16)
            text = self._challenge_text(dev)
            conn.execute(challenges.insert().values(
                id=challenge_id, user_id=user.id, device_id=dev.id, purpose=purpose, challenge=text,
                payload=self.vault.seal(payload, "challenge:%s:payload" % challenge_id) if payload else None,
                created_at=now, expires_at=now + self.policy.challenge_ttl, consumed=0))
        prompt = {"dsc": "key your PIN and this challenge into your token",
                  "temp-passcode": "type your temporary passcode"}.get(
            dev.kind, "find the two numbered codes on your card and type them together")
        return {"challenge_id": challenge_id, "challenge": text, "device": dev.serial, "kind": dev.kind,
                "purpose": purpose, "expires_at": now + self.policy.challenge_ttl, "prompt": prompt}

    def finish(self, challenge_id, response):
        """Judge a response; the challenge is consumed by this first attempt, right or wrong.

        Returns {"ok": True, ...} or {"ok": False, "reason": ...}; malformed input
        raises VerifierError and changes nothing."""
        if not isinstance(challenge_id, str) or not re.match(r"^[0-9a-f]{32}$", challenge_id):
            raise VerifierError("bad-challenge-id", "no such challenge")
        response = response if isinstance(response, str) else ""
        if not response.isalnum() or not response.isascii():
            raise VerifierError("bad-response", "type the response's digits only, without spaces")
        now = self.clock()
        with self.engine.begin() as conn:
            row = conn.execute(_FINISH_QUERY, {"challenge_id": challenge_id}).first()
            if row is None:
                raise VerifierError("bad-challenge-id", "no such challenge")
            _check_format(row.kind, response)  # before anything changes
            label = "%s:%s" % (row.kind, row.serial)
            user = _User(row.challenge_user, row.username, row.failures)
            if row.consumed:
                return {"ok": False, "reason": "challenge already used"}
            conn.execute(challenges.update().where(challenges.c.id == challenge_id).values(consumed=1))
            if now >= row.expires_at:
                self._audit_in(conn, user.username, label, row.purpose, "fail", "expired", now)
                return {"ok": False, "reason": "challenge expired"}
            if self._locked_until(user.failures, now):
                self._fail_in(conn, user, label, row.purpose, "locked", now)
                return {"ok": False, "reason": "locked", "message": self._locked_message_in(conn, user.id)}
            payload = None
            if row.payload is not None:
                payload = self.vault.open(row.payload, "challenge:%s:payload" % challenge_id)
            matched = self._check(row, row.challenge, response, now, payload if row.purpose == "pin-change" else None)
            if matched is None:
                self._fail_in(conn, user, label, row.purpose, "wrong response", now)
                return {"ok": False, "reason": "wrong response"}
            changes = dict(matched)
            if row.purpose == "activation" or (self._status(row, now) == "active" and row.status == "shipped"):
                changes.update(status="active", activated_at=now)
            if row.purpose == "pin-change":
                changes["pin"] = self.vault.seal(payload, "device:%d:pin" % row.id)
            if changes:
                conn.execute(devices.update().where(devices.c.id == row.id).values(**changes))
            if changes.get("status") == "active" and row.kind == "dsc":
                self._revoke_temporary(conn, row.user_id, now)
            result = {"ok": True, "user": user.username, "device": row.serial, "purpose": row.purpose}
            try:
                extra = self._after_success(conn, row, user, payload, now)
            except _Refuse as refused:
                self._audit_in(conn, user.username, label, row.purpose, "fail", refused.code, now)
                return {"ok": False, "reason": refused.code, "message": str(refused)}
            if extra:
                result.update(extra)
            if user.failures != "[]":
                conn.execute(users.update().where(users.c.id == user.id).values(failures="[]"))
            self._audit_in(conn, user.username, label, row.purpose, "ok", "", now)
        return result

    def _after_success(self, conn, row, user, payload, now):
        """What a successful challenge of each purpose does beyond logging in."""
        if row.purpose == "withdrawal":
            amount = int(payload.decode())
            if self._withdrawal_room(conn, user.id, row.kind, now) < amount:
                raise _Refuse("limit", "the amount exceeds this device's withdrawal limits")
            conn.execute(withdrawals.insert().values(user_id=user.id, device_kind=row.kind, device=row.serial,
                                                     amount=amount, at=now))
            return {"amount": amount}
        if row.purpose == "share":
            requester = int(payload.decode())
            conn.execute(shares.insert().values(device_id=row.id, user_id=requester, created_at=now))
            return {"shared_with": conn.execute(select(users.c.username).where(users.c.id == requester)).scalar_one()}
        if row.purpose == "card":
            return {"card": self._new_card(conn, user.id, "online-card", now)}
        return None

    def _revoke_temporary(self, conn, user_id, now):
        """The permanent token is back: temporary devices end at once."""
        conn.execute(devices.update().where(devices.c.user_id == user_id)
                     .where(devices.c.kind.in_(TEMPORARY)).where(devices.c.status == "active")
                     .values(status="revoked", expires_at=now))

    def audit_log(self, name):
        name = normal_username(name)
        with self.engine.connect() as conn:
            rows = conn.execute(select(audit).where(audit.c.username == name).order_by(audit.c.id)).all()
        return [{"at": r.at, "user": r.username, "device": r.device, "purpose": r.purpose,
                 "outcome": r.outcome, "reason": r.reason} for r in rows]

    def rotate_master_key(self, new_key_bytes=None):
        """Re-encrypt every secret under a new master key in one transaction.

        The new key is written beside the old file first; the database switches in
        one commit; then the new file replaces the old. Interrupted at any point,
        the canary tells which key opens the database (see _open_vault)."""
        import os

        new = new_key_bytes or new_key()
        pending = self.master_key_file + ".new"
        if os.path.exists(pending):
            os.remove(pending)
        write_key_file(pending, new)
        fresh = Vault(new)
        with self.engine.begin() as conn:
            for d in conn.execute(select(devices)).all():
                values = {"secret": fresh.seal(self.vault.open(d.secret, "device:%d:secret" % d.id),
                                               "device:%d:secret" % d.id)}
                if d.pin is not None:
                    values["pin"] = fresh.seal(self.vault.open(d.pin, "device:%d:pin" % d.id), "device:%d:pin" % d.id)
                conn.execute(devices.update().where(devices.c.id == d.id).values(**values))
            for c in conn.execute(select(challenges).where(challenges.c.payload.is_not(None))).all():
                ctx = "challenge:%s:payload" % c.id
                conn.execute(challenges.update().where(challenges.c.id == c.id)
                             .values(payload=fresh.seal(self.vault.open(c.payload, ctx), ctx)))
            store.set_meta(conn, "canary", fresh.canary())
        os.replace(pending, self.master_key_file)
        self.vault = fresh

    # -- internals ------------------------------------------------------------

    def _user(self, conn, name):
        user = conn.execute(select(users).where(users.c.username == name)).first()
        if user is None:
            raise VerifierError("no-user", "no user %s" % name)
        return user

    def _suite(self, text):
        """Parse each suite once (a verifier sees few distinct suites)."""
        suite = self._suites.get(text)
        if suite is None:
            suite = self._suites[text] = ocra.Suite(text)
        return suite

    def _status(self, dev, now):
        if dev.status == "shipped" and dev.shipped_at is not None and now >= dev.shipped_at + self.policy.activation_delay:
            return "active"
        if dev.status == "active" and dev.expires_at is not None and now >= dev.expires_at:
            return "expired"
        return dev.status

    def _usable(self, dev, purpose, now):
        """Whether `dev` may answer a challenge for `purpose` now."""
        status = self._status(dev, now)
        if purpose == "activation":
            return dev.kind == "dsc" and status == "shipped"
        if status != "active":
            return False
        if purpose in ("pin-change", "share"):
            return dev.kind == "dsc"
        if dev.kind == "temp-passcode" and now >= dev.activated_at + self.policy.temp_full_access:
            return purpose == "card"  # after two days it only lets the user get an online card
        return True

    def _pick_device(self, conn, user_id, serial, purpose, now, amount=None):
        mine = conn.execute(_DEVICES_QUERY, {"user_id": user_id}).all()  # own and shared with the user
        usable = [d for d in mine if self._usable(d, purpose, now) and (serial is None or d.serial == serial)]
        if not usable:
            what = "device %s" % serial if serial else "device"
            raise VerifierError("no-device", "no %s that can confirm a %s for this user" % (what, purpose))
        if purpose == "withdrawal":
            usable = [d for d in usable if self._withdrawal_room(conn, user_id, d.kind, now) >= amount]
            if not usable:
                raise VerifierError("limit", "the amount exceeds the withdrawal limits of your devices")
        return max(usable, key=lambda d: (LEVELS[d.kind], d.id))

    def _challenge_text(self, dev):
        if dev.kind == "temp-passcode":
            return ""  # nothing to show: the passcode is the answer
        if dev.kind in ("code-card", "online-card"):
            return cards.challenge_text(*cards.new_challenge(self.policy.card_size))
        n = self._suite(dev.suite).question_length
        return "%0*d" % (n, secrets.randbelow(10 ** n))

    def _check(self, dev, question, response, now, pin_hash=None):
        """The device changes a match implies ({} or a new counter), or None."""
        secret = self.vault.open(dev.secret, "device:%d:secret" % dev.id)
        if dev.kind == "temp-passcode":
            return {} if hmac.compare_digest(secret, response.encode()) else None
        if dev.kind in ("code-card", "online-card"):
            return {} if cards.check(cards.decode(secret), question, response) else None
        suite = self._suite(dev.suite)
        if len(response) != suite.digits:
            return None
        if suite.pin_hash and pin_hash is None:
            pin_hash = self.vault.open(dev.pin, "device:%d:pin" % dev.id)
        check = suite.verifier(secret, pin_hash=pin_hash) if suite.pin_hash else suite.verifier(secret)
        if suite.counter:
            for c in range(dev.counter, dev.counter + self.policy.counter_window + 1):
                if check.verify(question, response, counter=c):
                    return {"counter": c + 1}
            return None
        if suite.time_step:
            step = int(now) // suite.time_step
            w = self.policy.time_window
            return {} if any(check.verify(question, response, timestamp=t) for t in range(step - w, step + w + 1)) else None
        return {} if check.verify(question, response) else None

    # -- withdrawals ------------------------------------------------------------

    def _withdrawal_room(self, conn, user_id, kind, now):
        """How much more the user may withdraw now, confirmed by a device of `kind`."""
        limits = self.policy.withdrawal_limits.get(kind, (0, 0))
        if limits is None:
            return float("inf")
        per_day, per_week = limits
        day_start = now - now % DAY
        week_start = _business_days_start(now, 5)
        rows = conn.execute(select(withdrawals.c.amount, withdrawals.c.at).where(withdrawals.c.user_id == user_id)
                            .where(withdrawals.c.device_kind == kind).where(withdrawals.c.at >= min(day_start, week_start))).all()
        today = sum(a for a, at in rows if at >= day_start)
        week = sum(a for a, at in rows if at >= week_start)
        return max(0, min(per_day - today, per_week - week))

    def _lock_end(self, streak):
        """When the lock made by this streak of failures ends, or None if it makes none:
        N failures within the window lock until `duration` after the last one."""
        n = self.policy.lockout_failures
        if len(streak) >= n and streak[-1] - streak[-n] < self.policy.lockout_window:
            return streak[-1] + self.policy.lockout_duration
        return None

    def _locked_until(self, failures_json, now):
        end = self._lock_end(json.loads(failures_json))
        return end if end is not None and now < end else None

    def _locked_message(self, user_id):
        with self.engine.connect() as conn:
            return self._locked_message_in(conn, user_id)

    def _locked_message_in(self, conn, user_id):
        user = conn.execute(select(users).where(users.c.id == user_id)).one()
        until = self._locked_until(user.failures, self.clock()) or self.clock()
        return "account locked after too many failed logins, until %s UTC" % time.strftime(
            "%Y-%m-%d %H:%M", time.gmtime(until))

    def _fail(self, user_id, name, device, purpose, reason):
        with self.engine.begin() as conn:
            user = conn.execute(select(users).where(users.c.id == user_id)).one()
            self._fail_in(conn, user, device, purpose, reason, self.clock())

    def _fail_in(self, conn, user, device, purpose, reason, now):
        """Add a failed login to the user's streak (read inside the write transaction)."""
        streak = json.loads(conn.execute(select(users.c.failures).where(users.c.id == user.id)).scalar_one())
        end = self._lock_end(streak)
        if end is not None and now >= end:
            streak = []  # a lock that has run out: counting starts again
        streak = [t for t in streak if now - t < self.policy.lockout_window] + [now]
        streak = streak[-self.policy.lockout_failures:]
        conn.execute(users.update().where(users.c.id == user.id).values(failures=json.dumps(streak)))
        self._audit_in(conn, user.username, device, purpose, "fail", reason, now)

    def _audit(self, name, device, purpose, outcome, reason):
        with self.engine.begin() as conn:
            self._audit_in(conn, name, device, purpose, outcome, reason, self.clock())

    def _audit_in(self, conn, name, device, purpose, outcome, reason, now):
        conn.execute(audit.insert().values(at=now, username=name[:64], device=device, purpose=purpose,
                                           outcome=outcome, reason=reason))
