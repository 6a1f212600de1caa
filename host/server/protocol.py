"""uvicorn's httptools connection (llhttp, C), with the limits a login service
exposed to the internet needs (uvicorn's httptools side has no header size limit
at all, and waits forever for a request's headers):

- request line and headers together at most MAX_HEADER_BYTES, else 400 in the
  JSON error shape and the connection is closed. The bytes of a head are counted
  as they arrive, before the head is complete, so a head sent in pieces is cut off
  at the limit (plus at most one read), not held in memory until it ends;
- a connection must deliver each request's line and headers within the header
  timeout, counted from the connection or the previous response (uvicorn's
  keep-alive timer stops at the first byte, so a slow-headers client could
  otherwise hold a connection open for ever).
The body has its own limits in app.Edge (size and time). The times come
from settings.py (DSC_HEADER_TIMEOUT, DSC_BODY_TIMEOUT).

httptools rather than h11: parsing in C took the server's own cost of a request
from about 0.6 ms to a fraction of that (docs/performance.md, Server stack)."""

import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from host.server.settings import Settings

MAX_HEADER_BYTES = 16 * 1024


class HeadTooLarge(Exception):
    """Raised from a parser callback: httptools turns it into an HttpParserError."""


class Protocol(HttpToolsProtocol):
    header_timeout = None  # seconds, from the settings at the first connection
    head_timer = None
    head_bytes = 0  # the current head's line and headers as parsed so far
    head_reads = 0  # the bytes of the reads that ended inside the current head
    in_head = True  # between requests or inside a head: waiting for a complete head
    ends = 0  # heads and messages ended on this connection

    def connection_made(self, transport):
        if Protocol.header_timeout is None:
            Protocol.header_timeout = Settings.from_env().header_timeout
        super().connection_made(transport)
        self._arm_head_timer()

    def data_received(self, data):
        ends = self.ends
        super().data_received(data)
        # No head or message ended in this read and a head is still awaited: every byte
        # of it belongs to that head (one that ended here was measured by the callbacks).
        if self.ends == ends and self.in_head and self.parser is not None and not self.transport.is_closing():
            self.head_reads += len(data)
            if self.head_reads > MAX_HEADER_BYTES:
                self.send_400_response("head too large")

    def on_message_begin(self):
        self.in_head, self.head_bytes = True, 0
        super().on_message_begin()

    def on_url(self, url):
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name, value):
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self):
        self.in_head = False
        self.ends += 1
        super().on_headers_complete()

    def on_message_complete(self):
        super().on_message_complete()
        self.ends += 1
        self.in_head, self.head_bytes, self.head_reads = True, 0, 0  # the next request's head, if any, starts now

    def _count(self, size):
        self.head_bytes += size
        if self.head_bytes > MAX_HEADER_BYTES:
            raise HeadTooLarge()

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
        # No request in progress (none yet, or the last one answered) and its head not complete.
        idle = self.cycle is None or self.cycle.response_complete
        if idle and self.in_head and not self.pipeline and not self.transport.is_closing():
            self.transport.close()

    def send_400_response(self, msg):
        body = json.dumps({"error": "bad-request", "message": "malformed request, or its headers are over %d bytes"
                           % MAX_HEADER_BYTES}).encode()
        self.transport.write(b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nconnection: close\r\n"
                             b"content-length: %d\r\n\r\n%s" % (len(body), body))
        self.transport.close()

