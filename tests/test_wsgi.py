"""What ``lessonloop web`` puts around the app (service/entry/server.py), through the real process: the
port it reserves, bodies read whole before the app runs, within the limit and the deadline."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import requests

from service.entry.server import PortInUse, declared_length, reserve_port
from tests import payloads
from tests.conftest import GITHUB_SECRET
from tests.processes import Lessonloop, lessonloop_env


def web(tmp_path: Path, **env: str) -> Lessonloop:
    return Lessonloop("web", cwd=tmp_path, env=lessonloop_env(DATABASE_URL=f"sqlite:///{tmp_path / 'l.db'}", **env))


def answer_of(connection: socket.socket) -> bytes:
    """Everything the server sends on ``connection`` until it closes it."""
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def test_port_zero_is_a_port_held_for_as_long_as_it_serves(tmp_path: Path, redis) -> None:
    with web(tmp_path) as server:
        host, port = server.address
        assert port != 0 and server.url == f"http://127.0.0.1:{port}"
        with pytest.raises(PortInUse, match=f"port {port} on 127.0.0.1 is in use"):
            reserve_port(host, port)
        assert requests.get(server.url + "/healthz", timeout=30).status_code == 200


def test_an_oversized_body_is_answered_413_by_the_app_before_it_is_sent(tmp_path: Path, redis) -> None:
    """The workers run on the limit the command read (here from the environment); the app's
    413 with its reason comes back while the client has sent only the headers."""
    with web(tmp_path, LESSONLOOP_MAX_BODY_BYTES="1000") as server:
        server.wait_ready()
        connection = socket.create_connection(server.address, timeout=30)
        connection.sendall(
            b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 5000\r\nConnection: close\r\n\r\n"
        )
        answer = answer_of(connection)
        assert answer.startswith(b"HTTP/1.1 413"), answer
        assert b"body larger than 1000 bytes (LESSONLOOP_MAX_BODY_BYTES)" in answer


def test_a_chunked_delivery_is_read_whole_and_an_oversized_one_refused(tmp_path: Path, redis) -> None:
    delivery = payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET)
    with web(tmp_path) as server:
        server.wait_ready()
        pieces = (delivery.body[i : i + 500] for i in range(0, len(delivery.body), 500))
        sent = requests.post(server.url + delivery.path, data=pieces, headers=delivery.headers, timeout=30)
        assert sent.status_code == 202, sent.text
        too_big = (b" " * 65536 for _ in range(17))  # past the default 1 MiB
        refused = requests.post(server.url + delivery.path, data=too_big, headers=delivery.headers, timeout=30)
        assert refused.status_code == 413, refused.text
        assert "LESSONLOOP_MAX_BODY_BYTES" in refused.json()["reason"]


def test_a_body_late_past_the_read_deadline_is_answered_408_and_closed(tmp_path: Path, redis) -> None:
    with web(tmp_path, LESSONLOOP_READ_TIMEOUT_SECONDS="1") as server:
        server.wait_ready()
        connection = socket.create_connection(server.address, timeout=60)
        connection.sendall(b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        answer = answer_of(connection)
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert b"the request did not arrive in time" in answer


def test_adeclared_length_that_is_not_a_number_is_a_clear_400(tmp_path: Path, redis) -> None:
    with web(tmp_path) as server:
        server.wait_ready()
        connection = socket.create_connection(server.address, timeout=30)
        connection.sendall(b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n")
        answer = answer_of(connection)
        assert answer.startswith(b"HTTP/1.1 400"), answer


def test_a_busy_or_unknown_address_is_a_clear_error() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    try:
        port = taken.getsockname()[1]
        with pytest.raises(PortInUse, match=f"^port {port} on 127.0.0.1 is in use$"):
            reserve_port("127.0.0.1", port)
    finally:
        taken.close()
    with pytest.raises(PortInUse, match="cannot listen on no-such-host.invalid"):
        reserve_port("no-such-host.invalid", 8000)


@pytest.mark.parametrize(
    ("value", "length"),
    [(b"12", 12), (b" 7 ", 7), (b"", None), (b"-5", None), (b"1e3", None), (b"\xb2", None), (b"9" * 5000, None)],
)
def test_a_declared_length_is_ascii_digits_or_refused(value: bytes, length: int | None) -> None:
    """Hostile Content-Length values: superscript digits (which ``str.isdigit`` accepts and
    ``int`` refuses) and 5,000 digits (past ``int``'s limit) are refused, not a 500."""
    assert declared_length({"headers": [(b"content-length", value)]}) == length
    assert declared_length({"headers": []}) == 0
