"""Files that hold secrets: created new, readable by their owner only."""

import os

from dsc import config as token_rules


def create_private(path, binary=False):
    """Open a new file with mode 0600 for writing; FileExistsError if there is one
    already (a key or card file is never overwritten), OSError otherwise."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(fd, "wb" if binary else "w")


def parse_hex_key(text):
    """A token key written as hex (surrounding white space allowed): the token's
    own rule (dsc.config.key_from_hex); ValueError (never echoing it) otherwise."""
    return token_rules.key_from_hex(text.strip())


def read_key_file(path):
    """The key in a key file (as dsc provision --key-out writes it); ValueError, one line."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise ValueError("cannot read key file %s: %s" % (path, e.strerror))
    try:
        return parse_hex_key(text)
    except ValueError as e:
        raise ValueError("key file %s: %s" % (path, e))


def read_passphrase(path):
    """A seed file's passphrase from a file: at least 8 characters; ValueError, one line."""
    try:
        with open(path) as f:
            text = f.read().rstrip("\r\n")
    except OSError as e:
        raise ValueError("cannot read passphrase file %s: %s" % (path, e.strerror))
    if len(text) < 8:
        raise ValueError("the PSKC passphrase must have at least 8 characters")
    return text
