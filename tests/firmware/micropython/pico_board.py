# The Pico board (boards/pico.py) on the unix port, with a fake `machine`:
# a keypad matrix, the power button, VBUS and VSYS, an SSD1306 on I2C, an
# optional DS3231 clock on the same bus (register level), the watchdog and
# light sleep. Runs one scenario and prints JSON lines.
#
#   micropython tests/firmware/micropython/pico_board.py FIRMWARE_DIR STATE_DIR SCENARIO [OPTIONS_JSON]
#
# OPTIONS_JSON (all optional):
#   release  true: Board(release=True) (watchdog armed, Ctrl-C off); default false (debug)
#   machine  sys.implementation._machine as the rp2 port reports it, e.g.
#            "Raspberry Pi Pico W with RP2040"; default the plain Pico's
#   rtc      "none" (no DS3231 fitted, the default), "lost" (fitted, OSF set: never
#            set or its coin cell died) or "running" (fitted, OSF clear)
#   rtc_time the DS3231's time registers 0x00-0x06 at power-up (a list of 7 bytes)
#   set_to   the Unix time the rtc scenario sets over the link
#   shadow   a folder put on sys.path with modules named as MicroPython's extensible
#            built-ins (os.py, time.py, ...): a plain `import os` finds them first
import sys
import json
import time
import gc

sys.path.insert(0, sys.argv[1])
OPTIONS = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
if "shadow" in OPTIONS:
    sys.path.append(OPTIONS["shadow"])
MACHINE = OPTIONS.get("machine", "Raspberry Pi Pico with RP2040")
IS_W = "Pico W" in MACHINE or "Pico 2 W" in MACHINE


class Pin:
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    PULL_UP = 1
    IRQ_FALLING = 4
    by_id = {}

    def __init__(self, pin_id, mode=None, pull=None, value=None):
        if isinstance(pin_id, str) and pin_id.startswith("WL_") and not IS_W:
            raise ValueError("unknown named pin \"" + pin_id + "\"")  # as the rp2 port: no radio chip
        self.id = pin_id
        self.level = 1 if value is None else value
        self.handler = None
        Pin.by_id[pin_id] = self

    def value(self, v=None):
        if v is not None:
            self.level = v
            return None
        return World.read(self.id, self.level)

    def irq(self, handler, trigger):
        self.handler = handler


class World:
    """What is pressed and measured; which pins are which comes from the pin map."""
    pressed = set()  # key names held on the keypad
    power = False  # power button held
    vbus = 1
    vsys_raw = 60000
    sleeps = []
    feeds = 0
    wdts = []  # the timeout of every machine.WDT constructed
    kbd_intr = []  # every micropython.kbd_intr() call
    writes = []
    probed = []  # every I2C address the firmware asked for

    @staticmethod
    def read(pin_id, level):
        from boards import pico_pins as p
        if pin_id == p.POWER_BUTTON:
            return 0 if World.power else 1
        if pin_id == "WL_GPIO2":  # the Pico W's VBUS sense, through its radio chip
            return World.vbus
        if pin_id == 24:  # the Pico's VBUS sense; on a Pico W GP24 is the radio's SPI data line
            return 0 if IS_W else World.vbus
        if pin_id in p.KEYPAD_COLS:
            c = p.KEYPAD_COLS.index(pin_id)
            for r, row in enumerate(p.KEYPAD_ROWS):
                if Pin.by_id[row].level == 0 and p.KEYPAD_KEYS[r][c] in World.pressed:
                    return 0
            return 1
        return level


# -- the DS3231, register by register --------------------------------------------


def days_from_civil(y, m, d):
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def civil_from_days(z):
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (1 if m <= 2 else 0), m, d


def from_bcd(b):
    return (b >> 4) * 10 + (b & 0x0F)


def to_bcd(n):
    return (n // 10) << 4 | n % 10


class DS3231:
    """A 19-byte register file (0x00-0x12) whose time registers count seconds
    from whatever was last written to them, as the chip does."""

    def __init__(self, time_regs, lost):
        self.regs = bytearray(19)
        self.regs[0x0E] = 0x1C  # control: the chip's power-up value
        self.regs[0x0F] = 0x80 if lost else 0x00  # status: OSF
        self.writes = []  # (register, bytes) of every write, in order
        self.regs[0:7] = bytes(time_regs)
        self._base = self.decode()
        self._t0 = time.ticks_ms()

    def decode(self):
        r = self.regs
        year = 2000 + from_bcd(r[6]) + (100 if r[5] & 0x80 else 0)
        days = days_from_civil(year, from_bcd(r[5] & 0x1F), from_bcd(r[4] & 0x3F))
        return days * 86400 + from_bcd(r[2] & 0x3F) * 3600 + from_bcd(r[1] & 0x7F) * 60 + from_bcd(r[0] & 0x7F)

    def now(self):
        return self._base + time.ticks_diff(time.ticks_ms(), self._t0) // 1000

    def _tick(self):
        """Bring the time registers up to date (the chip counts on its own)."""
        t = self.now()
        days, rest = divmod(t, 86400)
        y, m, d = civil_from_days(days)
        r = self.regs
        r[0], r[1], r[2] = to_bcd(rest % 60), to_bcd(rest // 60 % 60), to_bcd(rest // 3600)
        r[4], r[5], r[6] = to_bcd(d), to_bcd(m) | (0x80 if y >= 2100 else 0), to_bcd(y % 100)

    def read(self, reg, n):
        self._tick()
        return bytes(self.regs[(reg + i) % 19] for i in range(n))  # the pointer wraps after 0x12

    def write(self, reg, buf):
        self._tick()
        buf = bytes(buf)
        self.writes.append((reg, buf))
        for i in range(len(buf)):
            self.regs[(reg + i) % 19] = buf[i]
        if reg < 7:  # writing the seconds restarts the countdown from the new time
            self._base = self.decode()
            self._t0 = time.ticks_ms()

    def state(self):
        self._tick()
        return list(self.regs)


class I2C:
    """Addresses nobody acknowledges raise OSError, as on the rp2 port; every
    address the firmware asks (alone or by a scan) is counted in World.probed."""

    def __init__(self, *a, **k):
        self._pointer = 0

    @staticmethod
    def _present():
        return list(World.i2c_devices) + ([0x68] if World.rtc is not None else [])

    def scan(self):
        World.probed.extend(range(0x08, 0x78))  # the rp2 port's scan writes to each address
        return sorted(self._present())

    def _rtc(self, addr):
        if addr != 0x68 or World.rtc is None:
            raise OSError(5)  # EIO: nobody acknowledged the address
        return World.rtc

    def writeto(self, addr, buf):
        if not len(buf):  # an empty write: is anybody there?
            World.probed.append(addr)
            if addr not in self._present():
                raise OSError(110)  # ETIMEDOUT, as the rp2 port's soft-I2C probe reports a NAK
            return
        if addr == 0x68:
            buf = bytes(buf)
            self._pointer = buf[0]
            if len(buf) > 1:
                self._rtc(addr).write(buf[0], buf[1:])
            return
        World.writes.append(bytes(buf))

    def writevto(self, addr, bufs):
        self.writeto(addr, b"".join(bytes(b) for b in bufs))

    def readfrom(self, addr, n):
        return self._rtc(addr).read(self._pointer, n)

    def readfrom_mem(self, addr, reg, n, addrsize=8):
        return self._rtc(addr).read(reg, n)

    def readfrom_mem_into(self, addr, reg, buf, addrsize=8):
        data = self._rtc(addr).read(reg, len(buf))
        for i in range(len(buf)):
            buf[i] = data[i]

    def writeto_mem(self, addr, reg, buf, addrsize=8):
        self._rtc(addr).write(reg, buf)


class ADC:
    def __init__(self, n):
        pass

    def read_u16(self):
        return World.vsys_raw


class WDT:
    def __init__(self, id=0, timeout=5000):
        World.wdts.append(timeout)

    def feed(self):
        World.feeds += 1


def lightsleep(ms):
    World.sleeps.append(ms)
    if World.wake_on_sleep:
        World.wake_on_sleep = False
        power = Pin.by_id[15]
        if power.handler:
            power.handler(power)  # a short press during sleep: over before the board scans
    else:
        time.sleep_ms(min(ms, 5))


class Machine:
    pass


machine = Machine()
machine.Pin = Pin
machine.I2C = I2C
machine.ADC = ADC
machine.WDT = WDT
machine.lightsleep = lightsleep
machine.unique_id = lambda: b"\x01\x02\x03\x04\x05\x06\x07\x08"
World.wake_on_sleep = False
World.i2c_devices = [0x27] if sys.argv[3] == "lcd" else [0x3C]  # the display module fitted
RTC_TIME = OPTIONS.get("rtc_time", [0x00, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00])  # 2000-01-01: a chip never set
World.rtc = None if OPTIONS.get("rtc", "none") == "none" else DS3231(RTC_TIME, OPTIONS["rtc"] == "lost")
sys.modules["machine"] = sys.modules["umachine"] = machine  # the board imports it as umachine

# micropython as it is, but with kbd_intr() recorded (the unix port's would also work)
import micropython as _real_micropython  # noqa: E402


class Micropython:
    pass


fake_micropython = Micropython()
for _name in dir(_real_micropython):
    if not _name.startswith("__"):
        setattr(fake_micropython, _name, getattr(_real_micropython, _name))
fake_micropython.kbd_intr = lambda chr: World.kbd_intr.append(chr)
sys.modules["micropython"] = fake_micropython

from dsc.token import Token  # noqa: E402  (first, as app.py imports it)
import boards.pico  # noqa: E402

boards.pico.machine_name = lambda: MACHINE  # what sys.implementation._machine says on that board
RELEASE = bool(OPTIONS.get("release", False))
SENT = []  # the board's replies on the link, also written to stdout as the board does
board = token = None


def boot():
    """Power on: a new Board and Token over the same flash files."""
    global board, token
    board = boards.pico.Board(RELEASE, sys.argv[2])
    write = board.serial_write

    def recorded(data):
        SENT.extend(bytes(data).decode().splitlines())
        write(data)

    board.serial_write = recorded
    for part in (board.keypad, board.power):  # the board's clock at every scan, for held()
        part.scan = scanned(part.scan)
    token = Token(board, True)


SCANS = []


def scanned(scan):
    def counted(now):
        SCANS.append(now)
        return scan(now)
    return counted


def run(ms):
    end = time.ticks_add(time.ticks_ms(), ms)
    while time.ticks_diff(end, time.ticks_ms()) > 0:
        token.poll()
        board.idle(min(token.idle_ms(), 10))


def held(ms):
    """Run until the board's own scans span `ms`: on a loaded machine a wall-clock
    wait could see a single scan, too few for the debounce, and a press or a
    release would go unseen (a key then looked registered twice, or not at all)."""
    del SCANS[:]
    end = time.ticks_add(time.ticks_ms(), 10000)
    while (len(SCANS) < 2 or SCANS[-1] - SCANS[0] < ms) and time.ticks_diff(end, time.ticks_ms()) > 0:
        token.poll()
        board.idle(min(token.idle_ms(), 10))


def hold_key(name, ms=25):  # the keypad debounces 5 ms
    World.pressed.add(name)
    held(ms)
    World.pressed.discard(name)
    held(ms)


def hold_power(ms=60):
    World.power = True
    held(ms)
    World.power = False
    held(ms)


def login(pin="1234", challenge="123456"):
    hold_power()
    for k in list(pin) + ["OK"] + list(challenge) + ["OK"]:
        hold_key(k)


def report(**fields):
    fields["lines"] = list(token.ui.lines)
    fields["state"] = token.ui.state
    print(json.dumps(fields))


def ask(line):
    """The token's replies to one request line."""
    del SENT[:]
    token.receive(line + b"\n")
    return list(SENT)


RFC_KEY_HEX = b"3132333435363738393031323334353637383930313233343536373839303132"
TIME_SUITE = b"OCRA-1:HOTP-SHA256-8:QN06-PSHA1-T1M"


def provision(suite=None):
    return ask(b"provision key=" + RFC_KEY_HEX + (b" suite=" + suite if suite else b""))


def clock_state():
    return {"clock": board.clock(), "epoch": board.epoch()}


scenario = sys.argv[3]
if scenario != "serial":
    boot()
if scenario == "login":
    provision()
    run(50)
    report(step="booted", display_on=board._display_on)
    World.pressed.add("5")  # keypad keys do nothing while the token is off
    run(60)
    World.pressed.discard("5")
    run(60)
    report(step="key-while-off")
    hold_power()
    report(step="power", display_on=board._display_on, frames=len(World.writes))
    for k in ("1", "2", "3", "4", "OK", "1", "2", "3", "4", "5", "6", "OK"):
        hold_key(k)
    report(step="response", feeds=World.feeds)
    hold_power()
    report(step="power-again")
    board._elapsed += 60000  # a minute without a key on the board's clock, not the test's
    token.tick()
    World.sleeps = []
    board.idle(50)  # off, on USB power
    report(step="off", display_on=board._display_on, sleeps=World.sleeps,
           wdts=World.wdts, kbd_intr=World.kbd_intr)
elif scenario == "sign":
    # Signing on the keypad (issue 19): the letter key A (F1 in the pin map), then each
    # field at its prompt; dsc/signing loads when A is pressed, not at boot nor at PIN>.
    def loaded():
        return sorted(name for name in sys.modules if name.startswith("dsc."))

    provision()
    hold_power()
    report(step="pin", modules=loaded())
    hold_key("F1")
    report(step="signing", modules=loaded())
    for k in ("1", "2", "3", "4", "OK", "1", "2", "3", "4", "5", "6", "OK"):
        hold_key(k)
    report(step="amount")
    for k in "123456789012":
        hold_key(k)
    report(step="amount-keyed")
    for k in ("OK", "9", "*", "4", "3", "2", "1"):
        hold_key("C" if k == "*" else k)  # the keypad's * is C: it clears the field
    report(step="destination-keyed")
    hold_key("OK")
    report(step="signed", feeds=World.feeds)
    hold_power()
    report(step="cancelled")
elif scenario == "battery":
    provision()
    World.vbus = 0
    World.vsys_raw = 14000  # 14000 / 65535 * 3.3 V * 3 = 2.1 V: two flat AAA cells
    hold_power()
    for k in ("1", "2", "3", "4", "OK", "1", "2", "3", "4", "5", "6", "OK"):
        hold_key(k)
    report(step="warned", mv=board.battery_mv())
    run(1700)
    report(step="after-warning")
elif scenario == "lcd":
    provision()
    hold_power()
    report(step="lcd", display=type(board.display).__name__, writes=len(World.writes))
elif scenario == "sleep":
    provision()
    World.vbus = 0
    run(50)
    board.idle(60000)
    report(step="slept", sleeps=World.sleeps, feeds=World.feeds, wdts=World.wdts)
    World.vbus = 1
    World.sleeps = []
    board.idle(30)
    report(step="usb-powered", sleeps=World.sleeps)
    World.vbus = 0
    World.wake_on_sleep = True
    board.idle(60000)
    run(200)
    report(step="woken", wdts=World.wdts, kbd_intr=World.kbd_intr)
elif scenario == "serial":
    # stdin holds many request lines, all there before the first read (the test pipes them in)
    import select

    poller = select.poll()
    poller.register(sys.stdin, select.POLLIN)
    poller.poll(5000)  # the test's bytes are in the pipe
    boot()
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    first = board.serial_read()
    allocated = gc.mem_alloc() - before
    gc.enable()
    sizes = [len(first)]
    total = len(first)
    token.receive(first)
    read = board.serial_read

    def counted():
        data = read()
        sizes.append(len(data))
        return data

    board.serial_read = counted
    expected = int(OPTIONS["bytes"])
    end = time.ticks_add(time.ticks_ms(), 5000)
    while total < expected and time.ticks_diff(end, time.ticks_ms()) > 0:
        token.poll()
        total += sizes[-1]
    report(step="read", allocated=allocated, sizes=[n for n in sizes if n], total=total)
elif scenario == "usb-serial":
    # The rp2 port's USB stdin: packets of up to 64 bytes land in a 512-byte ring
    # when the USB task runs (inside every poll and read); readinto(buf, n) returns
    # only once n bytes came, so asking for more than is waiting would hang the token.
    class RP2Stdin:
        def __init__(self, data):
            self.packets = [data[i:i + 64] for i in range(0, len(data), 64)]
            self.ring = bytearray()
            self.blocked = []

        def usb_task(self):
            while self.packets and len(self.ring) + len(self.packets[0]) <= 512:
                self.ring += self.packets.pop(0)

        def ipoll(self, timeout=-1):
            self.usb_task()
            return [(sys.stdin, 1)] if self.ring else []

        poll = ipoll

        def readinto(self, buf, n=None):
            n = len(buf) if n is None else n
            self.usb_task()
            if n > len(self.ring):
                self.blocked.append((n, len(self.ring)))  # the chip would wait here for ever
                n = len(self.ring)
            buf[:n] = self.ring[:n]
            self.ring = self.ring[n:]
            return n

    lines = int(OPTIONS["lines"])
    stdin = RP2Stdin(b"ping\n" * lines + b"x" * 300 + b"\n" + b"ping\n")
    board._stdin = board._poll = stdin
    end = time.ticks_add(time.ticks_ms(), 10000)
    while (stdin.packets or stdin.ring) and time.ticks_diff(end, time.ticks_ms()) > 0:
        token.poll()
    report(step="read", blocked=stdin.blocked, left=len(stdin.ring) + sum(len(p) for p in stdin.packets),
           replies=list(SENT))
elif scenario == "boot":
    # What a token loaded and asked on the bus to get ready; then the clock is asked.
    def files():
        root = sys.argv[1] + "/"
        return sorted(m.__file__[len(root):] for m in sys.modules.values()
                      if getattr(m, "__file__", "").startswith(root))

    first_pin = []  # the files loaded when PIN> was first drawn
    show = board.show

    def recorded_show(line1, line2):
        if line1 == "PIN>" and not first_pin:
            first_pin.append(files())
        show(line1, line2)

    board.show = recorded_show
    report(step="ready", files=files(), probed=World.probed, config=token.config.state)
    if token.config.state == "blank":
        provision()
    hold_power()
    report(step="pin", files=files(), first_pin=first_pin[0],
           shadowed=getattr(sys.modules.get("shadowed"), "names", []))
    for k in ("1", "2", "3", "4"):
        hold_key(k)
    report(step="pin-keyed", files=files())
    for k in ["OK"] + list("123456") + ["OK"]:
        hold_key(k)
    report(step="response")
    asked = clock_state()
    report(step="clock", files=files(), **asked)
elif scenario == "no-rtc":
    report(step="boot", info=ask(b"info"), **clock_state())
    report(step="clock", clock_read=ask(b"clock"), clock_set=ask(b"clock set=1796094000"))
    report(step="time-suite", provision=provision(TIME_SUITE), info=ask(b"info"))
    report(step="default-suite", provision=provision(), info=ask(b"info"))
elif scenario == "rtc":
    # A DS3231 with a good time: the board reads it.
    report(step="read", info=ask(b"info"), clock_read=ask(b"clock"), **clock_state())
    # Its oscillator stopped (OSF): the time is not trusted, a T suite is refused.
    World.rtc.regs[0x0F] |= 0x80
    boot()
    report(step="lost", info=ask(b"info"), provision=provision(TIME_SUITE), info_after=ask(b"info"),
           **clock_state())
    # Set over the link, with the OK press on the token.
    World.rtc.writes = []
    asked = ask(b"clock set=" + str(OPTIONS["set_to"]).encode())
    run(30)
    shown = list(token.ui.lines)
    del SENT[:]
    hold_key("OK")
    report(step="set", asked=asked, shown=shown, replies=list(SENT), regs=World.rtc.state(),
           writes=[[reg, list(data)] for reg, data in World.rtc.writes], **clock_state())
    # Now a T suite is taken, and a login gives the response for the current time step.
    report(step="provisioned", provision=provision(TIME_SUITE), info=ask(b"info"))
    login()
    report(step="response", **clock_state())
    hold_power()
    # The coin cell died while the token was off: at the next power-up the time is gone.
    World.rtc.regs[0x0F] |= 0x80
    boot()
    login()
    report(step="no-clock", **clock_state())
