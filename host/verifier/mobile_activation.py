"""Activating OpenDSC Mobile on a phone (docs/mobile.md, "Activation"): a code
for the portal, the key agreement with the app, and the device it becomes; and
the end of that device when its account is removed from the app ("Removal").

Each step is one transaction that moves an activation from one state to the
next with a conditional update, so two requests with the same code or the same
activation can never both succeed.
"""

import secrets

from sqlalchemy import select

from host import ocra
from host.verifier import audit as audit_log, inputs, mobile
from host.verifier.errors import VerifierError
from host.verifier.kinds import MOBILE, kind
from host.verifier.store import devices, mobile_activations, push_subscriptions, users
from host.verifier.users import find

CODE_CONTEXT = "mobile-activation-code"
PIN_HASH_LENGTH = 20  # SHA-1 of the PIN: the default suite's PSHA1
# A removal is a poll that says so: without the field, a poll's signature could
# be replayed, within its ±60 s, as a removal.
REMOVE_FIELDS = ("remove",)
OPEN, AGREED, DONE = "open", "agreed", "done"


def _keys_context(activation_id):
    return "mobile-activation:%s:keys" % activation_id


class MobileActivation:
    def mobile_activation(self, name):
        """A one-time code for `name` to activate the app with (the portal shows it
        as a QR code and as text): {"code", "serial", "expires_at"}."""
        name = inputs.username(name)
        now = self.clock()
        code = mobile.new_code()
        activation_id = secrets.token_hex(16)
        serial = kind(MOBILE).serial_prefix + secrets.token_hex(4).upper()
        with self.engine.begin() as conn:
            user = find(conn, name)
            digest = self.keys.digest_with(self.keys.current(conn), code.encode(), CODE_CONTEXT)
            conn.execute(mobile_activations.insert().values(
                id=activation_id, user_id=user.id, code_digest=digest, status=OPEN, serial=serial,
                created_at=now, expires_at=now + mobile.CODE_VALIDITY))
            audit_log.record(conn, now, name, "%s:%s" % (MOBILE, serial), "activation", "ok", "code issued")
        return {"code": code, "serial": serial, "expires_at": now + mobile.CODE_VALIDITY}

    def mobile_activate(self, code, ecdh, device_key):
        """The app's first request: the code, its ECDH and device public keys (base64url).
        Returns the server's ECDH key and what the app shows about the account."""
        code = mobile.normalize_code(code)
        app_public = mobile.unb64u(ecdh, "ecdh", mobile.POINT_LENGTH)
        device_public = mobile.unb64u(device_key, "device-key", mobile.POINT_LENGTH)
        mobile.public_key(device_public, "device-key")
        now = self.clock()
        digests = self.keys.digests(code.encode(), CODE_CONTEXT)
        with self.engine.begin() as conn:
            row = conn.execute(
                select(mobile_activations.c.id, mobile_activations.c.serial, users.c.username)
                .join(users, users.c.id == mobile_activations.c.user_id)
                .where(mobile_activations.c.code_digest.in_(digests))
                .where(mobile_activations.c.status == OPEN)
                .where(mobile_activations.c.expires_at > now).with_for_update()).first()
            if row is None:
                raise VerifierError("bad-code", "this activation code is unknown, used or expired")
            server_public, ocra_key, pin_key = mobile.agree(app_public, row.id)
            taken = conn.execute(
                mobile_activations.update()
                .where(mobile_activations.c.id == row.id).where(mobile_activations.c.status == OPEN)
                .values(status=AGREED, device_key=device_public,
                        sealed=self.keys.seal(conn, ocra_key + pin_key, _keys_context(row.id)))).rowcount
            if taken != 1:
                raise VerifierError("bad-code", "this activation code is unknown, used or expired")
            audit_log.record(conn, now, row.username, "%s:%s" % (MOBILE, row.serial), "activation", "ok",
                             "keys agreed")
        return {"activation": row.id, "ecdh": mobile.b64u(server_public), "suite": ocra.DEFAULT_SUITE,
                "serial": row.serial, "user": row.username}

    def mobile_activate_finish(self, activation, pin, signature):
        """The app's second request: the PIN hash sealed for this activation, signed
        with the device key. The phone becomes the user's active `mobile` device,
        and any phone activated before it is revoked."""
        if not isinstance(activation, str) or not 0 < len(activation) <= 32:
            raise VerifierError("bad-activation", "no activation is waiting for its PIN")
        pin_blob = mobile.unb64u(pin, "pin", most=256)
        signed = mobile.unb64u(signature, "signature", mobile.SIGNATURE_LENGTH)
        message = mobile.canonical({"activation": activation, "pin": pin})
        now = self.clock()
        with self.engine.begin() as conn:
            row = conn.execute(
                select(mobile_activations, users.c.username)
                .join(users, users.c.id == mobile_activations.c.user_id)
                .where(mobile_activations.c.id == activation).where(mobile_activations.c.status == AGREED)
                .where(mobile_activations.c.expires_at > now).with_for_update()).first()
            if row is None:
                raise VerifierError("bad-activation", "no activation is waiting for its PIN")
            mobile.check_signature(row.device_key, message, signed)
            keys = self.keys.open(row.sealed, _keys_context(activation))
            ocra_key, pin_key = keys[:32], keys[32:]
            pin_hash = mobile.open_pin(pin_key, activation, pin_blob)
            if len(pin_hash) != PIN_HASH_LENGTH:
                raise VerifierError("bad-pin", "the PIN is not sealed for this activation")
            done = conn.execute(
                mobile_activations.update()
                .where(mobile_activations.c.id == activation).where(mobile_activations.c.status == AGREED)
                .values(status=DONE, sealed=None)).rowcount
            if done != 1:
                raise VerifierError("bad-activation", "no activation is waiting for its PIN")
            for (old,) in conn.execute(select(devices.c.serial).where(devices.c.user_id == row.user_id)
                                       .where(devices.c.kind == MOBILE).where(devices.c.status != "revoked")):
                audit_log.record(conn, now, row.username, "%s:%s" % (MOBILE, old), "revoke", "ok",
                                 "a new phone was activated")
            conn.execute(devices.update().where(devices.c.user_id == row.user_id).where(devices.c.kind == MOBILE)
                         .where(devices.c.status != "revoked").values(status="revoked"))
            dev_id = self._insert_device(conn, row.user_id, MOBILE, row.serial, ocra_key, now,
                                         suite=ocra.DEFAULT_SUITE, status="active")
            conn.execute(devices.update().where(devices.c.id == dev_id).values(
                pin=self.keys.seal(conn, pin_hash, "device:%d:pin" % dev_id), public_key=row.device_key))
            audit_log.record(conn, now, row.username, "%s:%s" % (MOBILE, row.serial), "activation", "ok",
                             "phone activated")
        return {"serial": row.serial, "user": row.username}

    def mobile_remove(self, message, signature):
        """The app's account removed on the phone: the canonical signed
        {device, poll, remove: true}, within a poll's ±60 s, revokes that phone, so no
        login waits for a phone that has forgotten its keys. Returns {"serial", "user"}."""
        now = self.clock()
        obj = mobile.parse_poll(message, now, REMOVE_FIELDS)
        if obj["remove"] is not True:
            raise VerifierError("bad-message", "remove is true")
        signed = mobile.unb64u(signature, "signature", mobile.SIGNATURE_LENGTH)
        with self.engine.begin() as conn:
            dev = self._signing_phone(conn, obj["device"], message, signed)
            if conn.execute(devices.update().where(devices.c.id == dev.id).where(devices.c.status == "active")
                            .values(status="revoked", expires_at=now)).rowcount != 1:  # a racing removal won
                raise VerifierError("bad-signature", "the signature is not the device's")
            conn.execute(push_subscriptions.delete().where(push_subscriptions.c.device_id == dev.id))
            name = conn.execute(select(users.c.username).where(users.c.id == dev.user_id)).scalar()
            audit_log.record(conn, now, name, "%s:%s" % (MOBILE, dev.serial), "revoke", "ok", "removed in the app")
        return {"serial": dev.serial, "user": name}
