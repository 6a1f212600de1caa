"""The Pico board's pin map: the one place that says what is wired where.

hardware/wiring.py generates the wiring table and picture from this file,
and tests/hardware/test_hardware_docs.py checks they agree with it.
"""

# 4x4 membrane keypad: rows are driven low one at a time, columns read with pull-ups.
KEYPAD_ROWS = (2, 3, 4, 5)  # GP2..GP5 -> keypad pins 1..4
KEYPAD_COLS = (6, 7, 8, 9)  # GP6..GP9 -> keypad pins 5..8
# What each key means to the token: '#' is OK, '*' is C (clear); the letter keys
# are function keys F1..F4: A (F1) starts signing (docs/firmware.md), B-D are free.
KEYPAD_KEYS = (
    ("1", "2", "3", "F1"),
    ("4", "5", "6", "F2"),
    ("7", "8", "9", "F3"),
    ("C", "0", "OK", "F4"),
)
KEYPAD_LEGENDS = (
    ("1", "2", "3", "A"),
    ("4", "5", "6", "B"),
    ("7", "8", "9", "C"),
    ("*", "0", "#", "D"),
)

POWER_BUTTON = 15  # GP15 to GND, internal pull-up; wakes the board from light sleep

# SSD1306 OLED on I2C0.
I2C_ID = 0
I2C_SDA = 16  # GP16
I2C_SCL = 17  # GP17
I2C_FREQ = 400000  # the bus speed while the firmware looks for what is fitted
# With only the OLED on the bus it runs at 1 MHz: a whole frame then takes 4.7 ms
# instead of 11.7 ms. SSD1306 modules are rated for 400 kHz but take 1 MHz in
# practice; set this to I2C_FREQ for one that does not.
I2C_FAST_FREQ = 1000000
DISPLAY_ADDR = 0x3C
DISPLAY_WIDTH = 128
DISPLAY_HEIGHT = 32  # 32 or 64, as the module bought
# Or a 16x2 HD44780 LCD on a PCF8574 I2C backpack, found at this address instead
# (the backpack is rated for 100 kHz, so the bus slows down for it).
LCD_ADDR = 0x27
LCD_I2C_FREQ = 100000
# Optional: a DS3231 real-time clock module with its coin cell, on the same four
# wires. Time-based (T) suites need it; without it the token refuses them. It is
# rated for 400 kHz, so with it fitted the bus stays at I2C_FREQ.
RTC_ADDR = 0x68

# VSYS through the Pico's on-board 3:1 divider on GP29 (ADC3).
VSYS_ADC = 29
VSYS_DIVIDER = 3
BATTERY_LOW_MV = 2300  # two AAA cells: the Pico's regulator works down to 1.8 V

LED = 25  # on-board LED (Pico; the Pico W drives it through the radio chip)
