"""The token drawn in a terminal: display on top, keypad below, keys from the keyboard."""

import os
import select
import sys
import termios
import tty

# The letter column: A (F1) signs at the first prompt; B and D are not used yet, and the
# keyboard's c is the clear key, so the drawing shows only A.
KEYPAD = (("1", "2", "3", "A"), ("4", "5", "6", ""), ("7", "8", "9", ""), ("C", "0", "OK", ""))
HELP = "keys: 0-9  Enter=OK  Backspace=C  a=A (sign)  p=power  q=quit"
# Under HELP, what the power key does now. An off token (a blank display) ignores every
# other key, as a real one does; an on one turns itself off after its idle time.
OFF_HINT = "The token is off: p turns it on (other keys do nothing while it is off)."
ON_HINT = "p starts over at the PIN; it turns off after its idle time (60 s by default)."
_KEYMAP = {"\r": "OK", "\n": "OK", "\x7f": "C", "\x08": "C", "c": "C", "C": "C", "p": "PWR", "P": "PWR", " ": "PWR",
           "a": "F1", "A": "F1"}


def hints(lines):
    """The key help and what the power key does, for a token showing `lines`."""
    return [HELP, OFF_HINT if not any(lines) else ON_HINT]


def render_token(lines, label="OpenDSC"):
    """The token as text lines: a case with a 2x8 display, the keypad and the power key."""
    width = 22
    inner = width - 2

    def row(text):
        return "│" + text.center(inner) + "│"

    out = ["╭" + "─" * inner + "╮", row(label), row("┌──────────┐")]
    for line in lines:
        out.append(row("│ " + line.ljust(8)[:8] + " │"))
    out.append(row("└──────────┘"))
    for keys in KEYPAD:
        out.append(row(" ".join("[%s]" % k.center(2) if k else "    " for k in keys)))
    out.append(row("( PWR )"))
    out.append("╰" + "─" * inner + "╯")
    return out


QUIT = "quit"


def key_for(ch):
    """The token key for one typed character (None: not a key)."""
    if len(ch) == 1 and "0" <= ch <= "9":  # ASCII only: "²".isdigit() is True
        return ch
    return _KEYMAP.get(ch)


def keys_for(data):
    """The token keys (or QUIT) for bytes read from the keyboard. Anything that
    is not an ASCII key is ignored: é, £ and the like arrive as several bytes, and
    an arrow or function key as an escape sequence (ESC [ C would be "C")."""
    if data[:1] == b"\x1b":
        return []
    out = []
    for ch in data.decode("ascii", errors="ignore"):
        if ch in ("q", "Q", "\x03"):
            out.append(QUIT)
            break
        key = key_for(ch)
        if key:
            out.append(key)
    return out


def run(runtime, url, stopped=None):
    """Draw the token until q, Ctrl-C or `stopped` (an Event); keys go to the runtime."""
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    rfd, wfd = os.pipe()  # display changes and the token's exit wake the loop
    runtime.on_display.append(lambda a, b: os.write(wfd, b"."))
    runtime.on_exit.append(lambda: os.write(wfd, b"x"))
    sys.stdout.write("\x1b[?1049h\x1b[?25l")  # alternate screen, hide cursor
    try:
        tty.setcbreak(fd, termios.TCSANOW)  # keep keys typed before the screen came up (TCSAFLUSH drops them)
        while stopped is None or not stopped.is_set():
            _draw(runtime.lines, url)
            ready, _, _ = select.select([fd, rfd], [], [])
            if rfd in ready:
                os.read(rfd, 4096)
            if fd in ready:
                data = os.read(fd, 64)
                if not data:
                    return  # the terminal went away
                for key in keys_for(data):
                    if key == QUIT:
                        return
                    runtime.press(key)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        sys.stdout.write("\x1b[?25h\x1b[?1049l")
        sys.stdout.flush()


def _draw(lines, url):
    text = render_token(lines) + ["", "link: " + url] + hints(lines)
    sys.stdout.write("\x1b[H\x1b[2J" + "\r\n".join(text) + "\r\n")
    sys.stdout.flush()
