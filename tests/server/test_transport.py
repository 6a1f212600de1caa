"""What `dsc serve` does at the connection level: TLS (--tls-cert/--tls-key), the
client address behind a trusted reverse proxy (--trusted-proxy), header size and
time limits, the body time limit, and refusals of bad options in one line."""

import datetime
import ipaddress
import json
import socket
import ssl
import subprocess
import sys
import time

import httpx
import pytest
from hypothesis import given, settings, strategies as st

from host.server import proxies
from tests.server.conftest import PASSWORD, ROOT, Server, in_own_thread, make_db

START = "/api/v1/login/start"


def self_signed(tmp):
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return str(cert_path), str(key_path)


pytestmark = pytest.mark.xdist_group("transport")  # one server for the module, on one worker


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """HTTPS, behind a "proxy" at 127.0.0.1, with a per-address limit of 3 attempts."""
    tmp = tmp_path_factory.mktemp("tls")
    db, keyring = make_db(tmp)
    cert, key = self_signed(tmp)
    policy = tmp / "policy.json"
    policy.write_text(json.dumps({"throttle_per_address": 3, "throttle_per_user": 0, "throttle_window": 600}))
    s = Server(tmp, db, keyring, extra_env={"DSC_POLICY_FILE": str(policy), "DSC_HEADER_TIMEOUT": "1",
                                            "DSC_BODY_TIMEOUT": "1"},
               args=("--tls-cert", cert, "--tls-key", key, "--trusted-proxy", "127.0.0.1"))
    s.cert = cert
    yield s
    s.stop()
    assert PASSWORD not in s.log_text() and "Traceback" not in s.log_text()


def test_tls_serves_https_and_refuses_plain_http(tls_server):
    assert tls_server.url.startswith("https://127.0.0.1:")
    with httpx.Client(base_url=tls_server.url, verify=ssl.create_default_context(cafile=tls_server.cert)) as c:
        assert c.get("/healthz").status_code == 200
    with pytest.raises(httpx.HTTPError):
        httpx.get(tls_server.url.replace("https://", "http://") + "/healthz", timeout=5)


def test_the_client_behind_a_trusted_proxy_is_throttled_by_its_own_address(tls_server):
    verify = ssl.create_default_context(cafile=tls_server.cert)
    with httpx.Client(base_url=tls_server.url, verify=verify, timeout=30) as c:
        def attempt(forwarded):
            return c.post(START, json={"username": "carol", "password": "wrong-guess"},
                          headers={"X-Forwarded-For": forwarded}).status_code

        sprayer = "203.0.113.5"
        assert [attempt(sprayer) for _ in range(3)] == [401, 401, 401]
        assert attempt(sprayer) == 429
        # prepending a made-up hop does not escape: the proxy appended the real one last
        assert attempt("198.51.100.77, " + sprayer) == 429
        assert attempt("203.0.113.6") == 401  # another client behind the same proxy is not punished
    time.sleep(0.2)
    log = tls_server.log_text()
    assert "dsc.access INFO 203.0.113.5 " in log and "dsc.access INFO 203.0.113.6 " in log
    assert "198.51.100.77" not in log


def test_without_trusted_proxies_x_forwarded_for_is_ignored(server, http):
    before = server.log_text().count("dsc.access INFO 127.0.0.1 ")
    assert http.get("/healthz", headers={"X-Forwarded-For": "192.0.2.99"}).status_code == 200
    time.sleep(0.2)
    assert "192.0.2.99" not in server.log_text()
    assert server.log_text().count("dsc.access INFO 127.0.0.1 ") == before + 1


def _raw(url, data, pieces=1, wait=5.0):
    """Send raw bytes to the server (in `pieces` writes); everything it answers until it closes."""
    host, port = url.split("://")[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=wait) as s:
        step = -(-len(data) // pieces)
        for at in range(0, len(data), step):
            try:
                s.sendall(data[at:at + step])
            except OSError:  # closed on us mid-way: its answer is what counts
                break
            time.sleep(0.005 if pieces > 1 else 0)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                return b"".join(chunks), False
            if not chunk:
                return b"".join(chunks), True
            chunks.append(chunk)


@pytest.mark.parametrize("pieces", [1, 40])
def test_headers_over_the_limit_are_refused_in_json_and_the_connection_closes(server, pieces):
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 20000 + b"\r\n\r\n"
    answer, closed = _raw(server.url, request, pieces)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] in (b"400", b"431") and closed, head
    assert json.loads(body)["error"] in ("bad-request", "headers-too-large")
    # an ordinary request with big-but-allowed headers still works
    assert httpx.get(server.url + "/healthz", headers={"X-Pad": "a" * 8000}).status_code == 200


def _tls_raw(server, data, wait):
    host, port = server.url.split("://")[1].rsplit(":", 1)
    context = ssl.create_default_context(cafile=server.cert)
    begun = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=wait) as raw:
        with context.wrap_socket(raw, server_hostname=host) as s:
            s.sendall(data)
            chunks = []
            while True:
                try:
                    chunk = s.recv(65536)
                except (socket.timeout, ssl.SSLError):
                    break
                if not chunk:
                    break
                chunks.append(chunk)
    return b"".join(chunks), time.monotonic() - begun


def test_a_client_that_never_finishes_its_headers_is_cut_off(tls_server):
    answer, took = _tls_raw(tls_server, b"POST /api/v1/login/start HTTP/1.1\r\nHost: x\r\n", wait=8)
    assert answer == b"" and took < 6  # closed by the server (header timeout 1 s here), not by our 8 s


def test_a_body_that_never_arrives_gets_408(tls_server):
    head = (b"POST /api/v1/login/start HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n{\"username\": ")
    answer, took = _tls_raw(tls_server, head, wait=8)
    status, _, rest = answer.partition(b"\r\n")
    assert status.startswith(b"HTTP/1.1 408") and took < 6
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["error"] == "timeout"


@pytest.mark.parametrize("args, expected", [
    (["--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem"], "no such file"),
    (["--tls-cert", "CERT"], "--tls-cert and --tls-key go together"),
    (["--tls-cert", "KEY", "--tls-key", "KEY"], "cannot use --tls-cert/--tls-key"),
    (["--trusted-proxy", "proxy.example"], "is not an IP address or network"),
    (["--trusted-plugin", "10.0.0.5", "--trusted-plugin", "radius.example"],
     "--trusted-plugin 'radius.example' is not an IP address or network"),
    (["--public-url", "login.example.com"], "--public-url (DSC_PUBLIC_URL) must be an http:// or https:// address"),
])
def test_bad_transport_options_are_refused_in_one_line(tmp_path, args, expected):
    db, keyring = make_db(tmp_path, users=("alice",))
    cert, key = self_signed(tmp_path)
    args = [{"CERT": cert, "KEY": key}.get(a, a) for a in args]
    r = subprocess.run([sys.executable, "-m", "host.cli", "serve", "--listen", "127.0.0.1:0", "--db", db, *args],
                       cwd=ROOT, env={"DSC_MASTER_KEY_FILE": keyring, "PATH": "/usr/bin:/bin"},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and expected in r.stderr, r.stderr
    assert "BEGIN" not in r.stderr


ADDRESSES = st.ip_addresses(v=4).map(str)


@given(peer=ADDRESSES, hops=st.lists(ADDRESSES, max_size=5), trusted=st.lists(ADDRESSES, max_size=3))
def test_the_client_address_is_never_a_trusted_proxy_unless_every_hop_is(peer, hops, trusted):
    networks = proxies.parse(trusted)
    found = proxies.client_address(peer, [", ".join(hops)] if hops else [], networks)
    if peer not in trusted:
        assert found == peer  # an untrusted peer's header is ignored
    elif any(h not in trusted for h in hops):
        assert found == [h for h in hops if h not in trusted][-1]  # the nearest untrusted hop
    else:
        assert found == peer


@given(peer=ADDRESSES, claimed=st.one_of(ADDRESSES, st.ip_addresses(v=6).map(str), st.text(max_size=20)),
       trusted=st.booleans())
def test_a_plugins_client_counts_only_from_a_trusted_plugin_host_and_only_as_an_ip_address(peer, claimed, trusted):
    networks = proxies.parse([peer] if trusted else [], "--trusted-plugin")
    found = proxies.plugin_client(peer, claimed, networks)
    try:
        address = str(ipaddress.ip_address(claimed.strip().strip("[]")))
    except ValueError:
        address = None
    assert found == (address if trusted and address else peer)


def test_the_portal_cookie_is_secure_when_the_client_used_https(tls_server, server):
    verify = ssl.create_default_context(cafile=tls_server.cert)

    def cookie_flags(url, **headers):
        with httpx.Client(verify=verify) as fresh:  # no cookie yet: the answer sets one
            cookie = fresh.get(url + "/login", headers=headers).headers["set-cookie"]
        return [flag.strip().lower() for flag in cookie.split(";")[1:]]

    assert "secure" in cookie_flags(tls_server.url)  # TLS in dsc serve itself
    # its trusted proxy (127.0.0.1 here) says its client came over plain HTTP: believed
    assert "secure" not in cookie_flags(tls_server.url, **{"X-Forwarded-Proto": "http"})
    # a server that trusts no proxy ignores the header: plain HTTP, no Secure flag
    assert "secure" not in cookie_flags(server.url, **{"X-Forwarded-Proto": "https"})


@given(peer=ADDRESSES, values=st.lists(st.sampled_from(["http", "https", "HTTPS", "ftp", "", "https, http"]),
                                       max_size=3), trusted=st.booleans())
def test_x_forwarded_proto_counts_only_from_a_trusted_proxy(peer, values, trusted):
    networks = proxies.parse([peer] if trusted else [])
    found = proxies.scheme(peer, values, networks)
    if not trusted or not values:
        assert found is None
    else:
        last = values[-1].split(",")[-1].strip().lower()
        assert found == (last if last in ("http", "https") else None)


class _Transport:
    """What the protocol writes, and whether it closed the connection."""

    def __init__(self):
        self.out, self.closed = bytearray(), False

    def write(self, data):
        self.out += data

    def close(self):
        self.closed = True

    def is_closing(self):
        return self.closed

    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass


def _connection(stream, cuts):
    """`stream` fed to one connection of dsc serve's protocol in reads cut at `cuts`, to an
    app that answers each request with its body's length: (what was written, closed, requests the app saw)."""
    import asyncio

    from uvicorn.config import Config
    from uvicorn.server import ServerState

    from host.server.protocol import Protocol

    seen = []

    async def app(scope, receive, send):
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen.append(scope["path"])
        answer = str(len(body)).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(answer)).encode())]})
        await send({"type": "http.response.body", "body": answer})

    async def run():
        config = Config(app, http=Protocol, lifespan="off", proxy_headers=False, access_log=False, log_config=None)
        config.load()
        protocol = Protocol(config=config, server_state=ServerState(), app_state={}, _loop=asyncio.get_running_loop())
        transport = _Transport()
        protocol.connection_made(transport)
        bounds = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
        for start, end in zip(bounds, bounds[1:]):
            if transport.closed:
                break
            protocol.data_received(stream[start:end])
            for _ in range(10):  # let the app's tasks answer
                await asyncio.sleep(0)
        for _ in range(50):
            await asyncio.sleep(0)
        closed = transport.closed
        protocol.connection_lost(None)
        return bytes(transport.out), closed

    out, closed = in_own_thread(asyncio.run, run())
    return out, closed, seen


def _request(number, pad, body):
    return (b"POST /r%d HTTP/1.1\r\nHost: x\r\nX-Pad: %s\r\nContent-Length: %d\r\n\r\n%s"
            % (number, b"a" * pad, len(body), body))


@settings(max_examples=60, deadline=None)
@given(requests=st.lists(st.tuples(st.integers(0, 9000), st.integers(0, 70000)), min_size=1, max_size=4),
       cuts=st.lists(st.integers(0, 10**6), max_size=12))
def test_requests_under_the_head_limit_are_answered_however_their_bytes_arrive(requests, cuts):
    """Heads under the limit with bodies of any size up to the app's (whole in one read,
    or cut anywhere, several requests pipelined in one read): each is answered, in order,
    and the connection stays open. A read in which a whole request ended once counted as
    head bytes, and a 100 KB body in one read was refused 400."""
    stream = b"".join(_request(i, pad, b"b" * size) for i, (pad, size) in enumerate(requests))
    out, closed, seen = _connection(stream, cuts)
    answers = out.split(b"HTTP/1.1 ")[1:]
    assert [a.split(b" ", 1)[0] for a in answers] == [b"200"] * len(requests), out[:300]
    assert [a.rpartition(b"\r\n\r\n")[2] for a in answers] == [str(size).encode() for _, size in requests]
    assert seen == ["/r%d" % i for i in range(len(requests))] and not closed


@settings(max_examples=40, deadline=None)
@given(pad=st.integers(17000, 60000), cuts=st.lists(st.integers(0, 10**6), max_size=40))
def test_a_head_over_the_limit_is_refused_in_json_however_it_arrives(pad, cuts):
    """Cut anywhere, a head over the limit is answered 400 in the JSON shape, the connection
    closes, and the app never sees the request; if it arrives in pieces, the server stops
    reading it by the limit plus one read, not at its end."""
    out, closed, seen = _connection(_request(0, pad, b"{}"), cuts)
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ") and closed and seen == []
    assert json.loads(body)["error"] == "bad-request"
