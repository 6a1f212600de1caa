"""`dsc oidc client add|list|remove` and `dsc oidc keys rotate`: the provider's
command line (docs/oidc.md). Parsed with the verifier's commands (host/verifier/cli.py),
whose --db, errors (one line, nonzero exit) and library they share. Light at import."""

import json
import sys


def add_parsers(actions, verifier_command):
    oidc = actions("oidc", "the OpenID Connect provider: clients and signing keys (docs/oidc.md)", "oidc_command")
    clients = oidc.add_parser("client", help="relying parties that log their users in through OpenDSC")
    inner = clients.add_subparsers(dest="client_command", metavar="ACTION", parser_class=type(clients))
    inner.required = True
    c = verifier_command(inner.add_parser("add", help="register a client; prints its client_id and, for a "
                                                      "confidential one, its client_secret, shown only now"))
    c.add_argument("name", help="the application's name, as the consent page shows it")
    c.add_argument("--redirect-uri", action="append", required=True, metavar="URI",
                   help="where the login may return, matched exactly; repeat for several")
    c.add_argument("--public", action="store_true", help="a client that cannot keep a secret (PKCE S256 instead)")
    c.add_argument("--scope", action="append", metavar="S", help="openid (always) and profile (default both)")
    c.add_argument("--level", default=None, metavar="LEVEL",
                   help="the least level of device it accepts: urn:opendsc:acr:otp (default), urn:opendsc:acr:phone "
                        "or urn:opendsc:acr:token")
    c.add_argument("--first-party", action="store_true", help="the operator's own application: no consent page")
    c.add_argument("--post-logout-redirect-uri", action="append", metavar="URI",
                   help="where the logout may return, matched exactly; repeat for several")
    c.add_argument("--alg", choices=("ES256", "RS256"), default=None,
                   help="the ID token's signature (default ES256; RS256 for clients without ES256)")
    verifier_command(inner.add_parser("list", help="every client, as JSON (never a secret)"))
    c = verifier_command(inner.add_parser("remove", help="remove a client: it can log nobody in any more"))
    c.add_argument("client_id", help="the client's id (dsc oidc client list)")
    keys = oidc.add_parser("keys", help="the ID tokens' signing keys")
    inner = keys.add_subparsers(dest="keys_command", metavar="ACTION", parser_class=type(keys))
    inner.required = True
    verifier_command(inner.add_parser("rotate", help="new signing keys; the old ones stay in JWKS until the "
                                                     "tokens they signed expired"))


def run(args, verifier):
    from host.oidc import clients, keys

    if args.oidc_command == "keys":
        made = keys.rotate(verifier)
        print("signing keys rotated: %s are current; the old ones stay in JWKS for %d s"
              % (", ".join(made), keys.ID_TOKEN_LIFETIME))
        return 0
    if args.client_command == "add":
        client = clients.add(verifier, args.name, args.redirect_uri, public=args.public, scopes=args.scope,
                             level=args.level, first_party=args.first_party,
                             post_logout_redirect_uris=args.post_logout_redirect_uri, alg=args.alg)
        print("client_id %s" % client["client_id"])
        if "client_secret" in client:  # stdout only, for the operator to copy: kept nowhere
            print("client_secret %s" % client["client_secret"])
            sys.stderr.write("the client secret is shown only now\n")
        return 0
    if args.client_command == "list":
        print(json.dumps(clients.list_all(verifier)))
        return 0
    print("client %s removed" % clients.remove(verifier, args.client_id))
    return 0
