"""The OCRA hardware token (RFC 6287): the PIN is an input of the response."""

import secrets

from dsc import signing

from host.verifier.kinds.base import PURPOSES, DeviceKind, register


@register
class Token(DeviceKind):
    name = "token"
    level = 40
    purposes = frozenset(PURPOSES)
    withdrawal_limits = None
    signs = True
    prompt = "Press the power key, key your PIN and OK, key this challenge and OK, and type the response"
    signing_prompt = ("Press the power key, then A, key your PIN and OK, then this challenge, the amount and the "
                      "destination digits, each with OK, and type the signature")

    def challenge(self, device, verifier, signing_challenge=False):
        n = signing.CHALLENGE_DIGITS if signing_challenge else verifier.suite(device.suite).question_length
        return "%0*d" % (n, secrets.randbelow(10 ** n))

    def check(self, device, secret, challenge, response, now, verifier, pin_hash=None, signed=None):
        if signed is None:
            suite = verifier.suite(device.suite)
        else:  # a signature: its own suite, over the challenge, the amount and the destination's digits
            suite = verifier.suite(signing.suite_for(device.suite))
            challenge = signing.question(challenge, *signed)
        if len(response) != suite.digits:
            return None
        if suite.pin_hash and pin_hash is None:
            pin_hash = verifier.keys.open(device.pin, "device:%d:pin" % device.id)
        check = suite.verifier(secret, pin_hash=pin_hash) if suite.pin_hash else suite.verifier(secret)
        policy = verifier.policy
        if suite.counter:
            for c in range(device.counter, device.counter + policy.counter_window + 1):
                if check.verify(challenge, response, counter=c):
                    return {"counter": c + 1}
            return None
        if suite.time_step:
            step = int(now) // suite.time_step
            w = policy.time_window
            return {} if any(check.verify(challenge, response, timestamp=t) for t in range(step - w, step + w + 1)) else None
        return {} if check.verify(challenge, response) else None
