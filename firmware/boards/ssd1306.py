"""SSD1306 OLED (128x32 or 128x64) over I2C, drawing the token's two text lines.

MicroPython only (it needs `framebuf`). Each line holds 8 characters of
framebuf's 8x8 font scaled 2x wide, so 8 characters fill the 128 px width:
2x tall on a 128x32 panel (the lines fill it), 3x tall on a 128x64 panel
(centred, 4 px margins and an 8 px gap between the lines).

On the wire (SSD1306 datasheet, I2C interface): every write starts with a
control byte; 0x00 = the rest are commands, 0x80 = one command follows,
0x40 = the rest are display RAM data. The RAM is pages of 8 rows, one byte
per column, LSB at the top (framebuf's MONO_VLSB layout), written in vertical
addressing mode: a window's bytes go column by column, each column top page to
bottom page, so a run of characters is their glyphs' bytes one after another.
"""

import framebuf

# Commands (SSD1306 datasheet, command table).
DISPLAY_OFF = 0xAE
DISPLAY_ON = 0xAF
SET_CONTRAST = 0x81
RESUME_RAM = 0xA4  # output follows RAM (0xA5 would light every pixel)
NORMAL = 0xA6  # 1 in RAM = lit (0xA7 inverts)
SCROLL_OFF = 0x2E
SET_MEMORY_MODE = 0x20  # + 0x00 horizontal, 0x01 vertical
SET_COLUMNS = 0x21  # + start, end
SET_PAGES = 0x22  # + start, end
SET_START_LINE = 0x40  # | line 0..63
SEGMENT_REMAP = 0xA1  # column 127 drives SEG0
COM_SCAN_DEC = 0xC8  # scan COM[N-1] to COM0
SET_MULTIPLEX = 0xA8  # + rows - 1
SET_OFFSET = 0xD3  # + vertical shift
SET_COM_PINS = 0xDA  # + 0x02 (sequential: 32 rows) or 0x12 (alternative: 64 rows)
SET_CLOCK = 0xD5  # + divide ratio / oscillator frequency
SET_PRECHARGE = 0xD9  # + phase 2 << 4 | phase 1
SET_VCOM_DESELECT = 0xDB  # + level
SET_CHARGE_PUMP = 0x8D  # + 0x14 on (internal VCC), 0x10 off

CHAR_W = 16  # 8 px font, 2x wide
BLANK = 0x20  # a space draws nothing, like the end of a short line
GLYPHS = 95  # printable ASCII, 0x20..0x7E


def _spread_table(scale):
    """Each 4-bit nibble with every bit repeated `scale` times: 0b0101 -> 0b00110011 for 2."""
    table = []
    for n in range(16):
        v = 0
        for bit in range(4):
            if n >> bit & 1:
                v |= ((1 << scale) - 1) << (bit * scale)
        table.append(v)
    return tuple(table)


class SSD1306:
    """Keeps what each line shows and sends only the characters that changed.

    A frame at 400 kHz is 11.7 ms on the bus, the most of the 17.7 ms a redraw
    took on a 125 MHz RP2040 (issue 10). Each line owns whole display pages, so a
    changed run of characters is one window of columns x the line's pages, sent
    in one write made of the characters' glyphs. A glyph (2x wide, scaled tall)
    is drawn the first time its character is shown, into a pool made at start,
    and reused: nothing is allocated while drawing, and a screen change costs a
    few list stores plus the bus time.
    """

    def __init__(self, i2c, addr=0x3C, width=128, height=32):
        if height not in (32, 64):
            raise ValueError("height must be 32 or 64")
        if width < CHAR_W or width > 128 or width % 8:
            raise ValueError("width must be 16..128, a multiple of 8")
        self.i2c = i2c
        self.addr = addr
        self.width = width
        self.height = height
        self.pages = height // 8
        # Line layout: scale, and the top row of each line.
        self.scale_y = 2 if height == 32 else 3
        line_h = 8 * self.scale_y
        gap = height - 2 * line_h
        self.line_y = (gap // 4, gap // 4 + line_h + gap // 2)
        self.line_h = line_h
        self.chars = width // CHAR_W
        # The pages a line owns: the lines never share one (4 px margins at 64 rows).
        self._shift = self.line_y[0] % 8
        self._line_pages = (self._shift + line_h + 7) // 8
        self._spread = _spread_table(self.scale_y)
        # What the panel's RAM shows, as character codes; 0 = unknown (after power-up).
        self._drawn = (bytearray(self.chars), bytearray(self.chars))
        # Glyphs of the printable ASCII characters, drawn on first use: CHAR_W
        # columns of _line_pages bytes each, in the order the window takes them.
        glyph = CHAR_W * self._line_pages
        self._pool = bytearray(glyph * GLYPHS)
        self._ready = bytearray(GLYPHS)
        pool = memoryview(self._pool)
        self._glyphs = [pool[i * glyph:(i + 1) * glyph] for i in range(GLYPHS)]
        # One unscaled 8x8 character.
        self._sbuf = bytearray(8)
        self._scratch = framebuf.FrameBuffer(self._sbuf, 8, 8, framebuf.MONO_VLSB)
        # One write per run of changed characters: the data control byte, then a
        # glyph per character (a list per run length, made once).
        ctrl = b"\x40"
        self._runs = [[ctrl] + [None] * n for n in range(self.chars + 1)]  # type: list[list]
        # Preallocated command writes.
        self._cmd1 = bytearray(2)
        self._cmd1[0] = 0x80
        self._cmd2 = bytearray(3)  # 0x00, command, argument
        self._window = bytearray((0x00, SET_COLUMNS, 0, width - 1, SET_PAGES, 0, self.pages - 1))
        self._init()

    def _init(self):
        """Set the controller up and leave the panel off: the first show() writes
        every page (its RAM holds noise after power-up) before power(True) lights it.
        A token boots switched off, so this saves a frame at every boot."""
        self.i2c.writeto(self.addr, bytes((
            0x00,
            DISPLAY_OFF,
            SET_CLOCK, 0x80,  # divide ratio 1, oscillator mid-range (the reset value)
            SET_MULTIPLEX, self.height - 1,
            SET_OFFSET, 0x00,
            SET_START_LINE | 0,
            SET_CHARGE_PUMP, 0x14,
            SET_MEMORY_MODE, 0x01,  # vertical: column by column
            SEGMENT_REMAP,
            COM_SCAN_DEC,
            SET_COM_PINS, 0x02 if self.height == 32 else 0x12,
            SET_CONTRAST, 0x8F,
            SET_PRECHARGE, 0xF1,  # for the internal charge pump
            SET_VCOM_DESELECT, 0x40,
            RESUME_RAM,
            NORMAL,
            SCROLL_OFF,
        )))

    def _command(self, cmd):
        self._cmd1[1] = cmd
        self.i2c.writeto(self.addr, self._cmd1)

    def _command_arg(self, cmd, arg):
        c = self._cmd2
        c[0] = 0x00
        c[1] = cmd
        c[2] = arg
        self.i2c.writeto(self.addr, c)

    def _update(self, n, text):
        """Send the characters of line `n` that differ from what the panel shows."""
        drawn = self._drawn[n]
        chars = self.chars
        first = last = -1
        i = 0
        for c in text:  # iterating a str allocates nothing; indexing one would
            if i == chars:
                break  # longer lines are cut off
            code = ord(c)
            if not 32 <= code < 32 + GLYPHS:
                code, c = BLANK, " "  # the font has printable ASCII only
            if drawn[i] != code:
                drawn[i] = code
                last = i
                if first < 0:
                    first = i
                if not self._ready[code - 32]:
                    self._draw_glyph(c, code - 32)
            i += 1
        while i < chars:
            if drawn[i] != BLANK:
                drawn[i] = BLANK
                last = i
                if first < 0:
                    first = i
            i += 1
        if first < 0:
            return
        run = self._runs[last - first + 1]
        glyphs = self._glyphs
        for i in range(first, last + 1):
            run[i - first + 1] = glyphs[drawn[i] - 32]
        w = self._window
        w[2] = first * CHAR_W
        w[3] = (last + 1) * CHAR_W - 1
        w[5] = self.line_y[n] // 8
        w[6] = w[5] + self._line_pages - 1
        self.i2c.writeto(self.addr, w)
        self.i2c.writevto(self.addr, run)

    def _draw_glyph(self, c, slot):
        """Character `c` scaled into its glyph: each font column twice (2x wide),
        each row scale_y times, shifted down to the line's place in its pages."""
        scratch = self._scratch
        scratch.fill(0)
        scratch.text(c, 0, 0, 1)
        sbuf = self._sbuf
        pool = self._pool
        spread = self._spread
        half = 4 * self.scale_y
        shift = self._shift
        pages = self._line_pages
        at = slot * CHAR_W * pages
        for col in range(8):
            bits = sbuf[col]
            column = (spread[bits & 15] | spread[bits >> 4] << half) << shift
            for k in range(pages):
                byte = column >> (8 * k) & 0xFF
                pool[at + k] = byte
                pool[at + pages + k] = byte  # 2x wide
            at += 2 * pages
        self._ready[slot] = 1

    def show(self, line1, line2):
        """Draw two lines of up to 8 characters (more are cut off)."""
        self._update(0, line1)
        self._update(1, line2)

    def power(self, on):
        """Panel on, or off (sleep: RAM and settings are kept)."""
        self._command(DISPLAY_ON if on else DISPLAY_OFF)

    def contrast(self, value):
        """Brightness 0..255."""
        self._command_arg(SET_CONTRAST, max(0, min(255, value)))
