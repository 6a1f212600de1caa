"""Open the token's serial link: a device path or any pyserial URL (socket://, loop://, rfc2217://).

A plain `socket://HOST:PORT` is opened here directly: pyserial's handler sleeps
0.3 s on every close "in case of quick reconnects" and imports logging, which
together made `dsc info` take 0.4 s. Everything else goes through pyserial's
serial_for_url.
"""


class HostError(Exception):
    """An error to report to the user as one line (no traceback)."""


def open_port(port, timeout=5.0):
    if port.startswith("socket://") and "?" not in port:
        return SocketPort(port, timeout)
    import serial  # pyserial; imported here so `dsc ocra` and `dsc sim` start fast

    try:
        return serial.serial_for_url(port, baudrate=115200, timeout=timeout, write_timeout=timeout)
    except ValueError as e:
        raise HostError("cannot open %s: %s" % (port, e))
    except serial.SerialException as e:
        reason = str(e)
        if "No such file" in reason or "could not open port" in reason:
            reason = "no such port"
        elif "Connection refused" in reason or "Errno 111" in reason:
            reason = REFUSED
        raise HostError("cannot open %s: %s" % (port, reason))


def close_port(port):
    port.close()


REFUSED = "connection refused (is the token or `dsc sim` running?)"


class SocketPort:
    """`socket://HOST:PORT` with the part of pyserial's interface the tools use:
    write(), read_until(), reset_input_buffer(), the `timeout` attribute
    (seconds, None waits forever) and close()."""

    def __init__(self, url, timeout):
        import socket

        host, sep, number = url[len("socket://"):].rpartition(":")
        if not sep or not number.isdigit() or not number.isascii() or int(number) > 65535:
            raise HostError("cannot open %s: a socket URL is socket://HOST:PORT" % url)
        host = host.strip("[]") or "127.0.0.1"
        try:
            self._sock = socket.create_connection((host, int(number)), timeout=timeout)
        except ConnectionRefusedError:
            raise HostError("cannot open %s: %s" % (url, REFUSED))
        except OSError as e:
            raise HostError("cannot open %s: %s" % (url, e.strerror or e))
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._timed_out = socket.timeout  # TimeoutError from Python 3.10 on
        self._buf = b""
        self.timeout = timeout
        self.write_timeout = timeout

    def write(self, data):
        self._sock.settimeout(self.write_timeout)
        self._sock.sendall(data)
        return len(data)

    def read_until(self, expected=b"\n"):
        """Bytes up to and including `expected`, or what came before the timeout."""
        import time

        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while expected not in self._buf:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            self._sock.settimeout(left)
            try:
                chunk = self._sock.recv(4096)
            except self._timed_out:
                break
            if not chunk:
                raise ConnectionError("the token closed the link")
            self._buf += chunk
        cut = self._buf.find(expected)
        end = len(self._buf) if cut < 0 else cut + len(expected)
        data, self._buf = self._buf[:end], self._buf[end:]
        return data

    def reset_input_buffer(self):
        """Drop what was received and not read yet."""
        self._buf = b""
        self._sock.settimeout(0)
        try:
            while self._sock.recv(4096):
                pass
        except (BlockingIOError, self._timed_out):
            pass

    def close(self):
        try:
            self._sock.close()
        except OSError:
            pass
