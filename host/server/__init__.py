"""The login service over HTTP (`dsc serve`): an ASGI app on the verifier library.

The HTTP layer only parses requests, calls host.verifier and maps its refusals
to statuses: no policy lives here (docs/api.md)."""
