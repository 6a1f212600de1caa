"""The serial protocol (docs/protocol.md): bounded lines in, one reply each out.

Nothing read from the link can raise out of here or change state unless it is a
well-formed, accepted request.
"""

from dsc import config as cfg
from dsc import ocra, version
from dsc.quoting import quote, unquote

MAX_LINE = 256
# What `clock set=` takes: the years a DS3231 and every suite's time step agree on.
CLOCK_MIN = 946684800  # 2000-01-01 00:00:00 UTC
CLOCK_MAX = 4102444799  # 2099-12-31 23:59:59 UTC
# Debug-link commands: a link without the debug link answers them `no-debug`.
DEBUG_COMMANDS = ("press", "display", "state", "wait")
_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-_"

# The command table, name -> handler(link, command, args). The protocol fills in
# its own commands below; the debug link adds its commands when it is built in
# (dsc/debuglink.py, imported from the top: app.py or the simulator). This module
# never imports it, so a release bundle simply lacks the file.
COMMANDS = {}  # type: dict
# Called by Link.tick while `link.waiter` is set: poll(link, now) answers a
# request that replies later (the debug link's `wait`).
_pollers = []  # type: list


def add_commands(table, poll=None):
    """Add `table` (name -> handler) to the command table; `poll` as above."""
    for name in table:
        COMMANDS[name] = table[name]
    if poll is not None and poll not in _pollers:
        _pollers.append(poll)


def debug_attached():
    """True when the debug link's commands are in the table."""
    for name in DEBUG_COMMANDS:
        if name not in COMMANDS:
            return False
    return True


class RequestError(Exception):
    """A request that gets an ERR reply: (command, code, message)."""


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
            self.debug = bool(debug) and debug_attached()
        self._buf = b""  # the line received so far: at most MAX_LINE bytes
        self._discarding = False  # the line grew past MAX_LINE: drop it up to its end
        self.pending = None  # command awaiting a physical OK press
        self.waiter = None  # a request that replies later (debug `wait`): (gen, deadline)

    def send(self, text):
        self.token.board.serial_write(text.encode() + b"\n")

    def ok(self, command, fields=()):
        self.send("OK " + command + format_fields(fields))

    def error(self, command, code, message):
        self.send("ERR " + command + " " + code + " " + message)

    def reset(self):
        """Drop a half-received line: a new client connected (a USB re-plug)."""
        self._buf = b""
        self._discarding = False

    def receive(self, data):
        """Answer every complete line in `data`; keep at most MAX_LINE bytes of
        the unfinished one, however much arrives without a terminator."""
        if not isinstance(data, bytes):
            data = bytes(data)
        start = 0
        n = len(data)
        while start < n:
            cut = _line_end(data, start)
            if cut < 0:
                self._add(data, start, n)
                return
            self._add(data, start, cut)
            start = cut + 1
            self._end_line()

    def _add(self, data, start, end):
        if self._discarding or start == end:
            return
        if len(self._buf) + end - start > MAX_LINE:
            self._discarding = True
            self._buf = b""
        else:
            self._buf += data[start:end]

    def _end_line(self):
        line = self._buf
        self._buf = b""
        if self._discarding:
            self._discarding = False
            self.error("-", "too-long", "line exceeds " + str(MAX_LINE) + " bytes")
        elif line.strip(b" "):  # only spaces make a blank line; a TAB is a bad byte
            self._handle(line)

    def tick(self, now):
        if self.waiter is not None:
            for poll in _pollers:
                poll(self, now)

    def _handle(self, line):
        try:
            command, args = parse(line)
            if command in DEBUG_COMMANDS and not self.debug:
                raise RequestError(command, "no-debug", "the debug link is not in release builds")
            handler = COMMANDS.get(command)
            if handler is None:
                raise RequestError(command, "unknown-command", "no such command")
            handler(self, command, args)
        except RequestError as e:
            self.error(e.args[0], e.args[1], e.args[2])

    # -- commands -----------------------------------------------------------

    def _ping(self, command, args):
        allow(command, args, ())
        self.ok(command, (("proto", version.PROTOCOL),))

    def _info(self, command, args):
        allow(command, args, ())
        c = self.token.config
        fields = [("proto", version.PROTOCOL), ("fw", version.FIRMWARE), ("serial", c.serial),
                  ("state", c.state), ("debug", 1 if self.debug else 0), ("clock", self.token.clock())]
        if c.state != cfg.BLANK:
            fields += [("suite", c.suite), ("label", c.label), ("kcv", self.token.kcv()),
                       ("pinlen", c.pinlen), ("timeout", c.timeout)]
            if self.token.suite().counter:
                fields.append(("counter", c.counter))
        self.ok(command, fields)

    def _provision(self, command, args):
        allow(command, args, ("key", "suite", "serial", "label", "pinlen", "timeout", "counter"))
        current = self.token.config
        if current.state == cfg.LOCKED:
            raise RequestError(command, "locked", "token is locked; wipe it first")
        if self.pending is not None:
            raise RequestError(command, "busy", "waiting for OK on the token for " + self.pending)
        new = _provisioned_config(command, args, current)
        if ocra.Suite(new.suite).time_step:
            _need_clock(command, self.token.clock())
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
        allow(command, args, ())
        state = self.token.config.state
        if state != cfg.PROVISIONED:
            raise RequestError(command, "wrong-state", "only a provisioned token can be locked; it is " + state)

        def lock():
            new = self.token.config.copy()
            new.state = cfg.LOCKED
            self._store(command, new)

        self._confirm(command, "LOCK?", lock)

    def _wipe(self, command, args):
        allow(command, args, ())
        self._confirm(command, "WIPE?", lambda: self._store(command, cfg.Config(self.token.config.serial)))

    def _clock(self, command, args):
        """`clock`: the clock's state and time; `clock set=UNIX_SECONDS`: set it,
        after the OK press (a wrong clock makes every T-suite response wrong)."""
        allow(command, args, ("set",))
        token = self.token
        if "set" not in args:
            self.ok(command, self._clock_fields())
            return
        try:
            epoch = cfg.bounded_int(args["set"], CLOCK_MIN, CLOCK_MAX, "set")
        except ValueError as e:
            raise RequestError(command, "bad-argument", str(e) + " (Unix seconds, UTC)")
        if token.clock() == "none":
            raise RequestError(command, "no-clock", "this token has no real-time clock")
        asked = token.now()

        def set_clock():
            try:  # the time that passed while the person found the OK key counts too
                token.board.set_clock(epoch + (token.now() - asked) // 1000)
            except (OSError, ValueError):
                self.error(command, "clock", "the real-time clock did not take the time")
                return
            self.ok(command, self._clock_fields())

        self._confirm(command, "SET CLK?", set_clock)

    def _clock_fields(self):
        fields = [("clock", self.token.clock())]
        epoch = self.token.board.epoch()
        if epoch is not None:
            fields.append(("time", epoch))
        return fields

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


def _line_end(buf, start):
    lf = buf.find(b"\n", start)
    cr = buf.find(b"\r", start)
    if lf < 0:
        return cr
    if cr < 0:
        return lf
    return min(lf, cr)


def allow(command, args, names):
    """RequestError unless every argument is one of `names`."""
    for name in args:
        if name not in names:
            raise RequestError(command, "bad-argument", "unknown argument " + name)


def _need_clock(command, clock):
    """A T suite's responses are only right on a token that knows the time."""
    if clock == "none":
        raise RequestError(command, "no-clock", "a T suite needs a real-time clock; this token has none")
    if clock not in ("rtc", "host"):
        raise RequestError(command, "no-clock", "a T suite needs the time: set the token's clock first")


def _provisioned_config(command, args, current):
    """The Config a provision request asks for, validated field by field."""
    try:
        if "key" not in args:
            raise ValueError("key=HEX is required")
        key = cfg.key_from_hex(args["key"])
        new = cfg.Config(cfg.check_serial(args.get("serial", current.serial)))
        new.state = cfg.PROVISIONED
        new.suite = args.get("suite", ocra.DEFAULT_SUITE)
        cfg.check_token_suite(new.suite)
        new.key = key
        new.label = cfg.check_label(args.get("label", ""))
        new.pinlen = cfg.bounded_int(args.get("pinlen", "4"), cfg.PINLEN_MIN, cfg.PINLEN_MAX, "pinlen")
        new.timeout = cfg.bounded_int(args.get("timeout", "60"), cfg.TIMEOUT_MIN, cfg.TIMEOUT_MAX, "timeout")
        new.counter = cfg.bounded_int(args.get("counter", "0"), 0, cfg.COUNTER_MAX, "counter")
    except ValueError as e:
        # Messages name the field, never echo the value: the key must not leak.
        raise RequestError(command, "bad-argument", str(e))
    return new


add_commands({
    "ping": Link._ping,
    "info": Link._info,
    "provision": Link._provision,
    "lock": Link._lock,
    "wipe": Link._wipe,
    "clock": Link._clock,
})
