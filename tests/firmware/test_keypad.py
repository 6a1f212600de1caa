"""Keypad and power-button scanning against a fake machine.Pin matrix: one event
per press despite contact bounce, no phantom keys, no repeats while held."""

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from boards import pico_pins as pins
from boards.keypad import Button, Keypad

FUZZ = os.environ.get("DSC_FUZZ") == "1"
DEBOUNCE = 20


class Matrix:
    """A 4x4 membrane matrix with no diodes: a column reads 0 when it connects,
    through any chain of closed contacts, to the row being driven low."""

    def __init__(self):
        self.closed = set()  # (row, col) contacts closed now
        self.rows = [RowPin(self, r) for r in range(4)]
        self.cols = [ColPin(self, c) for c in range(4)]

    def col_low(self, col):
        driven = {r for r, pin in enumerate(self.rows) if pin.level == 0}
        seen, todo = {("c", col)}, [("c", col)]
        while todo:
            kind, n = todo.pop()
            if kind == "r" and n in driven:
                return True
            for r, c in self.closed:
                nxt = ("r", r) if kind == "c" and c == n else ("c", c) if kind == "r" and r == n else None
                if nxt and nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False


class RowPin:
    def __init__(self, matrix, n):
        self.level = 1

    def value(self, v=None):
        if v is not None:
            self.level = v
        return self.level


class ColPin:
    def __init__(self, matrix, n):
        self.matrix, self.n = matrix, n

    def value(self):
        return 0 if self.matrix.col_low(self.n) else 1


class ButtonPin:
    def __init__(self):
        self.pressed = False

    def value(self):
        return 0 if self.pressed else 1


def position(key):
    for r, line in enumerate(pins.KEYPAD_KEYS):
        if key in line:
            return r, line.index(key)
    raise KeyError(key)


class Rig:
    def __init__(self):
        self.matrix = Matrix()
        self.keypad = Keypad(self.matrix.rows, self.matrix.cols, pins.KEYPAD_KEYS, debounce_ms=DEBOUNCE)
        self.now = 0
        self.events = []

    def run(self, ms, step=2):
        for _ in range(ms // step):
            self.events += self.keypad.scan(self.now)
            self.now += step

    def hold(self, *keys):
        self.matrix.closed |= {position(k) for k in keys}

    def release(self, *keys):
        self.matrix.closed -= {position(k) for k in keys}

    def bounce(self, key, ms, closed_after):
        """The contact chatters every millisecond for `ms`, then settles."""
        pos = position(key)
        for i in range(ms):
            if i % 2:
                self.matrix.closed.add(pos)
            else:
                self.matrix.closed.discard(pos)
            self.events += self.keypad.scan(self.now)
            self.now += 1
        (self.matrix.closed.add if closed_after else self.matrix.closed.discard)(pos)


def test_every_key_gives_exactly_its_name_once():
    rig = Rig()
    for line in pins.KEYPAD_KEYS:
        for key in line:
            rig.hold(key)
            rig.run(100)
            rig.release(key)
            rig.run(100)
    assert rig.events == [k for line in pins.KEYPAD_KEYS for k in line]
    assert {"OK", "C"} <= set(rig.events)  # '#' is OK and '*' is C


def test_contact_bounce_on_press_and_release_gives_one_event():
    rig = Rig()
    rig.bounce("5", 15, closed_after=True)
    rig.run(60)
    rig.bounce("5", 15, closed_after=False)
    rig.run(60)
    assert rig.events == ["5"]


def test_a_tap_shorter_than_the_debounce_time_is_ignored():
    rig = Rig()
    rig.hold("7")
    rig.run(10)
    rig.release("7")
    rig.run(100)
    assert rig.events == []


def test_a_held_key_does_not_repeat():
    rig = Rig()
    rig.hold("OK")
    rig.run(10000, step=10)
    assert rig.events == ["OK"]


def test_two_keys_held_together_give_those_two_and_no_third():
    rig = Rig()
    rig.hold("1", "5")  # different rows and columns: the worst case for a diode-less matrix
    rig.run(100)
    rig.release("1", "5")
    rig.run(100)
    assert sorted(rig.events) == ["1", "5"]


def test_three_keys_on_a_rectangle_give_no_phantom_fourth():
    rig = Rig()
    rig.hold("1")
    rig.run(60)
    rig.hold("2")
    rig.run(60)
    rig.hold("4")  # 1, 2, 4 held: 5 reads pressed too (the ghost)
    rig.run(200)
    rig.release("1", "2", "4")
    rig.run(100)
    assert "5" not in rig.events
    assert rig.events == ["1", "2"]


def test_rolling_presses_while_typing_fast_all_count():
    rig = Rig()
    rig.hold("1")
    rig.run(40)
    rig.hold("2")  # pressed before 1 is released
    rig.run(10)
    rig.release("1")
    rig.run(40)
    rig.release("2")
    rig.hold("3")
    rig.run(60)
    assert rig.events == ["1", "2", "3"]


def test_the_power_button_is_debounced_too():
    pin = ButtonPin()
    button = Button(pin, "PWR", debounce_ms=DEBOUNCE)
    events = []
    for t in range(200):
        pin.pressed = 10 <= t < 150 and not (10 <= t < 20 and t % 2)
        events += button.scan(t)
    assert events == ["PWR"]


def test_a_press_that_woke_the_board_counts_once_released_or_held():
    for held_after_wake in (False, True):
        pin = ButtonPin()
        button = Button(pin, "PWR", debounce_ms=DEBOUNCE)
        pin.pressed = held_after_wake  # a short press may be over before the first scan
        events = button.woke(0)
        for t in range(1, 300):
            events += button.scan(t)
        pin.pressed = False
        for t in range(300, 400):
            events += button.scan(t)
        assert events == ["PWR"], held_after_wake


ALL_KEYS = [k for line in pins.KEYPAD_KEYS for k in line]


@settings(max_examples=1000 if FUZZ else 40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(ALL_KEYS), st.integers(0, DEBOUNCE - 5), st.integers(DEBOUNCE + 5, 400),
                          st.integers(0, DEBOUNCE - 5), st.integers(DEBOUNCE + 5, 200)), max_size=12))
def test_one_key_at_a_time_with_any_bounce_gives_exactly_the_keys_pressed(presses):
    """Bounce shorter than the debounce time, holds and gaps longer than it."""
    rig = Rig()
    for key, bounce_in, hold, bounce_out, gap in presses:
        rig.bounce(key, bounce_in, closed_after=True)
        rig.run(hold, step=1)
        rig.bounce(key, bounce_out, closed_after=False)
        rig.run(gap, step=1)
    assert rig.events == [p[0] for p in presses]
