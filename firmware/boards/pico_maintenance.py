"""Maintenance mode on a Pico (app.py enters it when boards.pico.maintenance_requested()):
a module of its own, so that no boot loads it."""


def enter_maintenance():
    """Erase the whole filesystem, block by block, then open the REPL for reflashing.

    Removing the key file is not enough: littlefs leaves a deleted file's blocks
    (and older copies from earlier saves) readable with rp2.Flash().readblocks().
    So every block is erased before a new empty filesystem is made: whoever holds
    the token gets a REPL on an empty board, never the key. The firmware must be
    installed again afterwards (make flash)."""
    import micropython
    import rp2
    try:
        import vfs  # MicroPython 1.23 and later
    except ImportError:
        import os as vfs  # type: ignore[no-redef]  # 1.22 keeps them in os

    flash = rp2.Flash()
    vfs.umount("/")
    for block in range(flash.ioctl(4, 0) or 0):  # 4: block count
        flash.ioctl(6, block)  # 6: erase one block
    # The rp2 flash programs in 256-byte pages: without progsize=256 (what the
    # port's own _boot.py passes) littlefs writes misaligned pages and runs out
    # of space (OSError 28) after a few small files.
    vfs.VfsLfs2.mkfs(flash, progsize=256)
    vfs.mount(vfs.VfsLfs2(flash, progsize=256), "/")  # type: ignore[abstract]  # the stubs mark it abstract
    micropython.kbd_intr(3)  # Ctrl-C back on, so mpremote can reach the REPL
    print("OpenDSC maintenance: flash erased (key and firmware); install the firmware again")
