"""The help-desk console (issue 9): staff whose role is "helpdesk", logged in with
their own second factor, find a user and check their identity data, unlock them,
issue a temporary passcode (shown once), replace a lost token, revoke a device,
enroll a token from a key file or a PSKC upload, and search the audit log (newest
first, pages of 50, with the amounts of withdrawals; or all of it as CSV, oldest
first).

Every action is the library's, and the library records it in the audit log; here
the events also name the member of staff (actor "portal:<name>"). Help-desk
accounts themselves are left to an administrator (dsc CLI): staff cannot issue
passcodes or tokens to themselves or to each other from here."""

import csv
import io
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from host import ocra
from host.portal.web import HEADERS, MAX_FIELD, Page, posted
from host.server import settings
from host.verifier import audit
from host.verifier.errors import VerifierError

router = APIRouter(include_in_schema=False)
ROLE = "helpdesk"
PAGE = 50  # audit events per page
# The server refuses any body over settings.MAX_BODY (64 KiB) before the portal sees
# it; the file gets what is left after room for the text fields and the framing.
MAX_BODY = settings.MAX_BODY
MAX_UPLOAD = MAX_BODY - 4 * 1024  # bytes of an uploaded key or PSKC file
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet may run as a formula
CSV_COLUMNS = ("id", "at", "user", "device", "purpose", "outcome", "reason", "actor", "amount", "destination",
               "destination_digits")
# Refusals that are the visitor's input rather than a conflict with the stored state.
STATUS = {"no-user": 404, "no-device": 404, "file-too-big": 413}


def refusal(page):
    """None when the visitor is logged-in help-desk staff; else the answer: the
    login page for a visitor who is not logged in, 403 for anyone else."""
    if page.session is None or not page.session.logged_in:
        return page.redirect("/login")
    if page.session.data.get("role") != ROLE:
        return page.render("error.html", status=403, title=page.gettext("Not allowed"),
                           message=page.gettext("This page is for help-desk staff only."))
    return None


def refused_text(page, e):
    """The visitor's-language text for a refusal, chosen by its code."""
    texts = {
        "no-user": page.gettext("There is no such user."),
        "bad-username": page.gettext("A user name is 1 to 64 of a-z 0-9 . _ - and starts with a letter or digit."),
        "no-device": page.gettext("The user has no such device."),
        "passcode-exists": page.gettext("This user already has a temporary passcode. It is shown only once, when "
                                        "it is issued: revoke it to issue a new one."),
        "device-exists": page.gettext("A device with this serial is already enrolled."),
        "bad-serial": page.gettext("A serial is 1 to 64 of A-Z a-z 0-9 -."),
        "bad-key": page.gettext("The key file does not hold a token key (16 to 64 bytes written in hex)."),
        "bad-pin": page.gettext("A PIN is 4 to 8 digits."),
        "bad-suite": page.gettext("This OCRA suite is not supported."),
        "bad-pskc-file": page.gettext("The PSKC file could not be read: check the file and its passphrase."),
        "bad-pskc": page.gettext("The PSKC file holds no token or several: type the serial of the one to "
                                 "enroll."),
        "no-file": page.gettext("Choose a file to upload."),
        "file-too-big": page.gettext("The file is larger than %(size)s KiB.", size=MAX_UPLOAD // 1024),
        "staff-account": page.gettext("Help-desk accounts are managed by an administrator, not from this "
                                      "console."),
    }
    text = texts.get(e.code)
    if text is None:
        return page.gettext("The verifier refused this (%(code)s).", code=e.code)
    return text


def _status(e):
    return STATUS.get(e.code, 400 if e.code.startswith(("bad-", "no-")) else 409)


# ---- the user page ------------------------------------------------------------------

def staff_view(view):
    """A GET route for staff only: `view(page)`."""

    def route(request: Request):
        page = Page(request)
        return refusal(page) or view(page)

    route.__name__ = view.__name__
    return route


def console(page):
    return user_page(page, page.request.query_params.get("user", "").strip())


def user_page(page, name, status=200, error=None, notice=None):
    """The search form and, for a user name, their identity data, lock state and devices."""
    info = None
    if name:
        try:
            info = page.verifier.user_info(name)
        except VerifierError as e:
            if error is None:
                status, error = _status(e), refused_text(page, e)
    return page.render("helpdesk.html", status=status, query=name, info=info, error=error, notice=notice,
                       default_suite=ocra.DEFAULT_SUITE, max_upload_kib=MAX_UPLOAD // 1024)


def staff_action(action):
    """A console action: staff only, never on a help-desk account, its audit
    events naming the member of staff; a refusal is shown on the user's page."""

    def handler(page, fields, *rest):
        refused = refusal(page)
        if refused is not None:
            return refused
        name = fields.get("user", "").strip()
        try:
            info = page.verifier.user_info(name)
            name = info["user"]
            if info["role"] == ROLE:
                raise VerifierError("staff-account", "help-desk accounts are managed by an administrator")
            with audit.acting("portal:" + page.session.username):
                return action(page, name, fields, *rest)
        except VerifierError as e:
            return user_page(page, name, status=_status(e), error=refused_text(page, e))

    handler.__name__ = action.__name__
    return handler


@staff_action
def unlock(page, name, fields):
    page.verifier.unlock(name)
    return user_page(page, name, notice=page.gettext("%(user)s is unlocked; their failed logins are forgotten.",
                                                     user=name))


@staff_action
def temp_passcode(page, name, fields):
    return _passcode_page(page, name, page.verifier.issue_temp_passcode(name), replaced=None)


@staff_action
def replace_token(page, name, fields):
    serial = fields.get("serial", "")
    return _passcode_page(page, name, page.verifier.replace_token(name, serial), replaced=serial)


def _passcode_page(page, name, temp, replaced):
    """The passcode, this once: the page is no-store (web.HEADERS) and a reload
    re-posts the form, which the library refuses while the passcode is active."""
    return page.render("helpdesk_passcode.html", user=name, replaced=replaced, passcode=temp["passcode"],
                       serial=temp["serial"], full_access_until=temp["full_access_until"],
                       expires_at=temp["expires_at"])


@staff_action
def revoke_device(page, name, fields):
    serial = page.verifier.revoke_device(name, fields.get("serial", ""))
    return user_page(page, name, notice=page.gettext("Device %(serial)s is revoked.", serial=serial))


def _file(data):
    if not data:
        raise VerifierError("no-file", "no file uploaded")
    return data


def _enrolled(page, name, serial):
    return user_page(page, name, notice=page.gettext("Token %(serial)s is enrolled for %(user)s.", serial=serial,
                                                     user=name))


@staff_action
def enroll_key_file(page, name, fields, data):
    from host.files import parse_hex_key

    try:
        key = parse_hex_key(_file(data).decode("ascii"))
    except (UnicodeDecodeError, ValueError):  # one refusal for every malformed file, echoing nothing of it
        raise VerifierError("bad-key", "not a key file")
    serial = page.verifier.enroll_token(name, fields.get("serial", "").strip(), key, fields.get("pin") or None,
                                        suite=fields.get("suite", "").strip() or ocra.DEFAULT_SUITE,
                                        active=fields.get("active") == "yes")
    return _enrolled(page, name, serial)


@staff_action
def import_pskc(page, name, fields, data):
    from host import pskc_io

    try:
        tokens = pskc_io.parse_pskc(_file(data), password=fields.get("passphrase", ""))
    except pskc_io.PskcError:
        raise VerifierError("bad-pskc-file", "the PSKC file could not be read")
    serial = page.verifier.import_token(name, tokens, fields.get("pin") or None,
                                        serial=fields.get("serial", "").strip() or None,
                                        active=fields.get("active") == "yes")
    return _enrolled(page, name, serial)


# ---- uploads ------------------------------------------------------------------------

class _TooBig(Exception):
    pass


async def read_upload(request):
    """(text fields, the file's bytes) of a multipart form with one file of at most
    MAX_UPLOAD bytes; (None, None) when it is malformed; _TooBig when it is larger.
    The body is read with a bound first (Starlette would spool any size to disk)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise _TooBig()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise _TooBig()

    async def replay():
        return {"type": "http.request", "body": bytes(body), "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=16)
    except Exception:  # noqa: BLE001 - any malformed body: refused like a forged one
        return None, None
    try:
        fields, data = {}, b""
        for key, value in form.multi_items():
            if isinstance(value, str):
                fields[key] = value
            elif key == "file":
                data = await value.read(MAX_UPLOAD + 1)
    finally:
        await form.close()
    if len(data) > MAX_UPLOAD:
        raise _TooBig()
    if any(len(v) > MAX_FIELD for v in fields.values()):
        return None, None
    return fields, data


def uploaded(handler):
    """web.posted for a form with a file: `handler(page, fields, data)` after the
    CSRF check, which the upload's own csrf field passes."""

    async def route(request: Request):
        try:
            fields, data = await read_upload(request)
            too_big = False
        except _TooBig:
            fields, data, too_big = None, None, True

        def run():
            page = Page(request)
            if too_big:  # nothing was read, so nothing can change: no CSRF check needed to refuse
                refused = refusal(page)
                return refused or user_page(page, "", status=413, error=refused_text(
                    page, VerifierError("file-too-big", "")))
            checked = page.checked(fields)
            return page.forged() if checked is None else handler(page, checked, data)

        return await run_in_threadpool(run)

    route.__name__ = handler.__name__
    return route


# ---- the audit log --------------------------------------------------------------------

def audit_filters(page):
    """The audit search's filters from the query string: user name, outcome, and
    the id before which the page (newest first) starts."""
    query = page.request.query_params
    before = query.get("before", "")
    return {"name": query.get("user", "").strip() or None,
            "outcome": query.get("outcome") if query.get("outcome") in ("ok", "fail") else None,
            "before_id": int(before) if before.isascii() and before.isdigit() and len(before) <= 18 else None}


def _query(filters, **more):
    values = {"user": filters["name"] or "", "outcome": filters["outcome"] or ""}
    values.update(more)
    return urlencode({k: v for k, v in values.items() if v})


def audit_page(page):
    filters = audit_filters(page)
    status, error, events, next_url = 200, None, [], None
    try:
        events = page.verifier.audit_log(filters["name"], outcome=filters["outcome"], before_id=filters["before_id"],
                                         limit=PAGE + 1, newest=True)
    except VerifierError as e:
        status, error = _status(e), refused_text(page, e)
    if len(events) > PAGE:  # the one more asked for says there is a next page
        events = events[:PAGE]
        next_url = "/helpdesk/audit?" + _query(filters, before=events[-1]["id"])
    return page.render("helpdesk_audit.html", status=status, error=error, events=events, next_url=next_url,
                       user=filters["name"] or "", outcome=filters["outcome"] or "",
                       csv_url="/helpdesk/audit.csv?" + _query(filters))


def csv_cell(value):
    """A cell a spreadsheet shows as text, never runs as a formula (OWASP: CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def audit_csv(page):
    """Every event matching the user and outcome filters, oldest first, read from the
    library a page at a time."""
    filters = audit_filters(page)
    read = dict(outcome=filters["outcome"], limit=audit.MAX_PAGE)
    try:
        first = page.verifier.audit_log(filters["name"], **read)
    except VerifierError:  # a bad filter: said on the search page, before any CSV is sent
        return audit_page(page)

    def lines():
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        batch = first
        while True:
            writer.writerows([csv_cell(event[c]) for c in CSV_COLUMNS] for event in batch)
            yield out.getvalue()
            out.seek(0)
            out.truncate()
            if len(batch) < audit.MAX_PAGE:
                return
            batch = page.verifier.audit_log(filters["name"], after_id=batch[-1]["id"], **read)

    headers = dict(HEADERS, **{"Content-Disposition": 'attachment; filename="audit.csv"'})
    return StreamingResponse(lines(), media_type="text/csv; charset=utf-8", headers=headers)


router.add_api_route("/helpdesk", staff_view(console), methods=["GET"])
router.add_api_route("/helpdesk/audit", staff_view(audit_page), methods=["GET"])
router.add_api_route("/helpdesk/audit.csv", staff_view(audit_csv), methods=["GET"])
router.add_api_route("/helpdesk/unlock", posted(unlock), methods=["POST"])
router.add_api_route("/helpdesk/passcode", posted(temp_passcode), methods=["POST"])
router.add_api_route("/helpdesk/replace", posted(replace_token), methods=["POST"])
router.add_api_route("/helpdesk/revoke", posted(revoke_device), methods=["POST"])
router.add_api_route("/helpdesk/enroll", uploaded(enroll_key_file), methods=["POST"])
router.add_api_route("/helpdesk/pskc", uploaded(import_pskc), methods=["POST"])
