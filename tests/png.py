"""A tiny pure-Python PNG writer and reader for 1-bit pictures (test goldens).

write_png(path, rows, scale) stores a picture given as rows of 0/1 pixels as an
8-bit greyscale PNG (lit = white on black, like an OLED), each pixel drawn as a
scale x scale block so people can look at it. read_png(path, scale) gives the
rows of 0/1 pixels back (any 8-bit greyscale PNG, all five row filters), and
refuses a file whose blocks are not uniform. decode_png also reads a browser's
screenshot (8-bit RGB or RGBA) as grey values.
"""

import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(rows, scale=1):
    height = len(rows) * scale
    width = (len(rows[0]) if rows else 0) * scale
    raw = bytearray()
    for row in rows:
        line = b"\x00" + b"".join((b"\xff" if p else b"\x00") * scale for p in row)
        raw += line * scale
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale, no interlace
    return SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + _chunk(b"IEND", b"")


def write_png(path, rows, scale=1):
    with open(path, "wb") as f:
        f.write(encode_png(rows, scale))


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type: grey, RGB, grey + alpha, RGBA


def decode_png(data):
    """The greyscale values of an 8-bit PNG (greyscale, or RGB turned to grey), as a list of rows."""
    if data[:8] != SIGNATURE:
        raise ValueError("not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            raise ValueError("bad CRC in %r chunk" % kind)
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + length
    if header is None:
        raise ValueError("no IHDR")
    width, height, depth, colour, _, _, interlace = header
    channels = _CHANNELS.get(colour)
    if depth != 8 or interlace or channels is None:
        raise ValueError("only 8-bit, non-interlaced greyscale or RGB PNGs (alpha or not) are read here")
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev, pos = [], [0] * stride, 0
    for _ in range(height):
        kind, line = raw[pos], list(raw[pos + 1:pos + 1 + stride])
        pos += 1 + stride
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                line[i] = (line[i] + _paeth(a, b, c)) & 0xFF
            elif kind != 0:
                raise ValueError("bad filter type %d" % kind)
        prev = line
        if channels >= 3:  # RGB(A), e.g. a browser's screenshot: its luma (BT.601); alpha is ignored
            rows.append([(299 * line[i] + 587 * line[i + 1] + 114 * line[i + 2]) // 1000
                         for i in range(0, stride, channels)])
        else:
            rows.append(line[::channels])
    return rows


def read_png(path, scale=1):
    """Rows of 0/1 pixels from a picture written by write_png with this scale."""
    with open(path, "rb") as f:
        grey = decode_png(f.read())
    if not grey or len(grey) % scale or len(grey[0]) % scale:
        raise ValueError("%s: size is not a multiple of the scale %d" % (path, scale))
    rows = []
    for y in range(0, len(grey), scale):
        row = []
        for x in range(0, len(grey[0]), scale):
            block = {grey[y + dy][x + dx] for dy in range(scale) for dx in range(scale)}
            if len(block) != 1:
                raise ValueError("%s: the %dx%d block at (%d, %d) is not one colour" % (path, scale, scale, x, y))
            row.append(1 if block.pop() >= 128 else 0)
        rows.append(row)
    return rows
