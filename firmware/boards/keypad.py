"""Matrix keypad and push-button scanning with debouncing.

Rows are open-drain outputs pulled low one at a time; columns are inputs with
pull-ups, so a pressed key reads 0. A key counts as pressed once it has read
pressed for `debounce_ms` in a row, and may count again only after it has read
released as long: contact bounce gives one event, a held key never repeats.
A membrane matrix has no diodes, so three keys on the corners of a rectangle
make the fourth corner read pressed too ("ghosting"); while a scan shows such a
rectangle no new key is reported.
"""


class Debounced:
    """One contact's debounced state: pressed() returns True once per press."""

    def __init__(self, debounce_ms):
        self._debounce = debounce_ms
        self._raw = False
        self._since = 0
        self._stable = False

    def update(self, raw, now):
        """Feed one reading; True when this reading completes a new press."""
        if raw != self._raw:
            self._raw = raw
            self._since = now
            return False
        if raw != self._stable and now - self._since >= self._debounce:
            self._stable = raw
            return raw
        return False


class Keypad:
    def __init__(self, rows, cols, keys, debounce_ms=20, settle=None):
        """rows, cols: machine.Pin-like objects (rows OPEN_DRAIN, cols IN with PULL_UP);
        keys[r][c]: the key name at row r, column c; settle(): a few µs of wait after
        driving a row (time.sleep_us on hardware)."""
        self.rows = rows
        self.cols = cols
        self.keys = keys
        self._settle = settle
        self._state = [[Debounced(debounce_ms) for _ in cols] for _ in rows]
        self._down = [[False] * len(cols) for _ in rows]
        self._pressed = 0  # keys read pressed by the last read_matrix()
        self._settling = False  # some key is pressed, or was: its debouncing is not over
        for row in rows:
            row.value(1)

    def read_matrix(self):
        """The raw pressed/not grid, one row at a time."""
        down = self._down
        pressed = 0
        for r, row in enumerate(self.rows):
            row.value(0)
            if self._settle:
                self._settle()
            line = down[r]
            for c, col in enumerate(self.cols):
                line[c] = raw = col.value() == 0
                if raw:
                    pressed += 1
            row.value(1)
        self._pressed = pressed
        return down

    def scan(self, now):
        """Keys newly pressed since the last scan (usually none or one)."""
        down = self.read_matrix()
        if not self._pressed and not self._settling:
            return ()  # nothing pressed, nothing settling: most scans end here, cheaply
        ghost = _has_rectangle(down)
        pressed = []
        settling = False
        for r, line in enumerate(down):
            states = self._state[r]
            for c, raw in enumerate(line):
                state = states[c]
                if state.update(raw, now) and not ghost:
                    pressed.append(self.keys[r][c])
                if state._raw or state._stable:
                    settling = True
        self._settling = settling
        return pressed

    def any_down(self):
        for line in self.read_matrix():
            for raw in line:
                if raw:
                    return True
        return False


class Button:
    """A push button from a GPIO to ground, with the pin's pull-up."""

    def __init__(self, pin, key, debounce_ms=20):
        self.pin = pin
        self.key = key
        self._state = Debounced(debounce_ms)

    def scan(self, now):
        return [self.key] if self._state.update(self.pin.value() == 0, now) else []

    def woke(self, now):
        """The press that woke the board from sleep: one event now, even if the
        button was already released; if it is still held it will not count again."""
        state = self._state
        state._raw = state._stable = True
        state._since = now
        return [self.key]


def _has_rectangle(down):
    """True when two rows share two pressed columns: the matrix cannot tell
    which of those keys are real."""
    rows = len(down)
    for a in range(rows):
        for b in range(a + 1, rows):
            shared = 0
            for c in range(len(down[a])):
                if down[a][c] and down[b][c]:
                    shared += 1
                    if shared >= 2:
                        return True
    return False
