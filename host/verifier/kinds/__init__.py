"""Device kinds, one module each, registered by name: a new kind is a new module
imported here."""

from host.verifier.kinds import cards, mobile, passcode, token  # noqa: F401  (they register themselves)
from host.verifier.kinds.base import (ACTIVATION, CARD, KINDS, LOGIN, PIN_CHANGE, PURPOSES, SHARE,  # noqa: F401
                                      WITHDRAWAL, DeviceKind, kind, register)

TOKEN = token.Token.name
MOBILE = mobile.MobileApp.name
