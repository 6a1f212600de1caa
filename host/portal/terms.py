"""The words the verifier stores and the pages show: device kinds and statuses,
what an audit event was for (its purpose), why it failed or what it did (its
reason), its device ("kind:serial") and who acted ("portal:NAME", "apikey:ID").

The stored word is the English text (it is what English pages have always
shown) and the msgid of its translation (translations/*/LC_MESSAGES/terms.po).
A word not listed here (an event from an older version) is shown as stored.
tests/portal/test_japanese.py checks that every word the code can store is
listed. The words a card prints are here too (card_words)."""

import dataclasses


def _(text):
    """Marks a msgid for extraction; it is translated when a page shows it."""
    return text


KINDS = {_("token"), _("code-card"), _("online-card"), _("temp-passcode"), _("mobile")}
STATUSES = {_("active"), _("shipped"), _("inactive"), _("revoked"), _("expired")}
PURPOSES = {_("login"), _("activation"), _("pin-change"), _("share"), _("withdrawal"), _("card"), _("enroll"),
            _("status"), _("remove"), _("revoke"), _("issue"), _("reprint"), _("user"), _("apikey"), _("oidc")}
REASONS = {
    # a refused login or confirmation
    _("locked"), _("wrong password"), _("unknown user"), _("expired"), _("device not usable"), _("wrong number"),
    _("wrong response"), _("declined"), _("limit"), _("no-user"), _("no usable device"),
    # what an event did
    _("added"), _("unlocked"), _("removed"), _("active"), _("shipped"), _("inactive"), _("revoked"),
    _("temporary passcode issued"), _("printed card issued"), _("card shown again"), _("code issued"),
    _("keys agreed"), _("phone activated"), _("push subscribed"), _("a new phone was activated"),
    _("removed in the app"), _("created auditor"), _("created helpdesk"), _("created admin"),
    # the OpenID Connect provider (host/oidc): the client is who acted ("oidc:CLIENT_ID")
    _("authorized"), _("token issued"), _("code reused"), _("consent denied"),
}
WORDS = KINDS | STATUSES | PURPOSES | REASONS
# Who acted or whose event it is, when not a user: prefix -> the text around the rest.
AGENTS = {"portal": _("portal:%(name)s"), "apikey": _("apikey:%(name)s"), "oidc": _("oidc:%(name)s")}


def word(translations, stored):
    """A stored word in the visitor's language (as stored when unknown or empty)."""
    return translations.gettext(stored) if stored in WORDS else stored


def device(translations, stored):
    """An event's device, "kind:serial", with the kind in the visitor's language."""
    kind, colon, serial = (stored or "").partition(":")
    if not colon or kind not in KINDS:
        return stored
    return translations.gettext(_("%(kind)s:%(serial)s")) % {"kind": word(translations, kind), "serial": serial}


def agent(translations, stored):
    """A user name, or who acted for a program ("portal:NAME", "apikey:ID")."""
    prefix, colon, name = (stored or "").partition(":")
    if not colon or prefix not in AGENTS:
        return stored
    return translations.gettext(AGENTS[prefix]) % {"name": name}


def card_words(translations):
    """The words a card prints, in the visitor's language (cards.ENGLISH's are the msgids)."""
    from host.verifier import cards

    return cards.CardWords(**{field: translations.gettext(text)
                              for field, text in dataclasses.asdict(cards.ENGLISH).items()})


def install(env, translations):
    """The Jinja filters: {{ d.kind | word }}, {{ e.device | device }}, {{ e.actor | agent }}."""
    env.filters["word"] = lambda stored: word(translations, stored)
    env.filters["device"] = lambda stored: device(translations, stored)
    env.filters["agent"] = lambda stored: agent(translations, stored)
