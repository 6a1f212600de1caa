"""Devices: enrolling tokens, temporary passcodes, code cards, their status,
activation, replacement and removal."""

import secrets

from sqlalchemy import bindparam, delete, select
from sqlalchemy.exc import IntegrityError

from dsc import signing
from dsc.config import KEY_MAX, KEY_MIN

from host import ocra
from host.verifier import audit as audit_log, cards, inputs
from host.verifier.errors import VerifierError
from host.verifier.kinds import KINDS, TOKEN, kind
from host.verifier.kinds.passcode import PASSCODE_CHARS, PASSCODE_LENGTH
from host.verifier.store import challenges, devices, shares, users
from host.verifier.timefmt import iso
from host.verifier.users import find

# The devices a user may use: their own and those shared with them.
USABLE_QUERY = select(devices).where(
    (devices.c.user_id == bindparam("user_id"))
    | devices.c.id.in_(select(shares.c.device_id).where(shares.c.user_id == bindparam("user_id"))))


def status(dev, now, policy):
    """The status a device has now: a shipped token turns active after the
    activation delay, a device past its expiry is expired."""
    if dev.status == "shipped" and dev.shipped_at is not None and now >= dev.shipped_at + policy.activation_delay:
        return "active"
    if dev.status == "active" and dev.expires_at is not None and now >= dev.expires_at:
        return "expired"
    return dev.status


class Devices:
    def enroll_token(self, name, serial, key, pin, suite=ocra.DEFAULT_SUITE, active=False, counter=0):
        """A hardware token shipped to `name`; active at once with active=True, else
        on its first completed challenge or after the activation delay."""
        name = inputs.username(name)
        serial = inputs.serial(serial)
        try:
            parsed = self.suite(suite)
            signing.suite_for(suite)  # refuses a login suite that asks the signing question (docs/protocol.md)
        except ValueError as e:
            raise VerifierError("bad-suite", str(e))
        if not isinstance(key, bytes) or not KEY_MIN <= len(key) <= KEY_MAX:
            raise VerifierError("bad-key", "a token key is %d to %d bytes" % (KEY_MIN, KEY_MAX))
        if parsed.pin_hash:
            inputs.pin(pin)
        now = self.clock()
        with self.engine.begin() as conn:
            user = find(conn, name)
            dev_id = self._insert_device(conn, user.id, TOKEN, serial, key, now, suite=suite, counter=counter,
                                         status="active" if active else "shipped")
            if parsed.pin_hash:
                conn.execute(devices.update().where(devices.c.id == dev_id).values(
                    pin=self.keys.seal(conn, parsed.pin_digest(pin), "device:%d:pin" % dev_id)))
            audit_log.record(conn, now, name, "%s:%s" % (TOKEN, serial), "enroll", "ok", "active" if active else "shipped")
        return serial

    def import_token(self, name, tokens, pin, serial=None, active=False):
        """Enroll one token of a PSKC file's `tokens` (pskc_io.read_pskc/parse_pskc):
        the only one, or the one named `serial`."""
        chosen = [t for t in tokens if serial is None or t["serial"] == serial]
        if len(chosen) != 1:
            raise VerifierError("bad-pskc", "the file holds %d tokens%s: name one with its serial" % (
                len(tokens), "" if serial is None else " and none is %s" % serial))
        token = chosen[0]
        return self.enroll_token(name, token["serial"], token["key"], pin, suite=token["suite"], active=active,
                                 counter=token["counter"] or 0)

    def _insert_device(self, conn, user_id, kind_name, serial, secret, now, suite="", counter=0, status="active",
                       expires_at=None):
        try:
            with conn.begin_nested():
                result = conn.execute(devices.insert().values(
                    user_id=user_id, kind=kind_name, serial=serial, suite=suite, status=status, secret=b"",
                    counter=counter, shipped_at=now, activated_at=now if status == "active" else None,
                    expires_at=expires_at, created_at=now))
        except IntegrityError:
            raise VerifierError("device-exists", "a %s with serial %s is already enrolled" % (kind_name, serial))
        dev_id = result.inserted_primary_key[0]
        conn.execute(devices.update().where(devices.c.id == dev_id)
                     .values(secret=self.keys.seal(conn, secret, "device:%d:secret" % dev_id)))
        return dev_id

    def devices(self, name):
        """The devices a user may use: their own, then those shared with them."""
        name = inputs.username(name)
        with self.engine.connect() as conn:
            user = find(conn, name)
            rows = conn.execute(select(devices, users.c.username.label("owner"))
                                .join(users, users.c.id == devices.c.user_id)
                                .where(devices.c.id.in_(select(USABLE_QUERY.subquery().c.id)))
                                .order_by(devices.c.user_id != user.id, devices.c.id), {"user_id": user.id}).all()
        now = self.clock()
        return [{"kind": d.kind, "serial": d.serial, "suite": d.suite, "status": status(d, now, self.policy),
                 "level": kind(d.kind).level, "owner": d.owner, "shared": d.user_id != user.id,
                 "shipped_at": iso(d.shipped_at), "activated_at": iso(d.activated_at),
                 "expires_at": iso(d.expires_at)} for d in rows]

    def device_owner(self, serial):
        """Read-only: the name of the user who owns the devices called `serial` (not of
        those they are shared with); None when no device, or devices of several owners,
        are called that (a serial is unique per kind only)."""
        try:
            serial = inputs.serial(serial)
        except VerifierError:
            return None
        with self.engine.connect() as conn:
            owners = conn.execute(select(users.c.username).distinct().join(devices, devices.c.user_id == users.c.id)
                                  .where(devices.c.serial == serial).limit(2)).scalars().all()
        return owners[0] if len(owners) == 1 else None

    def _own_device(self, conn, user, serial, kind_name=None):
        query = select(devices).where(devices.c.user_id == user.id).where(devices.c.serial == serial)
        if kind_name:
            query = query.where(devices.c.kind == kind_name)
        dev = conn.execute(query.with_for_update()).first()
        if dev is None:
            raise VerifierError("no-device", "%s has no %s %s" % (user.username, kind_name or "device", serial))
        return dev

    def set_token_status(self, name, serial, active):
        """Activate or deactivate a user's token. Activating it ends the user's
        temporary devices (temporary passcode, online card) at once."""
        name = inputs.username(name)
        now = self.clock()
        with self.engine.begin() as conn:
            user = find(conn, name)
            return self._set_token_status(conn, user, serial, active, now)

    def _set_token_status(self, conn, user, serial, active, now):
        dev = self._own_device(conn, user, serial, TOKEN)
        new = "active" if active else "inactive"
        conn.execute(devices.update().where(devices.c.id == dev.id).values(
            status=new, activated_at=now if active else dev.activated_at))
        if active:
            self._revoke_temporary(conn, user.id, now)
        audit_log.record(conn, now, user.username, "%s:%s" % (TOKEN, serial), "status", "ok", new)
        return new

    def _revoke_temporary(self, conn, user_id, now):
        """The permanent token is back: temporary devices end at once."""
        temporary = [name for name, k in KINDS.items() if k.temporary]
        conn.execute(devices.update().where(devices.c.user_id == user_id)
                     .where(devices.c.kind.in_(temporary)).where(devices.c.status == "active")
                     .values(status="revoked", expires_at=now))

    def replace_token(self, name, serial):
        """A lost token: deactivate it and issue a temporary passcode, in one step
        (a user who has a passcode already keeps the token as it was); the new
        token is enrolled as usual and ends the passcode when activated."""
        name = inputs.username(name)
        now = self.clock()
        with self.engine.begin() as conn:
            user = find(conn, name, lock=True)
            self._set_token_status(conn, user, serial, False, now)
            return self._temp_passcode(conn, user, now)

    def remove_device(self, name, serial):
        """Remove one of a user's devices with its shares and open challenges."""
        name = inputs.username(name)
        now = self.clock()
        with self.engine.begin() as conn:
            user = find(conn, name)
            dev = self._own_device(conn, user, serial)
            conn.execute(delete(shares).where(shares.c.device_id == dev.id))
            conn.execute(delete(challenges).where(challenges.c.device_id == dev.id))
            conn.execute(delete(devices).where(devices.c.id == dev.id))
            audit_log.record(conn, now, name, "%s:%s" % (dev.kind, serial), "remove", "ok", "removed")
        return serial

    def revoke_device(self, name, serial):
        """End a device (e.g. a card that was lost) but keep its record."""
        name = inputs.username(name)
        now = self.clock()
        with self.engine.begin() as conn:
            user = find(conn, name)
            dev = self._own_device(conn, user, serial)
            conn.execute(devices.update().where(devices.c.id == dev.id).values(status="revoked", expires_at=now))
            audit_log.record(conn, now, name, "%s:%s" % (dev.kind, serial), "revoke", "ok", "revoked")
        return serial

    # ---- temporary passcodes and cards ----------------------------------------------

    def issue_temp_passcode(self, name):
        """For a misplaced token: one passcode, shown only now. Full access for a
        while, then for some days more only the issue of an online code card."""
        name = inputs.username(name)
        now = self.clock()
        with self.engine.begin() as conn:
            user = find(conn, name, lock=True)  # two help-desk clicks at once issue one passcode
            return self._temp_passcode(conn, user, now)

    def _temp_passcode(self, conn, user, now):
        k = kind("temp-passcode")
        mine = conn.execute(select(devices).where(devices.c.user_id == user.id)
                            .where(devices.c.kind == k.name)).all()
        if any(status(d, now, self.policy) == "active" for d in mine):
            raise VerifierError("passcode-exists", "%s already has a temporary passcode" % user.username)
        passcode = "".join(secrets.choice(PASSCODE_CHARS) for _ in range(PASSCODE_LENGTH))
        serial = k.serial_prefix + secrets.token_hex(4).upper()
        expires = now + self.policy.temp_full_access + self.policy.temp_card_only
        self._insert_device(conn, user.id, k.name, serial, passcode.encode(), now, expires_at=expires)
        audit_log.record(conn, now, user.username, "%s:%s" % (k.name, serial), "issue", "ok",
                         "temporary passcode issued")
        return {"serial": serial, "passcode": passcode, "full_access_until": now + self.policy.temp_full_access,
                "expires_at": expires}

    def issue_printed_card(self, name):
        """A permanent printed security code card (the lowest level), to be mailed."""
        name = inputs.username(name)
        now = self.clock()
        with self.engine.begin() as conn:
            user = find(conn, name)
            card = self._new_card(conn, user.id, cards.CODE_CARD, now)
            audit_log.record(conn, now, name, "%s:%s" % (card["kind"], card["serial"]), "issue", "ok", "printed card issued")
        return card

    def _new_card(self, conn, user_id, kind_name, now):
        grid = cards.new_grid(self.policy.card_size)
        serial = kind(kind_name).serial_prefix + secrets.token_hex(4).upper()
        expires = now + self.policy.online_card_validity if kind_name == cards.ONLINE_CARD else None
        self._insert_device(conn, user_id, kind_name, serial, cards.encode(grid), now, expires_at=expires)
        return {"kind": kind_name, "serial": serial, "grid": grid, "expires_at": expires}

    def card(self, name, serial):
        """An issued card's grid again, to reprint it (an operator's action, audited)."""
        name = inputs.username(name)
        now = self.clock()
        with self.engine.begin() as conn:
            user = find(conn, name)
            dev = self._own_device(conn, user, serial)
            if dev.kind not in (cards.CODE_CARD, cards.ONLINE_CARD):
                raise VerifierError("no-device", "%s is not a code card" % serial)
            if status(dev, now, self.policy) != "active":
                raise VerifierError("inactive-device", "card %s is %s" % (serial, status(dev, now, self.policy)))
            grid = cards.decode(self.keys.open(dev.secret, "device:%d:secret" % dev.id))
            audit_log.record(conn, now, name, "%s:%s" % (dev.kind, serial), "reprint", "ok", "card shown again")
        return {"kind": dev.kind, "serial": serial, "grid": grid, "expires_at": dev.expires_at}

