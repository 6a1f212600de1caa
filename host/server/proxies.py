"""Who is calling: the socket peer, or, when the peer is a configured reverse
proxy (--trusted-proxy, DSC_TRUSTED_PROXIES), the address that proxy put in
X-Forwarded-For. A client can write anything into X-Forwarded-For, so the header
is read right to left and only past addresses of trusted proxies: the first
untrusted address is the client.

A privacyIDEA plugin (FreeRADIUS, PAM, Keycloak, simpleSAMLphp) calls from its
own host and names the end user's address in the `client` parameter; that is
believed only from a plugin host the operator named (--trusted-plugin,
DSC_TRUSTED_PLUGINS), as privacyIDEA's override-client setting does, and only
when it is an IP address (plugin_client)."""

import ipaddress


def parse(texts, option="--trusted-proxy"):
    """Networks from addresses or CIDR blocks (e.g. "10.0.0.5", "10.0.0.0/8");
    ValueError in one line, naming `option`, for a bad one."""
    networks = []
    for text in texts:
        text = text.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError("%s %r is not an IP address or network (e.g. 10.0.0.5 or 10.0.0.0/8)"
                             % (option, text[:60]))
    return tuple(networks)


def _address(text):
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(address, networks):
    return address is not None and any(address in n for n in networks)


def client_address(peer, forwarded_for, networks):
    """The client's address for a request from `peer` with these X-Forwarded-For
    header values (a list, in order)."""
    if peer is None or not networks or not _trusted(_address(peer), networks):
        return peer
    hops = [h for value in forwarded_for for h in value.split(",")]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return peer  # a garbled header: count the request against the proxy itself
        if not _trusted(address, networks):
            return str(address)
    return peer


def scheme(peer, forwarded_proto, networks):
    """"https" or "http" as a trusted proxy reports the client's scheme in
    X-Forwarded-Proto (its last value: the proxy's own), else None."""
    if peer is None or not networks or not _trusted(_address(peer), networks) or not forwarded_proto:
        return None
    last = forwarded_proto[-1].split(",")[-1].strip().lower()
    return last if last in ("http", "https") else None


def plugin_client(peer, claimed, networks):
    """The address a login is counted and shown under: `claimed` (a plugin's
    `client` parameter) when `peer` (the caller, after proxy resolution) is a
    trusted plugin host and `claimed` is an IP address, else the peer."""
    if peer is None or not claimed or not _trusted(_address(peer), networks):
        return peer
    address = _address(claimed)
    return str(address) if address is not None else peer
