"""Challenges: the password step, issuing a challenge for a device, and judging
the response.

Every state change is one transaction: the lockout row is locked while a
password attempt is counted, each response to a challenge takes one of its
tries (Policy.challenge_tries) by one conditional UPDATE whichever process gets
there first, the first right response or the last try closes it (consumed = 1),
and a right response's effects (activation, PIN change, withdrawal, share,
card) commit with it or not at all.
"""

import re
import secrets
import time

from sqlalchemy import bindparam, select

from host.verifier import audit as audit_log, inputs, passwords, store, withdrawals
from host.verifier.devices import USABLE_QUERY, status
from host.verifier.errors import VerifierError
from host.verifier.lockout import COUNTING, PENDING
from host.verifier.kinds import (ACTIVATION, CARD, LOGIN, MOBILE, PIN_CHANGE, PURPOSES, SHARE, TOKEN, WITHDRAWAL,
                                 kind)
from host.verifier.store import challenges, devices, lockouts, shares, users
from host.verifier.timefmt import iso

CHALLENGE_ID = re.compile(r"[0-9a-f]{32}")
# challenges.accepted: a typed right response; a phone's approval; that approval taken by complete().
ACCEPTED, APPROVED, COMPLETED = 1, 2, 3
# One read for a verification: the challenge, its user, and the device it is for.
_FINISH_QUERY = (
    select(challenges.c.id.label("challenge_id"), challenges.c.user_id.label("challenge_user"),
           challenges.c.purpose, challenges.c.challenge, challenges.c.payload, challenges.c.expires_at,
           challenges.c.consumed, challenges.c.attempts, challenges.c.number, challenges.c.amount,
           challenges.c.destination, challenges.c.destination_digits, users.c.username, devices)
    .join(users, users.c.id == challenges.c.user_id)
    .join(devices, devices.c.id == challenges.c.device_id)
    .where(challenges.c.id == bindparam("challenge_id"))
)
# A verification's locked read (SELECT ... FOR UPDATE on PostgreSQL; BEGIN IMMEDIATE
# on SQLite): the challenge, its device and its user, with the user's lockout row
# (lockout.py), so one statement takes every lock the verification needs.
_FINISH_LOCKED = (_FINISH_QUERY.add_columns(lockouts.c.reset_id, COUNTING.label("counting"))
                  .join(lockouts, lockouts.c.name == users.c.username).with_for_update())
_OWNER = select(users.c.username).join(challenges, challenges.c.user_id == users.c.id).where(
    challenges.c.id == bindparam("challenge_id"))
# Takes the try that _judge judged, under the lock of _FINISH_LOCKED's read (whose
# attempts it must still find), and closes the challenge when nothing more is to be
# judged on it: one statement whatever the verdict.
_TAKE_TRY = (challenges.update().where(challenges.c.id == bindparam("challenge_id"))
             .where(challenges.c.consumed == 0).where(challenges.c.attempts == bindparam("seen"))
             .values(attempts=challenges.c.attempts + 1, consumed=bindparam("close"),
                     accepted=bindparam("accept")))
# Ends a challenge: nothing more is judged on it.
_CLOSE = (challenges.update().where(challenges.c.id == bindparam("challenge_id")).where(challenges.c.consumed == 0)
          .values(consumed=1))
_USER = select(users).where(users.c.username == bindparam("name"))
BAD_CREDENTIALS = "wrong user name or password"
# A password check that only pending checks would lock out waits this long for them
# to settle (each is one password hash), looking every PENDING_POLL seconds.
PENDING_WAIT = 10.0
PENDING_POLL = 0.02


class _Refuse(Exception):
    """A right response whose purpose cannot be carried out (e.g. a limit reached meanwhile)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class Challenges:
    # ---- the first factor ------------------------------------------------------------

    def check_password(self, name, password, purpose=LOGIN):
        """The user row when `password` is theirs; VerifierError otherwise.

        The lock check, the count and the password check are one step: the attempt
        is counted as a failure, with the name's lockout row locked, before the
        slow password hash runs, and taken back only when the password was right.
        So however many guesses race, at most lockout_failures get a truthful answer.
        Unknown names are counted and answered exactly like wrong passwords."""
        name = inputs.username(name)
        password = password if isinstance(password, str) else ""
        waited_until = time.monotonic() + PENDING_WAIT
        while True:
            now = self.clock()
            with self.engine.begin() as conn:
                locked, _, pending_lock = self.lockout.admit(conn, name, now)
                if pending_lock is not None and time.monotonic() >= waited_until:
                    locked = pending_lock  # the checks in flight did not settle in time: fail-closed
                if locked or pending_lock is None:
                    attempt = self.lockout.fail(conn, name, now, "locked" if locked else PENDING)
                    if locked:
                        audit_log.record(conn, now, name, "", purpose, "fail", "locked")
                    break
            time.sleep(PENDING_POLL)  # only checks in flight would lock the name: see how they end
        if locked:
            raise VerifierError("locked", self.lockout.message(now + self.policy.lockout_duration))
        with self.engine.connect() as conn:
            user = conn.execute(_USER, {"name": name}).first()
        if user is None:
            right = passwords.check_nobody(password)
        else:
            right = passwords.check_password(password, user.password_hash)
        with self.engine.begin() as conn:
            if right:
                self.lockout.forgive(conn, attempt)
            else:
                reason = "wrong password" if user else "unknown user"
                self.lockout.confirm(conn, attempt, name, now, reason)
                audit_log.record(conn, now, name, "", purpose, "fail", reason)
        if not right:
            raise VerifierError("bad-credentials", BAD_CREDENTIALS)
        return user

    def start(self, name, password, device=None, purpose=LOGIN, new_pin=None, amount=None, origin=None,
              destination=None, destination_digits=None):
        """Check the password, then issue a challenge for a device of the user's.
        What a purpose needs (a new PIN; a withdrawal's amount and destination, whose
        digits to key default to the text's last 8) is checked before anything counts.
        `origin`: where the login comes from (address, application), shown by a phone that approves it."""
        needs = self._purpose_input(purpose, new_pin, amount, origin, destination, destination_digits)
        user = self.check_password(name, password, purpose)
        now = self.clock()
        try:
            return self._issue(user, device, purpose, now, **needs)
        except VerifierError as e:
            if e.code == "no-device":  # the portal answers it like a wrong password: the reason is kept here
                with self.engine.begin() as conn:
                    audit_log.record(conn, now, user.username, "", purpose, "fail", "no usable device")
            raise

    def issue(self, name, device=None, purpose=LOGIN, new_pin=None, amount=None, origin=None, destination=None,
              destination_digits=None):
        """A challenge for a user whose first factor a portal has already checked."""
        needs = self._purpose_input(purpose, new_pin, amount, origin, destination, destination_digits)
        name = inputs.username(name)
        with self.engine.connect() as conn:
            user = conn.execute(_USER, {"name": name}).first()
        if user is None:
            raise VerifierError("no-user", "no user %s" % name)
        return self._issue(user, device, purpose, self.clock(), **needs)

    def _purpose_input(self, purpose, new_pin, amount, origin=None, destination=None, destination_digits=None):
        needs = {"origin": inputs.origin(origin)} if origin is not None else {}
        needs.update(self._purpose_needs(purpose, new_pin, amount, destination, destination_digits))
        return needs

    def _purpose_needs(self, purpose, new_pin, amount, destination=None, destination_digits=None):
        if purpose not in PURPOSES:
            raise VerifierError("bad-purpose", "purpose must be one of " + ", ".join(PURPOSES))
        if purpose == SHARE:
            raise VerifierError("bad-purpose", "a share starts from the owner's side (dsc token share)")
        if purpose == WITHDRAWAL:
            amount = inputs.amount(amount)
            if destination is None:
                raise VerifierError("bad-destination", "a withdrawal needs its destination account")
            return {"amount": amount, "destination": inputs.destination(destination, destination_digits)}
        if amount is not None:
            raise VerifierError("bad-amount", "only a withdrawal takes an amount")
        if destination is not None or destination_digits is not None:
            raise VerifierError("bad-destination", "only a withdrawal takes a destination")
        if purpose == PIN_CHANGE:
            return {"new_pin": inputs.pin(new_pin, "the new PIN")}
        if new_pin is not None:
            raise VerifierError("bad-pin", "only a PIN change takes a new PIN")
        return {}

    def _issue(self, user, device, purpose, now, new_pin=None, amount=None, payload=None, origin=None,
               destination=(None, None)):
        if device is not None:
            device = inputs.serial(device)
        with self.engine.begin() as conn:
            dev = self._pick_device(conn, user.id, device, purpose, now, amount)
            k = kind(dev.kind)
            signs = purpose == WITHDRAWAL and k.signs  # the response is a signature over the amount and destination
            if purpose == PIN_CHANGE:
                suite = self.suite(dev.suite)
                if not suite.pin_hash:
                    raise VerifierError("no-pin", "this token's suite takes no PIN")
                payload = suite.pin_digest(new_pin)
            challenge_id = secrets.token_hex(16)
            text = k.challenge(dev, self, signing_challenge=signs)
            number = k.number_to_match()
            conn.execute(challenges.insert(), dict(
                id=challenge_id, user_id=user.id, device_id=dev.id, purpose=purpose, challenge=text,
                payload=self.keys.seal(conn, payload, "challenge:%s:payload" % challenge_id) if payload else None,
                created_at=now, expires_at=now + self.policy.challenge_ttl, consumed=0, number=number,
                origin=origin, declined=0, amount=amount, destination=destination[0],
                destination_digits=destination[1]))
        if dev.kind == MOBILE:  # committed: the server may wake the phone (mobile_push.py)
            self._notify_phone(dev.id)
        expires = now + self.policy.challenge_ttl
        issued = {"challenge_id": challenge_id, "challenge": text, "device": dev.serial, "serial": dev.serial,
                  "kind": dev.kind, "purpose": purpose, "expires_at": iso(expires),
                  "expires_in": self.policy.challenge_ttl, "prompt": k.signing_prompt if signs else k.prompt,
                  "amount": amount}
        if number is not None:
            issued["number"] = number
        if purpose == WITHDRAWAL:
            issued.update(destination=destination[0], destination_digits=destination[1])
        if signs:  # what the user keys into the token, in this order; or checks on the phone, which shows it
            issued["sign"] = {"challenge": text, "amount": str(amount), "destination": destination[1],
                              "entry": "phone" if dev.kind == MOBILE else "keypad"}
        return issued

    def _pick_device(self, conn, user_id, serial, purpose, now, amount=None):
        mine = conn.execute(USABLE_QUERY, {"user_id": user_id}).all()  # own and shared with the user
        usable = [d for d in mine if self._may_confirm(d, purpose, now) and (serial is None or d.serial == serial)]
        if not usable:
            what = "device %s" % serial if serial else "device"
            raise VerifierError("no-device", "no %s that can confirm a %s for this user" % (what, purpose))
        if purpose == WITHDRAWAL:
            usable = [d for d in usable if withdrawals.allows(conn, self.policy, user_id, d.kind, amount, now)]
            if not usable:
                raise VerifierError("limit", "the amount exceeds the withdrawal limits of your devices")
        return max(usable, key=lambda d: (kind(d.kind).level, d.id))

    def _may_answer(self, dev, purpose, now):
        """Whether `dev` may still answer its open challenge for `purpose`: the rule it
        was asked under, except that a token being activated may have turned active
        meanwhile (the activation delay). A device the help desk revoked, or its user
        turned off or removed from a phone, answers nothing more."""
        if purpose == ACTIVATION:
            return ACTIVATION in kind(dev.kind).purposes and status(dev, now, self.policy) in ("shipped", "inactive",
                                                                                              "active")
        return self._may_confirm(dev, purpose, now)

    def _may_confirm(self, dev, purpose, now):
        k = kind(dev.kind)
        now_status = status(dev, now, self.policy)
        if purpose == ACTIVATION:  # a new token, or one turned off as misplaced and found again
            return ACTIVATION in k.purposes and now_status in ("shipped", "inactive")
        return now_status == "active" and k.may_confirm(purpose, dev, now, self.policy)

    # ---- the second factor -----------------------------------------------------------

    def challenge_state(self, challenge_id):
        """Read-only: "pending" while a challenge can still be answered (a wrong
        response may leave tries), "accepted" once a right response was taken,
        "declined" once the user's phone declined it, "closed" once its tries were
        used, a refusal ended it or it expired, None for an unknown id.
        Only who holds the challenge id may ask (it is a 128-bit random value),
        e.g. a login page waiting for a phone's approval."""
        if not isinstance(challenge_id, str) or not CHALLENGE_ID.fullmatch(challenge_id):
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(challenges.c.consumed, challenges.c.accepted, challenges.c.declined,
                                      challenges.c.expires_at).where(challenges.c.id == challenge_id)).first()
        if row is None:
            return None
        if row.accepted:
            return "accepted"
        if row.declined:
            return "declined"
        return "pending" if not row.consumed and self.clock() < row.expires_at else "closed"

    def complete(self, challenge_id, purpose=None):
        """A login approved on a phone, taken once by the service that waited for it
        (privacyIDEA's /validate/check with an empty pass and the transaction id):
        {"ok": True, "user", "device", "kind", "purpose"}, or None when it was not
        approved, is not yet, or was taken already (or, with `purpose`, is for another
        purpose). A typed response needs no completing, so its challenge cannot be taken this way."""
        if not isinstance(challenge_id, str) or not CHALLENGE_ID.fullmatch(challenge_id):
            return None
        taking = challenges.update().where(challenges.c.id == challenge_id).where(challenges.c.accepted == APPROVED)
        if purpose is not None:
            taking = taking.where(challenges.c.purpose == purpose)
        with self.engine.begin() as conn:
            taken = conn.execute(taking.values(accepted=COMPLETED)).rowcount
            if taken != 1:
                return None
            row = conn.execute(_FINISH_QUERY, {"challenge_id": challenge_id}).first()
        return {"ok": True, "user": row.username, "device": row.serial, "kind": row.kind, "purpose": row.purpose}

    def finish(self, challenge_id, response, purpose=None):
        """Judge a response: one of the challenge's tries, counted and audited.

        Returns {"ok": True, ...} or {"ok": False, "reason": ...}; a wrong response
        says how many tries the challenge has left ("tries_left", 0 once it is
        closed). Malformed input raises VerifierError and changes nothing; so does,
        with `purpose`, a challenge for another purpose (a login-only service must
        not confirm a withdrawal, even one it was handed the id of)."""
        if not isinstance(challenge_id, str) or not CHALLENGE_ID.fullmatch(challenge_id):
            raise VerifierError("bad-challenge-id", "no such challenge")
        if not isinstance(response, str) or not 0 < len(response) <= 32 or not response.isascii() or not response.isalnum():
            raise VerifierError("bad-response", "type the response's digits only, without spaces")
        now = self.clock()
        with self.engine.begin() as conn:
            row = self._locked(conn, challenge_id)
            if row is None or (purpose is not None and row.purpose != purpose):
                raise VerifierError("bad-challenge-id", "no such challenge")
            return self._judge(conn, row, kind(row.kind).normalize(response), now)  # normalized before anything changes

    def _locked(self, conn, challenge_id):
        """_FINISH_LOCKED's row for a challenge, or None when there is no such challenge.
        A user with no lockout row yet (none failed, or `dsc db sweep` removed it) gets
        one first, as Lockout.check would make it."""
        row = conn.execute(_FINISH_LOCKED, {"challenge_id": challenge_id}).first()
        if row is None:
            owner = conn.execute(_OWNER, {"challenge_id": challenge_id}).scalar()
            if owner is None:
                return None
            store.insert_missing(conn, lockouts, name=owner, reset_id=0)
            row = conn.execute(_FINISH_LOCKED, {"challenge_id": challenge_id}).first()
        return row

    def _judge(self, conn, row, response, now, wrong_number=False, accepted=ACCEPTED):
        """Take one try of the challenge `row` (_FINISH_LOCKED's: its row is locked,
        so row.attempts is current) and judge `response`, in the caller's
        transaction. Only a wrong response leaves it open, while tries remain and
        that failure did not lock the user; anything else closes it: a right
        response (marked `accepted`, APPROVED for a phone's approval, which
        complete() then takes once), the last try, a lock, an expired challenge, a
        device no longer usable, a wrong number picked on a phone (number matching
        must not be guessed over several tries)."""
        tries = self.policy.challenge_tries
        if row.consumed or row.attempts >= tries:
            return {"ok": False, "reason": "challenge already used"}
        streak = []  # _verdict puts the user's counting failures before this try here
        result = self._verdict(conn, row, response, now, wrong_number, accepted, streak)
        wrong = result.get("reason") == "wrong response"
        left = tries - row.attempts - 1 if wrong else 0
        if left and self.lockout.locked_after(streak, now, "wrong response"):
            left = 0  # this failure locked the user: no response can be taken now
        taken = conn.execute(_TAKE_TRY, {"challenge_id": row.challenge_id, "seen": row.attempts,
                                         "close": 0 if left else 1, "accept": accepted if result["ok"] else 0})
        if taken.rowcount != 1:  # cannot happen under the row's lock; if it did, nothing of this try may stay
            raise RuntimeError("challenge %s changed under its lock" % row.challenge_id)
        if wrong:
            result["tries_left"] = left
        return result

    def _verdict(self, conn, row, response, now, wrong_number, accepted, streak):
        """_judge's verdict on one try, its failure counted and its event audited;
        `streak` receives the user's counting failures before it (Lockout.check's)."""
        challenge_id = row.challenge_id
        k = kind(row.kind)
        name, label = row.username, k.describe(row)
        if now >= row.expires_at:
            audit_log.record(conn, now, name, label, row.purpose, "fail", "expired", challenge=row)
            return {"ok": False, "reason": "challenge expired"}
        locked, counting, failures = self.lockout.check(
            conn, name, now, row.reset_id, counting=row.counting or not store.one_writer_at_a_time(conn))
        streak.extend(failures)
        if locked:
            self.lockout.fail(conn, name, now, "locked")
            audit_log.record(conn, now, name, label, row.purpose, "fail", "locked", challenge=row)
            return {"ok": False, "reason": "locked",
                    "message": self.lockout.message(now + self.policy.lockout_duration)}
        if not self._may_answer(row, row.purpose, now):  # revoked, turned off or expired since it was asked
            audit_log.record(conn, now, name, label, row.purpose, "fail", "device not usable", challenge=row)
            return {"ok": False, "reason": "device not usable"}
        if wrong_number:
            self.lockout.fail(conn, name, now, "wrong number")
            audit_log.record(conn, now, name, label, row.purpose, "fail", "wrong number", challenge=row)
            return {"ok": False, "reason": "wrong number"}
        payload = self.keys.open(row.payload, "challenge:%s:payload" % challenge_id) if row.payload else None
        secret = self.keys.open(row.secret, "device:%d:secret" % row.id)
        # a signing device's response to a withdrawal must be a signature over the amount and
        # destination stored with the challenge: one for other values is a wrong response
        signed = (row.amount, row.destination_digits) if row.purpose == WITHDRAWAL and k.signs else None
        matched = k.check(row, secret, row.challenge, response, now, self,
                          pin_hash=payload if row.purpose == PIN_CHANGE else None, signed=signed)
        if matched is None:
            self.lockout.fail(conn, name, now, "wrong response")
            audit_log.record(conn, now, name, label, row.purpose, "fail", "wrong response", challenge=row)
            return {"ok": False, "reason": "wrong response"}
        try:
            extra = self._carry_out(conn, row, payload, now)
        except _Refuse as refused:
            audit_log.record(conn, now, name, label, row.purpose, "fail", refused.code, challenge=row)
            return {"ok": False, "reason": refused.code, "message": str(refused)}
        changes = dict(matched)
        if row.purpose == ACTIVATION or (row.status == "shipped" and status(row, now, self.policy) == "active"):
            changes.update(status="active", activated_at=now)
        if row.purpose == PIN_CHANGE:
            changes["pin"] = self.keys.seal(conn, payload, "device:%d:pin" % row.id)
        if changes:
            conn.execute(devices.update().where(devices.c.id == row.id).values(**changes))
        if changes.get("status") == "active" and row.kind == TOKEN:
            self._revoke_temporary(conn, row.user_id, now)
        if counting:
            self.lockout.reset(conn, name, now)
        audit_log.record(conn, now, name, label, row.purpose, "ok", challenge=row)
        result = {"ok": True, "user": name, "device": row.serial, "kind": row.kind, "purpose": row.purpose}
        result.update(extra or {})
        return result

    def _carry_out(self, conn, row, payload, now):
        """What a right response for each purpose does beyond logging in."""
        if row.purpose == WITHDRAWAL:
            if not withdrawals.allows(conn, self.policy, row.user_id, row.kind, row.amount, now, locked=True):
                raise _Refuse("limit", "the amount exceeds this device's withdrawal limits")
            withdrawals.record(conn, row.user_id, row, now)
            return {"amount": row.amount, "destination": row.destination, "destination_digits": row.destination_digits}
        if row.purpose == SHARE:
            requester = int(payload.decode())
            who = conn.execute(select(users.c.username).where(users.c.id == requester)).scalar()
            if who is None:
                raise _Refuse("no-user", "the user who asked to share no longer exists")
            if conn.execute(select(shares.c.user_id).where(shares.c.device_id == row.id)
                            .where(shares.c.user_id == requester)).first() is None:
                conn.execute(shares.insert().values(device_id=row.id, user_id=requester, created_at=now))
            return {"shared_with": who}
        if row.purpose == CARD:
            card = self._new_card(conn, row.challenge_user, "online-card", now)
            return {"card": card}
        return None
