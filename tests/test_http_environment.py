"""Tracker clients take the proxy and CA settings from the environment as ``requests`` reads them,
once, when built; nothing else in the environment (a ``.netrc``) changes what they send.

Everything here goes over real sockets on loopback: a recording server that plays the proxy or
the tracker, and a TLS server with a certificate made for the test."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from service.trackers.errors import TransientTrackerError
from service.trackers.github.client import GitHubClient
from service.trackers.http.retry import RetryPolicy
from tests.doubles.pytest_plugin import MARKER_KEYS

PROXY_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "NETRC",
)


class _Recorder(BaseHTTPRequestHandler):
    """Answers every request with a GitHub user, recording its request target and headers."""

    def do_GET(self) -> None:
        self.server.seen.append((self.path, dict(self.headers)))  # type: ignore[attr-defined]
        answer = json.dumps({"login": "lessonloop", "id": 1, "name": "Lessonloop"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


def _serve(context: ssl.SSLContext | None = None) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.seen = []  # type: ignore[attr-defined]
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def servers() -> Iterator[tuple[ThreadingHTTPServer, ThreadingHTTPServer]]:
    """(a proxy, a tracker): both the same recorder."""
    made = [_serve(), _serve()]
    yield made[0], made[1]
    for server in made:
        server.shutdown()
        server.server_close()


def _port(server: ThreadingHTTPServer) -> int:
    return server.server_address[1]


def _client(base_url: str) -> GitHubClient:
    return GitHubClient("test-token", base_url, keys=MARKER_KEYS)


def test_a_proxy_from_the_environment_carries_the_requests(monkeypatch: pytest.MonkeyPatch, servers) -> None:
    proxy, _ = servers
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{_port(proxy)}")
    assert _client("http://tracker.invalid/api").whoami().id == "lessonloop"
    [(target, headers)] = proxy.seen
    assert target == "http://tracker.invalid/api/user" and headers["Authorization"] == "Bearer test-token"


def test_no_proxy_sends_straight_to_the_tracker(monkeypatch: pytest.MonkeyPatch, servers) -> None:
    proxy, tracker = servers
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{_port(proxy)}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert _client(f"http://127.0.0.1:{_port(tracker)}/api").whoami().id == "lessonloop"
    assert proxy.seen == [] and [target for target, _ in tracker.seen] == ["/api/user"]


def test_a_proxy_that_names_a_user_is_signed_in_to(monkeypatch: pytest.MonkeyPatch, servers) -> None:
    proxy, _ = servers
    monkeypatch.setenv("HTTP_PROXY", f"http://ops:s3cret@127.0.0.1:{_port(proxy)}")
    _client("http://tracker.invalid/api").whoami()
    [(_, headers)] = proxy.seen
    assert headers["Proxy-Authorization"] == "Basic b3BzOnMzY3JldA=="


def test_the_environment_is_read_once_when_the_client_is_built(monkeypatch: pytest.MonkeyPatch, servers) -> None:
    proxy, tracker = servers
    client = _client(f"http://127.0.0.1:{_port(tracker)}/api")
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{_port(proxy)}")
    client.whoami()
    assert proxy.seen == [] and len(tracker.seen) == 1


def test_a_netrc_entry_never_replaces_the_clients_credentials(
    monkeypatch: pytest.MonkeyPatch, servers, tmp_path: Path
) -> None:
    _, tracker = servers
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password other\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    _client(f"http://127.0.0.1:{_port(tracker)}/api").whoami()
    [(_, headers)] = tracker.seen
    assert headers["Authorization"] == "Bearer test-token"


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lessonloop test tracker")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "tracker.pem", directory / "tracker.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture
def tls_tracker(tmp_path: Path) -> Iterator[tuple[ThreadingHTTPServer, Path]]:
    cert, key = _certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = _serve(context)
    yield server, cert
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_a_ca_bundle_named_in_the_environment_is_trusted(
    monkeypatch: pytest.MonkeyPatch, tls_tracker, variable
) -> None:
    server, cert = tls_tracker
    monkeypatch.setenv(variable, str(cert))
    assert _client(f"https://127.0.0.1:{_port(server)}/api").whoami().id == "lessonloop"


def test_without_the_bundle_the_same_tracker_is_refused(tls_tracker) -> None:
    server, _ = tls_tracker
    client = GitHubClient(
        "test-token", f"https://127.0.0.1:{_port(server)}/api", retry=RetryPolicy(attempts=1), keys=MARKER_KEYS
    )
    with pytest.raises(TransientTrackerError) as caught:
        client.whoami()
    assert "SSLError" in caught.value.message and server.seen == []
