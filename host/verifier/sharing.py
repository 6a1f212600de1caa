"""Device sharing: a user may use another user's token when both have the same
identity data and no temporary device, and the owner proves it with their
password and a challenge from that token."""

from sqlalchemy import select

from host.verifier import inputs
from host.verifier.devices import status
from host.verifier.errors import VerifierError
from host.verifier.kinds import KINDS, SHARE, TOKEN, kind
from host.verifier.store import devices
from host.verifier.users import find


class Sharing:
    def start_share(self, requester, owner, owner_password, device=None):
        """`requester` asks to use `owner`'s device; returns the owner's challenge.

        The owner's password is checked first, so until it is right every owner
        name reads the same (bad-credentials, counted toward that name's lockout,
        as at login): the form tells nobody which names exist, nor whose identity
        data match. Only then are the identity data and the devices compared."""
        requester, owner = inputs.username(requester), inputs.username(owner)
        if requester == owner:
            raise VerifierError("same-user", "a user cannot share a device with themselves")
        with self.engine.connect() as conn:
            req = find(conn, requester)
        own = self.check_password(owner, owner_password, SHARE)
        now = self.clock()
        temporary = [name for name, k in KINDS.items() if k.temporary]
        with self.engine.connect() as conn:
            if any(getattr(req, f) != getattr(own, f) or not getattr(req, f) for f in inputs.IDENTITY):
                raise VerifierError("different-identity", "different identification information")
            for uid in (req.id, own.id):
                temp = conn.execute(select(devices).where(devices.c.user_id == uid)
                                    .where(devices.c.kind.in_(temporary))).all()
                if any(status(d, now, self.policy) == "active" for d in temp):
                    raise VerifierError("temporary-device", "a user with a temporary device cannot share devices")
            active = [d for d in conn.execute(select(devices).where(devices.c.user_id == own.id)).all()
                      if status(d, now, self.policy) == "active"]
        if not active:
            raise VerifierError("no-device", "%s has no active device to share" % owner)
        best = max(kind(d.kind).level for d in active)
        chosen = [d for d in active if device is None or d.serial == device]
        if not chosen:
            raise VerifierError("no-device", "%s has no active device %s" % (owner, device))
        pick = max(chosen, key=lambda d: (kind(d.kind).level, d.id))
        if kind(pick.kind).level < best or pick.kind != TOKEN:
            raise VerifierError("less-secure-device", "less secure device")
        return self._issue(own, pick.serial, SHARE, now, payload=str(req.id).encode())
