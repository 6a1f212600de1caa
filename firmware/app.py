"""Start the token on this target's board (main.py only imports this, so a
compiled bundle keeps everything else in .mpy files)."""

import gc
import sys

from dsc.token import Token

RELEASE = not __debug__  # mpy-cross -O1 builds are release builds

if __debug__:  # attach the debug link from the top (a release build compiles none of this)
    try:
        import dsc.debuglink  # noqa: F401  (adds its commands to the protocol's table)
    except ImportError:
        pass  # a bundle without the debug link


def make_board():
    if sys.platform == "rp2":
        from boards.pico import Board

        return Board(RELEASE)
    from boards.unix import Board

    state = "dsc-state"
    if "--state" in sys.argv:
        state = sys.argv[sys.argv.index("--state") + 1]
    return Board(state, clock="--no-clock" not in sys.argv)


def maintenance_requested():
    """On a Pico, holding the power key and C (`*`) while plugging in USB asks for
    maintenance: two keys, so nobody gets it by accident."""
    if sys.platform != "rp2":
        return False
    import machine

    from boards import pico_pins as pins
    from boards.keypad import Keypad

    Pin = machine.Pin
    if Pin(pins.POWER_BUTTON, Pin.IN, Pin.PULL_UP).value() != 0:
        return False
    keypad = Keypad([Pin(n, Pin.OPEN_DRAIN, value=1) for n in pins.KEYPAD_ROWS],
                    [Pin(n, Pin.IN, Pin.PULL_UP) for n in pins.KEYPAD_COLS], pins.KEYPAD_KEYS)
    down = keypad.read_matrix()
    return any(down[r][c] and pins.KEYPAD_KEYS[r][c] == "C" for r in range(len(down)) for c in range(len(down[r])))


def enter_maintenance():
    """Erase the whole filesystem, block by block, then open the REPL for reflashing.

    Removing the key file is not enough: littlefs leaves a deleted file's blocks
    (and older copies from earlier saves) readable with rp2.Flash().readblocks().
    So every block is erased before a new empty filesystem is made: whoever holds
    the token gets a REPL on an empty board, never the key. The firmware must be
    installed again afterwards (make flash)."""
    import micropython
    import rp2
    try:
        import vfs  # MicroPython 1.23 and later
    except ImportError:
        import os as vfs  # type: ignore[no-redef]  # 1.22 keeps them in os

    flash = rp2.Flash()
    vfs.umount("/")
    for block in range(flash.ioctl(4, 0) or 0):  # 4: block count
        flash.ioctl(6, block)  # 6: erase one block
    # The rp2 flash programs in 256-byte pages: without progsize=256 (what the
    # port's own _boot.py passes) littlefs writes misaligned pages and runs out
    # of space (OSError 28) after a few small files.
    vfs.VfsLfs2.mkfs(flash, progsize=256)
    vfs.mount(vfs.VfsLfs2(flash, progsize=256), "/")  # type: ignore[abstract]  # the stubs mark it abstract
    micropython.kbd_intr(3)  # Ctrl-C back on, so mpremote can reach the REPL
    print("OpenDSC maintenance: flash erased (key and firmware); install the firmware again")


def main():
    if maintenance_requested():
        enter_maintenance()
        return
    board = make_board()
    token = Token(board, debug=not RELEASE)
    gc.collect()  # start the loop with the import garbage gone: less fragmentation in a small heap
    if hasattr(board, "ready"):
        board.ready()
    try:
        token.run()
    except Exception:
        if RELEASE and sys.platform == "rp2":
            import machine

            machine.reset()  # never leave a release token at a REPL
        raise
