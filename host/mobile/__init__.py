"""OpenDSC Mobile, the soft token app (docs/mobile.md): a Progressive Web App
that `dsc serve` serves under /mobile/. The app is static files (static/: plain
ES modules, a service worker, a web app manifest) plus jsQR from npm
(package.json); web.py serves them with the app's own security headers.

Its API is host/server/mobile.py; its rules are the verifier's
(host/verifier/mobile*.py)."""

from host.mobile.web import install

__all__ = ["install"]
