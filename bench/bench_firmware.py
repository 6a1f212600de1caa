"""The Pico firmware: bundle sizes, heap and time for one response on the unix
port, and paper estimates for a 125 MHz RP2040 on two AAA cells.

    python bench/bench_firmware.py        (or bench/run.py for every bench)
"""

import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ITERATIONS = 300


def build(out):
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_firmware.py"), "build", "--out", str(out)],
                   check=True, capture_output=True)
    sizes = {}
    for name in ("debug", "release"):
        files = [p for p in (out / name).rglob("*") if p.is_file()]
        sizes[name] = (len(files), sum(p.stat().st_size for p in files))
    return sizes


def runnable(bundle):
    subprocess.run([str(BIN / "mpy-cross"), "-O1", "boards/unix.py", "-o", str(bundle / "boards" / "unix.mpy")],
                   cwd=ROOT / "firmware", check=True)
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


def main():
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        sizes = build(out)
        bundle = runnable(out / "release")
        us, heap = response_cost(bundle)
        kib = smallest_heap(bundle)
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
    paper_estimates(us)


def paper_estimates(unix_us):
    """Back-of-envelope figures with their assumptions printed beside them."""
    slowdown = (40, 80)  # MicroPython on a 125 MHz Cortex-M0+ vs this x86 core, bytecode-bound
    python_ms = [unix_us * s / 1000 for s in slowdown]
    sha_blocks, cycles_per_block = 7, 4000  # HMAC-SHA256 over ~180 B + SHA-1 of the PIN, C on M0+
    sha_ms = sha_blocks * cycles_per_block / 125e6 * 1000
    i2c_ms = (128 * 32 / 8 + 8) * 9 / 400e3 * 1000  # one 512-byte frame at 400 kHz, 9 bits a byte
    draw_ms = (3, 8)  # framebuf text scaled 2x in Python
    total = [p + sha_ms + i2c_ms + d for p, d in zip(python_ms, draw_ms)]
    print("\nPaper estimate: OK to response on a 125 MHz RP2040")
    print("%-52s %14s" % ("step", "ms"))
    print("%-52s %14s" % ("Python work (unix cost x %d-%d)" % slowdown, "%.1f-%.1f" % tuple(python_ms)))
    print("%-52s %14s" % ("hashing in C (%d SHA blocks x %d cycles)" % (sha_blocks, cycles_per_block), "%.2f" % sha_ms))
    print("%-52s %14s" % ("drawing the two lines (framebuf, 2x scale)", "%d-%d" % draw_ms))
    print("%-52s %14s" % ("sending the frame over I2C at 400 kHz", "%.1f" % i2c_ms))
    print("%-52s %14s" % ("total: well under the eye's 100 ms", "%.0f-%.0f" % tuple(total)))

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
