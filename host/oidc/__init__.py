"""The OpenID Connect provider (docs/oidc.md): keys.py (signing keys, JWKS), clients.py
(relying parties), levels.py (acr and amr), server.py (Authlib's rules and their storage),
routes.py (the HTTP endpoints and the login in between), cli.py (`dsc oidc`)."""
