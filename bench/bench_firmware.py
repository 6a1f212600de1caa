"""The Pico firmware: bundle sizes, heap and time for one response on the unix
port; the board's boot, display and serial paths against their state before
issue 10 (built from git in the same run); and estimates for a 125 MHz RP2040
that start from the figures issue 10 measured on one.

    python bench/bench_firmware.py        (or bench/run.py for every bench)
"""

import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ITERATIONS = 300
BASELINE_COMMIT = "0ba88dc"  # the firmware before issue 10's changes
BOOT_RUNS = 31
SERIAL_BYTES = 16384

# Measured in issue 10: the official MicroPython v1.28.0 RPI_PICO image on an
# emulated RP2040 (rp2040js) at 125 MHz, without flash-cache misses, with an
# SSD1306 on I2C at 400 kHz and the keypad on GPIO; the firmware as of
# BASELINE_COMMIT (20 ms debounce, 10 ms scan, a whole frame per screen).
MEASURED = {
    "ok_to_response_ms": (46, 64),
    "ocra_ms": 4.0,
    "draw_ms": 17.7,  # rendering + the I2C frame at 400 kHz
    "debounce_ms": 20,
    "scan_ms": 10,
    "power_to_pin_ms": (17, 26),
    "boot_ms": 263,
    "free_heap": 196784,
    "serial_cycles_per_byte": 13500,
}
TARGETS = {"ok_to_response_ms": 30, "draw_ms": 8, "power_to_pin_ms": 15, "boot_ms": 150, "free_heap": 150 * 1024}

# Measured in issue 18 on the official MicroPython rp2 image (emulated RP2040), the
# firmware as of ISSUE18_COMMIT: boot -> ready 211 ms, of which about 13 ms per .mpy
# file loaded and about 10 ms for the I2C scan of its 112 addresses; serial input
# 57 us a byte in Board.serial_read, of which ipoll(0) 21 us, and Link.receive 0.9 us.
ISSUE18_COMMIT = "5402c13"
MEASURED_18 = {"boot_ms": 211, "file_ms": 13, "scan_ms": 10, "scan_addresses": 112,
               "import_ms": 173,  # 12 files before the scan (~160 ms) and the display driver's after it
               "serial_us_per_byte": 57, "ipoll_us": 21, "receive_us_per_byte": 0.9}
BOOT_IMPORTS = ["app", "boards.pico", "boards.ssd1306"]  # what main.py, app and the board import with an OLED
TARGETS_18 = {"boot_ms": 150, "serial_kb_s": 100}
PICO_HARNESS = ROOT / "tests" / "firmware" / "micropython" / "pico_board.py"  # the Pico board on a fake machine


def build(out):
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_firmware.py"), "build", "--out", str(out)],
                   check=True, capture_output=True)
    sizes = {}
    for name in ("debug", "release"):
        files = [p for p in (out / name).rglob("*") if p.is_file()]
        sizes[name] = (len(files), sum(p.stat().st_size for p in files))
    return sizes


def runnable(bundle, root=ROOT):
    subprocess.run([str(BIN / "mpy-cross"), "-O1", "boards/unix.py", "-o", str(bundle / "boards" / "unix.mpy")],
                   cwd=root / "firmware", check=True)
    (bundle / "state").mkdir(exist_ok=True)
    return bundle


def response_cost(bundle):
    out = subprocess.run([str(BIN / "micropython"), str(ROOT / "bench" / "mp_token.py"), str(bundle), str(ITERATIONS)],
                         check=True, capture_output=True, text=True)
    us, heap = out.stdout.split()
    return float(us), int(heap)


def smallest_heap(bundle):
    """The smallest -X heapsize (KiB, 4 KiB steps) in which the release firmware
    boots, is provisioned and shows a response."""
    key = b"12345678901234567890123456789012".hex()  # RFC 6287's 32-byte key
    feed = ["S " + ("provision key=" + key + "\n").encode().hex()]
    feed += ["K " + k for k in ["PWR", "1", "2", "3", "4", "OK", "1", "2", "3", "4", "5", "6", "OK"]]
    for kib in range(24, 129, 4):
        with tempfile.TemporaryDirectory() as state:
            proc = subprocess.Popen([str(BIN / "micropython"), "-X", "heapsize=%dK" % kib, "main.py", "--state", state],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                    cwd=bundle, text=True)
            shown = False
            guard = threading.Timer(20, proc.kill)  # never hang the bench on a wedged run
            guard.start()
            for line in proc.stdout:
                if line.startswith("READY"):
                    proc.stdin.write(feed[0] + "\n")  # provision first, then key in when it answers
                    proc.stdin.flush()
                elif line.startswith("S "):
                    proc.stdin.write("".join(f + "\n" for f in feed[1:]))
                    proc.stdin.flush()
                elif line.startswith("D 90187643"):  # RFC 6287's key, PIN 1234, challenge 123456
                    shown = True
                    break
            guard.cancel()
            proc.kill()
            proc.wait()
            if shown:
                return kib
    return None


def baseline_bundle(tmp, commit=BASELINE_COMMIT, name="baseline"):
    """The release bundle of `commit`, built by that commit's own script and made
    runnable on the unix port; None outside a git checkout."""
    base = tmp / name
    base.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "firmware", "scripts"],
                             capture_output=True)
    if archive.returncode != 0:
        return None
    subprocess.run(["tar", "-x", "-C", str(base)], input=archive.stdout, check=True)
    subprocess.run([sys.executable, str(base / "scripts" / "build_firmware.py"), "build", "--out", str(base / "b")],
                   check=True, capture_output=True, cwd=base)
    return runnable(base / "b" / "release", base)


def pico_boot(bundle, tmp, rtc):
    """What the Pico release bundle loads and asks on the I2C bus until the token
    is ready, on the fake machine: (.mpy files, I2C addresses asked). main.py's
    app.mpy is counted too (the harness starts from the board and the token)."""
    with tempfile.TemporaryDirectory(dir=tmp) as state:
        out = subprocess.run([str(BIN / "micropython"), str(PICO_HARNESS), str(bundle), state, "boot",
                              json.dumps({"rtc": "running" if rtc else "none", "release": True})],
                             check=True, capture_output=True, text=True)
    ready = [json.loads(line) for line in out.stdout.splitlines() if '"step": "ready"' in line][0]
    return len(ready["files"]) + 1, len(set(ready["probed"]))


def boot_cost(bundle, tmp):
    """The least microseconds from main.py's imports to the loop (the run least
    disturbed by the rest of the machine), and the heap in use
    then: the boots after the first, on a flash of the bundle's own (the first
    boot makes the state folder and the unix board's id file, as a Pico never does)."""
    state = Path(tempfile.mkdtemp(dir=tmp)) / "state"
    runs = []
    for _ in range(BOOT_RUNS + 1):
        out = subprocess.run([str(BIN / "micropython"), str(ROOT / "bench" / "mp_boot.py"), str(bundle), str(state)],
                             check=True, capture_output=True, text=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    runs = runs[1:]
    return min(r["us"] for r in runs), statistics.median(r["heap"] for r in runs)


# The old drivers the board paths are measured against, from BASELINE_COMMIT,
# under names of their own so both can be imported side by side.
BASELINE_DRIVERS = {"ssd1306_full_frame.py": "firmware/boards/ssd1306.py",
                    "keypad_every_key.py": "firmware/boards/keypad.py"}


def board_paths(base):
    """Display, keypad and serial paths, baseline and now: {(kind, name, change): result}."""
    for name, path in BASELINE_DRIVERS.items():
        source = subprocess.run(["git", "-C", str(ROOT), "show", "%s:%s" % (BASELINE_COMMIT, path)],
                                check=True, capture_output=True).stdout
        (base / name).write_bytes(source)
    out = subprocess.run([str(BIN / "micropython"), str(ROOT / "bench" / "mp_board.py"), str(ROOT / "firmware"),
                          str(base), str(SERIAL_BYTES)],
                         input=b"ping\n" * (2 * SERIAL_BYTES // 5 + 1), check=True, capture_output=True)
    results = {}
    for line in out.stdout.decode().splitlines():
        r = json.loads(line)
        if "display" in r:
            results[("display", r["display"], r["change"])] = r
        elif "keypad" in r:
            results[("keypad", r["keypad"], None)] = r
        else:
            results[("serial", r["serial"], None)] = r
    return results


def pico_constants():
    """The scan period and key debounce the Pico board uses now (boards/pico.py)."""
    text = (ROOT / "firmware" / "boards" / "pico.py").read_text()
    return {name: int(re.search(r"^%s = (\d+)" % name, text, re.M).group(1)) for name in ("SCAN_MS", "KEY_DEBOUNCE_MS")}


def main():
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sizes = build(tmp)
        bundle = runnable(tmp / "release")
        us, heap = response_cost(bundle)
        kib = smallest_heap(bundle)
        boot_now = boot_cost(bundle, tmp)
        base = baseline_bundle(tmp)
        boot_base = boot_cost(base, tmp) if base else None
        paths = board_paths(tmp / "baseline") if base else None
        base18 = baseline_bundle(tmp, ISSUE18_COMMIT, "issue18")
        boot18 = None
        if base18:
            boot18 = {"unix": (boot_cost(base18, tmp), boot_now),
                      "lfs": lfs_imports(as_flashed(base18, tmp / "flash18"), as_flashed(bundle, tmp / "flash"))}
            for rtc in (False, True):
                boot18[rtc] = (pico_boot(base18, tmp, rtc), pico_boot(bundle, tmp, rtc))
    debug_files, debug_bytes = sizes["debug"]
    files, size = sizes["release"]
    print("\nFirmware bundles (make firmware) and one response on the unix port")
    print("%-52s %14s" % ("what", "value"))
    rows = [
        ("release bundle, %d files (bytes)" % files, "%d" % size),
        ("debug bundle, %d files (bytes)" % debug_files, "%d" % debug_bytes),
        ("release / debug size", "%.2f" % (size / debug_bytes)),
        ("one response through UI + OCRA, unix port (us)", "%.0f" % us),
        ("heap allocated by one response, 64-bit unix (bytes)", "%d" % heap),
        ("smallest heap for boot + provision + response (KiB)", "%s" % kib),
    ]
    for name, value in rows:
        print("%-52s %14s" % (name, value))
    print("(64-bit unix objects are about twice their RP2040 size; the RP2040 has ~190 KiB free)")
    if paths is None:
        print("\nNot a git checkout: no baseline to measure the board's paths against")
    else:
        ratios = against_baseline(paths, boot_now, boot_base)
        chip_estimates(paths, ratios, boot_now, boot_base)
    if boot18:
        issue18_boot(boot18)
    battery_estimate()


def as_flashed(bundle, out):
    """A copy of a runnable bundle as `make flash` puts it on a Pico: without the unix
    port's board and the state its runs left (in littlefs every entry of a folder
    slows the lookups in it: the unix board alone cost about 0.1 ms of the boot's
    imports here)."""
    shutil.copytree(bundle, out, ignore=lambda folder, names: [n for n in names if n in ("unix.mpy", "state")])
    return out


def lfs_imports(*bundles):
    """The least microseconds for a Pico boot's imports from littlefs (bench/mp_boot_lfs.py),
    one per bundle: their runs take turns, so a burst of load elsewhere on the machine
    slows both alike rather than the one measured while it lasted."""
    runs = [[] for _ in bundles]
    for _ in range(BOOT_RUNS):
        for bundle, times in zip(bundles, runs):
            out = subprocess.run([str(BIN / "micropython"), str(ROOT / "bench" / "mp_boot_lfs.py"), str(bundle)]
                                 + BOOT_IMPORTS, check=True, capture_output=True, text=True)
            times.append(json.loads(out.stdout.strip().splitlines()[-1])["us"])
    return tuple(min(times) for times in runs)


def issue18_boot(boot18):
    """Boot -> ready against the firmware issue 18 measured on the chip (same run):
    what is loaded and asked before the token is ready, and the chip's figure
    less what that saves at the chip's measured per-file and scan costs."""
    m = MEASURED_18
    print("\nBoot -> ready, now against commit %s (issue 18's chip measurement), same run" % ISSUE18_COMMIT)
    print("%-56s %10s %10s %8s %8s" % ("what", "baseline", "now", "ratio", "target"))
    (base_us, base_heap), (now_us, now_heap) = boot18["unix"]
    print("%-56s %10.0f %10.0f %8.2f %8s" % ("unix port: imports, board, token, gc (us, fastest)",
                                             base_us, now_us, now_us / base_us, ""))
    lfs0, lfs1 = boot18["lfs"]
    print("%-56s %10.0f %10.0f %8.2f %8s" % ("unix port, littlefs: the boot's imports (us, fastest)",
                                             lfs0, lfs1, lfs1 / lfs0, ""))

    def row(name, value):
        print("%-56s %10d %10.0f %8.2f %8s %s" % (name, m["boot_ms"], value, value / m["boot_ms"],
                                                  "< %d" % TARGETS_18["boot_ms"],
                                                  "met" if value < TARGETS_18["boot_ms"] else "MISSED"))

    for rtc, label in ((False, "OLED alone"), (True, "OLED + DS3231")):
        (files0, asked0), (files1, asked1) = boot18[rtc]
        scan = m["scan_ms"] * (asked0 - asked1) / m["scan_addresses"]
        print("%-56s %10d %10d %8.2f %8s" % (".mpy files loaded before ready, %s" % label,
                                             files0, files1, files1 / files0, ""))
        print("%-56s %10d %10d %8.2f %8s" % ("I2C addresses asked at boot, %s" % label,
                                             asked0, asked1, asked1 / asked0, ""))
        row("chip estimate, 13 ms a file (ms), %s" % label,
            m["boot_ms"] - m["file_ms"] * (files0 - files1) - scan)
        if not rtc:
            row("chip estimate, imports as littlefs here (ms), %s" % label,
                m["boot_ms"] - m["import_ms"] * (1 - lfs1 / lfs0) - scan)
    print("How: 211 ms less the scan's %d ms in proportion to the addresses no longer asked, and either"
          " %d ms per file no longer loaded" % (m["scan_ms"], m["file_ms"]))
    print("  (the most a merge can save) or the %d ms of imports scaled by the unix port's littlefs ratio"
          " (a file's content still loads wherever it is);" % m["import_ms"])
    print("  the chip lies between; only a run on it can say where.")
    # Serial input: Board.serial_read is the per-byte loop issue 18 measured (the rp2 port's
    # stdin cannot say how many bytes wait, docs/firmware.md), so the chip's figure stands.
    # Beside it, what one readinto of a 64-byte USB packet would give from the same per-call
    # costs, were there a count: the poll and the read's call once a packet, the bytes in C.
    call = m["serial_us_per_byte"] - m["ipoll_us"]  # one readinto call, its byte included
    packet = (m["ipoll_us"] + call) / 64 + 1 + m["receive_us_per_byte"]  # ~1 us a byte in C (a guess)
    print("%-56s %10s %10s %8s %8s %s" % ("serial input, chip (KB/s): the same per-byte loop", "21", "21",
                                          "1.00", ">= 100", "MISSED"))
    print("%-56s %10s %10s %8s %8s" % ("  if stdin said what waits: one read a packet (KB/s)", "",
                                       "%.0f" % (1e3 / packet), "", ">= 100"))


def against_baseline(paths, boot_now, boot_base):
    """The table of this run's measurements, now against before issue 10."""
    print("\nThe Pico board's paths on the unix port, now against commit %s (same run)" % BASELINE_COMMIT)
    print("%-50s %12s %12s %8s" % ("what", "baseline", "now", "ratio"))
    rows = []
    if boot_base:
        rows += [("boot: imports, board, token, gc (us, fastest)", boot_base[0], boot_now[0]),
                 ("boot: heap in use afterwards (bytes)", boot_base[1], boot_now[1])]
    for change in ("ok-to-response", "power-to-pin", "one-digit"):
        old, new = paths[("display", "baseline", change)], paths[("display", "now", change)]
        rows += [("display %s: CPU (us)" % change, old["us"], new["us"]),
                 ("display %s: bytes on the I2C bus" % change, old["bytes"], new["bytes"])]
    old, new = paths[("keypad", "baseline", None)], paths[("keypad", "now", None)]
    rows.append(("keypad scan, nothing pressed: CPU (us)", old["us"], new["us"]))
    old, new = paths[("serial", "baseline", None)], paths[("serial", "now", None)]
    rows += [("serial input: us per byte (a pipe: syscalls)", old["us_per_byte"], new["us_per_byte"]),
             ("serial input: heap bytes allocated per byte", old["heap_per_byte"], new["heap_per_byte"])]
    ratios = {}
    for name, a, b in rows:
        ratios[name] = b / a if a else float("nan")
        print("%-50s %12.1f %12.1f %8.2f" % (name, a, b, ratios[name]))
    return ratios


def chip_estimates(paths, ratios, boot_now, boot_base):
    """Issue 10's measured figures, and what the changes above make of them. Bus
    time is counted exactly (bytes x 9 bits / clock); CPU time is the measured
    figure scaled by the unix port's ratio, which assumes the chip's costs scale
    like this machine's. Only a run on the chip can confirm these."""
    m = MEASURED
    now = pico_constants()

    def bus_ms(nbytes, hz):
        return nbytes * 9 / hz * 1000

    old_frame = paths[("display", "baseline", "ok-to-response")]["bytes"]
    old_draw_cpu = m["draw_ms"] - bus_ms(old_frame, 400e3)  # the measured 17.7 ms less its bus time

    def draw(change, hz):
        cpu = old_draw_cpu * ratios["display %s: CPU (us)" % change]
        return cpu + bus_ms(paths[("display", "now", change)]["bytes"], hz)

    draw_fast, draw_slow = draw("ok-to-response", 1e6), draw("ok-to-response", 400e3)
    saved_wait = (m["debounce_ms"] - now["KEY_DEBOUNCE_MS"], m["scan_ms"] - now["SCAN_MS"])
    lo = m["ok_to_response_ms"][0] - saved_wait[0] - (m["draw_ms"] - draw_fast)
    hi = m["ok_to_response_ms"][1] - saved_wait[0] - saved_wait[1] - (m["draw_ms"] - draw_fast)
    pin_draw = draw("power-to-pin", 1e6)
    pin = (max(pin_draw, m["power_to_pin_ms"][0] - (m["draw_ms"] - pin_draw)),
           m["power_to_pin_ms"][1] - saved_wait[1] - (m["draw_ms"] - pin_draw))
    rows = [
        ("OK key down -> response on the display (ms)", "%d-%d" % m["ok_to_response_ms"], "%.0f-%.0f" % (lo, hi),
         "< %d" % TARGETS["ok_to_response_ms"], hi < TARGETS["ok_to_response_ms"]),
        ("  of which OCRA (ms)", "%.1f" % m["ocra_ms"], "%.1f" % m["ocra_ms"], "", None),
        ("  of which drawing + I2C, OLED alone at 1 MHz (ms)", "%.1f" % m["draw_ms"], "%.1f" % draw_fast,
         "< %d" % TARGETS["draw_ms"], draw_fast < TARGETS["draw_ms"]),
        ("  the same with a DS3231 on the bus, 400 kHz (ms)", "%.1f" % m["draw_ms"], "%.1f" % draw_slow,
         "< %d" % TARGETS["draw_ms"], draw_slow < TARGETS["draw_ms"]),
        ("  of which debounce + scan period (ms)", "%d + %d" % (m["debounce_ms"], m["scan_ms"]),
         "%d + %d" % (now["KEY_DEBOUNCE_MS"], now["SCAN_MS"]), "", None),
        ("power key down -> PIN> (ms)", "%d-%d" % m["power_to_pin_ms"], "%.0f-%.0f" % pin,
         "< %d" % TARGETS["power_to_pin_ms"], pin[1] < TARGETS["power_to_pin_ms"]),
    ]
    if boot_base:
        # The boot frame (a clear at 400 kHz) is gone; the Python work scales like the unix port's.
        boot = (m["boot_ms"] - bus_ms(old_frame, 400e3)) * boot_now[0] / boot_base[0]
        heap = m["free_heap"] + (boot_base[1] - boot_now[1]) / 2  # 64-bit objects are about twice the size
        rows += [("power on -> token ready (ms)", "%d" % m["boot_ms"], "%.0f" % boot,
                  "< %d" % TARGETS["boot_ms"], boot < TARGETS["boot_ms"]),
                 ("free heap with the token running (bytes)", "%d" % m["free_heap"], "%.0f" % heap,
                  ">= %d" % TARGETS["free_heap"], heap >= TARGETS["free_heap"])]
    serial = m["serial_cycles_per_byte"] * ratios["serial input: us per byte (a pipe: syscalls)"]
    rows.append(("serial input (KB/s)", "%.0f" % (125e6 / m["serial_cycles_per_byte"] / 1000),
                 "> %.0f" % (125e6 / serial / 1000), ">= 100", None))
    print("\nA 125 MHz RP2040: measured in issue 10 (rp2040js, MicroPython v1.28.0), and estimated now")
    print("%-52s %10s %12s %8s %6s" % ("step", "measured", "estimate", "target", ""))
    for name, before, after, target, met in rows:
        print("%-52s %10s %12s %8s %6s" % (name, before, after, target,
                                           "" if met is None else ("met" if met else "MISSED")))
    print("How: drawing = (17.7 ms less the old frame's %.1f ms on the bus) x the unix CPU ratio, plus the bytes now"
          " sent x 9 bits at the bus clock;" % bus_ms(old_frame, 400e3))
    print("  key paths = the measured range less the shorter debounce and scan, and the shorter drawing;")
    print("  boot = (263 ms less the boot-time frame) x the unix boot ratio, as if all of it were Python work;")
    print("  heap = 196,784 B plus half the heap the unix port no longer uses after boot;")
    print("  serial: the unix ratio is dominated by a syscall per byte in both, so this is a floor, not an estimate.")


def battery_estimate():
    """Back-of-envelope battery life, with its assumptions printed beside it."""
    capacity = 1000  # mAh, two alkaline AAA in series at low drain (3 V, down to ~2 V)
    active_ma, active_s = 45, 30  # Pico running (~25 mA) + OLED lit (~20 mA), one login a day
    sleep_ma = (1.3, 2.0)  # Pico board in light sleep incl. regulator; OLED off (~10 uA)
    print("\nPaper estimate: battery life on two AAA cells, one login a day")
    print("%-52s %14s" % ("item", "mAh per day"))
    active = active_ma * active_s / 3600
    print("%-52s %14.2f" % ("on: %d mA for %d s" % (active_ma, active_s), active))
    for ma in sleep_ma:
        print("%-52s %14.1f" % ("light sleep: %.1f mA for 24 h" % ma, ma * 24))
    days = [capacity / (active + ma * 24) for ma in sleep_ma]
    print("%-52s %14s" % ("days on %d mAh (sleep dominates)" % capacity, "%.0f-%.0f" % (days[1], days[0])))
    print("%-52s %14s" % ("with the holder's switch off between logins", "%.0f" % (capacity / active)))


if __name__ == "__main__":
    main()
