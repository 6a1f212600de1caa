"""Raspberry Pi Pico / Pico 2 board (RP2040 or RP2350, and their W versions):
4x4 keypad, power button, SSD1306 OLED, optional DS3231 clock, USB serial,
battery sense, light sleep and, in release builds, a watchdog.
Pins: boards/pico_pins.py.
"""

# The u-names are MicroPython's built-ins at once: `import os` (time, select, machine)
# first looks on the flash for an os.py that could extend the built-in, about 20 us a
# name on the unix port's littlefs and a file lookup each on the chip, at every boot.
import sys
import umachine as machine
import uos as os
import uselect as select
import utime as time

import micropython

from boards import pico_pins as pins
from boards.keypad import Button, Keypad
from dsc.storage import DirFS

STATE_DIR = "/state"  # the token's flash files; apart from the code, so reflashing keeps them
SCAN_MS = 5  # keypad scan period while the token is on
KEY_DEBOUNCE_MS = 5  # membrane keypads settle in about 5 ms
WATCHDOG_MS = 8000  # the RP2040's watchdog allows ~8.3 s at most (the RP2350's ~16.7 s)
SLEEP_MAX_MS = 5000  # wake to feed the watchdog well before it bites
SERIAL_MAX = 512  # the most bytes one serial_read() returns


def machine_name():
    """The board as MicroPython names it, e.g. "Raspberry Pi Pico 2 W with RP2350"."""
    return getattr(sys.implementation, "_machine", "")


class Board:
    def __init__(self, release, state_dir=STATE_DIR):
        # A release token: 0x03 on USB is data, not a way into the REPL, and the
        # watchdog resets a hung token. A debug token keeps Ctrl-C and has no
        # watchdog, which once armed cannot be stopped: at the REPL it would reset
        # the board in the middle of re-flashing it.
        if release:
            micropython.kbd_intr(-1)
        try:
            os.mkdir(state_dir)
        except OSError:
            pass  # already there
        self.fs = DirFS(state_dir)
        Pin = machine.Pin
        self.keypad = Keypad(
            [Pin(n, Pin.OPEN_DRAIN, value=1) for n in pins.KEYPAD_ROWS],
            [Pin(n, Pin.IN, Pin.PULL_UP) for n in pins.KEYPAD_COLS],
            pins.KEYPAD_KEYS, debounce_ms=KEY_DEBOUNCE_MS, settle=lambda: time.sleep_us(5))
        self._power_pin = Pin(pins.POWER_BUTTON, Pin.IN, Pin.PULL_UP)
        self.power = Button(self._power_pin, "PWR")
        self._woken = False
        self._power_pin.irq(self._on_power, Pin.IRQ_FALLING)
        self._vbus = Pin("WL_GPIO2", Pin.IN) if _is_wireless() else Pin(24, Pin.IN)
        self._vbus_was = self._vbus.value()
        self._adc = machine.ADC(pins.VSYS_ADC)
        self.display, self._rtc_bus = _open_i2c_devices()
        self._rtc = None  # the DS3231's driver, loaded when the clock is first asked (not at boot)
        self._display_on = True  # until the token's first (blank) screen switches it off
        self._keys = []
        self._stdin = sys.stdin.buffer
        self._stdout = sys.stdout.buffer
        self._poll = select.poll()
        self._poll.register(sys.stdin, select.POLLIN)
        self._rx = bytearray(SERIAL_MAX)
        self._rx_view = memoryview(self._rx)
        self._byte = bytearray(1)
        self._last = time.ticks_ms()
        self._elapsed = 0
        self.watchdog = machine.WDT(timeout=WATCHDOG_MS) if release else None

    # -- board interface ------------------------------------------------------

    def ticks_ms(self):
        """Milliseconds since boot, without ticks_ms()'s wrap-around."""
        now = time.ticks_ms()
        self._elapsed += time.ticks_diff(now, self._last)
        self._last = now
        return self._elapsed

    def clock(self):
        """"rtc" when the DS3231 holds the time, "unset" when it lost it (a dead
        coin cell; dsc clock set), "none" without one. The Pico's own clock
        restarts at 2021-01-01 at every boot, so it never counts."""
        rtc = self.rtc()
        if rtc is None:
            return "none"
        try:
            return "unset" if rtc.lost() else "rtc"
        except OSError:
            return "unset"  # the module stopped answering

    def epoch(self):
        """Unix seconds from the RTC, or None when the token has no trustworthy time."""
        if self.clock() != "rtc":
            return None
        try:
            return self.rtc().read()
        except OSError:
            return None

    def set_clock(self, epoch):
        """Set the RTC (OSError if it does not answer; ValueError if out of its range)."""
        rtc = self.rtc()
        if rtc is None:
            raise OSError("no real-time clock")
        rtc.write(epoch)

    def rtc(self):
        """The DS3231 driver, or None without one. Its module is loaded on first
        use: a file load before the token is ready costs about 13 ms (issue 18),
        and only a time suite or the link's clock commands need the clock."""
        if self._rtc is None and self._rtc_bus is not None:
            from boards.ds3231 import DS3231

            self._rtc = DS3231(self._rtc_bus, pins.RTC_ADDR)
        return self._rtc

    def read_key(self):
        if not self._keys:
            self._scan()
        return self._keys.pop(0) if self._keys else None

    def show(self, line1, line2):
        if self.display is None:
            return
        off = not line1 and not line2
        if off:
            if self._display_on:
                self.display.power(False)
                self._display_on = False
            return
        self.display.show(line1, line2)
        if not self._display_on:
            self.display.power(True)
            self._display_on = True

    def serial_read(self):
        """What is waiting on USB, at most SERIAL_MAX bytes. MicroPython's stdin
        read(n) waits until n bytes came, so bytes are taken one at a time while
        poll says more are waiting, into a buffer made once: ipoll and readinto
        allocate nothing, where poll() + read(1) + bytes concatenation cost about
        13,500 cycles a byte on the RP2040 (9 KB/s, issue 10). Nothing in the stock
        rp2 image says how many bytes are waiting (sys_stdio_mphal.c reads byte by
        byte until n came; micropython#8772), so one readinto of what is waiting
        cannot be made safely: this stays at about 57 us a byte (issue 18)."""
        poll = self._poll
        stdin = self._stdin
        byte = self._byte
        rx = self._rx
        n = 0
        while n < SERIAL_MAX:
            waiting = False
            for _ in poll.ipoll(0):
                waiting = True
            if not waiting or not stdin.readinto(byte):
                break  # nothing more now (or end of input: only off-board, a closed pipe)
            rx[n] = byte[0]
            n += 1
        return bytes(self._rx_view[:n]) if n else b""

    def serial_write(self, data):
        self._stdout.write(data)

    def serial_reset(self):
        """True once after USB came back (VBUS returned: a re-plug, so a new host).
        MicroPython does not report a port closed and opened again on the same
        cable (DTR); there the client's first bytes make a leftover harmless."""
        vbus = self._vbus.value()
        plugged = vbus and not self._vbus_was
        self._vbus_was = vbus
        return bool(plugged)

    def random(self, n):
        return os.urandom(n)

    def unique_id(self):
        return machine.unique_id()

    def idle(self, ms):
        """Scan keys while the display is on; light-sleep while it is off and
        USB is not powering us (USB stops in light sleep)."""
        self._feed()
        if self._keys:
            return
        if self._rtc is None and self._rtc_bus is not None and self._display_on:
            self.rtc()  # the clock's driver loads while the PIN is keyed, not in the first response's time
        if not self._display_on and not self._vbus.value():
            machine.lightsleep(min(ms, SLEEP_MAX_MS))
            self._feed()
            return
        end = time.ticks_add(time.ticks_ms(), min(ms, SLEEP_MAX_MS))
        while time.ticks_diff(end, time.ticks_ms()) > 0:
            self._scan()
            if self._keys or self._poll.poll(0):
                return
            time.sleep_ms(SCAN_MS)

    def battery_mv(self):
        """VSYS in millivolts (through the on-board 3:1 divider)."""
        raw = self._adc.read_u16()
        return raw * 3300 * pins.VSYS_DIVIDER // 65535

    def battery_low(self):
        return not self._vbus.value() and self.battery_mv() < pins.BATTERY_LOW_MV

    # -- internals ------------------------------------------------------------

    def _feed(self):
        if self.watchdog is not None:
            self.watchdog.feed()

    def _on_power(self, pin):
        self._woken = True

    def _scan(self):
        now = self.ticks_ms()
        if self._woken:
            self._woken = False
            if not self._display_on:
                self._keys.extend(self.power.woke(now))
                return
        self._keys.extend(self.power.scan(now))
        if self._display_on:
            self._keys.extend(self.keypad.scan(now))


def maintenance_requested():
    """Holding the power key and C (`*`) while plugging in USB asks for maintenance
    (boards/pico_maintenance.py): two keys, so nobody gets it by accident. Here, so a
    boot loads the pin map and the keypad with the board, in its one file."""
    Pin = machine.Pin
    if Pin(pins.POWER_BUTTON, Pin.IN, Pin.PULL_UP).value() != 0:
        return False
    keypad = Keypad([Pin(n, Pin.OPEN_DRAIN, value=1) for n in pins.KEYPAD_ROWS],
                    [Pin(n, Pin.IN, Pin.PULL_UP) for n in pins.KEYPAD_COLS], pins.KEYPAD_KEYS)
    down = keypad.read_matrix()
    return any(down[r][c] and pins.KEYPAD_KEYS[r][c] == "C" for r in range(len(down)) for c in range(len(down[r])))


def _is_wireless():
    """The Pico W and Pico 2 W sense VBUS through their radio chip, not GP24."""
    name = machine_name()
    return "Pico W" in name or "Pico 2 W" in name


def _answers(i2c, addr):
    """True if a device acknowledges `addr`: the empty write I2C.scan() makes for
    each of the bus's 112 addresses (about 10 ms at boot on the chip), made for
    the few addresses the token's devices can have."""
    try:
        i2c.writeto(addr, b"")
    except OSError:
        return False
    return True


def _open_i2c_devices():
    """(display, rtc bus) on the I2C bus: the SSD1306 OLED, else an HD44780 LCD,
    else no display (the token still works over USB); the bus the DS3231 clock
    answers on, else None. The bus runs at 1 MHz when only the OLED is on it,
    else at what the slowest device fitted is rated for."""
    Pin = machine.Pin

    def bus(freq):
        return machine.I2C(pins.I2C_ID, sda=Pin(pins.I2C_SDA), scl=Pin(pins.I2C_SCL), freq=freq)

    i2c = bus(pins.I2C_FREQ)
    has_rtc = _answers(i2c, pins.RTC_ADDR)
    display = None
    if _answers(i2c, pins.DISPLAY_ADDR):
        if not has_rtc and pins.I2C_FAST_FREQ != pins.I2C_FREQ:
            i2c = bus(pins.I2C_FAST_FREQ)
        from boards.ssd1306 import SSD1306

        display = SSD1306(i2c, pins.DISPLAY_ADDR, pins.DISPLAY_WIDTH, pins.DISPLAY_HEIGHT)
    elif _answers(i2c, pins.LCD_ADDR):
        i2c = bus(pins.LCD_I2C_FREQ)
        from boards.hd44780 import HD44780

        display = HD44780(i2c, pins.LCD_ADDR)  # type: ignore[assignment]  # either display, one interface
    return display, (i2c if has_rtc else None)
