"""The worked example in docs/protocol.md is a real session: replay it and compare."""

import os

from boards.sim import SimBoard
from dsc.token import Token

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "docs", "protocol.md")
UNIQUE_ID = bytes.fromhex("e6614103e7612345")  # gives the blank serial shown in the example


def example_session():
    text = open(DOC).read().split("## Example session", 1)[1]
    block = text.split("```\n", 2)[1]
    steps = []
    for line in block.splitlines():
        if line.startswith("> "):
            steps.append((line[2:], []))
        elif line.startswith("< "):
            steps[-1][1].append(line[2:])
    return steps


def test_the_documented_example_session_is_what_the_token_answers(tmp_path):
    with open(tmp_path / "uid", "wb") as f:
        f.write(UNIQUE_ID)
    board = SimBoard(str(tmp_path), manual_clock=True)
    token = Token(board)
    steps = example_session()
    assert len(steps) >= 10
    for request, replies in steps:
        token.receive(request.encode() + b"\n")
        assert board.take_sent().decode().splitlines() == replies, request
