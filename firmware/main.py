"""Firmware entry point: pick this target's board and run the token."""

import sys

from dsc.token import Token


def make_board():
    if sys.platform == "rp2":
        from boards.pico import Board  # the Pico board (see hardware/)

        return Board()
    from boards.unix import Board

    state = "dsc-state"
    if "--state" in sys.argv:
        state = sys.argv[sys.argv.index("--state") + 1]
    return Board(state)


def main():
    board = make_board()
    token = Token(board, debug=__debug__)
    if hasattr(board, "ready"):
        board.ready()
    token.run()


main()
