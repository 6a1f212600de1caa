"""The token's keypad and display: a state machine driven by key and tick events.

Pure logic with an injected clock (`now` in ms): the board turns key presses and
time into calls here, and draws `lines`. See docs/firmware.md for the screens.

The power key always leads to the first prompt (`PIN>`): it wakes the token, or
starts over from any screen, forgetting what was keyed (signing included). The token
turns itself off after `timeout` seconds without a key, and once a confirmation ends;
no key turns it off (a second press meant to wake a token that looked asleep would
turn it off).

Signing (a withdrawal's amount and destination in the response, docs/protocol.md
"Signing"): SIGN_KEY at the first prompt starts it; after the PIN the token asks the
challenge, the amount and the destination's digits, each at its own prompt, where C
clears the field, and shows the signature. The token gives the signing rule (the
dsc.signing module, loaded only then): the field lengths and the checks are its.
"""

OFF = "off"
NOKEY = "nokey"
PIN = "pin"
CHALLENGE = "challenge"
RESPONSE = "response"
AMOUNT = "amount"
DESTINATION = "destination"
MESSAGE = "message"
CONFIRM = "confirm"

DIGITS = "0123456789"
KEYS = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "OK", "C", "PWR")
FUNCTION_KEYS = ("F1", "F2", "F3", "F4")  # the letter keys A-D; the others are free for later features
SIGN_KEY = "F1"  # A
WIDTH = 8
MESSAGE_MS = 1500
CONFIRM_MS = 30000


class UI:
    """`token` supplies `config` (state, serial, pinlen, timeout), `suite()`,
    `respond(pin, challenge)`, `signing()` (the signing rule) and
    `sign(pin, challenge, amount, destination)`; the UI never sees the key."""

    def __init__(self, token):
        self.token = token
        self.state = OFF
        self.lines = ("", "")
        self.gen = 0  # grows on every display change, for the debug link's `wait`
        self._pin = ""
        self._entry = ""
        self._response = ""
        self.signing = False  # keying a signature's fields (the rule: token.signing())
        self._challenge = ""  # a signature's fields keyed so far
        self._amount = ""
        self._active = 0  # when the last key was pressed, for the idle timeout
        self._message_end = 0
        self._message_back = OFF
        self._confirm_done = None
        self._confirm_end = 0

    # -- events -------------------------------------------------------------

    def key(self, k, now):
        if k not in KEYS:
            if k == SIGN_KEY and not self.signing and self._first_prompt():
                self._active = now
                self._start_signing(now)
            return  # elsewhere the letter keys do nothing
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
        elif state == CHALLENGE and not self.signing:
            self._edit(k, self.token.suite().question_length, self._submit_challenge, now)
        elif state in (CHALLENGE, AMOUNT, DESTINATION):
            rule = self.token.signing()
            if state == CHALLENGE:
                self._edit(k, rule.CHALLENGE_DIGITS, self._submit_challenge, now)
            elif state == AMOUNT:
                self._edit(k, rule.AMOUNT_DIGITS, self._submit_amount, now)
            else:
                self._edit(k, rule.DESTINATION_DIGITS, self._submit_destination, now)
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
        self._forget()
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
        elif blank and self.state in (PIN, CHALLENGE, AMOUNT, DESTINATION, RESPONSE):
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
        return len(self._entry) if self.state in (CHALLENGE, AMOUNT, DESTINATION) else 0

    # -- transitions --------------------------------------------------------

    def _power(self, now):
        """On, or on again from the start: the first prompt with nothing keyed."""
        self._forget()
        if self.token.config.state == "blank":
            self._enter(NOKEY)
        elif self.token.suite().pin_hash:
            self._enter(PIN)
        else:
            self._enter(CHALLENGE)

    def _first_prompt(self):
        """PIN>, or CHALLNG> for a suite without a PIN: where signing can start."""
        return self.state == PIN or (self.state == CHALLENGE and not self.token.suite().pin_hash)

    def _start_signing(self, now):
        self.token.signing()  # loaded now, not when the signature is asked for
        self.signing = True
        if self.state == PIN:
            self._draw()  # SIGN PIN, with what was keyed of the PIN
        else:
            self._message("SIGNING", "", CHALLENGE, now)

    def _edit(self, k, length, submit, now):
        entry = self._pin if self.state == PIN else self._entry
        if k in DIGITS:
            if len(entry) < length:
                entry += k
        elif k == "C":
            # a signature's field is keyed again whole, from the source the user trusts
            entry = entry[:-1] if self.state == PIN or not self.signing else ""
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
        elif self.signing:
            self._challenge = challenge
            self._enter(AMOUNT)
        else:
            self._answer(self.token.respond(self._pin, challenge), now)

    def _submit_amount(self, amount, length, now):
        if not amount:
            self._message("AMOUNT", "EMPTY", AMOUNT, now)
            return
        try:
            self.token.signing().amount_digits(amount)
        except ValueError:
            self._message("AMOUNT", "NOT ZERO", AMOUNT, now)  # all its digits are 0
            return
        self._amount = amount
        self._enter(DESTINATION)

    def _submit_destination(self, destination, length, now):
        if not destination:
            self._message("DEST", "EMPTY", DESTINATION, now)
            return
        self._answer(self.token.sign(self._pin, self._challenge, self._amount, destination), now)

    def _answer(self, response, now):
        self._response = response
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

    def _forget(self):
        """Everything keyed since the power key, and signing."""
        self._pin = ""
        self._entry = ""
        self.signing = False
        self._challenge = ""
        self._amount = ""

    def _enter(self, state):
        if state == OFF:
            self._forget()
        elif state == PIN:
            self._pin = ""
        if state == PIN or state == CHALLENGE:  # (not `in (PIN, CHALLENGE)`: a tuple made at every call)
            self._challenge = ""  # a new signature starts from its challenge
            self._amount = ""
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
            self._show("SIGN PIN" if self.signing else "PIN>", "*" * len(self._pin))
        elif state == CHALLENGE:
            self._show("CHALLNG>", self._entry[-WIDTH:])
        elif state == AMOUNT:
            entry = self._entry
            if len(entry) <= WIDTH:
                self._show("AMOUNT>", entry)
            else:  # up to 12 digits: all of them in sight, the first ones after a shorter name
                self._show("AMT>" + entry[:-WIDTH], entry[-WIDTH:])
        elif state == DESTINATION:
            self._show("DEST>", self._entry)
        elif state == RESPONSE:
            response = self._response
            if not self.signing or not response.isdigit():
                self._show(response[:WIDTH], response[WIDTH:])  # a response, or why there is none
            elif len(response) <= WIDTH:
                self._show("SIGNED", response)
            else:
                self._show(response[:WIDTH], response[WIDTH:] + " SIG")

    def _show(self, line1, line2):
        lines = (line1, line2)
        if lines != self.lines:
            self.lines = lines
            self.gen += 1
