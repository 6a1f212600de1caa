"""The provider's HTTP routes (docs/oidc.md), in the same app as the portal:

- /.well-known/openid-configuration and /oidc/jwks;
- /oidc/authorize: the code flow. A bad client_id or redirect_uri is a page, never
  a redirect; other errors go back to the redirect URI. Without a portal session
  at the level asked (or with prompt=login, or max_age passed) the browser goes to
  the portal's login, which comes back to /oidc/resume; first-party clients skip
  the consent page (/oidc/consent);
- /oidc/token (client_secret_basic, client_secret_post, or none + PKCE), and
  /oidc/userinfo (Bearer);
- /oidc/logout: RP-initiated logout; ends the portal session, and redirects only
  to a post-logout URI registered for the ID token's client.

The portal's session cookie is SameSite=Strict, so a browser sent here from an
application's site (Sec-Fetch-Site: cross-site) does not send it: such a request
gets a page that reloads the same address from here (a meta refresh, no script),
which carries the cookie.

The portal's CSP has form-action 'self', and browsers apply it to every redirect a
form's submission leads to: the login's, the consent's and the logout confirmation's
way back to the application ends on a page of this site that goes on by a meta
refresh (_leave_site), not by a redirect to the application.
"""

import base64
import hmac
import json
from typing import Dict, List, Optional

from authlib.common.security import is_secure_transport
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749 import OAuth2Error
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from joserfc import jwt
from joserfc.errors import JoseError
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from host.oidc import clients, keys, levels, server
from host.portal import login, sessions
from host.portal.mobile import public_base
from host.portal.web import Page, posted, read_form
from host.server.errors import responses
from host.verifier import audit as audit_log

router = APIRouter(include_in_schema=False)
api = APIRouter(tags=["oidc"])  # the machine endpoints, in the OpenAPI schema

PENDING_COOKIE = login.OIDC_PENDING_COOKIE  # the authorization request a login will finish, signed
PENDING_CONTEXT = "oidc pending authorization"
PENDING_LIFETIME = 15 * 60
MAX_QUERY = 4096  # characters of an authorization request kept for after the login


class OAuthError(BaseModel):
    """An OAuth 2.0 error (RFC 6749 5.2), as the token and userinfo endpoints answer it."""
    model_config = ConfigDict(extra="allow")
    error: str
    error_description: Optional[str] = None


class Configuration(BaseModel):
    model_config = ConfigDict(extra="allow")
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


class KeySet(BaseModel):
    keys: List[Dict[str, str]]


class Tokens(BaseModel):
    model_config = ConfigDict(extra="allow")
    access_token: str
    token_type: str
    expires_in: int
    id_token: Optional[str] = None


class Claims(BaseModel):
    model_config = ConfigDict(extra="allow")
    sub: str


_OAUTH_ERRORS = {400: {"model": OAuthError, "description": "an OAuth error"},
                 401: {"model": OAuthError, "description": "an OAuth error: the client or token is not valid"}}
_TOKEN_FORM = {"requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
    "type": "object", "required": ["grant_type"], "properties": {
        name: {"type": "string"} for name in ("grant_type", "code", "redirect_uri", "code_verifier", "client_id",
                                              "client_secret")}}}}}}


def issuer(request):
    """The public URL (or, without one, this machine's own address: host/portal/mobile.py)
    when it is https or loopback http, else None: OAuth asks TLS of any other address
    (Authlib's own check, which refused such requests with an exception)."""
    base = public_base(request)
    return base if base is not None and is_secure_transport(base) else None


def _no_issuer():
    """Without an issuer the provider is not served."""
    return JSONResponse({"error": "no-public-url", "message": "the OpenID Connect provider needs dsc serve "
                                                              "--public-url with an https address"}, status_code=404)


@api.get("/.well-known/openid-configuration", response_model=Configuration, responses=responses(404))
def discovery(request: Request):
    iss = issuer(request)
    if iss is None:
        return _no_issuer()
    return JSONResponse({
        "issuer": iss, "authorization_endpoint": iss + "/oidc/authorize", "token_endpoint": iss + "/oidc/token",
        "userinfo_endpoint": iss + "/oidc/userinfo", "jwks_uri": iss + "/oidc/jwks",
        "end_session_endpoint": iss + "/oidc/logout",
        "scopes_supported": list(clients.SCOPES), "response_types_supported": ["code"],
        "response_modes_supported": ["query"], "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": list(keys.ALGORITHMS),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"], "acr_values_supported": list(levels.LEVELS),
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "at_hash",
                             "preferred_username"],
        "claims_parameter_supported": False, "request_parameter_supported": False,
        "request_uri_parameter_supported": False, "authorization_response_iss_parameter_supported": True,
        "prompt_values_supported": ["none", "login"],
    })


@api.get("/oidc/jwks", response_model=KeySet)
def jwks(request: Request):
    return JSONResponse(keys.jwks(request.app.state.verifier), headers={"Cache-Control": "max-age=60"})


# ---- the authorization endpoint -------------------------------------------------------

def _bounce(page):
    """A page that asks again from this site, so the strict session cookie is sent."""
    return page.render_without_session("oidc_continue.html", target=page.request.url.path + "?"
                                       + page.request.url.query)


def _leave_site(page, response, template="oidc_continue.html"):
    """`response` at the end of a form's submission: a redirect to another address (the
    application's) becomes a page of this site that goes there by a meta refresh, which
    the portal's form-action 'self' does not govern; any other answer is kept."""
    location = response.headers.get("location", "")
    if not 300 <= response.status_code < 400 or location.startswith("/"):
        return response
    return page.render_without_session(template, target=location)


def _cross_site_without_cookie(request):
    return request.headers.get("sec-fetch-site") == "cross-site" and sessions.COOKIE not in request.cookies


def _bad_request_page(page, error):
    """An error that must not go to the redirect URI: the client or the URI is unknown."""
    return page.render_without_session(
        "error.html", status=400, title=page.gettext("This sign-in request is not valid"),
        message=page.gettext("The application that sent you here is not registered for it, or asked to return to "
                             "an address it did not register. Nothing was done. (%(error)s)",
                             error=error.error))


def _oauth_error(page, provider, request, error):
    if not error.redirect_uri:
        return _bad_request_page(page, error)
    response = provider.handle_error_response(request, error)
    provider.execute_hook("after_create_authorization_response", response)  # RFC 9207: iss on errors too
    return response


def _user(page):
    """The portal session's user with how they logged in, or None."""
    if page.session is None or not page.session.logged_in:
        return None
    acr, amr = levels.of_kind(page.session.data.get("kind"))
    return server.User(page.session.username, auth_time=int(page.session.created_at), acr=acr, amr=amr,
                       device=page.session.data.get("device") or "")


def _needs_login(grant, user, fresh, now):
    """Why the session cannot answer this request (a word, for reading), or None."""
    data = grant.request.payload.data
    if user is None:
        return "no session"
    if not levels.enough(user.acr, levels.needed(grant.request.client.level, data.get("acr_values"))):
        return "level"
    if fresh:  # a login made for this very request: prompt=login and max_age are met
        return None
    if "login" in (data.get("prompt") or "").split():
        return "prompt=login"
    max_age = data.get("max_age")
    if max_age is not None:
        if not max_age.isascii() or not max_age.isdigit() or len(max_age) > 12:
            raise server.InvalidRequestError("max_age must be a number of seconds", redirect_uri=grant.redirect_uri,
                                             state=data.get("state"))
        if now - user.auth_time > int(max_age):
            return "max_age"
    return None


def authorize(page, items, fresh=False):
    """Answer an authorization request (its query `items`) for this page's visitor."""
    iss = issuer(page.request)
    if iss is None:
        return page.render_without_session("error.html", status=404, title=page.gettext("Not available"),
                                           message=page.gettext("Sign-in for other applications needs this "
                                                                "server's public https address (dsc serve "
                                                                "--public-url)."))
    provider = server.Provider(page.verifier, iss)
    request = server.StarletteRequest(page.request, items, provider.issuer, method="GET")
    user = _user(page)
    try:
        grant = provider.get_consent_grant(request, end_user=user)
        why = _needs_login(grant, user, fresh, page.now)
    except OAuth2Error as error:
        return _oauth_error(page, provider, request, error)
    prompts = (grant.request.payload.data.get("prompt") or "").split()
    if why is not None:
        if "none" in prompts or fresh:
            error = server.LoginRequiredError() if "none" in prompts else server.AccessDeniedError(
                "the login was not made with a device of the level this application needs")
            error.redirect_uri, error.state = grant.redirect_uri, request.payload.state
            return _oauth_error(page, provider, request, error)
        return _to_login(page, items)
    if not grant.request.client.first_party:
        if "none" in prompts:
            error = server.ConsentRequiredError(redirect_uri=grant.redirect_uri, state=request.payload.state)
            return _oauth_error(page, provider, request, error)
        sessions.update(page.verifier.engine, page.session, data=dict(page.session.data, oidc=items))
        return page.render("oidc_consent.html", client=grant.request.client,
                           profile="profile" in (grant.request.scope or "").split())
    return provider.create_authorization_response(request, grant_user=user, grant=grant)


def _to_login(page, items):
    """The portal's login, which comes back to /oidc/resume: a session below the level
    asked, or one that must log in again, ends first."""
    page.end_session()
    response = page.redirect("/login")
    secure = page.request.url.scheme == "https"
    response.set_cookie(PENDING_COOKIE, _sign(page, {"q": items, "at": page.now}), httponly=True,
                        samesite="strict", secure=secure, path="/", max_age=PENDING_LIFETIME)
    return response


def _sign(page, value):
    data = base64.urlsafe_b64encode(json.dumps(value).encode()).decode()
    mac = page.verifier.keys.digests(data.encode(), PENDING_CONTEXT)[-1]
    return data + "." + base64.urlsafe_b64encode(mac).decode()


def pending(page):
    """The signed pending request of this browser ({"q": items, "at": time}), or None."""
    text = page.request.cookies.get(PENDING_COOKIE) or ""
    data, _, mac = text.partition(".")
    try:
        sent = base64.urlsafe_b64decode(mac.encode())
        if not any([hmac.compare_digest(sent, d) for d in page.verifier.keys.digests(data.encode(), PENDING_CONTEXT)]):
            return None
        value = json.loads(base64.urlsafe_b64decode(data.encode()))
    except (ValueError, TypeError):
        return None
    if not isinstance(value, dict) or page.now - value.get("at", 0) > PENDING_LIFETIME:
        return None
    return value


@router.get("/oidc/authorize")
async def authorize_route(request: Request):
    if len(request.url.query) > MAX_QUERY:
        return JSONResponse({"error": "invalid_request", "error_description": "the request is too long"}, 400)

    def run():
        page = Page(request)
        if _cross_site_without_cookie(request):
            return _bounce(page)
        return authorize(page, list(request.query_params.multi_items()))

    return await run_in_threadpool(run)


@router.get("/oidc/resume")
def resume(request: Request):
    """Where the portal's login returns: the pending request is answered now."""
    page = Page(request)
    kept = pending(page)
    if kept is None or page.session is None or not page.session.logged_in:
        return page.redirect("/")
    fresh = page.session.created_at >= kept["at"]
    # Reached by the login form's redirect: form-action applies here too.
    response = _leave_site(page, authorize(page, [tuple(item) for item in kept["q"]], fresh=fresh))
    response.delete_cookie(PENDING_COOKIE, path="/")
    return response


def consent(page, form):
    items = page.session.data.get("oidc")
    if not page.session.logged_in or not items:
        return page.redirect("/")
    sessions.update(page.verifier.engine, page.session,
                    data={k: v for k, v in page.session.data.items() if k != "oidc"})
    provider = server.Provider(page.verifier, issuer(page.request))
    request = server.StarletteRequest(page.request, [tuple(item) for item in items], provider.issuer, method="GET")
    user = _user(page)
    try:
        grant = provider.get_consent_grant(request, end_user=user)
    except OAuth2Error as error:
        return _leave_site(page, _oauth_error(page, provider, request, error))
    allowed = form.get("decision") == "allow"
    if not allowed:
        with page.verifier.engine.begin() as conn:
            with audit_log.acting("oidc:" + grant.request.client.client_id):
                audit_log.record(conn, page.now, user.username, user.device, "oidc", "fail", "consent denied")
    return _leave_site(page, provider.create_authorization_response(request, grant_user=user if allowed else None,
                                                                      grant=grant))


router.add_api_route("/oidc/consent", posted(consent), methods=["POST"])


# ---- token, userinfo ----------------------------------------------------------------------

@api.post("/oidc/token", response_model=Tokens, responses={**_OAUTH_ERRORS, **responses(404, 413)},
          openapi_extra=_TOKEN_FORM)
async def token(request: Request):
    form = await read_form(request)
    if form is None:
        return JSONResponse({"error": "invalid_request", "error_description": "a form body is expected"}, 400)
    iss = issuer(request)
    if iss is None:
        return _no_issuer()
    provider = server.Provider(request.app.state.verifier, iss)
    return await run_in_threadpool(provider.create_token_response,
                                   server.StarletteRequest(request, list(form.items()), iss))


async def userinfo(request: Request):
    form = (await read_form(request) or {}) if request.method == "POST" else {}
    iss = issuer(request)
    if iss is None:
        return _no_issuer()
    provider = server.Provider(request.app.state.verifier, iss)
    return await run_in_threadpool(provider.userinfo, server.StarletteRequest(request, list(form.items()), iss))


for _method in ("GET", "POST"):  # a route each: one route's methods would share one OpenAPI operationId
    api.add_api_route("/oidc/userinfo", userinfo, methods=[_method], response_model=Claims,
                      operation_id="oidc_userinfo_" + _method.lower(), responses={**_OAUTH_ERRORS, **responses(404, 413)})


# ---- logout -----------------------------------------------------------------------------

def _hint(page, hint):
    """(client, sub) of a valid id_token_hint of ours (expired is fine), else (None, None)."""
    if not isinstance(hint, str) or len(hint) > 8192:
        return None, None
    try:
        claims = jwt.decode(hint, keys.key_set(page.verifier), algorithms=list(keys.ALGORITHMS)).claims
    except (JoseError, ValueError):
        return None, None
    aud = claims.get("aud")
    aud = aud[0] if isinstance(aud, list) and len(aud) == 1 else aud
    if claims.get("iss") != issuer(page.request) or not isinstance(aud, str):
        return None, None
    return clients.find(page.verifier, aud), claims.get("sub")


def _logged_out(page, query):
    """End the portal session; go back to the client only at a URI it registered."""
    client = _hint(page, query.get("id_token_hint"))[0] or clients.find(page.verifier, query.get("client_id"))
    target = query.get("post_logout_redirect_uri")
    page.end_session()
    if client is not None and target and target in client.post_logout_redirect_uris:
        state = query.get("state")
        return page.redirect(add_params_to_uri(target, [("state", state)]) if state else target)
    return page.render("oidc_logged_out.html")


@router.get("/oidc/logout")
def logout(request: Request):
    """With an id_token_hint of ours, for the user of this session, the session ends now;
    otherwise the user confirms (a page with a form): a link elsewhere, even with an ID
    token of the one who made it, logs nobody else out."""
    page = Page(request)
    if _cross_site_without_cookie(request):
        return _bounce(page)
    query = dict(request.query_params)
    client, sub = _hint(page, query.get("id_token_hint"))
    session_user = page.session.username if page.session is not None and page.session.logged_in else None
    if client is not None and (session_user is None or sub == server.subject(page.verifier, session_user)):
        return _logged_out(page, query)
    return page.render("oidc_logout.html", query=query)


def logout_confirmed(page, form):
    return _leave_site(page, _logged_out(page, form), template="oidc_logged_out.html")


router.add_api_route("/oidc/logout", posted(logout_confirmed, anonymous=True), methods=["POST"])


def install(app):
    app.include_router(api)
    app.include_router(router)
