"""Serving the app: a fixed list of files under /mobile/, never a directory
listing or a path from the request. The service worker gets the files' content
hash as its cache version, so a new release of the app replaces the old cache.

The app's CSP allows no inline script or style, as the portal's. Unlike the
portal it may call the API of other OpenDSC servers (accounts across servers),
so connect-src admits https (and http where this server itself runs on http,
for a local set-up)."""

import hashlib
import pathlib

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

HERE = pathlib.Path(__file__).resolve().parent
STATIC = HERE / "static"
JSQR = HERE / "node_modules" / "jsqr" / "dist" / "jsQR.js"  # scripts/bootstrap.sh: npm ci in host/mobile
# The app's address under /mobile/ -> its file; nothing else is served.
FILES = {"": STATIC / "index.html", "vendor/jsQR.js": JSQR}
FILES.update({name: STATIC / name for name in ("app.js", "accounts.js", "ocra.js", "signing.js", "i18n.js", "protocol.js",
                                               "sw.js", "app.css", "manifest.webmanifest", "icon.svg", "icon-192.png",
                                               "icon-512.png")})
MEDIA = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".webmanifest": "application/manifest+json", ".svg": "image/svg+xml", ".png": "image/png"}


def csp(scheme):
    connect = "'self' https:" + (" http:" if scheme == "http" else "")
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src %s; manifest-src 'self'; worker-src 'self'; media-src 'self' blob: mediastream:; "
            "form-action 'none'; frame-ancestors 'none'; base-uri 'none'" % connect)


def _load():
    """Each file's bytes, read once at start; a missing jsQR leaves only the camera out."""
    files = {}
    for name, path in FILES.items():
        if path.is_file():
            files[name] = (path.read_bytes(), MEDIA[path.suffix])
    version = hashlib.sha256(b"".join(body for name, (body, _) in sorted(files.items()) if name != "sw.js"))
    if "sw.js" in files:
        body, media = files["sw.js"]
        files["sw.js"] = (body.replace(b"__VERSION__", version.hexdigest()[:16].encode()), media)
    return files


router = APIRouter(include_in_schema=False)


@router.get("/mobile")
def mobile_root():
    return RedirectResponse("/mobile/", status_code=308)


@router.get("/mobile/{name:path}")
def mobile_file(name: str, request: Request):
    found = request.app.state.mobile_files.get(name)
    if found is None:  # the JSON error, or the portal's "Not found" page for a browser
        raise HTTPException(404, "no such file")
    body, media = found
    headers = {"Content-Security-Policy": csp(request.url.scheme), "X-Content-Type-Options": "nosniff",
               "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
               "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
               # The service worker's cache keeps the app offline; the browser's HTTP cache only
               # revalidates, so a new release reaches the worker at its next update check.
               "Cache-Control": "no-cache"}
    return Response(body, media_type=media, headers=headers)


def install(app):
    app.state.mobile_files = _load()
    app.include_router(router)
