"""What every portal page shares: the templates in the visitor's language, the
security headers, the session cookie and the CSRF check.

Every page is plain HTML with forms: it works without JavaScript. The only
script (static/portal.js) adds the challenge countdown, and moves the login page
on by itself once a phone has approved."""

import time

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from host.portal import i18n, sessions, terms
from host.verifier.timefmt import iso

# No inline script or style anywhere; nothing may frame the portal.
# connect-src: the login page's poll while a phone approves (static/portal.js).
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "X-Frame-Options": "DENY", "Cache-Control": "no-store"}
MAX_FIELD = 1024  # characters of one form field


def environments():
    """One Jinja environment per language, each with its translations installed."""
    envs = {}
    for lang in i18n.LANGUAGES:
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(i18n.HERE / "templates")),
                                 autoescape=True, extensions=["jinja2.ext.i18n"], trim_blocks=True,
                                 lstrip_blocks=True)
        translations = i18n.load(lang)
        env.install_gettext_translations(translations, newstyle=True)
        env.globals["translations"] = translations  # for messages made in Python (Page.gettext)
        terms.install(env, translations)  # the verifier's stored words: kinds, statuses, audit events
        env.filters["iso"] = iso
        env.filters["clock"] = lambda t: time.strftime("%H:%M:%S UTC", time.gmtime(t))
        envs[lang] = env
    return envs


async def read_form(request):
    """The posted form's text fields, or None when it is malformed or too big."""
    try:
        data = await request.form(max_files=0, max_fields=32)
    except Exception:  # noqa: BLE001 - any malformed body: refused like a forged one
        return None
    fields = {k: v for k, v in data.items() if isinstance(v, str)}
    if any(len(v) > MAX_FIELD for v in fields.values()):
        return None
    return fields


def posted(handler, anonymous=False):
    """A POST route: the form is read in the event loop, then `handler(page, fields)`
    runs in a worker thread (it hashes passwords and writes to the database),
    after the CSRF check; a forged or malformed form changes nothing. Only an
    `anonymous` route takes the form of a visitor with no session (the login)."""
    from starlette.concurrency import run_in_threadpool

    async def route(request: Request):
        fields = await read_form(request)

        def run():
            page = Page(request)
            checked = page.checked(fields, anonymous)
            return page.forged() if checked is None else handler(page, checked)

        return await run_in_threadpool(run)

    route.__name__ = handler.__name__
    return route


class Page:
    """One request's view of the portal: its language, session and verifier."""

    def __init__(self, request):
        self.request = request
        self.app = request.app
        self.verifier = request.app.state.verifier
        self.now = time.time()
        self.lang, self.remember_lang = i18n.choose(request.query_params.get("lang"),
                                                     request.cookies.get(i18n.COOKIE),
                                                     request.headers.get("accept-language"))
        self.env = request.app.state.portal_templates[self.lang]
        self.session = sessions.load(self.verifier.engine, request.cookies.get(sessions.COOKIE), self.now)
        self.visitor = None  # form_session()'s stand-in while there is no session
        self.ended = False  # end_session() was called: the cookie goes too

    def gettext(self, text, **values):
        text = self.env.globals["translations"].gettext(text)
        return text % values if values else text

    def form_session(self):
        """What this visitor's forms take their CSRF token from: their session, else a
        sessions.Visitor, which writes no row (its token is bound to a cookie)."""
        if self.session is not None:
            return self.session
        if self.visitor is None:
            self.visitor = sessions.Visitor(self.verifier.keys, self.request.cookies.get(sessions.FORM_COOKIE))
        return self.visitor

    def end_session(self):
        """Delete the session (its row and cookie): back to a visitor with nothing kept."""
        if self.session is not None:
            sessions.destroy(self.verifier.engine, self.session)
            self.session, self.ended = None, True

    def checked(self, fields, anonymous=False):
        """The posted fields when they carry the CSRF token of this session or, on an
        `anonymous` route, of a visitor without one; else None."""
        holder = self.form_session() if self.session is not None or anonymous else None
        if fields is None or holder is None or not holder.csrf_ok(fields.get("csrf")):
            return None
        return fields

    def render(self, template, status=200, **context):
        session = self.form_session()
        return self._page(template, status, csrf=session.csrf, session=session, **context)

    def render_without_session(self, template, status=200, **context):
        """A page with no form (an error page for any address): no session is started for whoever asks."""
        return self._page(template, status, csrf=None, session=self.session, **context)

    def _page(self, template, status, **context):
        html = self.env.get_template(template).render(
            lang=self.lang, languages=i18n.LANGUAGES, path=self.request.url.path,
            page_query=[(k, v) for k, v in self.request.query_params.multi_items() if k != "lang"],
            **context)
        return self._finish(HTMLResponse(html, status_code=status, headers=HEADERS))

    def redirect(self, to):
        return self._finish(RedirectResponse(to, status_code=303, headers=HEADERS))

    def forged(self):
        """A form without a valid CSRF token (forged, or from an expired session)."""
        return self.render("error.html", status=403, title=self.gettext("This form has expired"),
                           message=self.gettext("The form was too old or did not come from this site. "
                                                "Nothing was changed. Please try again."))

    def not_found(self, status=404):
        return self.render_without_session("error.html", status=status, title=self.gettext("Not found"),
                                           message=self.gettext("There is no such page."))

    def _finish(self, response):
        secure = self.request.url.scheme == "https"
        if self.session is not None and self.session.token:
            response.set_cookie(sessions.COOKIE, self.session.token, httponly=True, samesite="strict", secure=secure,
                                path="/", max_age=int(sessions.ABSOLUTE_TIMEOUT))
        elif self.ended:
            response.delete_cookie(sessions.COOKIE, path="/")
        if self.visitor is not None and self.visitor.new:  # until the browser closes
            response.set_cookie(sessions.FORM_COOKIE, self.visitor.nonce, httponly=True, samesite="strict",
                                secure=secure, path="/")
        if self.remember_lang:  # not httponly: OpenDSC Mobile, served here, reads it (a language is no secret)
            response.set_cookie(i18n.COOKIE, self.lang, httponly=False, samesite="strict", secure=secure, path="/",
                                max_age=365 * 86400)
        return response


def wants_page(request):
    """Whether a refusal goes to a person's browser (it asks for HTML) rather than to a
    program, which keeps the API's JSON error (host/server/errors.py)."""
    return "text/html" in request.headers.get("accept", "")


def page_or_json(json_handler):
    """An exception handler for unknown addresses and methods: a browser gets the
    portal's "Not found" page in its visitor's language, a program the JSON error."""

    def handle(request, exc):
        if exc.status_code in (404, 405) and wants_page(request):
            return Page(request).not_found(exc.status_code)
        return json_handler(request, exc)

    return handle
