"""The token's serial link as something pyserial opens: a TCP socket or a pty.

Like a USB port, it serves one client at a time and takes the next as soon as the
previous one disconnects (a re-plug). A socket link tells the token when a new
client connects, so a line the previous client left unfinished is dropped; a pty
cannot tell (the client's first bytes make such a line harmless, see host/client.py).
"""

import os
import socket
import threading
import tty


class SocketLink:
    """`socket://HOST:PORT`; port 0 picks a free one (see .url)."""

    def __init__(self, runtime, host="127.0.0.1", port=7000):
        self.runtime = runtime
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind((host, port))
        self._server.listen(4)
        host, port = self._server.getsockname()[:2]
        self.url = "socket://%s:%d" % (host, port)
        self._closed = False
        threading.Thread(target=self._serve, name="link", daemon=True).start()

    def _serve(self):
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return  # closed
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.runtime.connect()  # a re-plug: the token drops what the last client half-sent
            self.runtime.on_serial = lambda data, c=client: _send_quietly(c, data)
            try:
                while True:
                    data = client.recv(4096)
                    if not data:
                        break
                    self.runtime.serial_in(data)
            except OSError:
                pass  # the client went away mid-read
            finally:
                self.runtime.on_serial = None
                client.close()

    def close(self):
        self._closed = True
        self._server.close()


def _send_quietly(client, data):
    try:
        client.sendall(data)
    except OSError:
        pass  # disconnected: like a USB port with nobody listening, output is dropped


class PtyLink:
    """A pseudo-terminal; `.url` is the path of its device (e.g. /dev/pts/5)."""

    def __init__(self, runtime):
        self.runtime = runtime
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line editing: a plain byte pipe like a USB CDC port
        self.url = os.ttyname(self._slave)
        runtime.on_serial = self._write
        threading.Thread(target=self._serve, name="link", daemon=True).start()

    def _write(self, data):
        try:
            os.write(self._master, data)
        except OSError:
            pass

    def _serve(self):
        while True:
            try:
                data = os.read(self._master, 4096)
            except OSError:
                return
            if not data:
                return
            self.runtime.serial_in(data)

    def close(self):
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass


def open_link(spec, runtime):
    """`socket://HOST:PORT` or `pty`."""
    if spec == "pty":
        if not hasattr(os, "openpty"):
            raise ValueError("this system has no ptys; use --link socket://127.0.0.1:PORT")
        return PtyLink(runtime)
    if spec.startswith("socket://"):
        host, sep, port = spec[len("socket://"):].rpartition(":")
        if not sep or not port.isdigit() or int(port) > 65535:
            raise ValueError("--link must be socket://HOST:PORT or pty")
        return SocketLink(runtime, host or "127.0.0.1", int(port))
    raise ValueError("--link must be socket://HOST:PORT or pty")
