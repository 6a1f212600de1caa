"""The ASGI app: create_app(settings) builds it; `dsc serve` runs it on uvicorn.

Four small ASGI layers wrap the routes, outermost first:
- the client address: behind a trusted reverse proxy, the scope's client becomes
  the address from X-Forwarded-For (proxies.py), for the log and the throttle,
  and its scheme the one from X-Forwarded-Proto (so cookies are Secure);
- the access log: the client address, method, the route's template (never the
  raw path or query string, which a client might fill with a secret), status,
  time, and for a trusted privacyIDEA plugin's request "via" the plugin host
  (privacyidea.py reads the end user's address from its `client` parameter);
- the catch-all: an unexpected exception is logged by its type only and answered
  500 in the JSON error shape (no traceback leaves the process);
- the request limits: headers over protocol.MAX_HEADER_BYTES get 431, a body over
  settings.max_body 413 before it is read whole, and one that takes longer than
  settings.body_timeout 408;
- cross-origin access to OpenDSC Mobile's API only (/mobile/api/), so one app
  holds accounts on several servers. It sends no cookie and each request that
  matters is signed by a device key, so any origin may call it.
"""

import asyncio
import json
import logging
import time

from fastapi import FastAPI

from host.server import (errors, health, login, metrics as metrics_module, mobile, operator, privacyidea, protocol, proxies,
                         push)
from host import mobile as mobile_app, portal
from host.server.settings import Settings

access_log = logging.getLogger("dsc.access")
log = logging.getLogger("dsc.server")


def create_app(settings=None, verifier=None):
    """The app for `settings` (default: from the environment). The verifier is
    opened now, so a bad database, key ring or policy file fails here, in one line."""
    settings = settings or Settings.from_env()
    app = FastAPI(title="OpenDSC login service", version="1", docs_url=None, redoc_url=None,
                  description="The native login API (docs/api.md).")
    app.state.settings = settings
    app.state.trusted_proxies = proxies.parse(settings.trusted_proxies)
    app.state.trusted_plugins = proxies.parse(settings.trusted_plugins, "--trusted-plugin")
    app.state.verifier = verifier or settings.open_verifier()
    app.state.metrics = metrics_module.Metrics()
    push.install(app, app.state.verifier, settings)  # a challenge for a phone wakes it (docs/mobile.md, Web Push)
    errors.install(app)
    app.include_router(health.router)
    app.include_router(metrics_module.router)
    app.include_router(login.router)
    app.include_router(operator.router)  # behind API keys (dsc apikey create)
    app.include_router(privacyidea.router)  # privacyIDEA-compatible /validate and /auth (docs/api.md)
    app.include_router(mobile.router)  # OpenDSC Mobile's API (docs/mobile.md)
    portal.install(app)  # the web pages: /login, /, /static
    mobile_app.install(app)  # the OpenDSC Mobile app under /mobile/ (its API is the router above)
    app.add_middleware(MobileApiCors)
    app.add_middleware(RequestLimits, limit=settings.max_body, timeout=settings.body_timeout)
    app.add_middleware(CatchAll)
    app.add_middleware(AccessLog, metrics=app.state.metrics)
    app.add_middleware(ClientAddress, networks=app.state.trusted_proxies)
    return app


def from_env():
    """The factory uvicorn's workers call (`dsc serve` puts the settings in the environment)."""
    return create_app(Settings.from_env())


async def _send_json(send, status, body, headers=()):
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": data})


class RequestLimits:
    def __init__(self, app, limit, timeout):
        self.app = app
        self.limit = limit
        self.timeout = timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        # h11 bounds a head that arrives in pieces; one that arrives whole is measured here.
        head = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") + sum(
            len(k) + len(v) + 4 for k, v in scope.get("headers") or ())
        if head > protocol.MAX_HEADER_BYTES:
            return await _send_json(send, 431, {"error": "headers-too-large",
                                                "message": "the headers are over %d bytes" % protocol.MAX_HEADER_BYTES},
                                    [(b"connection", b"close")])
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        too_large = {"error": "too-large", "message": "the body is over %d bytes" % self.limit}
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                return await _send_json(send, 400, {"error": "bad-request", "message": "bad Content-Length"})
            if size > self.limit:
                return await _send_json(send, 413, too_large, [(b"connection", b"close")])
        # Read the body (bounded) before the app sees it: a chunked body has no Content-Length.
        chunks, size = [], 0
        deadline = asyncio.get_running_loop().time() + self.timeout
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - asyncio.get_running_loop().time()))
            except asyncio.TimeoutError:
                return await _send_json(send, 408, {"error": "timeout", "message": "the body took too long to arrive"},
                                        [(b"connection", b"close")])
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                return await _send_json(send, 413, too_large, [(b"connection", b"close")])
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


class MobileApiCors:
    PREFIX = "/mobile/api/"
    ALLOW = [(b"access-control-allow-origin", b"*")]
    PREFLIGHT = ALLOW + [(b"access-control-allow-methods", b"GET, POST"),
                         (b"access-control-allow-headers", b"content-type"), (b"access-control-max-age", b"600")]

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope.get("path", "").startswith(self.PREFIX):
            return await self.app(scope, receive, send)
        if scope.get("method") == "OPTIONS":
            await send({"type": "http.response.start", "status": 204, "headers": self.PREFLIGHT})
            await send({"type": "http.response.body", "body": b""})
            return None

        async def allowed(message):
            if message["type"] == "http.response.start":
                message = dict(message, headers=list(message.get("headers") or []) + self.ALLOW)
            await send(message)

        return await self.app(scope, receive, allowed)


class ClientAddress:
    def __init__(self, app, networks):
        self.app = app
        self.networks = networks

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and self.networks and scope.get("client"):
            peer, port = scope["client"]
            forwarded = [v.decode("latin-1") for k, v in scope.get("headers") or () if k == b"x-forwarded-for"]
            client = proxies.client_address(peer, forwarded, self.networks)
            if client != peer:
                scope = dict(scope, client=(client, 0))
            scheme = proxies.scheme(peer, [v.decode("latin-1") for k, v in scope.get("headers") or ()
                                           if k == b"x-forwarded-proto"], self.networks)
            if scheme:  # TLS ended at the proxy: the portal's cookies must still be Secure
                scope = dict(scope, scheme=scheme)
        return await self.app(scope, receive, send)


class CatchAll:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracked(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as e:  # noqa: BLE001 - the last line of defence: type only, never the message
            log.error("unexpected %s answering %s", type(e).__name__, scope.get("method"))
            if not started:
                await _send_json(send, 500, {"error": "internal", "message": "internal error"})


class AccessLog:
    def __init__(self, app, metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        begun = time.perf_counter()
        status = 0

        async def tracked(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        finally:
            route = _route(scope)
            elapsed = time.perf_counter() - begun
            self.metrics.latency.labels(route).observe(elapsed)
            client = scope.get("client") or ("-", 0)
            # A trusted plugin's request is logged under the end user's address, then the plugin host's.
            via = " via %s" % scope["dsc.plugin_host"] if "dsc.plugin_host" in scope else ""
            access_log.info('%s "%s %s" %d %.1fms%s', client[0], scope.get("method", "-"), route, status,
                            elapsed * 1000, via)


def _route(scope):
    """The matched route's path template (the router records it in the scope), or
    "(unknown)": never the raw path or query string."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else "(unknown)"
