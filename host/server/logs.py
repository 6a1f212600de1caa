"""The access log's handler: one line per request, written once per turn of the event
loop. A write to stderr per request (a system call, and a flush) cost about as much
as all the rest of answering GET /healthz; lines of requests that end in the same
turn now go out in one write, before the loop next waits for the network.

Records from a thread without a running event loop are written at once; flush() (at
exit, by logging.shutdown) writes whatever is waiting."""

import asyncio
import logging


class LoopBatchedStreamHandler(logging.StreamHandler):
    def __init__(self, stream=None):
        super().__init__(stream)
        self.waiting = []

    def emit(self, record):  # called with self.lock held (Handler.handle)
        try:
            line = self.format(record)
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
            if loop is None:
                self.stream.write(line + self.terminator)
                self.flush()
                return
            self.waiting.append(line)
            if len(self.waiting) == 1:
                loop.call_soon(self.flush)
        except Exception:  # noqa: BLE001 - logging's own convention: report, never raise
            self.handleError(record)

    def flush(self):
        self.acquire()
        try:
            if self.waiting:
                lines, self.waiting = self.waiting, []
                self.stream.write(self.terminator.join(lines) + self.terminator)
            super().flush()
        finally:
            self.release()
