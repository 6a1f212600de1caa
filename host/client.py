"""Talk to a token over its serial link (docs/protocol.md)."""

import time

from dsc.quoting import quote, unquote
from host.transport import HostError, close_port, open_port

CONFIRM_TIMEOUT = 35.0  # the token gives a person 30 s to press OK
# Sent before the first request: a byte no request may hold (CAN), then LF. If a
# previous client left half a line in the token, this turns it into a malformed
# line (`ERR - bad-request`) instead of completing it: a stale `wipe` is never run.
CANCEL = b"\x18\n"


def reply_value(value):
    """A reply field's value, percent-decoded; HostError (one line) if malformed."""
    try:
        return unquote(value)
    except ValueError:  # UnicodeError is a ValueError too
        raise HostError("the token sent a malformed value %r" % value[:40])


class TokenError(HostError):
    """The token answered ERR: `.code` is the protocol's error code."""

    def __init__(self, command, code, message):
        super().__init__("token refused %s: %s (%s)" % (command, message, code))
        self.command = command
        self.code = code


class Reply(dict):
    """An OK reply's fields."""


class TokenClient:
    def __init__(self, port, timeout=5.0):
        self.port = port
        self.timeout = timeout
        self._serial = open_port(port, timeout)
        self._sync()

    def close(self):
        close_port(self._serial)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- framing ------------------------------------------------------------

    def _sync(self):
        """Make any half-line a previous client left harmless, then check the token
        answers: whatever comes before our ping's reply (the cancelled line's
        `ERR - bad-request`, a stale reply) is skipped."""
        self._send(CANCEL + b"ping\n")
        deadline = time.monotonic() + self.timeout
        while True:
            kind, name, rest = _split(self._read_line(deadline))
            if name != "ping":
                continue
            if kind == "OK":
                return
            if kind == "ERR":
                code, _, message = rest.partition(" ")
                raise TokenError("ping", code, message)

    def _write(self, line):
        self._send(line.encode() + b"\n")

    def _send(self, data):
        try:
            self._serial.write(data)
        except Exception as e:  # pyserial raises several types on a dropped link
            raise HostError("lost the link to %s: %s" % (self.port, e))

    def _read_line(self, deadline):
        buf = b""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise HostError("timed out waiting for the token on %s" % self.port)
            self._serial.timeout = min(remaining, 0.5)
            try:
                chunk = self._serial.read_until(b"\n")
            except Exception as e:
                raise HostError("lost the link to %s: %s" % (self.port, e))
            buf += chunk
            if buf.endswith(b"\n"):
                return buf[:-1].decode("ascii", errors="replace")

    def request(self, command, confirm_timeout=CONFIRM_TIMEOUT, on_wait=None, **args):
        """Send COMMAND NAME=VALUE…; return the OK reply's fields or raise TokenError.

        Replies are matched by command name: lines for other commands (a stale
        reply, another request's answer) are skipped.
        """
        line = command + "".join(" %s=%s" % (k, quote(str(v))) for k, v in args.items())
        self._write(line)
        deadline = time.monotonic() + self.timeout
        while True:
            kind, name, rest = _split(self._read_line(deadline))
            if kind == "ERR" and name in (command, "-"):
                code, _, message = rest.partition(" ")
                raise TokenError(command, code, message)
            if name != command:
                continue
            if kind == "WAIT":
                if on_wait:
                    on_wait()
                deadline = time.monotonic() + confirm_timeout
            elif kind == "OK":
                fields = Reply()
                for word in rest.split():
                    key, _, value = word.partition("=")
                    fields[key] = reply_value(value)
                return fields

    # -- commands -----------------------------------------------------------

    def info(self):
        return self.request("info")

    def provision(self, key, on_wait=None, **fields):
        return self.request("provision", on_wait=on_wait, key=key.hex(), **fields)

    def lock(self, on_wait=None):
        return self.request("lock", on_wait=on_wait)

    def wipe(self, on_wait=None):
        return self.request("wipe", on_wait=on_wait)

    def clock(self, set=None, on_wait=None):
        """The token's clock state and time; with set=UNIX_SECONDS, set it (OK press)."""
        if set is None:
            return self.request("clock")
        return self.request("clock", on_wait=on_wait, set=str(int(set)))

    # -- debug link ----------------------------------------------------------

    def press(self, *keys):
        return self.request("press", keys=",".join(keys))

    def display(self):
        r = self.request("display")
        return r["line1"], r["line2"], int(r["gen"])

    def ui_state(self):
        return self.request("state")["ui"]

    def respond(self, pin, challenge, signed=None):
        """Key PIN and challenge as a person would, from whatever state the token is in;
        return the response the display shows. With `signed` = (amount, destination
        digits), sign instead (A at the first prompt, then the challenge, the amount and
        the destination, docs/firmware.md) and return the signature."""
        # The power key starts over at the first prompt from any screen (a pending
        # confirmation is refused). Older firmware turned an on token off with it, so
        # an on token gets two presses: the first prompt on either.
        if self.ui_state() != "off":
            self.press("PWR")
        self.press("PWR")
        state = self.ui_state()
        if state == "nokey":
            raise HostError("token is not provisioned (it shows NO KEY)")
        if signed:
            self.press("F1")
            if self.ui_state() == "message":
                self.press("C")  # a suite without a PIN says SIGNING first; any key goes on
            if self.request("state").get("signing") != "1":
                raise HostError("this token does not sign (its firmware is older than signing)")
            state = self.ui_state()
        if state == "pin":
            self.press(*pin, "OK")
            self._expect("challenge", "the PIN")
        elif pin:
            raise HostError("this token's suite takes no PIN")
        self.press(*challenge, "OK")
        if signed:
            self._expect("amount", "the challenge")
            self.press(*signed[0], "OK")
            self._expect("destination", "the amount")
            self.press(*signed[1], "OK")
        if self.ui_state() == "message" and self.display()[0] == "BATT LOW":
            self.press("OK")  # the battery warning comes first; any key shows the response
        self._expect("response", "the destination" if signed else "the challenge")
        line1, line2, _ = self.display()
        shown = line1 + line2
        if signed:  # SIGNED over the signature, or a 10-digit one ending in " SIG"
            shown = line2 if line1 == "SIGNED" else line1 + line2[:-4] if line2.endswith(" SIG") else ""
        if not shown.isdigit():
            raise HostError("token showed %s %s instead of a %s" % (line1, line2, "signature" if signed else "response"))
        return shown

    def _expect(self, state, what):
        now = self.ui_state()
        if now == state:
            return
        line1, line2, _ = self.display()
        self.press("PWR")
        raise HostError("token did not accept %s: it showed %s %s" % (what, line1, line2))


def _split(reply):
    """`KIND NAME REST` of a reply line."""
    kind, _, rest = reply.partition(" ")
    name, _, rest = rest.partition(" ")
    return kind, name, rest
