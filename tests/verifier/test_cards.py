"""Security code cards (host/verifier/cards.py): grids from the CSPRNG, storage,
challenges, responses, and the text, PNG and PDF renderings."""

import collections
import datetime
import os
import re
import secrets
import shutil
import struct
import subprocess
import zlib

import pytest
from hypothesis import given, settings, strategies as st

from host.verifier import cards

GOLDEN_PNG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "golden", "cards", "card-50.png")
EXAMPLE_GRID = ["%03d" % (7 * n + 100) for n in range(cards.SIZE)]  # distinct codes, for check() cases


def chi_square(counts, buckets, total):
    mean = total / buckets
    return sum((counts.get(b, 0) - mean) ** 2 / mean for b in range(buckets))


class Recorder:
    """A stand-in for `secrets` that hands out given values and records the bounds asked."""

    def __init__(self, values):
        self.values = list(values)
        self.bounds = []

    def randbelow(self, bound):
        self.bounds.append(bound)
        value = self.values.pop(0)
        assert 0 <= value < bound
        return value


# ---- grids ---------------------------------------------------------------------

def test_grid_is_size_three_digit_codes():
    for size in (2, 7, cards.SIZE, 120):
        grid = cards.new_grid(size)
        assert len(grid) == size
        assert all(isinstance(code, str) and re.fullmatch(r"[0-9]{3}", code) for code in grid)
    assert len(cards.new_grid()) == cards.SIZE == 50


def test_grid_sizes_out_of_range_are_refused():
    for size in (-1, 0, 1, cards.MAX_SIZE + 1, 2.0, "50"):
        with pytest.raises(ValueError):
            cards.new_grid(size)


def test_grid_codes_come_from_the_random_source():
    recorder = Recorder([0, 999, 42, 7, 500])
    assert cards.new_grid(5, random=recorder) == ["000", "999", "042", "007", "500"]
    assert recorder.bounds == [1000] * 5


def test_default_source_is_secrets(monkeypatch):
    calls = []

    def fake_randbelow(bound):
        calls.append(bound)
        return bound - 1

    monkeypatch.setattr(secrets, "randbelow", fake_randbelow)
    assert cards.new_grid(3) == ["999"] * 3
    assert cards.new_challenge(10) == (10, 9)
    assert calls == [1000, 1000, 1000, 10, 9]


def test_grid_codes_are_uniform_over_many_grids():
    grids = [cards.new_grid() for _ in range(2000)]
    codes = [code for grid in grids for code in grid]
    total = len(codes)  # 100,000
    # Every code value, and every digit position, is uniform (chi-square, false alarm ~1e-7).
    assert chi_square(collections.Counter(int(c) for c in codes), 1000, total) < 1255
    for position in range(3):
        digits = collections.Counter(int(c[position]) for c in codes)
        assert chi_square(digits, 10, total) < 54
    assert len({tuple(grid) for grid in grids}) == len(grids)  # no two grids alike


# ---- storage -------------------------------------------------------------------

def test_encode_decode_round_trip():
    grid = cards.new_grid()
    data = cards.encode(grid)
    assert isinstance(data, bytes) and len(data) == 3 + 2 * cards.SIZE
    assert cards.decode(data) == grid
    assert cards.decode(bytearray(data)) == grid


@given(st.lists(st.integers(0, 999), min_size=2, max_size=cards.MAX_SIZE))
def test_encode_decode_round_trip_any_grid(values):
    grid = ["%03d" % v for v in values]
    assert cards.decode(cards.encode(grid)) == grid


def test_encode_refuses_bad_grids():
    for grid in (["123"], ["123", "45"], ["123", "4567"], ["123", 456], ["123", "12a"], ["123", "١٢٣"],
                 "123456", None, ["000"] * (cards.MAX_SIZE + 1)):
        with pytest.raises(ValueError):
            cards.encode(grid)


def test_decode_refuses_malformed_data():
    good = cards.encode(cards.new_grid())
    bad = [b"", b"\x01", b"\x01\x00", good[:-1], good + b"\x00", b"\x02" + good[1:],
           good[:3] + b"\x03\xe8" + good[5:],                      # a code of 1000
           b"\x01\x00\x01" + b"\x00\x01",                          # one code only
           b"\x01\xff\xff" + b"\x00\x00" * 65535,                  # too many codes
           "not bytes", None, 12, [1, 0, 2]]
    for data in bad:
        with pytest.raises(ValueError):
            cards.decode(data)


@settings(max_examples=400)
@given(st.binary(max_size=300))
def test_decode_fuzz_raises_only_value_error(data):
    try:
        grid = cards.decode(data)
    except ValueError:
        return
    assert cards.encode(grid) == data


@settings(max_examples=300)
@given(st.data())
def test_decode_fuzz_mutated_encodings(data):
    encoded = bytearray(cards.encode(cards.new_grid(data.draw(st.integers(2, 60)))))
    position = data.draw(st.integers(0, len(encoded) - 1))
    encoded[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(encoded)))
    try:
        grid = cards.decode(bytes(encoded[:cut]))
    except ValueError:
        return
    assert cards.encode(grid) == bytes(encoded[:cut])


# ---- challenges ----------------------------------------------------------------

def test_challenge_indices_are_distinct_and_in_range():
    for size in (2, 3, cards.SIZE, cards.MAX_SIZE):
        for _ in range(500):
            i, j = cards.new_challenge(size)
            assert 1 <= i <= size and 1 <= j <= size and i != j
    assert {cards.new_challenge(2) for _ in range(200)} == {(1, 2), (2, 1)}


def test_challenge_edges_from_the_random_source():
    assert cards.new_challenge(50, random=Recorder([0, 0])) == (1, 2)
    assert cards.new_challenge(50, random=Recorder([49, 48])) == (50, 49)
    assert cards.new_challenge(50, random=Recorder([20, 20])) == (21, 22)
    recorder = Recorder([20, 19])
    assert cards.new_challenge(50, random=recorder) == (21, 20)
    assert recorder.bounds == [50, 49]


def test_challenges_are_uniform_over_ordered_pairs():
    draws = 12000
    counts = collections.Counter(cards.new_challenge(4) for _ in range(draws))
    pairs = [(i, j) for i in range(1, 5) for j in range(1, 5) if i != j]
    assert set(counts) == set(pairs)
    indexed = {n: counts[pair] for n, pair in enumerate(pairs)}
    assert chi_square(indexed, len(pairs), draws) < 60  # df 11, false alarm ~1e-7


def test_challenge_text_and_parse_round_trip():
    assert cards.challenge_text(7, 42) == "07 42"
    assert cards.challenge_text(50, 1) == "50 01"
    assert cards.challenge_text(100, 3) == "100 03"
    assert cards.parse_challenge("07 42") == (7, 42)
    assert cards.parse_challenge("100 03", size=120) == (100, 3)
    for _ in range(300):
        i, j = cards.new_challenge()
        assert cards.parse_challenge(cards.challenge_text(i, j)) == (i, j)


def test_parse_challenge_refuses_garbage():
    bad = ["", "07", "7 42", "07 4", "07  42", " 07 42", "07 42 ", "07 42\n", "07-42", "07\t42", "0742",
           "007 42", "07 042", "07 07", "00 05", "05 00", "51 01", "01 51", "a7 42", "٠٧ ٤٢", "０７ ４２",
           "07 42 13", None, b"07 42", 742, ("07", "42")]
    for text in bad:
        with pytest.raises(ValueError):
            cards.parse_challenge(text)
    with pytest.raises(ValueError):
        cards.parse_challenge("100 03")  # beyond a 50-code card
    with pytest.raises(ValueError):
        cards.challenge_text(0, 5)


@given(st.text(max_size=12))
def test_parse_challenge_fuzz(text):
    try:
        i, j = cards.parse_challenge(text)
    except ValueError:
        return
    assert cards.challenge_text(i, j) == text and i != j


# ---- responses -----------------------------------------------------------------

def test_expected_is_the_two_codes_in_order():
    grid = EXAMPLE_GRID
    assert cards.expected(grid, 7, 42) == grid[6] + grid[41]
    assert cards.expected(grid, 42, 7) == grid[41] + grid[6]
    for i, j in ((0, 1), (1, 51), (3, 3)):
        with pytest.raises(ValueError):
            cards.expected(grid, i, j)


def test_check_accepts_exactly_the_right_digits():
    grid = EXAMPLE_GRID
    right = grid[6] + grid[41]
    assert cards.check(grid, "07 42", right)
    assert not cards.check(grid, "42 07", right)  # the order matters
    for position in range(6):
        for digit in "0123456789":
            if digit != right[position]:
                wrong = right[:position] + digit + right[position + 1:]
                assert not cards.check(grid, "07 42", wrong)
    bad = [right[:5], right + "0", right[:3] + " " + right[3:], " " + right, right + " ", right + "\n",
           right[:5] + "a", "", "abcdef", "１２３４５６", "١٢٣٤٥٦", right.encode(), int(right), None, [right]]
    for response in bad:
        assert not cards.check(grid, "07 42", response)


def test_check_refuses_bad_challenges():
    grid = EXAMPLE_GRID
    for challenge in ("7 42", "07 07", "51 01", "", None, b"07 42"):
        assert not cards.check(grid, challenge, grid[6] + grid[41])


@settings(max_examples=200)
@given(st.text(max_size=8))
def test_check_fuzz_only_the_expected_response_passes(response):
    grid = cards.new_grid()
    i, j = cards.new_challenge()
    assert cards.check(grid, cards.challenge_text(i, j), response) == (response == cards.expected(grid, i, j))


def test_check_on_random_grids():
    for _ in range(200):
        grid = cards.new_grid()
        i, j = cards.new_challenge()
        challenge = cards.challenge_text(i, j)
        assert cards.check(grid, challenge, grid[i - 1] + grid[j - 1])


# ---- text ------------------------------------------------------------------------

def test_render_text_has_every_code_with_its_number():
    grid = cards.new_grid()
    text = cards.render_text(grid, "card-3f9a", "OpenDSC online card", datetime.date(2025, 7, 1))
    lines = text.splitlines()
    assert lines[:3] == ["OpenDSC online card", "Serial: card-3f9a", "Valid until: 2025-07-01"]
    assert " ".join(lines[15:]) == cards.INSTRUCTION  # wrapped to the grid's width, as printed
    assert max(len(line) for line in lines) <= 48
    assert cards.INSTRUCTION == ("The login screen asks for two positions, such as 07 42: type the code at 07, then "
                                 "the code at 42, as 6 digits without a space")  # positions and codes, never mixed
    grid_lines = lines[4:14]
    for row, line in enumerate(grid_lines):  # 5 columns of 10 rows, column-major
        numbers = [row + 1 + 10 * column for column in range(5)]
        assert line == "   ".join("%2d: %s" % (n, grid[n - 1]) for n in numbers)
    for n, code in enumerate(grid, 1):
        assert "%2d: %s" % (n, code) in text


def test_render_text_other_sizes_and_validity():
    grid = cards.new_grid(120)
    text = cards.render_text(grid, 1234, "Card")
    assert "Serial: 1234" in text and "Valid until: revoked or replaced" in text
    for n, code in enumerate(grid, 1):
        assert "%3d: %s" % (n, code) in text
    small = cards.new_grid(7)
    moment = datetime.datetime(2025, 7, 1, 14, 30, tzinfo=datetime.timezone.utc)
    text = cards.render_text(small, "s", "t", moment)
    assert "Valid until: 2025-07-01 14:30 UTC" in text
    assert all("%d: %s" % (n, code) in text for n, code in enumerate(small, 1))
    with pytest.raises(ValueError):
        cards.render_text(["12", "345"], "s", "t")


# ---- PNG -------------------------------------------------------------------------

def read_png(data):
    """(width, height, rows of grey bytes) from an 8-bit greyscale PNG with filter 0 rows."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, kinds, idat, header = 8, [], b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc
        kinds.append(kind)
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert pos == len(data) and kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    width, height, depth, colour, compression, filtering, interlace = header
    assert (depth, colour, compression, filtering, interlace) == (8, 0, 0, 0, 0)
    raw = zlib.decompress(idat)
    assert len(raw) == height * (1 + width)
    rows = [raw[y * (1 + width):(y + 1) * (1 + width)] for y in range(height)]
    assert all(row[0] == 0 for row in rows)
    return width, height, [row[1:] for row in rows]


def read_png_text(data, scale=cards.PNG_SCALE):
    """The text drawn in a card PNG, read back glyph by glyph with the module's font."""
    width, height, rows = read_png(data)
    assert width % scale == 0 and height % scale == 0
    pixels = [[rows[y * scale][x * scale] for x in range(width // scale)] for y in range(height // scale)]
    for y in range(0, height, 7):  # each font pixel is a uniform scale x scale block
        for x in range(0, width, 5):
            assert rows[y][x] == pixels[y // scale][x // scale]
    assert set(b for row in pixels for b in row) <= {0, 255}
    glyphs = {tuple(rows_ + [0] * (cards.GLYPH_H - len(rows_))): ch for ch, rows_ in cards.FONT.items()}
    columns = (len(pixels[0]) - 2 * cards.MARGIN) // cards.CELL_W
    lines = []
    for top in range(cards.MARGIN, len(pixels) - cards.MARGIN, cards.CELL_H):
        line = ""
        for c in range(columns):
            left = cards.MARGIN + c * cards.CELL_W
            bits = tuple(sum(0x10 >> dx for dx in range(cards.GLYPH_W) if pixels[top + dy][left + dx] == 0)
                         for dy in range(cards.GLYPH_H))
            line += glyphs[bits]
        lines.append(line.rstrip())
    return lines


def test_font_glyphs_are_distinct_and_fit():
    shapes = [tuple(rows) for rows in cards.FONT.values()]
    assert len(set(shapes)) == len(shapes)
    assert all(len(rows) in (7, cards.GLYPH_H) and all(0 <= r < 32 for r in rows) for rows in shapes)
    assert set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz :-/.") <= set(cards.FONT)


def test_render_png_is_a_png_of_the_card():
    grid = cards.new_grid()
    data = cards.render_png(grid, "card-3f9a", "OpenDSC online card", datetime.date(2025, 7, 1))
    width, height, _ = read_png(data)
    assert (width, height) == (struct.unpack(">II", data[16:24]))
    lines = read_png_text(data)
    text = cards.render_text(grid, "card-3f9a", "OpenDSC online card", datetime.date(2025, 7, 1)).splitlines()
    assert lines[:15] == text[:15]  # header, blank, grid, blank
    assert " ".join(lines[15:]) == cards.INSTRUCTION


def test_render_png_other_sizes_and_unknown_characters():
    grid = cards.new_grid(13)
    data = cards.render_png(grid, "é-1", "Café (card)", scale=2)
    lines = read_png_text(data, scale=2)
    assert lines[0] == "Caf? (card)" and lines[1] == "Serial: ?-1"
    assert lines[2] == "Valid until: revoked or replaced"
    drawn = "\n".join(lines)
    assert all("%2d: %s" % (n, code) in drawn for n, code in enumerate(grid, 1))


def test_render_png_matches_the_golden_picture(tmp_path):
    """Every glyph of the font, pixel for pixel (DSC_UPDATE_GOLDEN=1 regenerates; look at it)."""
    grid = ["%03d" % ((n * 379 + 11) % 1000) for n in range(50)]
    data = cards.render_png(grid, "abcdefghijklmnopqrstuvwxyz-0123456789",
                            "Font: ABCDEFGHIJKLMNOPQRSTUVWXYZ :-/.;,<>()_+='#!?", datetime.date(2025, 7, 1))
    if os.environ.get("DSC_UPDATE_GOLDEN") == "1":
        with open(GOLDEN_PNG, "wb") as f:
            f.write(data)
        pytest.skip("regenerated %s: look at it, then commit it" % GOLDEN_PNG)
    with open(GOLDEN_PNG, "rb") as f:
        golden = read_png(f.read())
    if read_png(data) != golden:
        (tmp_path / "card-50.png").write_bytes(data)
        pytest.fail("the card PNG differs from %s; this run's is %s" % (GOLDEN_PNG, tmp_path / "card-50.png"))


# ---- PDF -------------------------------------------------------------------------

def check_pdf_structure(data):
    """The xref entries point at their objects; the content stream is returned."""
    assert data.startswith(b"%PDF-1.4\n") and data.rstrip().endswith(b"%%EOF")
    startxref = int(re.search(rb"startxref\n(\d+)\n%%EOF\s*$", data).group(1))
    assert data[startxref:].startswith(b"xref\n")
    match = re.match(rb"xref\n0 (\d+)\n", data[startxref:])
    count = int(match.group(1))
    table = data[startxref + match.end():]
    entries = [table[20 * n:20 * (n + 1)] for n in range(count)]
    assert entries[0] == b"0000000000 65535 f \n"
    for number, entry in enumerate(entries[1:], 1):
        assert re.fullmatch(rb"\d{10} 00000 n \n", entry)
        assert data[int(entry[:10]):].startswith(b"%d 0 obj\n" % number)
    assert table[20 * count:].startswith(b"trailer\n<< /Size %d /Root 1 0 R >>" % count)
    stream = re.search(rb"<< /Length (\d+) >>\nstream\n", data)
    length = int(stream.group(1))
    assert data[stream.end() + length:].startswith(b"\nendstream")
    return data[stream.end():stream.end() + length]


def test_render_pdf_structure_and_codes():
    grid = cards.new_grid()
    data = cards.render_pdf(grid, "card-3f9a", "OpenDSC online card", datetime.date(2025, 7, 1))
    content = check_pdf_structure(data).decode("ascii")
    for n, code in enumerate(grid, 1):
        assert "%2d: %s" % (n, code) in content
    assert "(OpenDSC online card) Tj" in content and "(Serial: card-3f9a) Tj" in content
    assert "Valid until: 2025-07-01" in content


def test_render_pdf_escapes_strings():
    content = check_pdf_structure(cards.render_pdf(cards.new_grid(5), "x", "a (b) \\ é")).decode("ascii")
    assert "(a \\(b\\) \\\\ ?) Tj" in content


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="pdftotext (poppler-utils) is not installed")
def test_render_pdf_text_extracts(tmp_path):
    grid = cards.new_grid()
    path = tmp_path / "card.pdf"
    path.write_bytes(cards.render_pdf(grid, "card-3f9a", "OpenDSC online card"))
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True,
                          text=True).stdout
    assert "OpenDSC online card" in text and "Serial: card-3f9a" in text
    for n, code in enumerate(grid, 1):
        assert re.search(r"(^|\s)%d: %s(\s|$)" % (n, code), text)
