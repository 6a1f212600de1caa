"""Talk to a token over its serial link (docs/protocol.md)."""

import time

from host.transport import HostError, open_port

CONFIRM_TIMEOUT = 35.0  # the token gives a person 30 s to press OK
_UNQUOTE_HEX = "0123456789abcdefABCDEF"


def quote(value):
    out = []
    for ch in str(value):
        if ch in "% =" or not "\x21" <= ch <= "\x7e":
            out.extend("%%%02X" % b for b in ch.encode())
        else:
            out.append(ch)
    return "".join(out)


def unquote(value):
    raw = bytearray()
    i = 0
    while i < len(value):
        if value[i] == "%" and len(value) >= i + 3:
            raw.append(int(value[i + 1:i + 3], 16))
            i += 3
        else:
            raw += value[i].encode()
            i += 1
    return raw.decode(errors="replace")


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
        self._serial.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- framing ------------------------------------------------------------

    def _sync(self):
        """End any half-line a previous client left, then check the token answers."""
        self._write("")
        self.request("ping")

    def _write(self, line):
        try:
            self._serial.write(line.encode() + b"\n")
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
        line = command + "".join(" %s=%s" % (k, quote(v)) for k, v in args.items())
        self._write(line)
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_line(deadline)
            kind, _, rest = reply.partition(" ")
            name, _, rest = rest.partition(" ")
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
                    fields[key] = unquote(value)
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

    # -- debug link ----------------------------------------------------------

    def press(self, *keys):
        return self.request("press", keys=",".join(keys))

    def display(self):
        r = self.request("display")
        return r["line1"], r["line2"], int(r["gen"])

    def ui_state(self):
        return self.request("state")["ui"]

    def respond(self, pin, challenge):
        """Key PIN and challenge as a person would, from whatever state the token is in;
        return the response the display shows."""
        state = self.ui_state()
        if state != "off":
            self.press("PWR")  # any screen, even a pending confirmation: off first
        self.press("PWR")
        state = self.ui_state()
        if state == "nokey":
            raise HostError("token is not provisioned (it shows NO KEY)")
        if state == "pin":
            self.press(*pin, "OK")
            self._expect("challenge", "the PIN")
        elif pin:
            raise HostError("this token's suite takes no PIN")
        self.press(*challenge, "OK")
        if self.ui_state() == "message" and self.display()[0] == "BATT LOW":
            self.press("OK")  # the battery warning comes first; any key shows the response
        self._expect("response", "the challenge")
        line1, line2, _ = self.display()
        if not (line1 + line2).isdigit():
            raise HostError("token showed %s %s instead of a response" % (line1, line2))
        return line1 + line2

    def _expect(self, state, what):
        now = self.ui_state()
        if now == state:
            return
        line1, line2, _ = self.display()
        self.press("PWR")
        raise HostError("token did not accept %s: it showed %s %s" % (what, line1, line2))
