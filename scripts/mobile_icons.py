"""Draw OpenDSC Mobile's PNG icons (host/mobile/static/icon-192.png, icon-512.png),
the same picture as icon.svg: a token with a display and a keypad. Run it after
changing icon.svg; the PNGs are committed, so nothing draws them at run time."""

import pathlib
import struct
import sys
import zlib

STATIC = pathlib.Path(__file__).resolve().parent.parent / "host" / "mobile" / "static"
NAVY, PALE, WHITE, AMBER = (0x14, 0x36, 0x5D), (0xCF, 0xE3, 0xFF), (0xFF, 0xFF, 0xFF), (0xF0, 0xB4, 0x00)
# (x, y, w, h, colour) on the SVG's 64x64 grid; later shapes cover earlier ones.
SHAPES = [(0, 0, 64, 64, NAVY), (14, 8, 36, 14, PALE)] + [
    (x, y, 8, 6, AMBER if (x, y) == (42, 48) else WHITE) for y in (28, 38, 48) for x in (14, 28, 42)]


def draw(size):
    scale = size / 64.0
    rows = []
    for py in range(size):
        row = bytearray(b"\0")  # PNG filter: none
        for px in range(size):
            x, y, colour = px / scale, py / scale, NAVY
            for sx, sy, w, h, c in SHAPES:
                if sx <= x < sx + w and sy <= y < sy + h:
                    colour = c
            row += bytes(colour)
        rows.append(bytes(row))
    return png(size, b"".join(rows))


def png(size, raw):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def main():
    for size in (192, 512):
        (STATIC / ("icon-%d.png" % size)).write_bytes(draw(size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
