"""What `dsc serve` runs with: the CLI's settings (DSC_DB, DSC_MASTER_KEY_FILE,
DSC_POLICY_FILE), the reverse proxies whose X-Forwarded-For is believed
(DSC_TRUSTED_PROXIES, comma-separated), the privacyIDEA plugin hosts whose
`client` parameter is believed (DSC_TRUSTED_PLUGINS, comma-separated), the HTTP limits, and Web Push's: the
contact a push service may write to about this server's pushes
(DSC_PUSH_CONTACT, a mailto: or https: URL, the VAPID `sub`) and
DSC_PUSH_ALLOW_HTTP=1, for tests and local development only, which lets phones
subscribe with http:// endpoints and endpoints on local or private addresses,
to which the server then POSTs (docs/mobile.md, "Web Push"). DSC_PUBLIC_URL
(`dsc serve --public-url`) is where people reach the portal, for the links it
hands out (the app's activation QR code): never taken from a request's Host."""

import dataclasses
import os

DEFAULT_DB = "dsc.db"
DEFAULT_MASTER_KEY = "dsc-master.key"
MAX_BODY = 64 * 1024  # bytes; a login request is a few hundred
HEADER_TIMEOUT = 10.0  # seconds for a request's head to arrive (protocol.py)
BODY_TIMEOUT = 30.0  # seconds for its whole body (app.Edge)
PUSH_CONTACT = "mailto:webpush@opendsc.invalid"  # set DSC_PUSH_CONTACT to the operator's address


@dataclasses.dataclass(frozen=True)
class Settings:
    db: str = DEFAULT_DB
    master_key_file: str = DEFAULT_MASTER_KEY
    policy_file: str = ""
    max_body: int = MAX_BODY
    trusted_proxies: tuple = ()  # addresses or networks, as text (proxies.parse)
    trusted_plugins: tuple = ()  # the same, for plugin hosts (proxies.plugin_client)
    header_timeout: float = HEADER_TIMEOUT
    body_timeout: float = BODY_TIMEOUT
    push_contact: str = PUSH_CONTACT
    push_allow_http: bool = False  # tests and local development only
    public_url: str = ""  # e.g. https://login.example.com (public_url()); "" = loopback requests only

    @classmethod
    def from_env(cls, env=None):
        env = os.environ if env is None else env
        return cls(db=env.get("DSC_DB", DEFAULT_DB),
                   master_key_file=env.get("DSC_MASTER_KEY_FILE", DEFAULT_MASTER_KEY),
                   policy_file=env.get("DSC_POLICY_FILE", ""),
                   trusted_proxies=_list(env, "DSC_TRUSTED_PROXIES"),
                   trusted_plugins=_list(env, "DSC_TRUSTED_PLUGINS"),
                   header_timeout=_seconds(env, "DSC_HEADER_TIMEOUT", HEADER_TIMEOUT),
                   body_timeout=_seconds(env, "DSC_BODY_TIMEOUT", BODY_TIMEOUT),
                   push_contact=_contact(env.get("DSC_PUSH_CONTACT", "") or PUSH_CONTACT),
                   push_allow_http=_flag(env, "DSC_PUSH_ALLOW_HTTP"),
                   public_url=public_url(env.get("DSC_PUBLIC_URL", "")))

    def env(self):
        """The settings as the environment a worker process reads them from."""
        return {"DSC_DB": self.db, "DSC_MASTER_KEY_FILE": self.master_key_file, "DSC_POLICY_FILE": self.policy_file,
                "DSC_TRUSTED_PROXIES": ",".join(self.trusted_proxies),
                "DSC_TRUSTED_PLUGINS": ",".join(self.trusted_plugins),
                "DSC_HEADER_TIMEOUT": repr(self.header_timeout), "DSC_BODY_TIMEOUT": repr(self.body_timeout),
                "DSC_PUSH_CONTACT": self.push_contact, "DSC_PUSH_ALLOW_HTTP": "1" if self.push_allow_http else "0",
                "DSC_PUBLIC_URL": self.public_url}

    def open_verifier(self):
        """The verifier; a bad policy file, database or key ring raises one line."""
        from host.verifier import service

        policy = service.load_policy(self.policy_file) if self.policy_file else None
        return service.Verifier(self.db, self.master_key_file, policy=policy)


def _list(env, name):
    return tuple(p for p in env.get(name, "").split(",") if p.strip())


def _seconds(env, name, default):
    text = env.get(name, "")
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.1 <= value <= 3600:
        raise ValueError("%s must be a number of seconds from 0.1 to 3600" % name)
    return value


def _flag(env, name):
    text = env.get(name, "").strip()
    if text not in ("", "0", "1"):
        raise ValueError("%s must be 1 or 0" % name)
    return text == "1"


def public_url(text):
    """The portal's public address, checked: http(s)://HOST[:PORT][/PATH] with no
    user, query or fragment, without its trailing slash; "" stays "" (unset)."""
    from urllib.parse import urlsplit

    text = text.strip()
    if not text:
        return ""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc \
            or len(text) > 256 or any(c <= " " or c in '?#\\<>"' for c in text):
        raise ValueError("--public-url (DSC_PUBLIC_URL) must be an http:// or https:// address such as "
                         "https://login.example.com")
    return text.rstrip("/")


def _contact(text):
    """The VAPID `sub`: how a push service reaches whoever runs this server."""
    if not (text.startswith("mailto:") and "@" in text or text.startswith("https://")) or len(text) > 256 \
            or any(c <= " " for c in text):
        raise ValueError("DSC_PUSH_CONTACT must be a mailto: or https: URL")
    return text
