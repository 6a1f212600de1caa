"""The ASGI app: create_app(settings) builds it; `dsc serve` runs it on uvicorn.

One ASGI layer (Edge) wraps the routes and does, in this order:
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
Inside it, the routes every login takes (Service.hot_routes) are called directly,
past FastAPI's own layers; every other request goes through FastAPI as before.
"""

import asyncio
import json
import logging
import time

from fastapi import FastAPI, Request

from host.server import (errors, health, login, metrics as metrics_module, mobile, operator, privacyidea, protocol, proxies,
                         push, threads)
from host import mobile as mobile_app, portal
from host.oidc import routes as oidc
from host.server.settings import Settings

access_log = logging.getLogger("dsc.access")
log = logging.getLogger("dsc.server")


def create_app(settings=None, verifier=None):
    """The app for `settings` (default: from the environment). The verifier is
    opened now, so a bad database, key ring or policy file fails here, in one line."""
    settings = settings or Settings.from_env()
    app = Service(title="OpenDSC login service", version="1", docs_url=None, redoc_url=None,
                  description="The native login API (docs/api.md).")
    app.state.settings = settings
    app.state.trusted_proxies = proxies.parse(settings.trusted_proxies)
    app.state.trusted_plugins = proxies.parse(settings.trusted_plugins, "--trusted-plugin")
    app.state.verifier = verifier or settings.open_verifier()
    app.state.metrics = metrics_module.Metrics()
    app.state.transactions = threads.executor_for(app.state.verifier)
    push.install(app, app.state.verifier, settings)  # a challenge for a phone wakes it (docs/mobile.md, Web Push)
    errors.install(app)
    app.include_router(health.router)
    app.include_router(metrics_module.router)
    app.include_router(login.router)
    app.include_router(operator.router)  # behind API keys (dsc apikey create)
    app.include_router(privacyidea.router)  # privacyIDEA-compatible /validate and /auth (docs/api.md)
    app.include_router(mobile.router)  # OpenDSC Mobile's API (docs/mobile.md)
    portal.install(app)  # the web pages: /login, /, /static
    oidc.install(app)  # the OpenID Connect provider: /.well-known/openid-configuration, /oidc/* (docs/oidc.md)
    mobile_app.install(app)  # the OpenDSC Mobile app under /mobile/ (its API is the router above)
    app.hot_routes = {("GET", "/healthz"): health.healthz_now, ("GET", "/validate/check"): privacyidea.validate_check,
                      ("POST", "/validate/check"): privacyidea.validate_check}
    return app


class Service(FastAPI):
    """FastAPI, with our layers outside its own: the routes every login takes
    (hot_routes) go from them straight to their endpoint, past FastAPI's and
    Starlette's layers and router, which cost more than the endpoint itself on
    /healthz (docs/performance.md, Server stack). They stay FastAPI routes too, so
    the OpenAPI schema describes them and other methods get FastAPI's 405."""

    hot_routes = {}  # (method, path) -> async endpoint(request) returning a Response

    def build_middleware_stack(self):
        return Edge(HotRoutes(super().build_middleware_stack(), self), self.state.settings, self.state.metrics,
                    self.state.trusted_proxies)


def _flat(routes):
    """Every route, those of included routers too (FastAPI keeps them as routers; ours have no prefix)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        yield from _flat(inner.routes) if inner is not None else (route,)


class HotRoutes:
    def __init__(self, app, service):
        self.app = app
        self.service = service
        self.routes = {}
        for route in _flat(service.routes):  # the FastAPI route: the access log names its template
            for method in getattr(route, "methods", None) or ():
                endpoint = service.hot_routes.get((method, route.path))
                if endpoint is not None:
                    self.routes[method, route.path] = (route, endpoint)
        missing = set(service.hot_routes) - set(self.routes)
        if missing:  # a hot route must also be a FastAPI route of the same path (schema, 405)
            raise RuntimeError("hot routes without a FastAPI route: %s" % sorted(missing))

    async def __call__(self, scope, receive, send):
        hot = self.routes.get((scope.get("method"), scope.get("path"))) if scope["type"] == "http" else None
        if hot is None:
            return await self.app(scope, receive, send)
        scope["app"], scope["route"] = self.service, hot[0]
        request = Request(scope, receive)
        try:
            response = await hot[1](request)
        except Exception as e:  # the app's handler for its kind (errors.install), as FastAPI's layers would call it
            handlers = self.service.exception_handlers
            handler = next((handlers[t] for t in type(e).__mro__ if t in handlers and t is not Exception), None)
            if handler is None:
                raise  # unexpected: Edge logs its type and answers 500
            response = handler(request, e)
        await response(scope, receive, send)


def from_env():
    """The factory uvicorn's workers call (`dsc serve` puts the settings in the environment)."""
    return create_app(Settings.from_env())


async def _send_json(send, status, body, headers=()):
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": data})


class Edge:
    """The layers of the module's docstring, in that order, as one ASGI callable:
    each separate layer cost an await and a wrapped `send` per request."""

    CORS_PREFIX = "/mobile/api/"
    ALLOW = [(b"access-control-allow-origin", b"*")]
    PREFLIGHT = ALLOW + [(b"access-control-allow-methods", b"GET, POST"),
                         (b"access-control-allow-headers", b"content-type"), (b"access-control-max-age", b"600")]

    def __init__(self, app, settings, metrics, networks):
        self.app = app
        self.limit = settings.max_body
        self.timeout = settings.body_timeout
        self.metrics = metrics
        self.networks = networks
        self.latency = {}  # route -> its histogram child (labels() takes a lock and builds a key each time)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.networks and scope.get("client"):
            scope = self._client_address(scope)
        begun = time.perf_counter()
        status = 0
        cors = scope["path"].startswith(self.CORS_PREFIX)

        async def tracked(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if cors:
                    message = dict(message, headers=list(message.get("headers") or []) + self.ALLOW)
            await send(message)

        try:
            refusal, body = await self._body(scope, receive)
            if refusal is not None:
                await _send_json(tracked, *refusal)
            elif cors and scope["method"] == "OPTIONS":
                await send({"type": "http.response.start", "status": 204, "headers": self.PREFLIGHT})
                await send({"type": "http.response.body", "body": b""})
                status = 204
            elif body is not None:
                await self.app(scope, _replay(body, receive), tracked)
        except Exception as e:  # noqa: BLE001 - the last line of defence: type only, never the message
            log.error("unexpected %s answering %s", type(e).__name__, scope.get("method"))
            if not status:
                await _send_json(tracked, 500, {"error": "internal", "message": "internal error"})
        finally:
            self._log(scope, status, time.perf_counter() - begun)

    def _client_address(self, scope):
        peer, port = scope["client"]
        headers = scope.get("headers") or ()
        forwarded = [v.decode("latin-1") for k, v in headers if k == b"x-forwarded-for"]
        client = proxies.client_address(peer, forwarded, self.networks)
        if client != peer:
            scope = dict(scope, client=(client, 0))
        scheme = proxies.scheme(peer, [v.decode("latin-1") for k, v in headers if k == b"x-forwarded-proto"],
                                self.networks)
        if scheme:  # TLS ended at the proxy: the portal's cookies must still be Secure
            scope = dict(scope, scheme=scheme)
        return scope

    async def _body(self, scope, receive):
        """(refusal, body): the whole body, bounded in size and time, or the refusal's
        (status, json, headers); (None, None) if the client went away."""
        headers = scope.get("headers") or ()
        # The protocol bounds a head that arrives in pieces; one that arrives whole is measured here.
        head = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") + sum(
            len(k) + len(v) + 4 for k, v in headers)
        if head > protocol.MAX_HEADER_BYTES:
            return (431, {"error": "headers-too-large", "message": "the headers are over %d bytes"
                          % protocol.MAX_HEADER_BYTES}, [(b"connection", b"close")]), None
        declared = chunked = None
        for k, v in headers:
            if k == b"content-length":
                declared = v
            elif k == b"transfer-encoding":
                chunked = v
        too_large = (413, {"error": "too-large", "message": "the body is over %d bytes" % self.limit},
                     [(b"connection", b"close")])
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                return (400, {"error": "bad-request", "message": "bad Content-Length"}), None
            if size > self.limit:
                return too_large, None
        elif chunked is None:
            return None, b""  # neither header: HTTP/1.1 says the request has no body
        # Read the body (bounded) before the app sees it: a chunked body has no Content-Length.
        try:
            if hasattr(asyncio, "timeout"):  # Python 3.11: no task per read, as wait_for makes
                async with asyncio.timeout(self.timeout):
                    return await self._read(receive, too_large)
            return await asyncio.wait_for(self._read(receive, too_large), self.timeout)
        except asyncio.TimeoutError:
            return (408, {"error": "timeout", "message": "the body took too long to arrive"},
                    [(b"connection", b"close")]), None

    async def _read(self, receive, too_large):
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None, None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                return too_large, None
            chunks.append(chunk)
            if not message.get("more_body"):
                return None, b"".join(chunks)

    def _log(self, scope, status, elapsed):
        route = _route(scope)
        latency = self.latency.get(route)
        if latency is None:
            latency = self.latency[route] = self.metrics.latency.labels(route)
        latency.observe(elapsed)
        if access_log.isEnabledFor(logging.INFO):
            client = scope.get("client") or ("-", 0)
            # A trusted plugin's request is logged under the end user's address, then the plugin host's.
            via = " via %s" % scope["dsc.plugin_host"] if "dsc.plugin_host" in scope else ""
            # A record made here, not by access_log.info(): that one also looks up its caller's frame.
            access_log.handle(logging.LogRecord(access_log.name, logging.INFO, __file__, 0, '%s "%s %s" %d %.1fms%s',
                                                (client[0], scope.get("method", "-"), route, status, elapsed * 1000,
                                                 via), None))


def _replay(body, receive):
    replayed = False

    async def replay():
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _route(scope):
    """The matched route's path template (the router records it in the scope), or
    "(unknown)": never the raw path or query string."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else "(unknown)"
