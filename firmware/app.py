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
    """On a Pico, the two keys held at power-up that ask for maintenance (boards/pico.py)."""
    if sys.platform != "rp2":
        return False
    from boards import pico

    return pico.maintenance_requested()


def main():
    if maintenance_requested():
        from boards.pico_maintenance import enter_maintenance  # only then: it is no part of a boot

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
