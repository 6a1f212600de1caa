"""Percent-quoting of protocol values (docs/protocol.md): the one implementation,
used by the token, the simulator and the host tools."""

_HEX = "0123456789abcdefABCDEF"


def quote(value):
    """Percent-encode the bytes a protocol value cannot carry as they are."""
    out = []
    for ch in value:
        o = ord(ch)
        if ch in "% =" or o < 0x21 or o > 0x7E:
            for b in ch.encode():
                out.append("%%%02X" % b)
        else:
            out.append(ch)
    return "".join(out)


def unquote(value):
    """Decode %XX escapes: ValueError for a malformed escape, UnicodeError when
    the bytes are not UTF-8 text."""
    if "%" not in value:
        return value
    raw = bytearray()
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if ch == "%":
            pair = value[i + 1:i + 3]
            if len(pair) != 2 or pair[0] not in _HEX or pair[1] not in _HEX:
                raise ValueError("bad %XX escape")
            raw.append(int(pair, 16))
            i += 3
        else:
            raw.append(ord(ch))
            i += 1
    return bytes(raw).decode()
