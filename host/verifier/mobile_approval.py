"""Approving a login on the phone (docs/mobile.md, "Login with approval"): the
app's signed poll for what waits, and its signed answer.

An answer is checked against the device key before anything changes; then it
takes one of the challenge's tries and is judged by the same step as a typed
response (Challenges._judge), so a right approval closes the challenge and its
replay finds it used. A wrong PIN is a wrong response: counted toward the
lockout, and the challenge stays open while tries remain, so the request shows
again on the phone (a replayed wrong answer only spends another try, as any
wrong response sent with the transaction id would). A wrong number is counted
too but ends the login at once: with three numbers to pick from, more tries
would let a login the person did not start through by trying each. A decline,
signed like an approval, ends the login at once and counts nothing.

A withdrawal is signed (transaction signing, docs/protocol.md "Signing"): the poll
shows its amount and destination, the phone's OCRA response is the signature over
them, and its signed answer names them. An approval naming other values than the
stored ones is a wrong response, whatever its OCRA response.
"""

from sqlalchemy import select

from host.verifier import audit as audit_log, inputs, mobile
from host.verifier.challenges import _CLOSE, APPROVED, CHALLENGE_ID
from host.verifier.errors import VerifierError
from host.verifier.kinds import MOBILE, WITHDRAWAL, kind
from host.verifier.store import challenges, devices, users
from host.verifier.timefmt import iso

WAITING_MAX = 10  # requests one poll returns: more than a person can have open


def signed_values(row):
    """A withdrawal challenge's amount and destination as the phone shows them and
    names in its signed answer (docs/mobile.md)."""
    return {"amount": str(row.amount), "destination": row.destination, "destination_digits": row.destination_digits}


def _same_values(answer, row):
    return all(answer[k] == v for k, v in signed_values(row).items())  # public values, not secrets


class MobileApproval:
    def mobile_waiting(self, message, signature):
        """The logins waiting for the phone that signed this poll, oldest first:
        who, from where, when, what for, the question, and three numbers to pick from."""
        now = self.clock()
        poll = mobile.parse_poll(message, now)
        signed = mobile.unb64u(signature, "signature", mobile.SIGNATURE_LENGTH)
        with self.engine.connect() as conn:
            dev = self._signing_phone(conn, poll["device"], message, signed)
            rows = conn.execute(
                select(challenges.c.id, challenges.c.purpose, challenges.c.challenge, challenges.c.number,
                       challenges.c.origin, challenges.c.created_at, challenges.c.expires_at, challenges.c.amount,
                       challenges.c.destination, challenges.c.destination_digits, users.c.username)
                .join(users, users.c.id == challenges.c.user_id)
                .where(challenges.c.device_id == dev.id).where(challenges.c.consumed == 0)
                .where(challenges.c.expires_at > now).where(challenges.c.number.is_not(None))
                .order_by(challenges.c.created_at).limit(WAITING_MAX)).all()
        waiting = []
        for row in rows:
            item = {"transaction": row.id, "user": row.username, "purpose": row.purpose, "origin": row.origin or "",
                    "at": iso(row.created_at), "expires_at": iso(row.expires_at), "question": row.challenge,
                    "numbers": mobile.numbers_to_pick(row.number)}
            if row.purpose == WITHDRAWAL:  # the person sees what they confirm, and the app signs over it
                item.update(signed_values(row))
            waiting.append(item)
        return waiting

    def mobile_answer(self, message, signature):
        """The phone's signed approval or decline of one login. Returns what
        Challenges.finish returns, or {"ok": False, "reason": "declined"}."""
        answer = mobile.parse_answer(message)
        signed = mobile.unb64u(signature, "signature", mobile.SIGNATURE_LENGTH)
        challenge_id = answer["transaction"]
        if not CHALLENGE_ID.fullmatch(challenge_id):
            raise VerifierError("bad-challenge-id", "no such challenge")
        now = self.clock()
        with self.engine.begin() as conn:
            row = self._locked(conn, challenge_id)
            if row is None or row.kind != MOBILE or row.public_key is None or row.number is None:
                raise VerifierError("bad-challenge-id", "no such challenge")
            mobile.check_signature(row.public_key, message.encode(), signed)  # before anything changes
            if ("amount" in answer) != (row.purpose == WITHDRAWAL):
                raise VerifierError("bad-message", "a withdrawal's answer, and only its, names its amount and "
                                                   "destination")
            if answer["decision"] == "decline":
                return self._decline(conn, row, now)
            response = kind(row.kind).normalize(answer["response"])
            if row.purpose == WITHDRAWAL and not _same_values(answer, row):
                # approved as shown for another withdrawal (changed on the way): a wrong response,
                # counted and audited with the stored values, whatever response it carries
                response = ""
            result = self._judge(conn, row, response, now, wrong_number=answer["number"] != row.number,
                                 accepted=APPROVED)  # the service waiting for it takes it once: complete()
        result.pop("card", None)  # an online card approved on the phone is the portal's to show, not the phone's
        return result

    def mobile_approved(self, challenge_id):
        """Read-only: whether a phone approved this challenge and no service has taken
        the approval yet (complete() would take it now), for a service that polls."""
        if not isinstance(challenge_id, str) or not CHALLENGE_ID.fullmatch(challenge_id):
            return False
        with self.engine.connect() as conn:
            return conn.execute(select(challenges.c.id).where(challenges.c.id == challenge_id)
                                .where(challenges.c.accepted == APPROVED)).first() is not None

    def _decline(self, conn, row, now):
        if conn.execute(_CLOSE, {"challenge_id": row.challenge_id}).rowcount != 1:
            return {"ok": False, "reason": "challenge already used"}
        conn.execute(challenges.update().where(challenges.c.id == row.challenge_id).values(declined=1))
        audit_log.record(conn, now, row.username, kind(row.kind).describe(row), row.purpose, "fail", "declined")
        return {"ok": False, "reason": "declined"}

    def _signing_phone(self, conn, serial, message, signed):
        """The active phone `serial` whose key signed `message`; one refusal for every failure,
        so a poll cannot tell an unknown phone from a wrong signature."""
        try:
            serial = inputs.serial(serial)
        except VerifierError:
            raise VerifierError("bad-signature", "the signature is not the device's")
        dev = conn.execute(select(devices).where(devices.c.kind == MOBILE).where(devices.c.serial == serial)
                           .where(devices.c.status == "active")).first()
        if dev is None or dev.public_key is None:
            raise VerifierError("bad-signature", "the signature is not the device's")
        mobile.check_signature(dev.public_key, message.encode(), signed)
        return dev
