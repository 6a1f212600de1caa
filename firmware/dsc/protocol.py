"""The serial protocol (docs/protocol.md): bounded lines in, one reply each out.

Nothing read from the link can raise out of here or change state unless it is a
well-formed, accepted request.
"""

from dsc import config as cfg
from dsc import version

MAX_LINE = 256
DEBUG_COMMANDS = ("press", "display", "state", "wait")
_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-_"
_HEX = "0123456789abcdefABCDEF"


class RequestError(Exception):
    """A request that gets an ERR reply: (command, code, message)."""


def quote(value):
    """Percent-encode the bytes a protocol value cannot carry as they are."""
    out = []
    for ch in value:
        o = ord(ch)
        if ch in "% =" or o < 0x21 or o > 0x7E:
            for b in ch.encode():
                out.append("%%%02X" % b)
        else:
            out.append(ch)
    return "".join(out)


def unquote(value):
    """Decode %XX escapes: ValueError for a malformed escape, UnicodeError when
    the bytes are not UTF-8 text."""
    if "%" not in value:
        return value
    raw = bytearray()
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if ch == "%":
            pair = value[i + 1:i + 3]
            if len(pair) != 2 or pair[0] not in _HEX or pair[1] not in _HEX:
                raise ValueError("bad %XX escape")
            raw.append(int(pair, 16))
            i += 3
        else:
            raw.append(ord(ch))
            i += 1
    return bytes(raw).decode()


def _is_name(word):
    return 0 < len(word) <= 32 and all(c in _NAME_CHARS for c in word)


def parse(line):
    """`COMMAND NAME=VALUE …` -> (command, {name: value}); RequestError if malformed."""
    for b in line:
        if b < 0x20 or b > 0x7E:
            raise RequestError("-", "bad-request", "line has a non-printable byte")
    words = line.decode().split()
    command = words[0]
    if not _is_name(command):
        raise RequestError("-", "bad-request", "a command is lowercase letters, digits and -")
    args = {}
    for word in words[1:]:
        name, sep, value = word.partition("=")
        if not sep or not _is_name(name):
            raise RequestError(command, "bad-request", "arguments are NAME=VALUE")
        if name in args:
            raise RequestError(command, "bad-request", "argument " + name + " given twice")
        try:
            args[name] = unquote(value)
        except UnicodeError:  # any %XX is valid syntax; the value just is not text
            raise RequestError(command, "bad-argument", name + " is not UTF-8 text")
        except ValueError:
            raise RequestError(command, "bad-request", "bad %XX escape in " + name)
    return command, args


def format_fields(fields):
    return "".join(" " + name + "=" + quote(str(value)) for name, value in fields)


class Link:
    """One serial link to the token: buffers bytes, answers each line."""

    def __init__(self, token, debug=True):
        self.token = token
        self.debug = False
        if __debug__:  # release builds (mpy-cross -O1) compile none of the debug link
            self.debug = bool(debug) and debuglink is not None
        self._buf = b""
        self._discarding = False
        self.pending = None  # command awaiting a physical OK press
        self.waiter = None  # debug `wait`: (gen, deadline)

    def send(self, text):
        self.token.board.serial_write(text.encode() + b"\n")

    def ok(self, command, fields=()):
        self.send("OK " + command + format_fields(fields))

    def error(self, command, code, message):
        self.send("ERR " + command + " " + code + " " + message)

    def reset(self):
        """Drop a half-received line, as a USB re-plug would."""
        self._buf = b""
        self._discarding = False

    def receive(self, data):
        buf = self._buf + bytes(data)
        while True:
            cut = _line_end(buf)
            if cut < 0:
                if len(buf) > MAX_LINE:
                    self._discarding = True
                    buf = b""
                break
            line = buf[:cut]
            buf = buf[cut + 1:]
            if self._discarding or len(line) > MAX_LINE:
                self._discarding = False
                self.error("-", "too-long", "line exceeds " + str(MAX_LINE) + " bytes")
            elif line.strip(b" "):  # only spaces make a blank line; a TAB is a bad byte
                self._handle(line)
        self._buf = buf

    def tick(self, now):
        if __debug__:
            if self.waiter is not None:
                debuglink.poll_wait(self, now)

    def _handle(self, line):
        try:
            command, args = parse(line)
            handler = _COMMANDS.get(command)
            if handler is not None:
                handler(self, command, args)
            elif command in DEBUG_COMMANDS:
                if __debug__:
                    if self.debug:
                        debuglink.handle(self, command, args)
                        return
                raise RequestError(command, "no-debug", "the debug link is not in release builds")
            else:
                raise RequestError(command, "unknown-command", "no such command")
        except RequestError as e:
            self.error(e.args[0], e.args[1], e.args[2])

    # -- commands -----------------------------------------------------------

    def _ping(self, command, args):
        _allow(command, args, ())
        self.ok(command, (("proto", version.PROTOCOL),))

    def _info(self, command, args):
        _allow(command, args, ())
        c = self.token.config
        fields = [("proto", version.PROTOCOL), ("fw", version.FIRMWARE), ("serial", c.serial),
                  ("state", c.state), ("debug", 1 if self.debug else 0)]
        if c.state != cfg.BLANK:
            fields += [("suite", c.suite), ("label", c.label), ("kcv", self.token.kcv()),
                       ("pinlen", c.pinlen), ("timeout", c.timeout)]
            if self.token.suite().counter:
                fields.append(("counter", c.counter))
        self.ok(command, fields)

    def _provision(self, command, args):
        _allow(command, args, ("key", "suite", "serial", "label", "pinlen", "timeout", "counter"))
        current = self.token.config
        if current.state == cfg.LOCKED:
            raise RequestError(command, "locked", "token is locked; wipe it first")
        if self.pending is not None:
            raise RequestError(command, "busy", "waiting for OK on the token for " + self.pending)
        new = _provisioned_config(command, args, current)
        if current.state == cfg.BLANK:
            self._commit(command, new)
            return
        self._confirm(command, "NEW KEY?", lambda: self._commit(command, new))

    def _commit(self, command, new):
        if not self.token.save(new):
            self.error(command, "storage", "could not write the token's flash")
        else:
            self.ok(command, (("serial", new.serial), ("kcv", self.token.kcv())))

    def _lock(self, command, args):
        _allow(command, args, ())
        state = self.token.config.state
        if state != cfg.PROVISIONED:
            raise RequestError(command, "wrong-state", "only a provisioned token can be locked; it is " + state)

        def lock():
            new = self.token.config.copy()
            new.state = cfg.LOCKED
            self._store(command, new)

        self._confirm(command, "LOCK?", lock)

    def _wipe(self, command, args):
        _allow(command, args, ())
        self._confirm(command, "WIPE?", lambda: self._store(command, cfg.Config(self.token.config.serial)))

    def _store(self, command, new):
        if self.token.save(new):
            self.ok(command)
        else:
            self.error(command, "storage", "could not write the token's flash")

    def _confirm(self, command, question, action):
        """Ask for the physical OK press; run `action` only if it comes."""
        if self.pending is not None:
            raise RequestError(command, "busy", "waiting for OK on the token for " + self.pending)
        self.pending = command
        self.send("WAIT " + command + " confirm")

        def done(accepted, reason):
            self.pending = None
            if accepted:
                action()
            elif reason == "timeout":
                self.error(command, "timeout", "nobody pressed OK on the token within 30 s")
            else:
                self.error(command, "denied", "refused on the token's keypad")

        self.token.ui.ask(question, self.token.now(), done)


def _line_end(buf):
    lf = buf.find(b"\n")
    cr = buf.find(b"\r")
    if lf < 0:
        return cr
    if cr < 0:
        return lf
    return min(lf, cr)


def _allow(command, args, names):
    for name in args:
        if name not in names:
            raise RequestError(command, "bad-argument", "unknown argument " + name)


def _provisioned_config(command, args, current):
    """The Config a provision request asks for, validated field by field."""
    try:
        if "key" not in args:
            raise ValueError("key=HEX is required")
        key_hex = args["key"]
        if len(key_hex) % 2 or any(c not in _HEX for c in key_hex):
            raise ValueError("key must be hex")
        if not cfg.KEY_MIN * 2 <= len(key_hex) <= cfg.KEY_MAX * 2:
            raise ValueError("key must be 16 to 64 bytes")
        new = cfg.Config(cfg.check_serial(args.get("serial", current.serial)))
        new.state = cfg.PROVISIONED
        new.suite = args.get("suite", "OCRA-1:HOTP-SHA256-8:QN06-PSHA1")
        cfg.check_token_suite(new.suite)
        new.key = bytes([int(key_hex[i:i + 2], 16) for i in range(0, len(key_hex), 2)])
        new.label = cfg.check_label(args.get("label", ""))
        new.pinlen = cfg.bounded_int(args.get("pinlen", "4"), cfg.PINLEN_MIN, cfg.PINLEN_MAX, "pinlen")
        new.timeout = cfg.bounded_int(args.get("timeout", "60"), cfg.TIMEOUT_MIN, cfg.TIMEOUT_MAX, "timeout")
        new.counter = cfg.bounded_int(args.get("counter", "0"), 0, cfg.COUNTER_MAX, "counter")
    except ValueError as e:
        # Messages name the field, never echo the value: the key must not leak.
        raise RequestError(command, "bad-argument", str(e))
    return new


_COMMANDS = {
    "ping": Link._ping,
    "info": Link._info,
    "provision": Link._provision,
    "lock": Link._lock,
    "wipe": Link._wipe,
}

# Imported last: debuglink builds on this module's RequestError.
if __debug__:
    try:
        from dsc import debuglink
    except ImportError:  # a bundle without the module
        debuglink = None  # type: ignore[assignment]
# In a release build (__debug__ False) the name debuglink never exists at all.
