"""Security code cards: a printed grid of numbered 3-digit codes.

The login challenge shows two index numbers ("07 42"); the response is the two
codes typed together (6 digits). A `code-card` is printed and permanent; an
`online-card` is temporary (ONLINE_CARD_DAYS) and printed by the user. Cards
render as text, as a PNG (built-in bitmap font) and as a one-page PDF.

The words printed on a card are English unless the caller passes others
(CardWords: the portal passes the visitor's language). The PDF prints Japanese
with a standard Japanese font the viewer supplies; the PNG's font has ASCII
glyphs only, so a card whose words it cannot draw is drawn with English words.
"""

import dataclasses

import hmac
import re
import secrets
import struct
import textwrap
import zlib

SIZE = 50
MAX_SIZE = 999  # indices stay within three digits
CODE_CARD, ONLINE_CARD = "code-card", "online-card"
ONLINE_CARD_DAYS = 21
INSTRUCTION = ("The login screen asks for two positions, such as 07 42: type the code at 07, then the code at 42, "
               "as 6 digits without a space")


@dataclasses.dataclass(frozen=True)
class CardWords:
    """Every word a card prints; the English ones are also the portal's msgids."""
    security_title: str = "OPENDSC SECURITY CARD"
    online_title: str = "OPENDSC ONLINE CARD"
    serial: str = "Serial: %(serial)s"
    valid_until: str = "Valid until: %(time)s"
    no_end: str = "Valid until: revoked or replaced"
    instruction: str = INSTRUCTION


ENGLISH = CardWords()
COLUMNS = 5
_FORMAT_VERSION = 1
_CODE = re.compile(r"[0-9]{3}")
_CHALLENGE = re.compile(r"([0-9]{2,3}) ([0-9]{2,3})")
_RESPONSE = re.compile(r"[0-9]{6}")


# ---- grids, storage, challenges ------------------------------------------------

def _check_size(size):
    if not isinstance(size, int) or not 2 <= size <= MAX_SIZE:
        raise ValueError("a card has 2 to %d codes, not %r" % (MAX_SIZE, size))


def _check_grid(grid):
    if not isinstance(grid, (list, tuple)):
        raise ValueError("a grid is a list of codes")
    _check_size(len(grid))
    for code in grid:
        if not isinstance(code, str) or not _CODE.fullmatch(code):
            raise ValueError("a code is three ASCII digits, not %r" % (code,))


def new_grid(size=SIZE, random=secrets):
    """`size` fresh codes "000".."999" from the CSPRNG (`random.randbelow`)."""
    _check_size(size)
    return ["%03d" % random.randbelow(1000) for _ in range(size)]


def encode(grid):
    """The grid as bytes for sealed storage: version, count, then 2 bytes a code."""
    _check_grid(grid)
    return struct.pack(">BH%dH" % len(grid), _FORMAT_VERSION, len(grid), *(int(code) for code in grid))


def decode(data):
    """The grid from encode(); ValueError on anything malformed."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError("a stored grid is bytes")
    data = bytes(data)
    if len(data) < 3 or data[0] != _FORMAT_VERSION:
        raise ValueError("not a stored grid (version %d)" % _FORMAT_VERSION)
    (count,) = struct.unpack(">H", data[1:3])
    _check_size(count)
    if len(data) != 3 + 2 * count:
        raise ValueError("a stored grid of %d codes is %d bytes, not %d" % (count, 3 + 2 * count, len(data)))
    codes = struct.unpack(">%dH" % count, data[3:])
    if max(codes) > 999:
        raise ValueError("a stored code is above 999")
    return ["%03d" % code for code in codes]


def new_challenge(size=SIZE, random=secrets):
    """Two different 1-based indices, uniform over ordered pairs, from the CSPRNG."""
    _check_size(size)
    i = random.randbelow(size) + 1
    j = random.randbelow(size - 1) + 1
    if j >= i:
        j += 1
    return i, j


def challenge_text(i, j):
    """The challenge as shown: "07 42"."""
    if not (isinstance(i, int) and isinstance(j, int) and 1 <= i <= MAX_SIZE and 1 <= j <= MAX_SIZE):
        raise ValueError("indices are 1 to %d" % MAX_SIZE)
    return "%02d %02d" % (i, j)


def parse_challenge(text, size=SIZE):
    """(i, j) from challenge_text()'s exact form; ValueError otherwise."""
    match = _CHALLENGE.fullmatch(text) if isinstance(text, str) else None
    if not match:
        raise ValueError("a challenge is two numbers like 07 42")
    i, j = int(match.group(1)), int(match.group(2))
    if not (1 <= i <= size and 1 <= j <= size) or i == j or challenge_text(i, j) != text:
        raise ValueError("not a challenge for a card of %d codes: %r" % (size, text))
    return i, j


def expected(grid, i, j):
    """The right response: code i then code j."""
    if not (1 <= i <= len(grid) and 1 <= j <= len(grid)) or i == j:
        raise ValueError("indices %r, %r are not a challenge for this card" % (i, j))
    return grid[i - 1] + grid[j - 1]


def check(grid, challenge, response):
    """True when `response` is exactly the 6 digits for `challenge`; constant-time compare."""
    try:
        i, j = parse_challenge(challenge, len(grid))
    except ValueError:
        return False
    if not isinstance(response, str) or not _RESPONSE.fullmatch(response):
        return False
    return hmac.compare_digest(expected(grid, i, j).encode(), response.encode())


# ---- layout shared by text, PNG and PDF ---------------------------------------

def _validity(valid_until, words):
    if valid_until is None:
        return words.no_end
    if hasattr(valid_until, "hour"):  # a datetime
        zone = valid_until.tzname() if valid_until.tzinfo else None
        moment = valid_until.strftime("%Y-%m-%d %H:%M") + (" " + zone if zone else "")
    elif hasattr(valid_until, "isoformat"):  # a date
        moment = valid_until.isoformat()
    elif isinstance(valid_until, (int, float)):  # an epoch time, as the verifier stores it
        from host.verifier.timefmt import readable

        moment = readable(valid_until)
    else:
        moment = str(valid_until)
    return words.valid_until % {"time": moment}


def _header(serial, title, valid_until, words):
    return [str(title), words.serial % {"serial": serial}, _validity(valid_until, words)]


def _grid_lines(grid):
    """Column-major: ' 1: 123   11: 456 ...', COLUMNS columns."""
    rows = -(-len(grid) // COLUMNS)
    width = len(str(len(grid)))
    lines = []
    for row in range(rows):
        cells = ["%*d: %s" % (width, n + 1, grid[n]) for n in range(row, len(grid), rows)]
        lines.append("   ".join(cells))
    return lines


def render_text(grid, serial, title, valid_until=None, words=ENGLISH):
    """The card as plain text, its instruction wrapped as on the printed card (a
    page showing it needs no wider box than the grid)."""
    _check_grid(grid)
    return "\n".join(_wrapped_lines(grid, serial, title, valid_until, words)) + "\n"


def _wrapped_lines(grid, serial, title, valid_until, words):
    """The text lines, the instruction wrapped to the grid's width (at least 48
    columns; a CJK character takes two)."""
    grid_lines = _grid_lines(grid)
    width = max(48, max(len(line) for line in grid_lines))
    return (_header(serial, title, valid_until, words) + [""] + grid_lines + [""]
            + textwrap.wrap(words.instruction, width // 2 if _wide(words.instruction) else width))


def _wide(text):
    """Whether `text` has CJK characters (U+3000 up), each as wide as two Latin ones."""
    return any(ch >= "\u3000" for ch in text)


# ---- PNG -----------------------------------------------------------------------

# 5x7 glyphs (g j p q y have 2 more rows: descenders), one hex number a row,
# bit 4 = leftmost pixel (HD44780 style).
_GLYPH_ROWS = {
    " ": "00 00 00 00 00 00 00", "?": "0E 11 01 02 04 00 04",
    "0": "0E 11 13 15 19 11 0E", "1": "04 0C 04 04 04 04 0E", "2": "0E 11 01 02 04 08 1F",
    "3": "1F 02 04 02 01 11 0E", "4": "02 06 0A 12 1F 02 02", "5": "1F 10 1E 01 01 11 0E",
    "6": "06 08 10 1E 11 11 0E", "7": "1F 01 02 04 08 08 08", "8": "0E 11 11 0E 11 11 0E",
    "9": "0E 11 11 0F 01 02 0C",
    "A": "0E 11 11 11 1F 11 11", "B": "1E 11 11 1E 11 11 1E", "C": "0E 11 10 10 10 11 0E",
    "D": "1C 12 11 11 11 12 1C", "E": "1F 10 10 1E 10 10 1F", "F": "1F 10 10 1E 10 10 10",
    "G": "0E 11 10 17 11 11 0F", "H": "11 11 11 1F 11 11 11", "I": "0E 04 04 04 04 04 0E",
    "J": "07 02 02 02 02 12 0C", "K": "11 12 14 18 14 12 11", "L": "10 10 10 10 10 10 1F",
    "M": "11 1B 15 15 11 11 11", "N": "11 11 19 15 13 11 11", "O": "0E 11 11 11 11 11 0E",
    "P": "1E 11 11 1E 10 10 10", "Q": "0E 11 11 11 15 12 0D", "R": "1E 11 11 1E 14 12 11",
    "S": "0F 10 10 0E 01 01 1E", "T": "1F 04 04 04 04 04 04", "U": "11 11 11 11 11 11 0E",
    "V": "11 11 11 11 11 0A 04", "W": "11 11 11 15 15 15 0A", "X": "11 11 0A 04 0A 11 11",
    "Y": "11 11 11 0A 04 04 04", "Z": "1F 01 02 04 08 10 1F",
    "a": "00 00 0E 01 0F 11 0F", "b": "10 10 16 19 11 11 1E", "c": "00 00 0E 10 10 11 0E",
    "d": "01 01 0D 13 11 11 0F", "e": "00 00 0E 11 1F 10 0E", "f": "06 09 08 1C 08 08 08",
    "g": "00 00 0F 11 11 11 0F 01 0E", "h": "10 10 16 19 11 11 11", "i": "04 00 0C 04 04 04 0E",
    "j": "02 00 06 02 02 02 02 12 0C", "k": "10 10 12 14 18 14 12", "l": "0C 04 04 04 04 04 0E",
    "m": "00 00 1A 15 15 11 11", "n": "00 00 16 19 11 11 11", "o": "00 00 0E 11 11 11 0E",
    "p": "00 00 1E 11 11 11 1E 10 10", "q": "00 00 0F 11 11 11 0F 01 01", "r": "00 00 16 19 10 10 10",
    "s": "00 00 0E 10 0E 01 1E", "t": "08 08 1C 08 08 09 06", "u": "00 00 11 11 11 13 0D",
    "v": "00 00 11 11 11 0A 04", "w": "00 00 11 11 15 15 0A", "x": "00 00 11 0A 04 0A 11",
    "y": "00 00 11 11 11 11 0F 01 0E", "z": "00 00 1F 02 04 08 1F",
    ":": "00 0C 0C 00 0C 0C 00", ";": "00 0C 0C 00 0C 04 08", ".": "00 00 00 00 00 0C 0C",
    ",": "00 00 00 00 0C 04 08", "-": "00 00 00 1F 00 00 00", "/": "00 01 02 04 08 10 00",
    ">": "08 04 02 01 02 04 08", "<": "02 04 08 10 08 04 02", "(": "02 04 08 08 08 04 02",
    ")": "08 04 02 02 02 04 08", "_": "00 00 00 00 00 00 1F", "+": "00 04 04 1F 04 04 00",
    "=": "00 00 1F 00 1F 00 00", "'": "0C 04 08 00 00 00 00", "#": "0A 0A 1F 0A 1F 0A 0A",
    "!": "04 04 04 04 00 00 04",
}
FONT = {ch: [int(row, 16) for row in rows.split()] for ch, rows in _GLYPH_ROWS.items()}
GLYPH_W, GLYPH_H = 5, 9  # the tallest glyph, with its descender
CELL_W, CELL_H = 6, 11  # a character's box, with the gaps, in font pixels
MARGIN = 6               # font pixels around the text; the frame sits halfway
PNG_SCALE = 3            # screen pixels per font pixel
_INK, _PAPER = 0, 255


def _png_chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def render_png(grid, serial, title, valid_until=None, scale=PNG_SCALE):
    """The card as an 8-bit greyscale PNG: black text on white, in a frame (English words:
    the font has ASCII glyphs only)."""
    _check_grid(grid)
    lines = _wrapped_lines(grid, serial, title, valid_until, ENGLISH)
    width = 2 * MARGIN + CELL_W * max(len(line) for line in lines)
    height = 2 * MARGIN + CELL_H * len(lines)
    canvas = [bytearray([_PAPER]) * width for _ in range(height)]
    for n, line in enumerate(lines):
        top = MARGIN + n * CELL_H
        for c, ch in enumerate(line):
            left = MARGIN + c * CELL_W
            for dy, bits in enumerate(FONT.get(ch, FONT["?"])):
                for dx in range(GLYPH_W):
                    if bits & (0x10 >> dx):
                        canvas[top + dy][left + dx] = _INK
    edge = MARGIN // 2
    for x in range(edge, width - edge):
        canvas[edge][x] = canvas[height - 1 - edge][x] = _INK
    for y in range(edge, height - edge):
        canvas[y][edge] = canvas[y][width - 1 - edge] = _INK
    raw = bytearray()
    for row in canvas:
        line = b"\x00" + bytes(b for b in row for _ in range(scale))  # filter 0: none
        raw += line * scale
    header = struct.pack(">IIBBBBB", width * scale, height * scale, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + _png_chunk(b"IEND", b""))


# ---- PDF -----------------------------------------------------------------------

def _pdf_string(text):
    """A PDF literal string: printable ASCII, other characters as '?'."""
    text = "".join(ch if " " <= ch <= "~" else "?" for ch in text)
    return "(" + text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def _pdf_wide_string(text):
    """A PDF hex string for the Japanese font: UTF-16BE (its encoding, UniJIS-UCS2-HW-H)."""
    return "<" + text.encode("utf-16-be").hex().upper() + ">"


# A Japanese line's font: Adobe's standard Heisei Kaku Gothic, which PDF viewers supply
# (no font is embedded); its half-width CIDs 231-325 make ASCII as wide as Courier's half.
_PDF_JAPANESE_FONT = [
    b"<< /Type /Font /Subtype /Type0 /BaseFont /HeiseiKakuGo-W5-UniJIS-UCS2-HW-H /Encoding /UniJIS-UCS2-HW-H "
    b"/DescendantFonts [9 0 R] >>",
    b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /HeiseiKakuGo-W5 "
    b"/CIDSystemInfo << /Registry (Adobe) /Ordering (Japan1) /Supplement 2 >> /FontDescriptor 10 0 R "
    b"/DW 1000 /W [231 325 500] >>",
    b"<< /Type /FontDescriptor /FontName /HeiseiKakuGo-W5 /Flags 4 /FontBBox [-92 -250 1010 922] /ItalicAngle 0 "
    b"/Ascent 752 /Descent -221 /CapHeight 737 /StemV 114 >>",
]


def render_pdf(grid, serial, title, valid_until=None, words=ENGLISH):
    """The card as a one-page A4 PDF 1.4: Helvetica header, Courier grid, in a frame; a
    line with Japanese in the Japanese font."""
    _check_grid(grid)
    header = _header(serial, title, valid_until, words)
    grid_lines = _grid_lines(grid)
    instruction = textwrap.wrap(words.instruction, 40 if _wide(words.instruction) else 80)
    japanese = any(_wide(text) for text in header + instruction)
    left, top = 56, 786
    ops, y = [], top

    def line(font, size, text, leading):
        nonlocal y
        y -= leading
        shown = _pdf_wide_string(text) if _wide(text) else _pdf_string(text)
        ops.append("BT /%s %d Tf %d %d Td %s Tj ET" % ("F4" if _wide(text) else font, size, left, y, shown))

    line("F2", 16, header[0], 16)
    for text in header[1:]:
        line("F1", 11, text, 16)
    y -= 10
    for text in grid_lines:
        line("F3", 14, text, 20)
    y -= 10
    for text in instruction:
        line("F1", 10, text, 14)
    bottom = y - 14
    right = max(left + 0.6 * 14 * max(len(t) for t in grid_lines), left + 430)
    ops.append("1 w %d %d %d %d re S" % (left - 14, bottom, right - left + 28, top + 14 - bottom))
    content = "\n".join(ops).encode("ascii")

    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R /F2 6 0 R /F3 7 0 R%s >> >> >>" % (b" /F4 8 0 R" if japanese else b""),
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier-Bold >>",
    ] + (_PDF_JAPANESE_FONT if japanese else [])
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


FORMATS = {"txt": "text/plain; charset=utf-8", "png": "image/png", "pdf": "application/pdf"}


def render(card, fmt, words=ENGLISH):
    """An issued card (Devices.card, issue_printed_card, a card purpose's result) as
    the bytes of a .txt, .png or .pdf file, printed with `words`."""
    if fmt == "png":
        words = ENGLISH  # the only words its font can draw
    title = words.online_title if card["kind"] == ONLINE_CARD else words.security_title
    args = (card["grid"], card["serial"], title, card["expires_at"])
    if fmt == "png":
        return render_png(*args)
    if fmt == "pdf":
        return render_pdf(*args, words=words)
    return render_text(*args, words=words).encode()
