"""The Pico board module on the real MicroPython interpreter, with a fake
`machine` (keypad matrix, power button, VBUS/VSYS, SSD1306 on I2C, watchdog,
light sleep): what a person holding the token would see."""

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


def scenario(name, tmp_path):
    if not MICROPYTHON.exists():
        pytest.skip("no micropython next to this Python: run make setup")
    out = subprocess.run([str(MICROPYTHON), str(ROOT / "tests" / "firmware" / "micropython" / "pico_board.py"),
                          str(ROOT / "firmware"), str(tmp_path / "state"), name],
                         capture_output=True, text=True, timeout=60, stdin=subprocess.PIPE)
    assert out.returncode == 0, out.stderr
    return {s["step"]: s for s in (json.loads(line) for line in out.stdout.splitlines() if line.startswith("{"))}


def test_a_login_on_the_keypad_with_the_display(tmp_path):
    steps = scenario("login", tmp_path)
    assert steps["booted"]["lines"] == ["", ""] and steps["booted"]["display_on"] is False
    assert steps["key-while-off"]["state"] == "off", "only the power button wakes the token"
    assert steps["power"]["lines"] == ["PIN>", ""] and steps["power"]["display_on"] is True
    assert steps["power"]["frames"] > 0, "the SSD1306 was drawn over I2C"
    assert steps["response"]["lines"] == [RESPONSE, ""]
    assert steps["response"]["feeds"] > 0, "the loop feeds the watchdog"
    assert steps["off"]["state"] == "off" and steps["off"]["display_on"] is False


def test_a_low_battery_is_shown_before_the_response(tmp_path):
    steps = scenario("battery", tmp_path)
    assert steps["warned"]["lines"] == ["BATT LOW", ""]
    assert 2000 < steps["warned"]["mv"] < 2300
    assert steps["after-warning"]["lines"] == [RESPONSE, ""]


def test_sleeps_while_off_and_wakes_on_the_power_button(tmp_path):
    steps = scenario("sleep", tmp_path)
    slept = steps["slept"]
    assert slept["sleeps"] and max(slept["sleeps"]) <= 5000 < slept["wdt"], "sleeps end before the watchdog bites"
    assert slept["feeds"] >= len(slept["sleeps"])
    assert steps["usb-powered"]["sleeps"] == [], "no light sleep on USB power: it would drop the USB link"
    assert steps["woken"]["lines"] == ["PIN>", ""], "a press during sleep turns the token on, once"


def test_an_hd44780_lcd_is_used_when_no_oled_answers(tmp_path):
    steps = scenario("lcd", tmp_path)
    assert steps["lcd"]["display"] == "HD44780"
    assert steps["lcd"]["lines"] == ["PIN>", ""] and steps["lcd"]["writes"] > 0
