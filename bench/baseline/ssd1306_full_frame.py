# BASELINE for bench/bench_firmware.py, not firmware: the SSD1306 driver as it was
# before issue 10 (commit 0ba88dc), which redrew and sent the whole frame on every
# show(). Kept so the bench measures the new driver against it in the same run.

"""SSD1306 OLED (128x32 or 128x64) over I2C, drawing the token's two text lines.

MicroPython only (it needs `framebuf`). Each line holds 8 characters of
framebuf's 8x8 font scaled 2x wide, so 8 characters fill the 128 px width:
2x tall on a 128x32 panel (the lines fill it), 3x tall on a 128x64 panel
(centred, 4 px margins and an 8 px gap between the lines).

On the wire (SSD1306 datasheet, I2C interface): every write starts with a
control byte; 0x00 = the rest are commands, 0x80 = one command follows,
0x40 = the rest are display RAM data. The RAM is written in horizontal
addressing mode: pages of 8 rows, one byte per column, LSB at the top, which is
framebuf's MONO_VLSB layout.
"""

import framebuf

# Commands (SSD1306 datasheet, command table).
DISPLAY_OFF = 0xAE
DISPLAY_ON = 0xAF
SET_CONTRAST = 0x81
RESUME_RAM = 0xA4  # output follows RAM (0xA5 would light every pixel)
NORMAL = 0xA6  # 1 in RAM = lit (0xA7 inverts)
SCROLL_OFF = 0x2E
SET_MEMORY_MODE = 0x20  # + 0x00 horizontal
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
SCALE_X = 2


class SSD1306:
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
        # Frame buffer with the I2C data control byte in front, sent in one write.
        self._buf = bytearray(1 + width * self.pages)
        self._buf[0] = 0x40
        self.buffer = memoryview(self._buf)[1:]
        self.fb = framebuf.FrameBuffer(self.buffer, width, height, framebuf.MONO_VLSB)
        # One unscaled text line (8 characters of 8x8): one byte per column.
        self._sbuf = bytearray(64)
        self._scratch = framebuf.FrameBuffer(self._sbuf, 64, 8, framebuf.MONO_VLSB)
        # Preallocated command writes.
        self._cmd1 = bytearray(2)
        self._cmd1[0] = 0x80
        self._cmd2 = bytearray(3)  # 0x00, command, argument
        self._window = bytearray((0x00, SET_COLUMNS, 0, width - 1, SET_PAGES, 0, self.pages - 1))
        self._init()

    def _init(self):
        self.i2c.writeto(self.addr, bytes((
            0x00,
            DISPLAY_OFF,
            SET_CLOCK, 0x80,  # divide ratio 1, oscillator mid-range (the reset value)
            SET_MULTIPLEX, self.height - 1,
            SET_OFFSET, 0x00,
            SET_START_LINE | 0,
            SET_CHARGE_PUMP, 0x14,
            SET_MEMORY_MODE, 0x00,
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
        # The RAM holds noise after power-up: clear it before the panel lights.
        self.fb.fill(0)
        self._flush()
        self._command(DISPLAY_ON)

    def _command(self, cmd):
        self._cmd1[1] = cmd
        self.i2c.writeto(self.addr, self._cmd1)

    def _command_arg(self, cmd, arg):
        c = self._cmd2
        c[0] = 0x00
        c[1] = cmd
        c[2] = arg
        self.i2c.writeto(self.addr, c)

    def _flush(self):
        self.i2c.writeto(self.addr, self._window)
        self.i2c.writeto(self.addr, self._buf)

    def _line(self, text, y):
        # Draw at 1x into the scratch line (framebuf clips past 8 characters),
        # then scale each lit run of a column into the frame buffer.
        self._scratch.fill(0)
        self._scratch.text(text, 0, 0, 1)
        sbuf = self._sbuf
        fb = self.fb
        sy = self.scale_y
        x = 0
        for col in range(self.chars * 8):
            bits = sbuf[col]
            row = 0
            while bits:
                if bits & 1:
                    start = row
                    while bits & 1:
                        bits >>= 1
                        row += 1
                    fb.fill_rect(x, y + start * sy, SCALE_X, (row - start) * sy, 1)
                else:
                    bits >>= 1
                    row += 1
            x += SCALE_X

    def show(self, line1, line2):
        """Draw two lines of up to 8 characters (more are cut off)."""
        self.fb.fill(0)
        self._line(line1, self.line_y[0])
        self._line(line2, self.line_y[1])
        self._flush()

    def power(self, on):
        """Panel on, or off (sleep: RAM and settings are kept)."""
        self._command(DISPLAY_ON if on else DISPLAY_OFF)

    def contrast(self, value):
        """Brightness 0..255."""
        self._command_arg(SET_CONTRAST, max(0, min(255, value)))
