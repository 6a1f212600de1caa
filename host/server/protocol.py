"""uvicorn's h11 connection, with the limits a login service exposed to the
internet needs (uvicorn has the header size limit but answers it in plain text,
and waits forever for a request's headers):

- request line and headers together at most MAX_HEADER_BYTES, else 400 in the
  JSON error shape and the connection is closed;
- a connection must deliver each request's line and headers within the header
  timeout, counted from the connection or the previous response (uvicorn's
  keep-alive timer stops at the first byte, so a slow-headers client could
  otherwise hold a connection open for ever).
The body has its own limits in app.RequestLimits (size and time). The times come
from settings.py (DSC_HEADER_TIMEOUT, DSC_BODY_TIMEOUT)."""

import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from host.server.settings import Settings

MAX_HEADER_BYTES = 16 * 1024


class Protocol(H11Protocol):
    header_timeout = None  # seconds, from the settings at the first connection
    head_timer = None

    def connection_made(self, transport):
        if Protocol.header_timeout is None:
            Protocol.header_timeout = Settings.from_env().header_timeout
        super().connection_made(transport)
        self._arm_head_timer()

    def on_response_complete(self):
        super().on_response_complete()
        self._arm_head_timer()  # the next request's head has the same time

    def connection_lost(self, exc):
        if self.head_timer is not None:
            self.head_timer.cancel()
        super().connection_lost(exc)

    def _arm_head_timer(self):
        if self.head_timer is not None:
            self.head_timer.cancel()
        self.head_timer = self.loop.call_later(Protocol.header_timeout, self._head_timeout)

    def _head_timeout(self):
        # IDLE: h11 still waits for (the rest of) a request line and headers.
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()

    def send_400_response(self, msg):
        body = json.dumps({"error": "bad-request", "message": "malformed request, or its headers are over %d bytes"
                           % MAX_HEADER_BYTES}).encode()
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"), h11.Data(data=body),
                      h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()
