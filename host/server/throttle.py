"""The HTTP side of throttling: the client address and user name of a request,
counted by the library (host/verifier/throttle.py); a refusal is answered 429
with Retry-After and counted in /metrics (dsc_throttled).

The client address is the socket peer or, behind a reverse proxy named with
--trusted-proxy, the address that proxy saw (app.Edge, proxies.py);
on the privacyIDEA routes, from a plugin host named with --trusted-plugin, the
end user's address it passes in `client` (privacyidea.params)."""

from host.server.errors import error
from host.verifier import throttle


def client_address(request):
    client = request.client
    return client.host if client else None


def wait(request, username=None):
    """None if this attempt is allowed, else the seconds to wait (counted in /metrics)."""
    seconds = throttle.attempt(request.app.state.verifier, client_address(request), username)
    if seconds is not None:
        request.app.state.metrics.throttled.inc()
    return seconds


def message(seconds):
    return "too many attempts; try again in %d seconds" % seconds


def refused(seconds):
    """The native API's 429."""
    return error(429, "throttled", message(seconds), headers={"Retry-After": str(seconds)})
