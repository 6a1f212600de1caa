"""HD44780 16x2 character LCD behind a PCF8574 I2C backpack (address 0x27).

The same show(line1, line2) / power(on) interface as boards/ssd1306.py. Runs on
MicroPython and CPython (the delay falls back to time.sleep).

The common backpack wiring: PCF8574 P0 = RS, P1 = R/W (kept low: write only),
P2 = E, P3 = backlight, P4..P7 = D4..D7; the LCD runs in 4-bit mode, each byte
sent as two nibbles, high first, each latched on E's falling edge. Note the
PCF8574 is specified for 100 kHz I2C.
"""

import time

try:
    _sleep_ms = time.sleep_ms
except AttributeError:  # CPython
    def _sleep_ms(ms):
        time.sleep(ms / 1000)

RS = 0x01
E = 0x04
BACKLIGHT = 0x08

CLEAR = 0x01
ENTRY_INCREMENT = 0x06  # cursor moves right, no display shift
DISPLAY_CONTROL = 0x08  # | 0x04 display on (cursor and blink stay off)
DISPLAY_ON = 0x04
FUNCTION_4BIT_2LINE = 0x28  # 4-bit bus, 2 lines, 5x8 dots
SET_DDRAM = 0x80  # | address: line 1 at 0x00, line 2 at 0x40
LINE_ADDR = (0x00, 0x40)
COLUMNS = 16


class HD44780:
    def __init__(self, i2c, addr=0x27, columns=COLUMNS, sleep_ms=None):
        self.i2c = i2c
        self.addr = addr
        self.columns = columns
        self._sleep = sleep_ms or _sleep_ms
        self._backlight = BACKLIGHT
        # One byte: two nibbles, each put on the pins with E low (RS/data setup
        # time before E rises), then E high, then E low (the LCD latches).
        self._out = bytearray(6)
        self._init()

    def _nibbles(self, value, rs):
        # Both nibbles of one byte go in a single I2C write; at the bus speed
        # each E pulse lasts far longer than the 450 ns the LCD needs, and the
        # next write comes after the 37 us a command or character takes.
        base = self._backlight | rs
        hi = (value & 0xF0) | base
        lo = ((value << 4) & 0xF0) | base
        out = self._out
        out[0] = hi
        out[1] = hi | E
        out[2] = hi
        out[3] = lo
        out[4] = lo | E
        out[5] = lo
        self.i2c.writeto(self.addr, out)

    def _nibble(self, high_bits):
        # Only during the reset sequence, while the LCD may still be in 8-bit mode.
        base = (high_bits & 0xF0) | self._backlight
        self.i2c.writeto(self.addr, bytes((base, base | E, base)))

    def _command(self, cmd):
        self._nibbles(cmd, 0)

    def _init(self):
        # Reset by instruction (HD44780 datasheet, 4-bit interface): wait for
        # power-up, "8-bit" function set three times, then switch to 4 bits.
        self._sleep(50)
        self.i2c.writeto(self.addr, bytes((self._backlight,)))
        self._nibble(0x30)
        self._sleep(5)
        self._nibble(0x30)
        self._sleep(1)
        self._nibble(0x30)
        self._nibble(0x20)
        self._command(FUNCTION_4BIT_2LINE)
        self._command(DISPLAY_CONTROL)  # display off
        self._command(CLEAR)
        self._sleep(2)
        self._command(ENTRY_INCREMENT)
        self._command(DISPLAY_CONTROL | DISPLAY_ON)

    def _line(self, text, n):
        self._command(SET_DDRAM | LINE_ADDR[n])
        length = len(text)
        for i in range(self.columns):
            # Pad with spaces so the previous screen's text is overwritten.
            self._nibbles(ord(text[i]) if i < length else 0x20, RS)

    def show(self, line1, line2):
        """Write two lines (up to 16 characters; the token uses 8)."""
        self._line(line1, 0)
        self._line(line2, 1)

    def power(self, on):
        """Backlight and display on, or both off (the LCD keeps its text)."""
        self._backlight = BACKLIGHT if on else 0
        self._command(DISPLAY_CONTROL | (DISPLAY_ON if on else 0))
