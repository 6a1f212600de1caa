# Maintenance mode (boards/pico_maintenance.py) on the unix port, with fake `rp2`,
# `vfs`, `machine` and `micropython.kbd_intr` that record what is done to the flash.
# Prints one JSON line: the calls, in order.
#
#   micropython tests/firmware/micropython/maintenance.py FIRMWARE_DIR BLOCK_COUNT
import sys
import json

sys.path.insert(0, sys.argv[1])
BLOCKS = int(sys.argv[2])
BLOCK_SIZE = 4096
CALLS = []  # [name, argument] in the order they happened


class Flash:
    """rp2.Flash(): the filesystem's part of the flash, as a block device."""

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return BLOCKS
        if op == 5:  # block size
            return BLOCK_SIZE
        if op == 6:  # erase block `arg`
            if not 0 <= arg < BLOCKS:
                raise OSError(22)
            CALLS.append(["erase", arg])
        return 0

    def readblocks(self, block, buf, offset=0):
        CALLS.append(["read", block])
        for i in range(len(buf)):
            buf[i] = 0xFF

    def writeblocks(self, block, buf, offset=0):
        CALLS.append(["write", block])


class Module:
    pass


rp2 = Module()
rp2.Flash = Flash


class VfsLfs2:
    def __init__(self, bdev, **kw):
        CALLS.append(["VfsLfs2", kw])

    @staticmethod
    def mkfs(bdev, **kw):
        CALLS.append(["mkfs", kw])


vfs = Module()
vfs.VfsLfs2 = VfsLfs2
vfs.umount = lambda path: CALLS.append(["umount", path])
vfs.mount = lambda fs, path, **kw: CALLS.append(["mount", path])

import micropython as _real_micropython  # noqa: E402

micropython = Module()
for _name in dir(_real_micropython):
    if not _name.startswith("__"):
        setattr(micropython, _name, getattr(_real_micropython, _name))
micropython.kbd_intr = lambda chr: CALLS.append(["kbd_intr", chr])

machine = Module()  # in case maintenance resets the board: recorded, not done
machine.reset = lambda: CALLS.append(["reset", None])
machine.soft_reset = lambda: CALLS.append(["soft_reset", None])

sys.modules["machine"] = machine
sys.modules["rp2"] = rp2
sys.modules["vfs"] = vfs
sys.modules["micropython"] = micropython

from boards.pico_maintenance import enter_maintenance  # noqa: E402

enter_maintenance()
print(json.dumps({"calls": CALLS}))
