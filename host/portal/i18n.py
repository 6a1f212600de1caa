"""English and Japanese (the seed documents are Japanese help pages): gettext
catalogues in translations/<lang>/LC_MESSAGES/*.po (one per area), read with Babel when
the portal starts (no compiled .mo files to keep in step). English is the source
language. The language comes from ?lang= (remembered in a cookie), else the
cookie, else Accept-Language."""

import io
import pathlib

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

HERE = pathlib.Path(__file__).resolve().parent
LANGUAGES = {"en": "English", "ja": "日本語"}
DEFAULT = "en"
COOKIE = "dsc_lang"


def load(lang):
    """The translations for `lang` (NullTranslations for English)."""
    if lang == DEFAULT:
        return NullTranslations()
    merged = None
    for path in sorted((HERE / "translations" / lang / "LC_MESSAGES").glob("*.po")):  # one file per area
        with open(path, "rb") as f:
            catalog = read_po(f, locale=lang)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        if merged is None:
            merged = Translations(buffer)
        else:
            merged.merge(Translations(buffer))
    return merged or NullTranslations()


def choose(query_lang, cookie_lang, accept_language):
    """(language, whether to remember it in the cookie)."""
    if query_lang in LANGUAGES:
        return query_lang, True
    if cookie_lang in LANGUAGES:
        return cookie_lang, False
    best, best_q = DEFAULT, -1.0
    for part in (accept_language or "")[:500].split(","):
        tag, _, params = part.strip().partition(";")
        lang = tag.strip().lower().split("-")[0]
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if lang in LANGUAGES and q > best_q:
            best, best_q = lang, q
    return best, False
