"""Raspberry Pi Pico / Pico 2 board: 4x4 keypad, power button, SSD1306 OLED,
USB serial, battery sense, light sleep and a watchdog. Pins: boards/pico_pins.py.
"""

import os
import select
import sys
import time

import machine
import micropython

from boards import pico_pins as pins
from boards.keypad import Button, Keypad
from dsc.storage import DirFS

STATE_DIR = "/state"  # the token's flash files; apart from the code, so reflashing keeps them
SCAN_MS = 10  # keypad scan period while the token is on
WATCHDOG_MS = 8000  # the longest the RP2040's watchdog allows is ~8.3 s
SLEEP_MAX_MS = 5000  # wake to feed the watchdog well before it bites


class Board:
    def __init__(self, release, state_dir=STATE_DIR):
        if release:
            micropython.kbd_intr(-1)  # 0x03 on USB is data, not a way into the REPL
        try:
            os.mkdir(state_dir)
        except OSError:
            pass  # already there
        self.fs = DirFS(state_dir)
        Pin = machine.Pin
        self.keypad = Keypad(
            [Pin(n, Pin.OPEN_DRAIN, value=1) for n in pins.KEYPAD_ROWS],
            [Pin(n, Pin.IN, Pin.PULL_UP) for n in pins.KEYPAD_COLS],
            pins.KEYPAD_KEYS, settle=lambda: time.sleep_us(5))
        self._power_pin = Pin(pins.POWER_BUTTON, Pin.IN, Pin.PULL_UP)
        self.power = Button(self._power_pin, "PWR")
        self._woken = False
        self._power_pin.irq(self._on_power, Pin.IRQ_FALLING)
        self._vbus = Pin("WL_GPIO2", Pin.IN) if _is_pico_w() else Pin(24, Pin.IN)
        self._vbus_was = self._vbus.value()
        self._adc = machine.ADC(pins.VSYS_ADC)
        self.display = _open_display()
        self._display_on = True
        self._keys = []
        self._stdin = sys.stdin.buffer
        self._stdout = sys.stdout.buffer
        self._poll = select.poll()
        self._poll.register(sys.stdin, select.POLLIN)
        self._last = time.ticks_ms()
        self._elapsed = 0
        self.watchdog = machine.WDT(timeout=WATCHDOG_MS)

    # -- board interface ------------------------------------------------------

    def ticks_ms(self):
        """Milliseconds since boot, without ticks_ms()'s wrap-around."""
        now = time.ticks_ms()
        self._elapsed += time.ticks_diff(now, self._last)
        self._last = now
        return self._elapsed

    def epoch(self):
        return time.time() + 946684800 if time.gmtime(0)[0] == 2000 else time.time()

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
        data = b""
        while len(data) < 512 and self._poll.poll(0):
            byte = self._stdin.read(1)
            if not byte:
                break  # end of input (only off-board, e.g. a closed pipe)
            data += byte
        return data

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
        self.watchdog.feed()
        if self._keys:
            return
        if not self._display_on and not self._vbus.value():
            machine.lightsleep(min(ms, SLEEP_MAX_MS))
            self.watchdog.feed()
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


def _is_pico_w():
    """The Pico W senses VBUS through its radio chip, not GP24."""
    machine_name = getattr(sys.implementation, "_machine", "")
    return "Pico W" in machine_name or "Pico 2 W" in machine_name


def _open_display():
    """The SSD1306 OLED, else an HD44780 LCD, else None (the token still works over USB)."""
    i2c = machine.I2C(pins.I2C_ID, sda=machine.Pin(pins.I2C_SDA), scl=machine.Pin(pins.I2C_SCL), freq=pins.I2C_FREQ)
    found = i2c.scan()
    if pins.DISPLAY_ADDR in found:
        from boards.ssd1306 import SSD1306

        return SSD1306(i2c, pins.DISPLAY_ADDR, pins.DISPLAY_WIDTH, pins.DISPLAY_HEIGHT)
    if pins.LCD_ADDR in found:
        from boards.hd44780 import HD44780

        slow = machine.I2C(pins.I2C_ID, sda=machine.Pin(pins.I2C_SDA), scl=machine.Pin(pins.I2C_SCL),
                           freq=pins.LCD_I2C_FREQ)
        return HD44780(slow, pins.LCD_ADDR)
    return None
