"""Debug link: press keys and read the screen over the serial link.

Only in debug builds and the simulator. Importing this module adds its commands
to the protocol's command table; the top of the firmware (app.py, the simulator)
imports it when it is there. A release bundle leaves this file out, so malware on
the host can never press OK or read a response.
"""

from dsc import protocol
from dsc import ui as _ui
from dsc.protocol import RequestError, allow

WAIT_DEFAULT_MS = 1000
WAIT_MAX_MS = 30000
MAX_PRESSES = 64


def _press(link, command, args):
    allow(command, args, ("keys",))
    keys = args.get("keys", "").split(",")
    if len(keys) > MAX_PRESSES or any(k not in _ui.KEYS and k not in _ui.FUNCTION_KEYS for k in keys):
        raise RequestError(command, "bad-argument", "keys=K,K,... with K in 0-9, OK, C, PWR, F1-F4")
    for k in keys:
        link.token.key(k)
    link.ok(command, (("count", len(keys)),))


def _display(link, command, args):
    allow(command, args, ())
    link.ok(command, _screen(link))


def _state(link, command, args):
    allow(command, args, ())
    ui = link.token.ui
    link.ok(command, (("ui", ui.state), ("entered", ui.entered), ("signing", 1 if ui.signing else 0)))


def _number(command, args, name, default, high):
    text = args.get(name, default)
    if not text or len(text) > 9 or any(c not in "0123456789" for c in text) or int(text) > high:
        raise RequestError(command, "bad-argument", name + " must be a number up to " + str(high))
    return int(text)


def _wait(link, command, args):
    allow(command, args, ("gen", "ms"))
    if "gen" not in args:
        raise RequestError(command, "bad-argument", "gen=N is required (from `display`)")
    gen = _number(command, args, "gen", "", 999999999)
    ms = _number(command, args, "ms", str(WAIT_DEFAULT_MS), WAIT_MAX_MS)
    if link.waiter is not None:
        raise RequestError(command, "busy", "a wait is already pending")
    link.waiter = (gen, link.token.now() + ms)
    poll_wait(link, link.token.now())


def poll_wait(link, now):
    """Answer a pending `wait` once the screen changed or its time is up."""
    gen, deadline = link.waiter
    changed = link.token.ui.gen != gen
    if changed or now - deadline >= 0:
        link.waiter = None
        link.ok("wait", (("changed", 1 if changed else 0),) + _screen(link))


def _screen(link):
    ui = link.token.ui
    return (("line1", ui.lines[0]), ("line2", ui.lines[1]), ("gen", ui.gen))


protocol.add_commands({"press": _press, "display": _display, "state": _state, "wait": _wait}, poll_wait)
