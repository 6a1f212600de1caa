"""The Pico board module on the real MicroPython interpreter, with a fake
`machine` (keypad matrix, power button, VBUS/VSYS, SSD1306 on I2C, a DS3231
clock on the same bus, watchdog, light sleep): what a person holding the token
would see, on a Pico, a Pico 2 and their W variants (issue 10)."""

import calendar
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ocra_reference import ocra

ROOT = Path(__file__).resolve().parents[2]
MICROPYTHON = Path(sys.executable).parent / "micropython"
RFC_KEY = bytes.fromhex("3132333435363738393031323334353637383930313233343536373839303132")
RESPONSE = ocra("OCRA-1:HOTP-SHA256-8:QN06-PSHA1", RFC_KEY, "123456", pin="1234")
TIME_SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1-T1M"

# sys.implementation._machine on the official images: MICROPY_HW_BOARD_NAME (ports/rp2/boards/
# RPI_PICO*/mpconfigboard.h) + " with " + MICROPY_HW_MCU_NAME (ports/rp2/mpconfigport.h).
# The Pico 2's board name has no space ("Pico2"); its W variant's has one ("Pico 2 W").
PICO = "Raspberry Pi Pico with RP2040"
PICO_W = "Raspberry Pi Pico W with RP2040"
PICO2 = "Raspberry Pi Pico2 with RP2350"
PICO2_W = "Raspberry Pi Pico 2 W with RP2350"

DEC_1_2026 = calendar.timegm((2026, 12, 1, 3, 0, 0))  # 2026-12-01 03:00:00 UTC, a Tuesday
# The DS3231's registers 0x00-0x06 for that moment, in BCD: s, min, h (24 h), weekday, date, month, year.
DEC_1_2026_REGS = [0x00, 0x00, 0x03, 0x02, 0x01, 0x12, 0x26]
JULY_4_2031 = calendar.timegm((2031, 7, 4, 18, 30, 0))  # what the test sets over the link


def scenario(name, tmp_path, stdin=b"", firmware=ROOT / "firmware", **options):
    if not MICROPYTHON.exists():
        pytest.skip("no micropython next to this Python: run make setup")
    out = subprocess.run([str(MICROPYTHON), str(ROOT / "tests" / "firmware" / "micropython" / "pico_board.py"),
                          str(firmware), str(tmp_path / "state"), name, json.dumps(options)],
                         capture_output=True, timeout=60, input=stdin)
    stdout = out.stdout.decode(errors="replace")
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    steps = {s["step"]: s for s in (json.loads(line) for line in stdout.splitlines() if line.startswith("{"))}
    steps["stdout"] = stdout.splitlines()
    return steps


def fields(reply):
    """`OK info a=1 b=2` -> {"a": "1", "b": "2"}."""
    return dict(word.split("=", 1) for word in reply.split()[2:] if "=" in word)


def bcd(b):
    return (b >> 4) * 10 + (b & 0x0F)


def regs_epoch(regs):
    """Unix seconds from DS3231 registers 0x00-0x06, decoded here, independently of the firmware."""
    assert not regs[2] & 0x40, "hours in 24-hour mode"
    year = 2000 + bcd(regs[6]) + (100 if regs[5] & 0x80 else 0)
    return calendar.timegm((year, bcd(regs[5] & 0x1F), bcd(regs[4] & 0x3F),
                            bcd(regs[2] & 0x3F), bcd(regs[1] & 0x7F), bcd(regs[0] & 0x7F)))


# -- a login, on every board -----------------------------------------------------------


@pytest.mark.parametrize("machine", [PICO, PICO2, PICO_W, PICO2_W])
def test_a_login_on_the_keypad_with_the_display(tmp_path, machine):
    steps = scenario("login", tmp_path, machine=machine, release=True)
    assert steps["booted"]["lines"] == ["", ""] and steps["booted"]["display_on"] is False
    assert steps["key-while-off"]["state"] == "off", "only the power button wakes the token"
    assert steps["power"]["lines"] == ["PIN>", ""] and steps["power"]["display_on"] is True
    assert steps["power"]["frames"] > 0, "the SSD1306 was drawn over I2C"
    assert steps["response"]["lines"] == [RESPONSE, ""]
    assert steps["response"]["feeds"] > 0, "the loop feeds the watchdog"
    assert steps["power-again"]["lines"] == ["PIN>", ""], "the power button starts over, it never turns off"
    off = steps["off"]  # after the idle time
    assert off["state"] == "off" and off["display_on"] is False
    # VBUS is GP24 on a Pico and Pico 2, the radio chip's WL_GPIO2 on the W boards: read
    # from the wrong pin, a token on USB would think it runs on batteries and light-sleep,
    # which drops the USB link.
    assert off["sleeps"] == [], "off on USB power, the board stays awake"
    assert off["wdts"] == [8000], "a release board arms the watchdog once, at 8 s"
    assert -1 in off["kbd_intr"], "a release board turns Ctrl-C into data"


def test_a_release_token_signs_with_the_a_key_and_loads_the_signing_rule_only_then(tmp_path, release_bundle):
    """Issue 19 on the fake machine, from the release bundle as flashed: A (the keypad's F1)
    at PIN>, the PIN, then CHALLNG>, AMOUNT> (12 digits over both lines), DEST> (C clears
    it), and the signature of docs/protocol.md "Signing" as the tests' own OCRA computes it."""
    steps = scenario("sign", tmp_path, firmware=release_bundle, release=True)
    assert steps["pin"]["lines"] == ["PIN>", ""]
    assert "dsc.signing" not in steps["pin"]["modules"], "PIN> is drawn without the signing rule"
    assert steps["signing"]["lines"] == ["SIGN PIN", ""] and "dsc.signing" in steps["signing"]["modules"]
    assert steps["amount"]["lines"] == ["AMOUNT>", ""] and steps["amount"]["state"] == "amount"
    assert steps["amount-keyed"]["lines"] == ["AMT>1234", "56789012"]
    assert steps["destination-keyed"]["lines"] == ["DEST>", "4321"]
    question = "123456" + "123456789012" + "00004321"
    assert steps["signed"]["lines"] == ["SIGNED", ocra("OCRA-1:HOTP-SHA256-8:QA26-PSHA1", RFC_KEY, question, pin="1234")]
    assert steps["signed"]["feeds"] > 0, "the loop feeds the watchdog"
    assert steps["cancelled"]["lines"] == ["PIN>", ""]


def test_a_debug_token_never_arms_the_watchdog_so_it_can_be_reflashed(tmp_path):
    steps = scenario("sleep", tmp_path, release=False)
    assert steps["woken"]["lines"] == ["PIN>", ""], "the debug token still works, sleeping included"
    assert steps["woken"]["wdts"] == [], "no machine.WDT: at the REPL the board is not reset 8 s later"
    assert -1 not in steps["woken"]["kbd_intr"], "Ctrl-C still reaches the REPL"


def test_a_low_battery_is_shown_before_the_response(tmp_path):
    steps = scenario("battery", tmp_path)
    assert steps["warned"]["lines"] == ["BATT LOW", ""]
    assert 2000 < steps["warned"]["mv"] < 2300
    assert steps["after-warning"]["lines"] == [RESPONSE, ""]


def test_sleeps_while_off_and_wakes_on_the_power_button(tmp_path):
    steps = scenario("sleep", tmp_path, release=True)
    slept = steps["slept"]
    assert slept["wdts"] == [8000]
    assert slept["sleeps"] and max(slept["sleeps"]) <= 5000 < slept["wdts"][0], "sleeps end before the watchdog bites"
    assert slept["feeds"] >= len(slept["sleeps"])
    assert steps["usb-powered"]["sleeps"] == [], "no light sleep on USB power: it would drop the USB link"
    assert steps["woken"]["lines"] == ["PIN>", ""], "a press during sleep turns the token on, once"


def test_an_hd44780_lcd_is_used_when_no_oled_answers(tmp_path):
    steps = scenario("lcd", tmp_path)
    assert steps["lcd"]["display"] == "HD44780"
    assert steps["lcd"]["lines"] == ["PIN>", ""] and steps["lcd"]["writes"] > 0


# -- boot: what is loaded before the token is ready (issue 18) -------------------------


@pytest.mark.parametrize("display", ["oled", "lcd"])
def test_a_release_token_gets_ready_loading_only_what_it_needs_and_asks_only_its_devices_addresses(
        tmp_path, release_bundle, display):
    """On the chip each file loaded before the token is ready costs about 13 ms and a
    bus scan about 10 ms (issue 18): no empty package file, the core in one file, the board
    in one file, the clock driver only once PIN> is shown, and the devices' addresses
    instead of 112."""
    steps = scenario("boot" if display == "oled" else "lcd", tmp_path, firmware=release_bundle, rtc="running",
                     rtc_time=DEC_1_2026_REGS)
    if display == "lcd":
        assert steps["lcd"]["display"] == "HD44780", "the LCD is still found when no OLED answers"
        return
    ready = steps["ready"]
    assert ready["files"] == ["boards/pico.mpy", "boards/ssd1306.mpy", "dsc/token.mpy"], \
        "the board with its pin map and keypad in one file, the display's driver, the core in one file"
    assert sorted(set(ready["probed"])) == [0x3C, 0x68], "the OLED and the clock answered: no more was asked"
    assert steps["pin"]["lines"] == ["PIN>", ""]
    assert "boards/ds3231.mpy" in steps["pin"]["files"], \
        "the clock's driver loads while the PIN is keyed, not in the first response's time"
    clock = steps["clock"]
    assert clock["clock"] == "rtc" and clock["epoch"] >= DEC_1_2026, "the clock works"


def test_a_provisioned_token_draws_pin_before_loading_the_ocra_computation_and_loads_it_while_the_pin_is_keyed(
        tmp_path, release_bundle):
    """Boot -> ready on the chip pays for every module loaded before PIN> (issue 18): the
    OCRA computation and the serial link wait until the display is on, so a change that
    pulls them back into the boot path fails here. The computation is there before OK."""
    first = scenario("boot", tmp_path, firmware=release_bundle)
    assert first["ready"]["config"] == "blank"
    steps = scenario("boot", tmp_path, firmware=release_bundle)  # the same flash, now provisioned
    boot_files = ["boards/pico.mpy", "boards/ssd1306.mpy", "dsc/token.mpy"]
    assert steps["ready"]["config"] == "provisioned"
    assert steps["ready"]["files"] == boot_files
    assert steps["pin"]["first_pin"] == boot_files, "PIN> is drawn with nothing more loaded than at boot"
    assert steps["pin"]["lines"] == ["PIN>", ""]
    assert "dsc/ocra_compute.mpy" in steps["pin-keyed"]["files"], "loaded while the PIN is keyed, not after OK"
    assert "dsc/protocol.mpy" not in steps["pin-keyed"]["files"], "a release token loads its link on a first byte"
    assert steps["response"]["lines"] == [RESPONSE, ""]


def test_a_boot_imports_micropythons_built_ins_without_looking_for_them_on_the_flash(tmp_path, release_bundle):
    """A plain `import os` of an extensible built-in first searches sys.path for an os.py
    (a failed flash lookup at every boot on the chip, issue 18). Modules named as those
    built-ins, put on the path, are found by such an import: the boot to PIN> finds none."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "shadowed.py").write_text("names = []\n")
    for name in ("os", "time", "select", "hashlib", "binascii", "struct", "array", "json", "random"):
        (shadow / (name + ".py")).write_text("import shadowed\nshadowed.names.append(%r)\nfrom u%s import *\n"
                                             % (name, name))
    first = scenario("boot", tmp_path, firmware=release_bundle, shadow=str(shadow))  # provisions the token
    steps = scenario("boot", tmp_path, firmware=release_bundle, shadow=str(shadow))
    for run in (first, steps):
        assert run["pin"]["lines"] == ["PIN>", ""]
        assert run["pin"]["shadowed"] == [], "imported by the plain name, looked up on the flash first"
    assert steps["response"]["lines"] == [RESPONSE, ""], "the built-ins work as the u-names"


# -- chunked serial input (issue 10, 1.2) ------------------------------------------------


def test_chunked_serial_input_answers_every_line_that_arrives_at_once_with_little_garbage(tmp_path):
    lines = 600
    stdin = b"ping\n" * lines  # 3000 bytes, all in the pipe before the first read
    steps = scenario("serial", tmp_path, stdin=stdin, bytes=len(stdin))
    read = steps["read"]
    assert read["total"] == len(stdin)
    assert read["sizes"][0] == 512, "a read takes what is waiting, up to the 512-byte bound"
    assert max(read["sizes"]) <= 512, read["sizes"]
    assert len(read["sizes"]) <= 8, "3000 waiting bytes come in a few chunks, not byte by byte"
    pongs = [line for line in steps["stdout"] if line == "OK ping proto=1"]
    assert len(pongs) == lines, "every line is answered, however many arrive together"
    # Concatenating one byte at a time allocated ~130 KB of heap per 512 bytes (the
    # RP2040 has ~190 KB): the collector ran every few reads.
    assert read["allocated"] < 4096, read["allocated"]


def test_serial_input_never_asks_the_rp2_stdin_for_more_than_is_waiting_and_keeps_the_line_limit(tmp_path):
    """The rp2 port's stdin.buffer.readinto(buf, n) waits until n bytes came (issue 18:
    MicroPython's stdio has no count of what is waiting): reading what is waiting in one
    call hangs the token there, though a unix pipe returns what it has."""
    steps = scenario("usb-serial", tmp_path, lines=400)
    read = steps["read"]
    assert read["blocked"] == [], "a read asked for bytes that had not come: the chip would hang"
    assert read["left"] == 0
    replies = read["replies"]
    assert replies.count("OK ping proto=1") == 401, "every line answered, the one after the long one too"
    assert replies[400].startswith("ERR - too-long"), replies[400]


# -- the clock: a DS3231 on the display's bus (issue 10, 1.3) ------------------------------


def test_without_a_clock_a_time_suite_is_refused_and_the_default_suite_is_taken(tmp_path):
    steps = scenario("no-rtc", tmp_path)
    boot = steps["boot"]
    assert boot["clock"] == "none" and boot["epoch"] is None
    assert fields(boot["info"][0])["clock"] == "none"
    clock = steps["clock"]
    assert clock["clock_read"] == ["OK clock clock=none"], "no time= without a clock"
    assert len(clock["clock_set"]) == 1 and clock["clock_set"][0].startswith("ERR clock no-clock")
    assert clock["state"] != "confirm", "nothing to confirm on a board without a clock"
    refused = steps["time-suite"]
    assert len(refused["provision"]) == 1 and refused["provision"][0].startswith("ERR provision no-clock")
    assert fields(refused["info"][0])["state"] == "blank", "the refused provision changed nothing"
    taken = steps["default-suite"]
    assert taken["provision"][0].startswith("OK provision")
    assert fields(taken["info"][0])["state"] == "provisioned"


def test_the_ds3231_gives_the_time_is_set_over_the_link_with_an_ok_press_and_drives_a_time_suite(tmp_path):
    steps = scenario("rtc", tmp_path, rtc="running", rtc_time=DEC_1_2026_REGS, set_to=JULY_4_2031)

    read = steps["read"]
    assert read["clock"] == "rtc"
    assert DEC_1_2026 <= read["epoch"] <= DEC_1_2026 + 2, "epoch() is the DS3231's time"
    assert fields(read["info"][0])["clock"] == "rtc"
    reply = read["clock_read"]
    assert len(reply) == 1 and reply[0].startswith("OK clock ")
    assert fields(reply[0])["clock"] == "rtc" and DEC_1_2026 <= int(fields(reply[0])["time"]) <= DEC_1_2026 + 2

    lost = steps["lost"]
    assert lost["clock"] == "unset" and lost["epoch"] is None, "OSF set: the time is not trusted"
    assert fields(lost["info"][0])["clock"] == "unset"
    assert lost["provision"][0].startswith("ERR provision no-clock")
    assert fields(lost["info_after"][0])["state"] == "blank"

    done = steps["set"]
    assert done["asked"] == ["WAIT clock confirm"] and done["shown"][0] == "SET CLK?"
    assert len(done["replies"]) == 1 and done["replies"][0].startswith("OK clock ")
    answer = fields(done["replies"][0])
    assert answer["clock"] == "rtc" and JULY_4_2031 <= int(answer["time"]) <= JULY_4_2031 + 2
    regs = done["regs"]
    assert JULY_4_2031 <= regs_epoch(regs) <= JULY_4_2031 + 2, "the chip's registers hold the date set"
    assert not regs[0x0F] & 0x80, "setting the time clears OSF"
    assert done["clock"] == "rtc" and JULY_4_2031 <= done["epoch"] <= JULY_4_2031 + 3

    assert steps["provisioned"]["provision"][0].startswith("OK provision")
    assert fields(steps["provisioned"]["info"][0])["suite"] == TIME_SUITE
    response = steps["response"]
    step = response["epoch"] // 60
    assert step == JULY_4_2031 // 60, "the login took under a minute"
    assert response["lines"] == [ocra(TIME_SUITE, RFC_KEY, "123456", pin="1234", timestamp=step), ""]

    lost_again = steps["no-clock"]
    assert lost_again["clock"] == "unset"
    assert lost_again["lines"][0] == "NO CLOCK", "no response from a clock that lost the time"


# -- maintenance mode (issue 10, 1.4) -----------------------------------------------------

# The rp2 filesystem's size in 4 KB blocks: MICROPY_HW_FLASH_STORAGE_BYTES of RPI_PICO
# (1408 KB of its 2 MB) and of RPI_PICO2 (its 4 MB less 1 MB for the firmware).
PICO_BLOCKS = 1408 * 1024 // 4096
PICO2_BLOCKS = (4 * 1024 - 1024) * 1024 // 4096


@pytest.mark.parametrize("blocks", [PICO_BLOCKS, PICO2_BLOCKS], ids=["pico", "pico2"])
def test_maintenance_erases_every_block_then_formats_for_256_byte_pages_and_gives_back_ctrl_c(blocks):
    if not MICROPYTHON.exists():
        pytest.skip("no micropython next to this Python: run make setup")
    out = subprocess.run([str(MICROPYTHON), str(ROOT / "tests" / "firmware" / "micropython" / "maintenance.py"),
                          str(ROOT / "firmware"), str(blocks)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    calls = json.loads(next(line for line in out.stdout.splitlines() if line.startswith("{")))["calls"]
    names = [name for name, _ in calls]
    assert "mkfs" in names and "VfsLfs2" in names and "mount" in names, names
    mkfs = names.index("mkfs")
    erased = [arg for name, arg in calls[:mkfs] if name == "erase"]
    assert sorted(set(erased)) == list(range(blocks)), "every block, so no old copy of the key is left readable"
    assert "erase" not in names[mkfs:], "nothing erased after the new filesystem is made"
    # Without progsize=256 littlefs programs misaligned pages on the rp2 flash and fails with
    # OSError 28 after a few small files: the firmware could not be installed again.
    for name, kw in calls:
        if name in ("mkfs", "VfsLfs2"):
            assert kw.get("progsize") == 256, (name, kw)
    assert names.index("mount") > names.index("VfsLfs2") > mkfs
    assert [arg for name, arg in calls if name == "mount"] == ["/"]
    kbd = [arg for name, arg in calls if name == "kbd_intr"]
    assert kbd and kbd[-1] == 3, "Ctrl-C reaches the REPL again, so mpremote can reflash"
