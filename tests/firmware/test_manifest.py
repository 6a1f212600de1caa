"""One firmware manifest (firmware/manifest.py) read by the build, the type check
and `make flash`: the release build simply lacks the debug link's one file."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import build_firmware  # noqa: E402
import firmware_manifest as manifest  # noqa: E402
import flash  # noqa: E402
import typecheck  # noqa: E402

CPYTHON_ONLY = {"boards/sim.py", "manifest.py"}  # the simulator's CPython board; the manifest itself


def firmware_files():
    root = ROOT / "firmware"
    return {str(p.relative_to(root)) for p in root.rglob("*.py") if "__pycache__" not in p.parts}


def test_every_firmware_file_is_in_a_build_or_known_to_be_cpython_only():
    assert firmware_files() == set(manifest.all_files()) | CPYTHON_ONLY


@pytest.mark.parametrize("board", manifest.BOARDS)
def test_release_builds_lack_exactly_the_debug_link(board):
    debug, release = manifest.files(board, debug=True), manifest.files(board, debug=False)
    assert set(debug) - set(release) == {"dsc/debuglink.py"} and set(release) < set(debug)


def test_the_boards_differ_only_in_their_board_modules():
    pico, unix = manifest.files("pico"), manifest.files("unix")
    assert [f for f in pico if not f.startswith("boards/")] == [f for f in unix if not f.startswith("boards/")]
    assert "boards/pico.py" in pico and "boards/unix.py" not in pico and "boards/unix.py" in unix


def test_build_typecheck_and_flash_read_the_manifest():
    def compiled(files):  # main.py stays source; a docstring-only package __init__ is not needed
        return [f for f in files if f not in ("main.py", "dsc/__init__.py", "boards/__init__.py")]

    assert build_firmware.sources(release=True) == compiled(manifest.files("pico"))
    assert build_firmware.sources(release=False, board="unix") == compiled(manifest.files("unix", debug=True))
    assert typecheck.MODULES == manifest.files("pico", debug=True)
    assert set(flash.CODE) == {"main.py", "app.py", "app.mpy", "dsc", "boards"}
    for name in ("build_firmware.py", "typecheck.py", "flash.py"):
        source = (ROOT / "scripts" / name).read_text()
        assert "boards/pico.py" not in source and "debuglink.py" not in source, name


def test_a_manifest_naming_a_missing_file_is_refused(tmp_path, monkeypatch):
    (tmp_path / "manifest.py").write_text('module("main.py")\nmodule("nope.py")\n')
    (tmp_path / "main.py").write_text("")
    monkeypatch.setattr(manifest, "FIRMWARE", tmp_path)
    monkeypatch.setattr(manifest, "MANIFEST", tmp_path / "manifest.py")
    with pytest.raises(FileNotFoundError, match="nope.py"):
        manifest.files()


def test_the_manifest_is_never_part_of_a_bundle():
    assert not any(os.path.basename(f) == "manifest.py" for f in manifest.all_files())
