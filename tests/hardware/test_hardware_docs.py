"""The hardware docs agree with the pin map (firmware/boards/pico_pins.py): the
wiring picture, the README's wiring table and the Wokwi diagram, plus the pin
map's own sanity and the README's bill of materials and build commands."""

import copy
import importlib.util
import json
import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HARDWARE = os.path.join(REPO, "hardware")
WIRING = os.path.join(HARDWARE, "wiring.py")


def _load_wiring():
    spec = importlib.util.spec_from_file_location("hardware_wiring", WIRING)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


wiring = _load_wiring()
pins = wiring.load_pin_map()


def _read(*parts):
    with open(os.path.join(REPO, *parts), encoding="utf-8") as f:
        return f.read()


def _current():
    return _read("hardware", "wiring.svg"), _read("hardware", "README.md"), _read("hardware", "wokwi", "diagram.json")


# -- the generated files are up to date -------------------------------------------

def test_wiring_check_passes():
    out = subprocess.run([sys.executable, WIRING, "--check"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "" and out.stderr == ""


def test_check_flags_a_stale_picture_and_table_in_one_line():
    svg, readme, diagram = _current()
    assert wiring.check(pins, svg, readme, diagram) == []
    problems = wiring.check(pins, svg.replace("GP16", "GP61"), readme.replace("| GP2 |", "| GP12 |"), diagram)
    assert len(problems) == 1
    assert "wiring.svg" in problems[0] and "README" in problems[0] and "run python hardware/wiring.py" in problems[0]


def test_check_exits_nonzero_with_one_line_when_out_of_date(tmp_path):
    # A copy of the script beside stale files: --check must fail, in one line.
    root = tmp_path / "repo"
    (root / "hardware" / "wokwi").mkdir(parents=True)
    (root / "firmware" / "boards").mkdir(parents=True)
    svg, readme, diagram = _current()
    (root / "hardware" / "wiring.py").write_text(_read("hardware", "wiring.py"))
    (root / "hardware" / "wiring.svg").write_text(svg + "<!-- edited -->\n")
    (root / "hardware" / "README.md").write_text(readme)
    (root / "hardware" / "wokwi" / "diagram.json").write_text(diagram)
    (root / "firmware" / "boards" / "pico_pins.py").write_text(_read("firmware", "boards", "pico_pins.py"))
    out = subprocess.run([sys.executable, str(root / "hardware" / "wiring.py"), "--check"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert len(out.stderr.strip().splitlines()) == 1
    assert "wiring.svg" in out.stderr


def test_the_readme_table_lists_every_connection():
    table = _read("hardware", "README.md").split(wiring.TABLE_START)[1].split(wiring.TABLE_END)[0]
    for gpio, _ in wiring.used_gpios(pins):
        assert "| GP%d |" % gpio in table
    for pin in (wiring.PIN_3V3, wiring.PIN_VSYS):
        assert "| %d |" % pin in table


def test_the_picture_has_all_40_pins_at_their_positions():
    svg = _read("hardware", "wiring.svg")
    for pin, name in wiring.HEADER.items():
        label = ("%d %s" % (pin, name)) if pin <= 20 else ("%s %d" % (name, pin))
        assert ">%s<" % label in svg, label
    # pins 1-20 down the left side, 21-40 back up the right: 1 faces 40, 20 faces 21
    assert wiring.pin_xy(1)[1] == wiring.pin_xy(40)[1] < wiring.pin_xy(20)[1] == wiring.pin_xy(21)[1]
    assert wiring.pin_xy(1)[0] < wiring.pin_xy(40)[0]


def test_the_picture_has_no_crossing_wires():
    assert wiring.layout(pins)[3] == 0


# -- the Pico's header, as the pin map's users rely on it -----------------------------

def test_header_facts():
    assert [p for p, n in wiring.HEADER.items() if n in ("GND", "AGND")] == [3, 8, 13, 18, 23, 28, 33, 38]
    assert wiring.HEADER[36] == "3V3(OUT)" and wiring.HEADER[39] == "VSYS" and wiring.HEADER[40] == "VBUS"
    assert wiring.HEADER[1] == "GP0" and wiring.HEADER[20] == "GP15" and wiring.HEADER[21] == "GP16"
    gpios = sorted(int(n[2:]) for n in wiring.HEADER.values() if n.startswith("GP"))
    assert gpios == list(range(23)) + [26, 27, 28]


# -- the pin map itself ------------------------------------------------------------------

def test_pin_map_is_sound():
    assert wiring.pin_map_problems(pins) == []


def test_every_gpio_is_used_once():
    gpios = [g for g, _ in wiring.used_gpios(pins)]
    assert len(gpios) == len(set(gpios)) == 4 + 4 + 1 + 2 + 1 + 1


def test_i2c_pins_are_an_i2c0_pair():
    assert pins.I2C_ID == 0
    assert pins.I2C_SDA in (0, 4, 8, 12, 16, 20, 24, 28)  # I2C0 SDA in the RP2040/RP2350 function table
    assert pins.I2C_SCL in (1, 5, 9, 13, 17, 21, 25, 29)  # I2C0 SCL
    assert wiring.i2c_function(pins.I2C_SDA) == (0, "SDA") and wiring.i2c_function(pins.I2C_SCL) == (0, "SCL")
    assert wiring.physical_pin(pins.I2C_SDA) and wiring.physical_pin(pins.I2C_SCL)


def test_pin_map_problems_are_found():
    broken = _pin_map_copy(POWER_BUTTON=pins.KEYPAD_ROWS[0], I2C_SDA=18, I2C_SCL=17)
    problems = wiring.pin_map_problems(broken)
    assert any("used twice" in p for p in problems)
    assert any("not I2C0 SDA" in p for p in problems)


def _pin_map_copy(**changes):
    class Copy:
        pass

    copy_ = Copy()
    for name in dir(pins):
        if name.isupper():
            setattr(copy_, name, getattr(pins, name))
    for name, value in changes.items():
        setattr(copy_, name, value)
    return copy_


def test_the_optional_clock_is_on_the_display_bus():
    # A DS3231's address is fixed, and it is rated for 400 kHz: the bus speed while
    # the firmware probes it must not be above that.
    assert pins.RTC_ADDR == wiring.DS3231_ADDR == 0x68
    assert pins.RTC_ADDR not in (pins.DISPLAY_ADDR, pins.LCD_ADDR)
    assert pins.I2C_FREQ <= 400000
    problems = wiring.pin_map_problems(_pin_map_copy(RTC_ADDR=0x57, I2C_FREQ=pins.I2C_FAST_FREQ))
    assert any("RTC_ADDR" in p for p in problems) and any("I2C_FREQ" in p for p in problems)


def test_the_clock_is_in_the_table_and_the_picture_on_the_oleds_wires():
    table = _read("hardware", "README.md").split(wiring.TABLE_START)[1].split(wiring.TABLE_END)[0]
    rtc_rows = [line for line in table.splitlines() if "DS3231" in line]
    pico_pins = sorted(int(line.split("|")[1]) for line in rtc_rows)
    oled_pins = [c.pin for c in wiring.connections(pins) if c.part == "oled"]
    assert pico_pins == sorted(oled_pins)
    assert all("optional" in line and "0x%02X" % pins.RTC_ADDR in line for line in rtc_rows)
    assert "DS3231, I2C 0x%02X" % pins.RTC_ADDR in _read("hardware", "wiring.svg")


def test_moving_the_bus_without_regenerating_fails_the_check():
    # GP20/GP21 are an I2C0 pair too: the table, the picture and the diagram (OLED and
    # clock) then all disagree with the pin map.
    moved = _pin_map_copy(I2C_SDA=20, I2C_SCL=21)
    assert wiring.pin_map_problems(moved) == []
    problems = wiring.check(moved, *_current())
    assert any("run python hardware/wiring.py" in p for p in problems)
    assert any("rtc:SDA" in p for p in problems) and any("rtc:SCL" in p for p in problems)


# -- the Wokwi diagram ----------------------------------------------------------------------

def _diagram():
    return json.loads(_read("hardware", "wokwi", "diagram.json"))


def test_wokwi_diagram_matches_the_pin_map():
    assert wiring.diagram_problems(pins, _diagram()) == []


def test_the_diagram_needs_the_clocks_stand_in():
    diagram = _diagram()
    diagram["parts"] = [p for p in diagram["parts"] if p["type"] != wiring.WOKWI_RTC]
    assert any(wiring.WOKWI_RTC in p for p in wiring.diagram_problems(pins, diagram))


@pytest.mark.parametrize("change, expect", [
    (lambda c: c.__setitem__(0, ["keypad:R1", "pico:GP3", "blue", []]), "keypad:R1"),
    (lambda c: [x for x in c if x[0] == "oled:SDA"][0].__setitem__(1, "pico:GP18"), "oled:SDA"),
    (lambda c: [x for x in c if x[0].startswith("power:2")][0].__setitem__(1, "pico:GP14"), "pushbutton"),
    (lambda c: c.append(["keypad:C1", "pico:GP7", "red", []]), "keypad:C"),
    (lambda c: [x for x in c if x[0] == "rtc:SCL"][0].__setitem__(1, "oled:SDA"), "rtc:SCL"),
    (lambda c: c.remove([x for x in c if x[0] == "rtc:GND"][0]), "rtc:GND"),
])
def test_a_miswired_diagram_is_found(change, expect):
    diagram = copy.deepcopy(_diagram())
    change(diagram["connections"])
    problems = wiring.diagram_problems(pins, diagram)
    assert problems and any(expect in p for p in problems), problems


# -- the README -------------------------------------------------------------------------------

def _bom_rows():
    readme = _read("hardware", "README.md")
    section = readme.split("## Bill of materials", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    return header, rows


def test_bom_has_a_price_for_every_row():
    header, rows = _bom_rows()
    price = next(i for i, h in enumerate(header) if "price" in h)
    assert len(rows) >= 8
    for row in rows:
        assert re.search(r"\$\d+(\.\d+)?[–-]\d+(\.\d+)?", row[price]), row
    assert rows[-1][0].strip("*").lower() == "total"


def test_bom_total_is_the_sum_of_the_rows():
    header, rows = _bom_rows()
    price, qty = next(i for i, h in enumerate(header) if "price" in h), header.index("qty")

    def bounds(cell):
        lo, hi = re.search(r"\$(\d+(?:\.\d+)?)[–-](\d+(?:\.\d+)?)", cell).groups()
        return float(lo), float(hi)

    lo = hi = 0.0
    for row in rows[:-1]:
        n = int(re.match(r"\d+", row[qty]).group())
        a, b = bounds(row[price])
        lo, hi = lo + n * a, hi + n * b
    total = bounds(rows[-1][price])
    assert abs(total[0] - lo) < 1 and abs(total[1] - hi) < 1, (lo, hi, total)


def test_readme_names_the_parts_and_the_make_commands():
    readme = _read("hardware", "README.md")
    for part in ("SC0915", "SC1631", "SSD1306", "1N5817", "membrane keypad", "6 × 6 mm", "2×AAA"):
        assert part in readme, part
    for command in ("make firmware", "make flash PORT=", "make flash PORT=/dev/ttyACM0 DEBUG=1", "make hil PORT="):
        assert command in readme, command
    assert "BOOTSEL" in readme and "wokwi/diagram.json" in readme and "case.scad" in readme
