"""Files that hold secrets: created new, readable by their owner only."""

import os


def create_private(path, binary=False):
    """Open a new file with mode 0600 for writing; FileExistsError if there is one
    already (a key or card file is never overwritten), OSError otherwise."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(fd, "wb" if binary else "w")
