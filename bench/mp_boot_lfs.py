# MicroPython side of bench_firmware.py: the imports of a Pico boot from a littlefs
# filesystem laid out as the rp2 port's (4 KiB blocks, 256-byte pages, mounted as
# the current folder with '' first on sys.path), on a RAM block device, so each
# import pays littlefs's path lookups and reads as on the chip's flash.
#
#   micropython bench/mp_boot_lfs.py BUNDLE_DIR MODULE...
#
# Copies the bundle in, then imports MODULE... in order (as main.py, app and the
# board do) and prints {"us": ..., "files": ...}: microseconds for the imports.
import sys
import os
import json
import time
import vfs

BLOCK = 4096


class RAMBlockDev:
    def __init__(self, blocks):
        self.data = bytearray(BLOCK * blocks)
        self.view = memoryview(self.data)
        self.blocks = blocks

    def readblocks(self, n, buf, offset=0):
        start = n * BLOCK + offset
        buf[:] = self.view[start:start + len(buf)]

    def writeblocks(self, n, buf, offset=None):
        if offset is None:  # a whole block: erase first
            self.ioctl(6, n)
            offset = 0
        start = n * BLOCK + offset
        self.view[start:start + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:
            return self.blocks
        if op == 5:
            return BLOCK
        if op == 6:
            self.view[arg * BLOCK:(arg + 1) * BLOCK] = b"\xff" * BLOCK
            return 0
        return None


def copy(src, dst):
    for name in os.listdir(src):
        s, d = src + "/" + name, dst + "/" + name
        if os.stat(s)[0] & 0x4000:
            try:
                os.mkdir(d)
            except OSError:
                pass  # already there
            copy(s, d)
        else:
            with open(s, "rb") as f:
                data = f.read()
            with open(d, "wb") as f:
                f.write(data)


bundle = sys.argv[1]
dev = RAMBlockDev(256)  # 1 MiB, as a Pico's filesystem
vfs.VfsLfs2.mkfs(dev, progsize=256)
vfs.mount(vfs.VfsLfs2(dev, progsize=256), "/flash")
copy(bundle, "/flash")
os.chdir("/flash")
sys.path[:] = ["", ".frozen", "/lib"]  # the rp2 port's
import gc

gc.collect()  # the copy's garbage: no collection inside the timed imports
t0 = time.ticks_us()
for name in sys.argv[2:]:
    __import__(name)
us = time.ticks_diff(time.ticks_us(), t0)
files = sorted(m.__file__ for m in sys.modules.values() if getattr(m, "__file__", "").endswith(".mpy"))
print(json.dumps({"us": us, "files": len(files)}))
