"""Read firmware/manifest.py: the files of one firmware build.

    files(board="pico", debug=False)  -> ["main.py", "app.py", "dsc/config.py", ...]
    code_roots()                       -> the top-level names any build installs
"""

from pathlib import Path

FIRMWARE = Path(__file__).resolve().parent.parent / "firmware"
MANIFEST = FIRMWARE / "manifest.py"
BOARDS = ("pico", "unix")


class Options:
    def __init__(self, board, debug):
        self.board = board
        self.debug = debug


def files(board="pico", debug=False):
    """The manifest's files for this build, in manifest order, relative to firmware/."""
    if board not in BOARDS:
        raise ValueError("board must be one of " + ", ".join(BOARDS))
    out = []

    def module(path):
        if not (FIRMWARE / path).is_file():
            raise FileNotFoundError("firmware/manifest.py names %s, which does not exist" % path)
        if path not in out:
            out.append(path)

    def package(name, files):
        for f in files:
            module(name + "/" + f)

    code = compile(MANIFEST.read_text(), str(MANIFEST), "exec")
    exec(code, {"module": module, "package": package, "options": Options(board, debug)})
    return out


def all_files():
    """Every file some build uses."""
    seen = []
    for board in BOARDS:
        for debug in (True, False):
            seen += [f for f in files(board, debug) if f not in seen]
    return seen


def code_roots():
    """What an install of any build puts at the top of the board's filesystem:
    folders, and each top-level module as source and as .mpy."""
    roots = []
    for f in all_files():
        top = f.split("/")[0]
        names = [top] if "/" in f else ([top] if top == "main.py" else [top, top[:-3] + ".mpy"])
        roots += [n for n in names if n not in roots]
    return roots
