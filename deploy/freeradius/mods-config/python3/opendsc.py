"""rlm_python3 module: FreeRADIUS asks OpenDSC's privacyIDEA-compatible
/validate/check (docs/api.md) to authenticate each Access-Request.

- User-Name + User-Password (the user's password), no State: POST user, pass.
  CHALLENGE -> Access-Challenge with State = detail.transaction_id and
  Reply-Message = detail.message (the prompt with the challenge).
- User-Password (the token's response) + State: POST user, pass, transaction_id.
  ACCEPT -> Access-Accept; anything else -> Access-Reject.
- The service unreachable or answering nonsense -> fail (FreeRADIUS rejects).

- The end user's address goes along as `client`, from the request attribute the
  module's `client_attribute` names (default Calling-Station-Id, which a VPN or
  Wi-Fi NAS fills with the user's address): a service that trusts this host
  (dsc serve --trusted-plugin) throttles and audits that address instead of
  this one's; any other service ignores it, as does privacyIDEA's rlm_perl
  module with its CLIENTATTRIBUTE.

Settings come from the module's `config { url, timeout, client_attribute }` (radiusd.config).
Only the standard library: rlm_python3 runs the system's Python, not a virtualenv.
Nothing here logs a password or a response.
"""

import json
import urllib.error
import urllib.request
from urllib.parse import quote, urlencode

import radiusd

_settings = {"url": "http://127.0.0.1:8080", "timeout": 10.0, "client_attribute": "Calling-Station-Id"}


def _log(level, text):
    radiusd.radlog(level, "opendsc: " + text)


def instantiate(_p):
    config = getattr(radiusd, "config", None) or {}
    if config.get("url"):
        _settings["url"] = config["url"].rstrip("/")
    if config.get("timeout"):
        _settings["timeout"] = float(config["timeout"])
    if "client_attribute" in config:  # set empty to send no client
        _settings["client_attribute"] = config["client_attribute"].strip()
    _log(radiusd.L_INFO, "using %s/validate/check" % _settings["url"])
    return 0


def _attributes(p):
    found = {}
    for pair in p or ():
        if isinstance(pair, tuple) and len(pair) == 2:
            found.setdefault(pair[0], pair[1])
    return found


def _state(value):
    """State as the transaction id: FreeRADIUS hands octets over as 0x<hex>."""
    if value.startswith("0x"):
        try:
            return bytes.fromhex(value[2:]).decode("ascii")
        except (ValueError, UnicodeDecodeError):
            return None
    return value


def _check(params):
    # The service percent-decodes form values once more, as privacyIDEA does for
    # its plugins, so each value is percent-encoded before the form encoding.
    body = urlencode({k: quote(v, safe="") for k, v in params.items()}).encode("ascii")
    request = urllib.request.Request(
        _settings["url"] + "/validate/check", data=body, method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "FreeRADIUS-OpenDSC",
                 "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=_settings["timeout"]) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as e:  # 4xx: the envelope with result.status false
        try:
            return json.loads(e.read().decode("utf-8"))
        except ValueError:
            return None
    except (OSError, ValueError):
        return None


def authenticate(p):
    found = _attributes(p)
    user, password = found.get("User-Name"), found.get("User-Password")
    if not user or not password:
        return radiusd.RLM_MODULE_REJECT
    params = {"user": user, "pass": password}
    client = found.get(_settings["client_attribute"]) if _settings["client_attribute"] else None
    if client:
        params["client"] = client.strip('"')
    if found.get("State"):
        transaction = _state(found["State"])
        if not transaction:
            return radiusd.RLM_MODULE_REJECT
        params["transaction_id"] = transaction
    answer = _check(params)
    if not isinstance(answer, dict) or not isinstance(answer.get("result"), dict):
        _log(radiusd.L_ERR, "no answer from %s" % _settings["url"])
        return radiusd.RLM_MODULE_FAIL
    result, detail = answer["result"], answer.get("detail") or {}
    if result.get("status") is not True:
        error = result.get("error") or {}
        _log(radiusd.L_ERR, "the service refused the request: %s" % error.get("message", "?"))
        return radiusd.RLM_MODULE_REJECT
    if result.get("value") is True and result.get("authentication") == "ACCEPT":
        return radiusd.RLM_MODULE_OK
    transaction = detail.get("transaction_id")
    if result.get("authentication") == "CHALLENGE" and isinstance(transaction, str) and transaction:
        reply = (("State", "0x" + transaction.encode("ascii").hex()),
                 ("Reply-Message", str(detail.get("message", ""))))
        return radiusd.RLM_MODULE_HANDLED, reply, (("Response-Packet-Type", "Access-Challenge"),)
    return radiusd.RLM_MODULE_REJECT, (("Reply-Message", str(detail.get("message", "Authentication failed."))),), ()
