"""Security code cards: the challenge is two index numbers, the response the two codes."""

from host.verifier import cards
from host.verifier.kinds.base import DeviceKind, register


class _Card(DeviceKind):
    prompt = "Find the two numbered codes on your card and type them together"
    response_hint = "type the two codes' 6 digits only, without spaces"

    def challenge(self, device, verifier, signing_challenge=False):
        return cards.challenge_text(*cards.new_challenge(verifier.policy.card_size))

    def check(self, device, secret, challenge, response, now, verifier, pin_hash=None, signed=None):
        return {} if cards.check(cards.decode(secret), challenge, response) else None


@register
class PrintedCard(_Card):
    """A permanent printed card, mailed to the user: the lowest level."""
    name = cards.CODE_CARD
    level = 10
    serial_prefix = "CC-"


@register
class OnlineCard(_Card):
    """A card the user prints while their token is misplaced; it expires."""
    name = cards.ONLINE_CARD
    level = 20
    temporary = True
    serial_prefix = "OC-"
