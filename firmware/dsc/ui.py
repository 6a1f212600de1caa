"""The token's keypad and display: a state machine driven by key and tick events.

Pure logic with an injected clock (`now` in ms): the board turns key presses and
time into calls here, and draws `lines`. See docs/firmware.md for the screens.

The power key always leads to the first prompt (`PIN>`): it wakes the token, or
starts over from any screen, forgetting what was keyed. The token turns itself off
after `timeout` seconds without a key, and once a confirmation ends; no key turns it
off (a second press meant to wake a token that looked asleep would turn it off).
"""

OFF = "off"
NOKEY = "nokey"
PIN = "pin"
CHALLENGE = "challenge"
RESPONSE = "response"
MESSAGE = "message"
CONFIRM = "confirm"

DIGITS = "0123456789"
KEYS = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "OK", "C", "PWR")
WIDTH = 8
MESSAGE_MS = 1500
CONFIRM_MS = 30000


class UI:
    """`token` supplies `config` (state, serial, pinlen, timeout), `suite()` and
    `respond(pin, challenge)`; the UI never sees the key."""

    def __init__(self, token):
        self.token = token
        self.state = OFF
        self.lines = ("", "")
        self.gen = 0  # grows on every display change, for the debug link's `wait`
        self._pin = ""
        self._entry = ""
        self._response = ""
        self._active = 0  # when the last key was pressed, for the idle timeout
        self._message_end = 0
        self._message_back = OFF
        self._confirm_done = None
        self._confirm_end = 0

    # -- events -------------------------------------------------------------

    def key(self, k, now):
        if k not in KEYS:
            return  # keypad letters are free for later features
        self._active = now
        state = self.state
        if state == CONFIRM:
            if k == "OK":
                self._finish_confirm(True, "")
            elif k in ("C", "PWR"):
                self._finish_confirm(False, "denied")
                if k == "PWR":
                    self._power(now)
        elif k == "PWR":
            self._power(now)
        elif state == MESSAGE:
            self._enter(self._message_back)
        elif state == PIN:
            self._edit(k, self.token.config.pinlen, self._submit_pin, now)
        elif state == CHALLENGE:
            self._edit(k, self.token.suite().question_length, self._submit_challenge, now)
        elif state == RESPONSE and k == "OK":
            self._enter(CHALLENGE)

    def tick(self, now):
        """Fire every timer due at `now`: after a long gap a message may end and
        the idle timeout turn the token off, in one call."""
        state = None
        while state != self.state:
            state = self.state
            self._tick_once(now)

    def _tick_once(self, now):
        state = self.state
        if state == CONFIRM:
            if now - self._confirm_end >= 0:
                self._finish_confirm(False, "timeout")
        elif state == MESSAGE and now - self._message_end >= 0:
            self._enter(self._message_back)
        elif state != OFF and now - self._active >= self.token.config.timeout * 1000:
            self._enter(OFF)

    def ask(self, question, now, done):
        """Show `question` / OK=YES; call done(accepted, reason) on OK, C/PWR or timeout."""
        if self._confirm_done is not None:
            done(False, "busy")
            return
        self._pin = ""
        self._entry = ""
        self._confirm_done = done
        self._confirm_end = now + CONFIRM_MS
        self.state = CONFIRM
        self._show(question, "OK=YES")

    def config_changed(self, now):
        """The token was provisioned or wiped: leave a screen that no longer
        applies (NO KEY after a key was loaded, a prompt after a wipe)."""
        blank = self.token.config.state == "blank"
        if self.state == NOKEY and not blank:
            self._active = now
            self._enter(PIN if self.token.suite().pin_hash else CHALLENGE)
        elif blank and self.state in (PIN, CHALLENGE, RESPONSE):
            self._enter(OFF)

    def wait_ms(self, now):
        """How long until the next timer fires (None when nothing is timed)."""
        state = self.state
        if state == CONFIRM:
            end = self._confirm_end
        elif state == MESSAGE:
            end = self._message_end
        elif state == OFF:
            return None
        else:
            end = self._active + self.token.config.timeout * 1000
        return max(0, end - now)

    @property
    def entered(self):
        if self.state == PIN:
            return len(self._pin)
        return len(self._entry) if self.state == CHALLENGE else 0

    # -- transitions --------------------------------------------------------

    def _power(self, now):
        """On, or on again from the start: the first prompt with nothing keyed."""
        if self.token.config.state == "blank":
            self._enter(NOKEY)
        elif self.token.suite().pin_hash:
            self._enter(PIN)
        else:
            self._enter(CHALLENGE)

    def _edit(self, k, length, submit, now):
        entry = self._pin if self.state == PIN else self._entry
        if k in DIGITS:
            if len(entry) < length:
                entry += k
        elif k == "C":
            entry = entry[:-1]
        elif k == "OK":
            submit(entry, length, now)
            return
        if self.state == PIN:
            self._pin = entry
        else:
            self._entry = entry
        self._draw()

    def _submit_pin(self, pin, length, now):
        if len(pin) != length:
            self._length_message("PIN LEN", length, PIN, now)
        else:
            self._pin = pin
            self._enter(CHALLENGE)

    def _submit_challenge(self, challenge, length, now):
        if len(challenge) != length:
            self._length_message("CHAL LEN", length, CHALLENGE, now)
            return
        self._response = self.token.respond(self._pin, challenge)
        if self.token.battery_low():
            self._message("BATT LOW", "", RESPONSE, now)  # warn first; the response follows
        else:
            self._enter(RESPONSE)

    def _length_message(self, text, length, back, now):
        count = str(length) + " DIGITS"
        self._message(text, count if len(count) <= WIDTH else str(length) + " DIGS", back, now)

    def _message(self, line1, line2, back, now):
        self._message_back = back
        self._message_end = now + MESSAGE_MS
        self.state = MESSAGE
        self._show(line1, line2)

    def _finish_confirm(self, accepted, reason):
        done = self._confirm_done
        self._confirm_done = None
        self._enter(OFF)
        if done is not None:
            done(accepted, reason)

    def _enter(self, state):
        if state in (OFF, PIN):
            self._pin = ""
        if state != RESPONSE:
            self._response = ""
        self._entry = ""
        self.state = state
        self._draw()

    # -- display ------------------------------------------------------------

    def _draw(self):
        state = self.state
        if state == OFF:
            self._show("", "")
        elif state == NOKEY:
            self._show("NO KEY", self.token.config.serial)
        elif state == PIN:
            self._show("PIN>", "*" * len(self._pin))
        elif state == CHALLENGE:
            self._show("CHALLNG>", self._entry[-WIDTH:])
        elif state == RESPONSE:
            self._show(self._response[:WIDTH], self._response[WIDTH:])

    def _show(self, line1, line2):
        lines = (line1, line2)
        if lines != self.lines:
            self.lines = lines
            self.gen += 1
