"""The example app `dsc demo` (make run) serves on its own port: a web app that logs its
users in through OpenDSC by OpenID Connect and shows the ID token's claims. It is what
any app does (docs/oidc.md): Authlib's Starlette client reads the provider's discovery
document, sends the browser to /oidc/authorize with state, nonce and PKCE S256, and on
the way back checks state and the issuer, redeems the code and checks the ID token's
signature (JWKS), issuer, audience, expiry and nonce before trusting a claim."""

import html
import json
import warnings


def create_app(issuer, client_id, client_secret, session_secret):
    import httpx

    with warnings.catch_warnings():  # Authlib asks for httpx2 but works on httpx, which the project has
        warnings.filterwarnings("ignore", message="The httpx module is deprecated")
        from authlib.integrations.starlette_client import OAuth, OAuthError
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.sessions import SessionMiddleware
    from starlette.responses import HTMLResponse, RedirectResponse
    from starlette.routing import Route

    oauth = OAuth()
    oauth.register("opendsc", client_id=client_id, client_secret=client_secret,
                   server_metadata_url=issuer + "/.well-known/openid-configuration",
                   client_kwargs={"scope": "openid profile", "code_challenge_method": "S256"})

    async def home(request):
        claims = request.session.get("claims")
        if not claims:
            return page("<p>Nobody is logged in.</p><p><a href=\"/login\">Log in with OpenDSC</a></p>")
        rows = "".join("<tr><th>%s</th><td><code>%s</code></td></tr>" % (html.escape(name), html.escape(json.dumps(value)))
                       for name, value in sorted(claims.items()))
        return page("<p>Logged in as <strong id=\"user\">%s</strong>. The ID token says:</p>"
                    "<table id=\"claims\">%s</table><p><a href=\"/logout\">Log out of this app</a></p>"
                    % (html.escape(str(claims.get("preferred_username", claims["sub"]))), rows))

    async def login(request):
        try:
            return await oauth.opendsc.authorize_redirect(request, str(request.url_for("callback")))
        except httpx.HTTPError:  # OpenDSC down, or not a provider: its discovery document is missing
            return page("<p>OpenDSC's discovery document %s/.well-known/openid-configuration could not be read."
                        "</p>" % html.escape(issuer), status_code=502)

    async def callback(request):
        try:
            token = await oauth.opendsc.authorize_access_token(request)
        except OAuthError as e:  # the error's name only: its description may echo what was sent
            return page("<p>OpenDSC refused the login: <code>%s</code>.</p><p><a href=\"/login\">Try again</a></p>"
                        % html.escape(e.error or "error"), status_code=400)
        request.session["claims"] = dict(token["userinfo"])  # the ID token's checked claims
        return RedirectResponse("/", status_code=303)

    async def logout(request):
        request.session.clear()
        return RedirectResponse("/", status_code=303)

    def page(body, status_code=200):
        return HTMLResponse("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Example app"
                            "</title></head><body><main><h1>Example app: single sign-on with OpenDSC</h1>%s</main>"
                            "</body></html>" % body, status_code=status_code,
                            headers={"Content-Security-Policy": "default-src 'none'"})

    routes = [Route("/", home), Route("/login", login), Route("/callback", callback, name="callback"),
              Route("/logout", logout)]
    # The login's state, nonce and PKCE verifier wait in the signed session cookie until the callback.
    return Starlette(routes=routes, middleware=[Middleware(SessionMiddleware, secret_key=session_secret,
                                                           session_cookie="example_session", same_site="lax")])
