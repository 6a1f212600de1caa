#!/usr/bin/env python3
"""The token's wiring, generated from the pin map (firmware/boards/pico_pins.py).

    python hardware/wiring.py            write hardware/wiring.svg and the wiring
                                         table in hardware/README.md
    python hardware/wiring.py --check    exit 1 with a one-line message if the pin map
                                         is unsound, wiring.svg or the README table is
                                         out of date, or hardware/wokwi/diagram.json
                                         is not wired as the pin map says

The pin map is the single source of truth: change a pin there, run this script,
and the picture and the table follow. The Wokwi diagram is drawn by hand (parts
are placed in Wokwi's editor), so it is only checked, never rewritten.
"""

import argparse
import importlib.util
import itertools
import json
import os
import sys
from xml.sax.saxutils import escape

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PIN_MAP = os.path.join(ROOT, "firmware", "boards", "pico_pins.py")
SVG = os.path.join(HERE, "wiring.svg")
README = os.path.join(HERE, "README.md")
DIAGRAM = os.path.join(HERE, "wokwi", "diagram.json")
TABLE_START = "<!-- wiring-table:start -->"
TABLE_END = "<!-- wiring-table:end -->"

# The Pico's (and the Pico 2's) 40-pin header, physical pin -> name. Pins 1-20 run
# down the left side seen from the top with USB up, pins 21-40 back up the right.
HEADER = {
    1: "GP0", 2: "GP1", 3: "GND", 4: "GP2", 5: "GP3", 6: "GP4", 7: "GP5", 8: "GND",
    9: "GP6", 10: "GP7", 11: "GP8", 12: "GP9", 13: "GND", 14: "GP10", 15: "GP11",
    16: "GP12", 17: "GP13", 18: "GND", 19: "GP14", 20: "GP15",
    21: "GP16", 22: "GP17", 23: "GND", 24: "GP18", 25: "GP19", 26: "GP20", 27: "GP21",
    28: "GND", 29: "GP22", 30: "RUN", 31: "GP26", 32: "GP27", 33: "AGND", 34: "GP28",
    35: "ADC_VREF", 36: "3V3(OUT)", 37: "3V3_EN", 38: "GND", 39: "VSYS", 40: "VBUS",
}
GROUND_PINS = (3, 8, 13, 18, 23, 28, 33, 38)  # 33 is AGND, a ground like the others
PIN_3V3 = 36
PIN_VSYS = 39
ADC_GPIOS = (26, 27, 28, 29)  # GP29 (ADC3) is VSYS/3 on the board itself
DS3231_ADDR = 0x68  # fixed in the chip (the ZS-042 module's AT24C32 EEPROM is at 0x57)
DS3231_MAX_FREQ = 400000
# Wokwi has no DS3231: its DS1307 (also fixed at 0x68, same time registers) stands in.
WOKWI_RTC = "wokwi-ds1307"
# Wokwi's wokwi-pi-pico names its ground pins GND.1 ... GND.8, in physical order.
WOKWI_GROUND = {"GND.%d" % (i + 1): p for i, p in enumerate(GROUND_PINS)}


def load_pin_map(path=PIN_MAP):
    """The pin map is plain constants: load it by path, no firmware imports needed."""
    spec = importlib.util.spec_from_file_location("pico_pins", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def physical_pin(gpio):
    """The header pin a GPIO comes out on, or None for the ones wired on the board."""
    for pin, name in HEADER.items():
        if name == "GP%d" % gpio:
            return pin
    return None


def i2c_function(gpio):
    """RP2040/RP2350 GPIO function table: (I2C instance, 'SDA' or 'SCL') of a GPIO."""
    return (gpio >> 1) & 1, ("SDA" if gpio % 2 == 0 else "SCL")


def used_gpios(pins):
    """Every GPIO the pin map assigns, with what it is for."""
    used = [(g, "KEYPAD_ROWS") for g in pins.KEYPAD_ROWS]
    used += [(g, "KEYPAD_COLS") for g in pins.KEYPAD_COLS]
    used += [(pins.POWER_BUTTON, "POWER_BUTTON"), (pins.I2C_SDA, "I2C_SDA"), (pins.I2C_SCL, "I2C_SCL"),
             (pins.VSYS_ADC, "VSYS_ADC"), (pins.LED, "LED")]
    return used


def pin_map_problems(pins):
    problems = []
    seen = {}
    for gpio, name in used_gpios(pins):
        if gpio in seen:
            problems.append("GP%d is used twice (%s and %s)" % (gpio, seen[gpio], name))
        seen[gpio] = name
        if not 0 <= gpio <= 29:
            problems.append("%s: GP%d does not exist" % (name, gpio))
    wired = list(pins.KEYPAD_ROWS) + list(pins.KEYPAD_COLS) + [pins.POWER_BUTTON, pins.I2C_SDA, pins.I2C_SCL]
    for gpio in wired:
        if physical_pin(gpio) is None:
            problems.append("GP%d is not on the Pico's header" % gpio)
    if (len(pins.KEYPAD_ROWS), len(pins.KEYPAD_COLS)) != (4, 4):
        problems.append("the keypad is 4x4: KEYPAD_ROWS and KEYPAD_COLS need 4 pins each")
    for table in ("KEYPAD_KEYS", "KEYPAD_LEGENDS"):
        shape = [len(row) for row in getattr(pins, table)]
        if shape != [len(pins.KEYPAD_COLS)] * len(pins.KEYPAD_ROWS):
            problems.append("%s is not one entry per key" % table)
    if i2c_function(pins.I2C_SDA) != (pins.I2C_ID, "SDA"):
        problems.append("GP%d is not I2C%d SDA" % (pins.I2C_SDA, pins.I2C_ID))
    if i2c_function(pins.I2C_SCL) != (pins.I2C_ID, "SCL"):
        problems.append("GP%d is not I2C%d SCL" % (pins.I2C_SCL, pins.I2C_ID))
    if pins.VSYS_ADC not in ADC_GPIOS:
        problems.append("VSYS_ADC GP%d is not an ADC pin" % pins.VSYS_ADC)
    # The optional DS3231 shares the display's bus: its address is fixed in the chip,
    # and it is rated for 400 kHz, the speed the bus has while the firmware probes it.
    if pins.RTC_ADDR != DS3231_ADDR:
        problems.append("RTC_ADDR is 0x%02X, a DS3231 answers only at 0x%02X" % (pins.RTC_ADDR, DS3231_ADDR))
    if pins.RTC_ADDR in (pins.DISPLAY_ADDR, pins.LCD_ADDR):
        problems.append("RTC_ADDR 0x%02X is also a display's address" % pins.RTC_ADDR)
    if pins.I2C_FREQ > DS3231_MAX_FREQ:
        problems.append("I2C_FREQ %d is above the DS3231's %d" % (pins.I2C_FREQ, DS3231_MAX_FREQ))
    return problems


# -- the connections ------------------------------------------------------------

ROW_COLORS = ("#1f63c6", "#2e9e3e", "#8a4fc2", "#9b5b2a")
COL_COLORS = ("#e0529c", "#14a6b8", "#9aa11a", "#f07f0e")
BUTTON_COLOR = "#c9a100"
SDA_COLOR = "#00897b"
SCL_COLOR = "#5c6bc0"
V3_COLOR = "#e65100"
VSYS_COLOR = "#d32f2f"
GND_COLOR = "#222222"


class Connection:
    def __init__(self, pin, gpio, signal, to, color, part=None, part_pin=None):
        self.pin = pin            # physical header pin, or None for a connection on the board
        self.gpio = gpio          # GPIO number, or None for power and ground
        self.signal = signal
        self.to = to
        self.color = color
        self.part = part          # "keypad", "button", "oled", "battery" (what the picture draws)
        self.part_pin = part_pin  # the part's pin (index or name)


def nearest_ground(pin, taken):
    """The free ground pin closest to `pin` on the same side of the board."""
    def position(p):
        return (0, p) if p <= 20 else (1, 41 - p)

    side, row = position(pin)
    free = [g for g in GROUND_PINS if g not in taken]
    return min(free, key=lambda g: (position(g)[0] != side, abs(position(g)[1] - row), g))


def connections(pins):
    """Every wire of the token, in the order the picture's legend lists them."""
    wires = []
    legends = pins.KEYPAD_LEGENDS
    for i, gpio in enumerate(pins.KEYPAD_ROWS):
        keys = " ".join(legends[i])
        wires.append(Connection(physical_pin(gpio), gpio, "keypad row R%d" % (i + 1),
                                "keypad pin %d (R%d: keys %s)" % (i + 1, i + 1, keys),
                                ROW_COLORS[i % 4], "keypad", i))
    for j, gpio in enumerate(pins.KEYPAD_COLS):
        keys = " ".join(row[j] for row in legends)
        n = len(pins.KEYPAD_ROWS) + j + 1
        wires.append(Connection(physical_pin(gpio), gpio, "keypad column C%d" % (j + 1),
                                "keypad pin %d (C%d: keys %s)" % (n, j + 1, keys),
                                COL_COLORS[j % 4], "keypad", n - 1))
    taken = set()
    button = physical_pin(pins.POWER_BUTTON)
    button_gnd = nearest_ground(button, taken)
    taken.add(button_gnd)
    wires.append(Connection(button, pins.POWER_BUTTON, "power key (internal pull-up)",
                            "power button, one leg", BUTTON_COLOR, "button", "SIG"))
    wires.append(Connection(button_gnd, None, "GND", "power button, the diagonally opposite leg",
                            GND_COLOR, "button", "GND"))
    oled_gnd = nearest_ground(PIN_3V3, taken)
    taken.add(oled_gnd)
    wires.append(Connection(physical_pin(pins.I2C_SDA), pins.I2C_SDA, "I2C%d SDA" % pins.I2C_ID,
                            "OLED SDA", SDA_COLOR, "oled", "SDA"))
    wires.append(Connection(physical_pin(pins.I2C_SCL), pins.I2C_SCL, "I2C%d SCL" % pins.I2C_ID,
                            "OLED SCL", SCL_COLOR, "oled", "SCL"))
    wires.append(Connection(PIN_3V3, None, "3V3 out", "OLED VCC", V3_COLOR, "oled", "VCC"))
    wires.append(Connection(oled_gnd, None, "GND", "OLED GND", GND_COLOR, "oled", "GND"))
    # The optional clock joins the OLED's four wires (chained through the module's
    # pass-through header, or side by side on a breadboard): no header pin of its own.
    rtc = "optional clock at I2C 0x%02X, shares the wire with the OLED" % pins.RTC_ADDR
    for c in wires[-4:]:
        wires.append(Connection(c.pin, c.gpio, c.signal, "DS3231 %s (%s)" % (c.part_pin, rtc),
                                c.color, "rtc", c.part_pin))
    # The battery sits at the USB end in the picture: its minus lead takes the ground
    # pin nearest that end.
    battery_gnd = nearest_ground(1, taken)
    taken.add(battery_gnd)
    wires.append(Connection(PIN_VSYS, None, "VSYS (power in, 1.8-5.5 V)",
                            "battery + through the holder's switch and a 1N5817 (band towards VSYS)",
                            VSYS_COLOR, "battery", "+"))
    wires.append(Connection(battery_gnd, None, "GND", "battery − (black lead)", GND_COLOR, "battery", "-"))
    wires.append(Connection(None, pins.VSYS_ADC, "VSYS ÷ %d, battery voltage (ADC%d)" % (pins.VSYS_DIVIDER, pins.VSYS_ADC - 26),
                            "on the Pico itself (no wire)", None))
    wires.append(Connection(None, pins.LED, "on-board LED", "on the Pico itself (no wire)", None))
    return wires


# -- the markdown table -----------------------------------------------------------

def markdown_table(pins):
    rows = sorted(connections(pins), key=lambda c: (c.pin is None, c.pin or 0, c.gpio or 0))
    lines = [
        "| Pico pin | GPIO | signal | goes to |",
        "| ---: | --- | --- | --- |",
    ]
    for c in rows:
        pin = str(c.pin) if c.pin else "—"
        gpio = "GP%d" % c.gpio if c.gpio is not None else HEADER.get(c.pin, "—")
        lines.append("| %s | %s | %s | %s |" % (pin, gpio, c.signal, c.to.replace("*", "\\*")))
    return "\n".join(lines) + "\n"


def with_table(readme_text, table):
    """The README with the text between the wiring-table markers replaced."""
    if TABLE_START not in readme_text or TABLE_END not in readme_text:
        raise ValueError("hardware/README.md has no %s ... %s markers" % (TABLE_START, TABLE_END))
    head, rest = readme_text.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    note = "<!-- generated by hardware/wiring.py from firmware/boards/pico_pins.py: edit the pin map, not this table -->\n"
    return head + TABLE_START + "\n" + note + table + TABLE_END + tail


# -- the picture ----------------------------------------------------------------------

PITCH = 24           # header pin pitch in the picture
TOP = 200            # y of pin 1
PXL, PXR = 520, 720  # x of the left and right pin columns
LANE = 14            # spacing of the vertical wire lanes beside the board
EDGE = 12            # board edge beyond the pin columns
WIDTH, HEIGHT = 1300, 1050
RTC_W = 96           # width of the optional clock drawn on the OLED's wires
BAT_Y = 76           # battery terminals


def pin_xy(pin):
    if pin <= 20:
        return PXL, TOP + (pin - 1) * PITCH
    return PXR, TOP + (40 - pin) * PITCH


def route(src, dst, lane):
    """Pin -> lane -> the target's height -> target: straight when already level."""
    if src[1] == dst[1]:
        return [src, dst]
    return [src, (lane, src[1]), (lane, dst[1]), dst]


def _segments(points):
    return list(zip(points, points[1:]))


def crossings(paths):
    """How many times the wires cross or run over one another."""
    count = 0
    for a, b in itertools.combinations(paths, 2):
        for (p1, p2) in _segments(a):
            for (q1, q2) in _segments(b):
                count += _cross(p1, p2, q1, q2)
    return count


def _cross(p1, p2, q1, q2):
    ph, qh = p1[1] == p2[1], q1[1] == q2[1]
    if ph and qh:  # both horizontal: overlapping on one line?
        lo, hi = max(min(p1[0], p2[0]), min(q1[0], q2[0])), min(max(p1[0], p2[0]), max(q1[0], q2[0]))
        return int(p1[1] == q1[1] and hi > lo)
    if not ph and not qh:  # both vertical
        lo, hi = max(min(p1[1], p2[1]), min(q1[1], q2[1])), min(max(p1[1], p2[1]), max(q1[1], q2[1]))
        return int(p1[0] == q1[0] and hi > lo)
    h, v = ((p1, p2), (q1, q2)) if ph else ((q1, q2), (p1, p2))
    x, y = v[0][0], h[0][1]
    return int(min(h[0][0], h[1][0]) < x < max(h[0][0], h[1][0]) and min(v[0][1], v[1][1]) < y < max(v[0][1], v[1][1]))


def layout(pins):
    """Where each part's pins are, and the path of every wire."""
    # The clock's wires are the OLED's: the picture draws it on them, not as more paths.
    wires = [c for c in connections(pins) if c.pin is not None and c.part != "rtc"]
    by_part = {}
    for c in wires:
        by_part.setdefault(c.part, {})[c.part_pin] = c

    # The target height of every wire first: that decides which wires need a lane.
    keypad = by_part["keypad"]
    kp_top = min(pin_xy(c.pin)[1] for c in keypad.values())
    target_y = {}
    for index, c in keypad.items():
        target_y[id(c)] = kp_top + index * PITCH
    button = by_part["button"]
    for c in button.values():
        target_y[id(c)] = pin_xy(c.pin)[1]
    oled = by_part["oled"]
    sda_y = pin_xy(oled["SDA"].pin)[1]
    oled_order = ("GND", "VCC", "SCL", "SDA")  # the common 0.91" module's header, top to bottom
    for k, name in enumerate(oled_order):
        target_y[id(oled[name])] = sda_y - (len(oled_order) - 1 - k) * PITCH
    for c in by_part["battery"].values():
        target_y[id(c)] = BAT_Y

    def side(c):
        return "L" if c.pin <= 20 else "R"

    jogs = {"L": [], "R": []}
    for c in wires:
        if target_y[id(c)] != pin_xy(c.pin)[1]:
            jogs[side(c)].append(c)
    lanes = {
        "L": [PXL - EDGE - LANE * (k + 1) for k in range(len(jogs["L"]))],
        "R": [PXR + EDGE + LANE * (k + 1) for k in range(len(jogs["R"]))],
    }
    left_x = PXL - EDGE - LANE * (len(jogs["L"]) + 1) - 10   # keypad header, button legs
    rtc_x = PXR + EDGE + LANE * (len(jogs["R"]) + 1) + 10    # the optional clock, on the OLED's wires
    right_x = rtc_x + RTC_W + 40                              # OLED header

    places = {"keypad_x": left_x, "kp_top": kp_top, "oled_x": right_x, "sda_y": sda_y,
              "oled_order": oled_order, "rtc_x": rtc_x}
    battery_x = {"-": PXL + 6, "+": PXL + 128}
    places["battery_x"] = battery_x

    def target(c):
        if c.part in ("keypad", "button"):
            x = left_x if side(c) == "L" else right_x
        elif c.part == "oled":
            x = right_x if side(c) == "R" else left_x
        else:
            x = battery_x[c.part_pin]
        return x, target_y[id(c)]

    # Try every order of the lanes on each side; keep the one with the fewest crossings.
    best = None
    for left in itertools.permutations(lanes["L"]):
        for right in itertools.permutations(lanes["R"]):
            lane_of = {}
            for c, x in zip(jogs["L"], left):
                lane_of[id(c)] = x
            for c, x in zip(jogs["R"], right):
                lane_of[id(c)] = x
            paths = [route(pin_xy(c.pin), target(c), lane_of.get(id(c))) for c in wires]
            score = crossings(paths)
            if best is None or score < best[0]:
                best = (score, paths)
            if score == 0:
                break
        if best[0] == 0:
            break
    return wires, best[1], places, best[0]


def _text(x, y, s, size=11, anchor="start", weight="normal", fill="#222", family="sans", extra=""):
    fam = "DejaVu Sans Mono, Menlo, Consolas, monospace" if family == "mono" else "DejaVu Sans, Helvetica, Arial, sans-serif"
    return ('<text x="%g" y="%g" font-family="%s" font-size="%g" text-anchor="%s" font-weight="%s" fill="%s"%s>%s</text>'
            % (x, y, fam, size, anchor, weight, fill, extra, escape(s)))


def svg(pins):
    wires, paths, places, _ = layout(pins)
    used = {c.pin: c.color for c in wires}
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">' % (WIDTH, HEIGHT, WIDTH, HEIGHT),
        '<!-- generated by hardware/wiring.py from firmware/boards/pico_pins.py: do not edit -->',
        '<rect width="100%" height="100%" fill="#ffffff"/>',
        _text(24, 34, "OpenDSC wiring", 22, weight="bold"),
        _text(24, 56, "Raspberry Pi Pico or Pico 2 (same pinout),", 12, fill="#555"),
        _text(24, 72, "seen from the top with USB up.", 12, fill="#555"),
    ]
    out += _draw_pico(used)
    out += _draw_battery(places)
    out += _draw_keypad(pins, places)
    out += _draw_button(wires, places)
    out += _draw_oled(pins, places)
    out += _draw_rtc(pins, places)
    for c, points in zip(wires, paths):
        d = " ".join("%s%g,%g" % ("M" if i == 0 else "L", x, y) for i, (x, y) in enumerate(points))
        out.append('<path d="%s" fill="none" stroke="%s" stroke-width="3" stroke-linejoin="round" stroke-linecap="round"/>'
                   % (d, c.color))
        if c.part == "battery" and c.part_pin == "+":
            out += _draw_diode(points[-2], points[-1])
    for c in wires:
        x, y = pin_xy(c.pin)
        out.append('<circle cx="%g" cy="%g" r="5.5" fill="%s" stroke="#111" stroke-width="1"/>' % (x, y, c.color))
    out += _draw_rtc_joints(wires, places)
    out += _draw_legend(wires, pins)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _draw_pico(used):
    top, bottom = TOP - 62, TOP + 19 * PITCH + 30
    left, right = PXL - EDGE, PXR + EDGE
    mid = (PXL + PXR) / 2
    out = [
        '<rect x="%g" y="%g" width="24" height="20" rx="2" fill="#b0b0b0" stroke="#666"/>' % (mid - 12, top - 12),
        _text(mid, top - 16, "micro-USB", 10, "middle", fill="#666"),
        '<rect x="%g" y="%g" width="%g" height="%g" rx="8" fill="#1e7b45" stroke="#0f4d2a" stroke-width="2"/>'
        % (left, top, right - left, bottom - top),
        '<rect x="%g" y="%g" width="18" height="14" rx="2" fill="#eee" stroke="#555"/>' % (mid - 9, TOP - 44),
        _text(mid, TOP - 22, "BOOTSEL", 8, "middle", fill="#e8f5e9"),
        '<rect x="%g" y="%g" width="44" height="44" fill="#222" stroke="#000"/>' % (mid - 22, TOP + 8 * PITCH),
        _text(mid, TOP + 8 * PITCH + 20, "RP2040", 8, "middle", fill="#ddd"),
        _text(mid, TOP + 8 * PITCH + 32, "RP2350", 8, "middle", fill="#ddd"),
        _text(mid, bottom - 10, "SWD", 9, "middle", fill="#e8f5e9"),
    ]
    for pin, name in HEADER.items():
        x, y = pin_xy(pin)
        is_gnd = pin in GROUND_PINS
        fill = "#f3c94b" if not is_gnd else "#9e9e9e"
        out.append('<circle cx="%g" cy="%g" r="5" fill="%s" stroke="#5d4a00" stroke-width="1"/>' % (x, y, fill))
        label_fill = "#ffffff" if pin in used else "#a5d6b7"
        weight = "bold" if pin in used else "normal"
        if pin <= 20:
            out.append(_text(x + 12, y + 4, "%d %s" % (pin, name), 10.5, "start", weight, label_fill, "mono"))
        else:
            out.append(_text(x - 12, y + 4, "%s %d" % (name, pin), 10.5, "end", weight, label_fill, "mono"))
    return out


def _draw_battery(places):
    xm, xp = places["battery_x"]["-"], places["battery_x"]["+"]
    x0, x1 = xm + 8, xp - 8
    out = [
        '<rect x="%g" y="%g" width="%g" height="50" rx="5" fill="#424242" stroke="#111"/>' % (x0, BAT_Y - 25, x1 - x0),
    ]
    cell_w = (x1 - x0 - 30) / 2
    for k in range(2):
        cx = x0 + 6 + k * (cell_w + 4)
        out.append('<rect x="%g" y="%g" width="%g" height="22" rx="4" fill="#c9a227" stroke="#6d5400"/>' % (cx, BAT_Y - 11, cell_w))
        out.append(_text(cx + cell_w / 2, BAT_Y + 4, "AAA", 9, "middle", "bold", "#3e2f00"))
    sx = x1 - 16
    out.append('<rect x="%g" y="%g" width="10" height="18" rx="2" fill="#eee" stroke="#111"/>' % (sx, BAT_Y - 9))
    out.append('<rect x="%g" y="%g" width="10" height="8" fill="#777"/>' % (sx, BAT_Y - 9))
    out.append(_text((x0 + x1) / 2, BAT_Y - 31, "2×AAA holder with switch", 11, "middle", "bold"))
    out.append(_text(sx + 5, BAT_Y + 18, "ON", 7, "middle", fill="#ddd"))
    out.append(_text(xm - 8, BAT_Y - 8, "−", 14, "end", "bold"))
    out.append(_text(xp + 4, BAT_Y - 8, "+", 14, "start", "bold", VSYS_COLOR))
    return out


def _draw_diode(a, b):
    """1N5817 on the battery's plus lead, conducting from the battery (b) towards VSYS (a)."""
    (xa, y), (xb, _) = a, b
    mid = (xa + xb) / 2
    d = 1 if xa > xb else -1  # the way current flows along the wire
    tip = mid + 9 * d
    base = mid - 9 * d
    return [
        '<rect x="%g" y="%g" width="26" height="22" fill="#ffffff"/>' % (mid - 13, y - 11),
        '<path d="M%g,%g L%g,%g L%g,%g Z" fill="#222"/>' % (base, y - 9, base, y + 9, tip, y),
        '<path d="M%g,%g L%g,%g" stroke="#222" stroke-width="3"/>' % (tip, y - 10, tip, y + 10),
        _text(mid, y - 15, "1N5817", 10, "middle", "bold"),
        _text(mid, y + 24, "band → VSYS", 9, "middle", fill="#555"),
    ]


def _draw_keypad(pins, places):
    hx, top = places["keypad_x"], places["kp_top"]
    n = len(pins.KEYPAD_ROWS) + len(pins.KEYPAD_COLS)
    key, gap, pad = 46, 8, 14
    width = 4 * key + 3 * gap + 2 * pad
    height = width + 10
    body_right = hx - 60
    cy = top + (n - 1) * PITCH / 2
    body_top = cy - height / 2
    x0 = body_right - width
    out = [
        '<rect x="%g" y="%g" width="%g" height="%g" rx="6" fill="#263238" stroke="#111" stroke-width="2"/>'
        % (x0, body_top, width, height),
        _text(x0 + width / 2, body_top - 10, "4×4 membrane keypad (front)", 12, "middle", "bold"),
        # the ribbon tail, folded round to the header
        '<path d="M%g,%g L%g,%g L%g,%g L%g,%g Z" fill="#b0bec5" opacity="0.8"/>'
        % (body_right, cy - 30, hx - 16, top - 10, hx - 16, top + (n - 1) * PITCH + 10, body_right, cy + 30),
    ]
    for r in range(len(pins.KEYPAD_ROWS)):
        for c in range(len(pins.KEYPAD_COLS)):
            kx = x0 + pad + c * (key + gap)
            ky = body_top + pad + 6 + r * (key + gap)
            legend, meaning = pins.KEYPAD_LEGENDS[r][c], pins.KEYPAD_KEYS[r][c]
            fill = "#eceff1" if legend.isdigit() else "#ffcc80" if meaning in ("OK", "C") else "#cfd8dc"
            out.append('<rect x="%g" y="%g" width="%g" height="%g" rx="5" fill="%s" stroke="#90a4ae"/>' % (kx, ky, key, key, fill))
            out.append(_text(kx + key / 2, ky + 26, legend, 18, "middle", "bold", "#263238"))
            if meaning != legend:
                out.append(_text(kx + key / 2, ky + 40, meaning, 9, "middle", "bold", "#bf360c"))
    out.append(_text(x0 + width / 2, body_top + height + 16, "# is OK  ·  * is C (clear)  ·  A-D are F1-F4", 10, "middle", fill="#444"))
    for k in range(n):
        y = top + k * PITCH
        name = ("R%d" % (k + 1)) if k < len(pins.KEYPAD_ROWS) else ("C%d" % (k + 1 - len(pins.KEYPAD_ROWS)))
        out.append('<rect x="%g" y="%g" width="10" height="10" fill="#111"/>' % (hx - 5, y - 5))
        out.append(_text(hx - 20, y + 4, "%d %s" % (k + 1, name), 10, "end", "bold", "#263238", "mono"))
    return out


def _draw_button(wires, places):
    legs = sorted((pin_xy(c.pin)[1], c.part_pin) for c in wires if c.part == "button")
    x = places["keypad_x"]
    y0, y1 = legs[0][0], legs[-1][0]
    out = [
        '<rect x="%g" y="%g" width="52" height="%g" rx="4" fill="#37474f" stroke="#111"/>' % (x - 70, y0 - 16, y1 - y0 + 32),
        '<circle cx="%g" cy="%g" r="12" fill="#d32f2f" stroke="#7f0000"/>' % (x - 44, (y0 + y1) / 2),
        _text(x - 44, y1 + 34, "power button", 11, "middle", "bold"),
        _text(x - 44, y1 + 48, "6×6 mm tactile", 10, "middle", fill="#555"),
    ]
    for y, name in legs:
        out.append('<path d="M%g,%g L%g,%g" stroke="#777" stroke-width="3"/>' % (x - 18, y, x, y))
    return out


def _draw_oled(pins, places):
    x, sda_y, order = places["oled_x"], places["sda_y"], places["oled_order"]
    top = sda_y - (len(order) - 1) * PITCH
    w, h = 250, 96 if pins.DISPLAY_HEIGHT == 32 else 150
    body_x = x + 30
    cy = (top + sda_y) / 2
    body_y = cy - h / 2
    out = [
        '<rect x="%g" y="%g" width="%g" height="%g" rx="4" fill="#1565c0" stroke="#0d3c78" stroke-width="2"/>' % (x, body_y, w + 30, h),
        '<rect x="%g" y="%g" width="%g" height="%g" fill="#050a12" stroke="#333"/>' % (body_x + 12, body_y + 10, w - 30, h - 20),
        _text(body_x + w / 2 - 3, body_y + h / 2 - 4, "CHALLNG>", 20, "middle", "bold", "#8fd3ff", "mono"),
        _text(body_x + w / 2 - 3, body_y + h / 2 + 20, "123456", 18, "middle", "bold", "#8fd3ff", "mono"),
        _text(x + (w + 30) / 2, body_y - 10, "SSD1306 OLED %dx%d, I2C 0x%02X" % (pins.DISPLAY_WIDTH, pins.DISPLAY_HEIGHT, pins.DISPLAY_ADDR),
              12, "middle", "bold"),
    ]
    for k, name in enumerate(order):
        y = top + k * PITCH
        out.append('<rect x="%g" y="%g" width="10" height="10" fill="#111"/>' % (x - 5, y - 5))
        out.append(_text(x + 10, y + 4, name, 10, "start", "bold", "#ffffff", "mono"))
    return out


def _rtc_box(places):
    top = places["sda_y"] - (len(places["oled_order"]) - 1) * PITCH
    return places["rtc_x"], top - 22, RTC_W, (len(places["oled_order"]) - 1) * PITCH + 44


def _draw_rtc(pins, places):
    """The optional DS3231 module, dashed: it sits on the OLED's four wires."""
    x, y, w, h = _rtc_box(places)
    return [
        '<rect x="%g" y="%g" width="%g" height="%g" rx="4" fill="#eceff1" stroke="#546e7a" stroke-width="1.5"'
        ' stroke-dasharray="6 4"/>' % (x, y, w, h),
        '<circle cx="%g" cy="%g" r="14" fill="#cfd8dc" stroke="#78909c"/>' % (x + w / 2, y + h + 22),
        _text(x + w / 2, y + h + 26, "coin cell", 7, "middle", fill="#455a64"),
        _text(x + w / 2, y - 40, "optional clock", 11, "middle", "bold", "#455a64"),
        _text(x + w / 2, y - 26, "DS3231, I2C 0x%02X" % pins.RTC_ADDR, 10, "middle", fill="#455a64"),
        _text(x + w / 2, y + h + 52, "for T suites", 10, "middle", fill="#455a64"),
    ]


def _draw_rtc_joints(wires, places):
    """A dot where each of the clock's pins joins the OLED's wire, with the pin's name."""
    x = places["rtc_x"] + RTC_W / 2
    out = []
    for k, name in enumerate(places["oled_order"]):
        y = places["sda_y"] - (len(places["oled_order"]) - 1 - k) * PITCH
        color = next(c.color for c in wires if c.part == "oled" and c.part_pin == name)
        out.append('<circle cx="%g" cy="%g" r="4.5" fill="%s" stroke="#111" stroke-width="1"/>' % (x, y, color))
        out.append(_text(x + 8, y - 4, name, 8, "start", "bold", "#455a64", "mono"))
    return out


def _draw_legend(wires, pins):
    y0 = TOP + 19 * PITCH + 92
    out = [_text(24, y0, "Connections (any GND pin will do; these are the nearest)", 13, weight="bold")]
    rows = sorted(wires, key=lambda c: c.pin)
    half = (len(rows) + 1) // 2
    for i, c in enumerate(rows):
        col, row = divmod(i, half)
        x, y = 24 + col * 570, y0 + 24 + row * 22
        name = "GP%d" % c.gpio if c.gpio is not None else HEADER[c.pin]
        out.append('<path d="M%g,%g L%g,%g" stroke="%s" stroke-width="4" stroke-linecap="round"/>' % (x, y - 4, x + 26, y - 4, c.color))
        out.append(_text(x + 36, y, "pin %d  %s  →  %s" % (c.pin, name, c.to), 11))
    y = y0 + 24 + half * 22 + 8
    out.append(_text(24, y, "On the board, no wire: GP%d is the on-board LED, GP%d reads VSYS through the Pico's %d:1 divider."
                     % (pins.LED, pins.VSYS_ADC, pins.VSYS_DIVIDER), 11, fill="#444"))
    out.append(_text(24, y + 18, "Optional DS3231 clock (needed for T suites): its GND, VCC, SCL and SDA join the OLED's four wires,"
                     " on the same Pico pins.", 11, fill="#444"))
    y += 18
    out.append(_text(24, y + 18, "The diode lets USB and the battery both be connected: USB can never charge or back-feed the cells.",
                     11, fill="#444"))
    out.append(_text(24, y + 36, "Generated from firmware/boards/pico_pins.py by hardware/wiring.py: change the pin map, not this picture.",
                     11, fill="#888"))
    return out


# -- the Wokwi diagram --------------------------------------------------------------

def _node(part_types, ref):
    """A diagram pin as (part id, pin), with pins Wokwi wires together inside a part merged."""
    part, _, pin = ref.partition(":")
    kind = part_types.get(part, "")
    if kind.startswith(("wokwi-pi-pico", "board-pi-pico")) and pin.startswith("GND"):
        return part, "GND"
    if kind.startswith("wokwi-pushbutton") and pin[:2] in ("1.", "2."):
        return part, pin[0]  # 1.l and 1.r are one contact, 2.l and 2.r the other
    return part, pin


def diagram_problems(pins, diagram):
    """What in a Wokwi diagram.json disagrees with the pin map."""
    parts = diagram.get("parts", [])
    types = {p.get("id"): p.get("type", "") for p in parts}

    def find(*prefixes):
        ids = [i for i, t in types.items() if t.startswith(prefixes)]
        return ids[0] if len(ids) == 1 else None

    pico = find("wokwi-pi-pico", "board-pi-pico")
    keypad = find("wokwi-membrane-keypad")
    oled = find("board-ssd1306")
    button = find("wokwi-pushbutton")
    rtc = find(WOKWI_RTC)
    problems = []
    for name, part in (("one Pico", pico), ("one membrane keypad", keypad), ("one SSD1306", oled), ("one pushbutton", button),
                       ("one %s (the DS3231's stand-in)" % WOKWI_RTC, rtc)):
        if part is None:
            problems.append("needs %s" % name)
    if problems:
        return problems

    parent = {}

    def root(n):
        while parent.setdefault(n, n) != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for conn in diagram.get("connections", []):
        a, b = _node(types, conn[0]), _node(types, conn[1])
        parent[root(a)] = root(b)

    def pico_pins_on(part, pin):
        r = root((part, pin))
        return sorted(p for (owner, p) in list(parent) if owner == pico and root((owner, p)) == r)

    def expect(part, pin, want):
        got = pico_pins_on(part, pin)
        if got != [want]:
            problems.append("%s:%s goes to %s, the pin map says pico:%s"
                            % (part, pin, ", ".join("pico:" + g for g in got) or "nothing", want))

    for i, gpio in enumerate(pins.KEYPAD_ROWS):
        expect(keypad, "R%d" % (i + 1), "GP%d" % gpio)
    for j, gpio in enumerate(pins.KEYPAD_COLS):
        expect(keypad, "C%d" % (j + 1), "GP%d" % gpio)
    expect(oled, "SDA", "GP%d" % pins.I2C_SDA)
    expect(oled, "SCL", "GP%d" % pins.I2C_SCL)
    expect(oled, "VCC", "3V3")
    expect(oled, "GND", "GND")
    # Wokwi's DS1307 answers only at 0x68, as a DS3231 does; its supply pin is named 5V,
    # but the simulation does not care, and on the real board the DS3231 takes 3V3.
    expect(rtc, "SDA", "GP%d" % pins.I2C_SDA)
    expect(rtc, "SCL", "GP%d" % pins.I2C_SCL)
    expect(rtc, "5V", "3V3")
    expect(rtc, "GND", "GND")
    if pins.RTC_ADDR != DS3231_ADDR:
        problems.append("%s answers at 0x%02X, the pin map says RTC_ADDR 0x%02X" % (WOKWI_RTC, DS3231_ADDR, pins.RTC_ADDR))
    contacts = sorted(tuple(pico_pins_on(button, c)) for c in ("1", "2"))
    if contacts != sorted([("GP%d" % pins.POWER_BUTTON,), ("GND",)]):
        problems.append("the pushbutton must join pico:GP%d to GND, it joins %s"
                        % (pins.POWER_BUTTON, " and ".join("/".join(c) or "nothing" for c in contacts)))
    attrs = {p.get("id"): p.get("attrs", {}) for p in parts}
    keys = attrs[keypad].get("keys")
    legends = [k for row in pins.KEYPAD_LEGENDS for k in row]
    if keys is not None and list(keys) != legends:
        problems.append("the keypad's keys are %s, the pin map's legends %s" % (keys, legends))
    address = attrs[oled].get("i2c-address", attrs[oled].get("i2cAddress"))
    if address is not None and int(str(address), 16) != pins.DISPLAY_ADDR:
        problems.append("the OLED's I2C address is %s, the pin map says 0x%02X" % (address, pins.DISPLAY_ADDR))
    return problems


# -- main ----------------------------------------------------------------------------

def _read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return None


def check(pins, svg_text, readme_text, diagram_text):
    """Everything that is wrong, as short phrases (empty when all agree)."""
    problems = ["pin map: " + p for p in pin_map_problems(pins)]
    if problems:
        return problems
    stale = []
    if svg_text != svg(pins):
        stale.append("hardware/wiring.svg")
    try:
        if readme_text is None or with_table(readme_text, markdown_table(pins)) != readme_text:
            stale.append("the wiring table in hardware/README.md")
    except ValueError as e:
        problems.append(str(e))
    if stale:
        problems.append("%s out of date (run python hardware/wiring.py)" % " and ".join(stale))
    if diagram_text is None:
        problems.append("hardware/wokwi/diagram.json is missing")
    else:
        try:
            diagram = json.loads(diagram_text)
        except ValueError as e:
            problems.append("hardware/wokwi/diagram.json is not JSON (%s)" % e)
        else:
            problems += ["hardware/wokwi/diagram.json: " + p for p in diagram_problems(pins, diagram)]
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description="Generate the wiring picture and table from the pin map.")
    parser.add_argument("--check", action="store_true", help="only check that everything agrees with the pin map")
    args = parser.parse_args(argv)
    pins = load_pin_map()
    if args.check:
        problems = check(pins, _read(SVG), _read(README), _read(DIAGRAM))
        if problems:
            print("wiring: " + "; ".join(problems), file=sys.stderr)
            return 1
        return 0
    problems = pin_map_problems(pins)
    if problems:
        print("wiring: pin map: " + "; ".join(problems), file=sys.stderr)
        return 1
    with open(SVG, "w", encoding="utf-8", newline="\n") as f:
        f.write(svg(pins))
    readme = _read(README)
    try:
        new = with_table(readme or "", markdown_table(pins))
    except ValueError as e:
        print("wiring: %s" % e, file=sys.stderr)
        return 1
    if new != readme:
        with open(README, "w", encoding="utf-8", newline="\n") as f:
            f.write(new)
    print("wiring: wrote hardware/wiring.svg and the table in hardware/README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
