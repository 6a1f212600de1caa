# The Pico board (boards/pico.py) on the unix port, with a fake `machine`:
# a keypad matrix, the power button, VBUS and VSYS, an SSD1306 on I2C, the
# watchdog and light sleep. Runs one scenario and prints JSON lines.
#
#   micropython tests/firmware/micropython/pico_board.py FIRMWARE_DIR STATE_DIR SCENARIO
import sys
import json
import time

sys.path.insert(0, sys.argv[1])


class Pin:
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    PULL_UP = 1
    IRQ_FALLING = 4
    by_id = {}

    def __init__(self, pin_id, mode=None, pull=None, value=None):
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
    writes = []

    @staticmethod
    def read(pin_id, level):
        from boards import pico_pins as p
        if pin_id == p.POWER_BUTTON:
            return 0 if World.power else 1
        if pin_id == 24:
            return World.vbus
        if pin_id in p.KEYPAD_COLS:
            c = p.KEYPAD_COLS.index(pin_id)
            for r, row in enumerate(p.KEYPAD_ROWS):
                if Pin.by_id[row].level == 0 and p.KEYPAD_KEYS[r][c] in World.pressed:
                    return 0
            return 1
        return level


class I2C:
    def __init__(self, *a, **k):
        pass

    def scan(self):
        return World.i2c_devices

    def writeto(self, addr, buf):
        World.writes.append(bytes(buf))

    def writevto(self, addr, bufs):
        World.writes.append(b"".join(bytes(b) for b in bufs))


class ADC:
    def __init__(self, n):
        pass

    def read_u16(self):
        return World.vsys_raw


class WDT:
    def __init__(self, timeout):
        World.wdt_timeout = timeout

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
sys.modules["machine"] = machine

from boards.pico import Board  # noqa: E402
from dsc.token import Token  # noqa: E402

board = Board(False, sys.argv[2])
token = Token(board, True)


def run(ms):
    end = time.ticks_add(time.ticks_ms(), ms)
    while time.ticks_diff(end, time.ticks_ms()) > 0:
        token.poll()
        board.idle(min(token.idle_ms(), 10))


def hold_key(name, ms=60):
    World.pressed.add(name)
    run(ms)
    World.pressed.discard(name)
    run(ms)


def hold_power(ms=60):
    World.power = True
    run(ms)
    World.power = False
    run(ms)


def report(**fields):
    fields["lines"] = list(token.ui.lines)
    fields["state"] = token.ui.state
    print(json.dumps(fields))


def provision():
    token.receive(b"provision key=" + b"3132333435363738393031323334353637383930313233343536373839303132" + b"\n")


scenario = sys.argv[3]
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
    report(step="off", display_on=board._display_on)
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
    report(step="slept", sleeps=World.sleeps, feeds=World.feeds, wdt=World.wdt_timeout)
    World.vbus = 1
    World.sleeps = []
    board.idle(30)
    report(step="usb-powered", sleeps=World.sleeps)
    World.vbus = 0
    World.wake_on_sleep = True
    board.idle(60000)
    run(200)
    report(step="woken")
