# Drive firmware/boards/ssd1306.py under MicroPython with a fake I2C bus.
#
#   micropython display_render.py FIRMWARE_DIR < CASES_JSON
#
# CASES_JSON is a list of cases: {"width": W, "height": H, "addr": A (optional),
# "ops": [["show", "LINE1", "LINE2"], ["power", false], ["contrast", 10], ...]}.
# Prints one JSON line per case: {"case": i, "init": CALLS, "ops": [CALLS, ...]}
# where CALLS lists every bus call made, as [method, addr, hex bytes] (a call that
# is not a write has its arguments as text). A case that raises prints
# {"case": i, "error": "..."}. Then a line {"heap_locked_show": "ok" | error}:
# show() run with the heap locked, so the draw path allocates nothing. Ends "done".
import sys
import json
from binascii import hexlify

sys.path.insert(0, sys.argv[1])
from boards.ssd1306 import SSD1306


class FakeI2C:
    def __init__(self):
        self.calls = []

    def writeto(self, addr, buf, stop=True):
        self.calls.append(["writeto", addr, hexlify(bytes(buf)).decode()])
        return len(buf)

    def writevto(self, addr, vector, stop=True):
        data = b"".join(bytes(b) for b in vector)
        self.calls.append(["writevto", addr, hexlify(data).decode()])
        return len(data)

    def _other(self, name, args):
        self.calls.append([name, -1, repr(args)])

    def readfrom(self, *a):
        self._other("readfrom", a)
        return b"\x00"

    def readfrom_into(self, *a):
        self._other("readfrom_into", a)

    def readfrom_mem(self, *a):
        self._other("readfrom_mem", a)
        return b"\x00"

    def readfrom_mem_into(self, *a):
        self._other("readfrom_mem_into", a)

    def writeto_mem(self, *a):
        self._other("writeto_mem", a)

    def scan(self, *a):
        self._other("scan", a)
        return []

    def init(self, *a):
        self._other("init", a)

    def start(self, *a):
        self._other("start", a)

    def stop(self, *a):
        self._other("stop", a)

    def write(self, *a):
        self._other("write", a)
        return 0

    def readinto(self, *a):
        self._other("readinto", a)


class CountingI2C:
    # Records nothing (so it allocates nothing): for the heap-locked run.
    def __init__(self):
        self.n = 0

    def writeto(self, addr, buf, stop=True):
        self.n += len(buf)

    def writevto(self, addr, vector, stop=True):
        for b in vector:
            self.n += len(b)


def take(i2c):
    calls = i2c.calls
    i2c.calls = []
    return calls


def run_case(i, case):
    i2c = FakeI2C()
    kw = {"width": case["width"], "height": case["height"]}
    if "addr" in case:
        kw["addr"] = case["addr"]
    disp = SSD1306(i2c, **kw)
    out = {"case": i, "init": take(i2c), "ops": []}
    for op in case["ops"]:
        getattr(disp, op[0])(*op[1:])
        out["ops"].append(take(i2c))
    return out


def heap_locked_show():
    import micropython
    for height in (32, 64):
        disp = SSD1306(CountingI2C(), height=height)
        disp.show("WARM UP", "12345678")
        micropython.heap_lock()
        try:
            disp.show("48391045", "NO KEY")
            disp.show("CHALLNG>", "")
            disp.power(False)
            disp.power(True)
            disp.contrast(200)
        finally:
            micropython.heap_unlock()
    return "ok"


cases = json.loads(sys.stdin.read())
for i, case in enumerate(cases):
    try:
        print(json.dumps(run_case(i, case)))
    except Exception as e:
        print(json.dumps({"case": i, "error": "%s: %s" % (type(e).__name__, e)}))
try:
    result = heap_locked_show()
except Exception as e:
    result = "%s: %s" % (type(e).__name__, e)
print(json.dumps({"heap_locked_show": result}))
print("done")
