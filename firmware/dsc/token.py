"""The token: board, storage, UI and serial link tied together, and the main loop."""

from dsc import crypto, ocra
from dsc import config as cfg
from dsc.storage import Storage
from dsc.ui import UI

IDLE_MAX_MS = 1000  # wake at least this often, so the loop never waits unbounded


def default_serial(unique_id):
    """A blank token's serial: 8 hex digits derived from the chip's unique id."""
    return crypto.digest("sha256", unique_id)[:4].hex().upper()


class Token:
    def __init__(self, board, debug=True):
        self.board = board
        self.storage = Storage(board.fs, getattr(board, "key_store", None))  # optional in the board interface
        self.config = self.storage.load(default_serial(board.unique_id()))
        self._suite = None
        self._signing_suite = None
        self._kcv = None
        self.ui = UI(self)
        # The serial link is made when its first byte arrives: a release token
        # boots without loading the protocol (one module file fewer to find and
        # load from flash before the power key works; a debug build has it anyway).
        self.link = None
        self._debug = debug
        # Optional in the board interface: True once a new client is on the link.
        self._link_reset = getattr(board, "serial_reset", None)
        self._shown = None
        self._later_loaded = False
        self._refresh()

    def now(self):
        return self.board.ticks_ms()

    # -- what the UI and the link ask of the token ----------------------------

    def suite(self):
        if self._suite is None:
            self._suite = ocra.Suite(self.config.suite)
        return self._suite

    def kcv(self):
        if self._kcv is None:
            self._kcv = crypto.Hmac("sha256", self.config.key).digest(b"OpenDSC KCV")[:3].hex().upper()
        return self._kcv

    def signing(self):
        """The signing rule (dsc.signing, docs/protocol.md "Signing"). Loaded when
        signing starts, never at boot: a token that only logs in never pays for the
        file. (A token's login suite asks a QN question, dsc.config says, so its
        signing suite, QA26, always differs from it.)"""
        from dsc import signing

        if self._signing_suite is None:
            self._signing_suite = ocra.Suite(signing.suite_for(self.config.suite))
        return signing

    def sign(self, pin, challenge, amount, destination):
        """A withdrawal's signature to show, over the fields as keyed (digits); as respond()."""
        question = self.signing().question(challenge, amount, destination)
        return self.respond(pin, question, self._signing_suite)

    def respond(self, pin, challenge, suite=None):
        """The response to show (to a login challenge, or with the signing suite to a
        signature's question); a counter suite stores its next counter first."""
        suite = suite or self.suite()
        c = self.config
        if suite.counter and c.counter >= cfg.COUNTER_MAX:
            return "ERROR"  # the counter is used up: its next value could not be stored
        timestamp = None
        if suite.time_step:
            epoch = self.board.epoch()
            if epoch is None:
                return "NO CLOCK"  # e.g. the RTC's coin cell died: a response would be wrong
            timestamp = suite.timestamp(epoch)
        response = suite.response(c.key, challenge, c.counter, pin, None, None, timestamp)
        if suite.counter:
            new = c.copy()
            new.counter = c.counter + 1
            if not self.save(new):
                return "ERROR"  # never show a response whose counter was not stored
        return response

    def clock(self):
        """The board's clock: "rtc", "host", "unset" or "none" (optional in the board interface)."""
        check = getattr(self.board, "clock", None)
        return check() if check else "none"

    def battery_low(self):
        """Boards with a battery sense say when it runs low (optional in the board interface)."""
        check = getattr(self.board, "battery_low", None)
        return bool(check and check())

    def save(self, new):
        """Store `new` and make it current; False (and nothing changed) if the flash write fails."""
        try:
            self.storage.save(new)
        except OSError:
            return False
        self.config = new
        self._suite = None
        self._signing_suite = None
        self._kcv = None
        self.ui.config_changed(self.now())  # e.g. NO KEY is stale once a key is loaded
        return True

    # -- events -------------------------------------------------------------

    def key(self, k):
        self.ui.key(k, self.now())
        self._refresh()

    def tick(self):
        now = self.now()
        self.ui.tick(now)
        if self.link is not None:
            self.link.tick(now)
        self._refresh()

    def receive(self, data):
        if self.link is None:
            from dsc.protocol import Link

            self.link = Link(self, self._debug)
        self.link.receive(data)
        self._refresh()

    def poll(self):
        """One pass of the main loop: keys, serial bytes, timers."""
        board = self.board
        k = board.read_key()
        while k is not None:
            self.key(k)
            k = board.read_key()
        if self._link_reset is not None and self._link_reset() and self.link is not None:
            self.link.reset()  # a new client: what the last one half-sent is never run
        data = board.serial_read()
        if data:
            self.receive(data)
        self.tick()
        if not self._later_loaded and self._shown != ("", ""):
            self._load_later()

    def _load_later(self):
        """Load the code a token needs only after PIN> (or NO KEY) is on the display:
        on the chip a module's load costs about 13 ms at boot (issue 18), so it is
        left out of the boot and loaded in the first pass once the display is on,
        while the PIN is keyed. Whatever needs it sooner loads it itself."""
        self._later_loaded = True
        from dsc import ocra_compute  # noqa: F401  (the OCRA computation: Suite.response)

    def idle_ms(self):
        now = self.now()
        wait = self.ui.wait_ms(now)
        if self.link is not None and self.link.waiter is not None:
            until = max(0, self.link.waiter[1] - now)
            wait = until if wait is None else min(wait, until)
        return IDLE_MAX_MS if wait is None else min(wait, IDLE_MAX_MS)

    def run(self):
        while True:
            self.poll()
            self.board.idle(self.idle_ms())

    def _refresh(self):
        if self.link is not None and self.link.waiter is not None:
            self.link.tick(self.now())  # a debug `wait` answers as soon as the screen changes
        lines = self.ui.lines
        if lines != self._shown:
            self._shown = lines
            self.board.show(lines[0], lines[1])
