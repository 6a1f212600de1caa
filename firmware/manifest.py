# ruff: noqa: F821  (module, package and options are given by the reader)
"""The firmware's files per build, in the style of micropython-lib's manifest.py.

Read by scripts/build_firmware.py (the bundles), scripts/typecheck.py (what runs
on the Pico) and scripts/flash.py (what an install replaces), through
scripts/firmware_manifest.py. Paths are relative to firmware/. Never part of a
bundle itself.

    options.board   "pico" (the token) or "unix" (the MicroPython unix port that
                    `dsc sim --runtime micropython` and check-release run)
    options.debug   True: a debug build, with the debug link; False: release
"""

# Every build: the entry point (kept as source: MicroPython runs main.py) and the core.
module("main.py")
module("app.py")
package("dsc", files=("__init__.py", "config.py", "crypto.py", "ocra.py", "ocra_compute.py", "protocol.py",
                      "quoting.py", "sha.py", "signing.py", "storage.py", "token.py", "ui.py", "version.py"))

# Debug builds only: app.py attaches the debug link when this file is there.
if options.debug:
    module("dsc/debuglink.py")

# One board per target.
if options.board == "pico":
    package("boards", files=("__init__.py", "pico.py", "pico_pins.py", "keypad.py", "ssd1306.py", "hd44780.py",
                                "ds3231.py", "pico_maintenance.py"))
elif options.board == "unix":
    package("boards", files=("__init__.py", "unix.py"))
