"""The trackers' transport (``service/trackers/transport.py``) against a real server on loopback:
redirects as ``requests`` follows them, the answer read whole, failures told by kind, one send per
call whatever the answer (retrying answers is :mod:`service.trackers.http.retry`'s), and the shared
rate limiter around every send of the session."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from redis import Redis

from service.trackers.http.ratelimit import RateLimited, RateLimiter, credential_key, per_minute
from service.trackers.http.transport import InvalidHeader, NoAnswer, Transport


class _Recorder(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, dict[str, str], bytes]]

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append((self.command, self.path, dict(self.headers), body))  # type: ignore[attr-defined]
        if self.path.startswith("/api/drop"):  # read the request, then hang up without a word
            self.close_connection = True
            return
        if self.path.startswith("/api/busy"):
            self.send_response(503)
            self.send_header("Retry-After", "0")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.startswith("/api/moved"):
            status = 301 if self.command == "GET" else 307
            self.send_response(status)
            self.send_header("Location", self.path.replace("/api/moved", "/new", 1))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.startswith("/api/away"):
            self.send_response(307)
            other = self.server.other  # type: ignore[attr-defined]
            self.send_header("Location", f"http://localhost:{other}/new")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        answer = json.dumps({"method": self.command, "path": self.path}).encode("utf-16")
        self.send_response(200)
        self.send_header("Set-Cookie", "JSESSIONID=tracker-session; Path=/")
        self.send_header("Content-Type", "application/json; charset=utf-16")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST = do_PATCH = _handle

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture
def servers() -> Iterator[tuple[ThreadingHTTPServer, ThreadingHTTPServer]]:
    made = []
    for _ in range(2):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
        server.seen = []  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        made.append(server)
    made[0].other = made[1].server_address[1]  # type: ignore[attr-defined]
    yield made[0], made[1]
    for server in made:
        server.shutdown()
        server.server_close()


def _base(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/api"


def test_an_answer_is_read_whole_with_its_charset(servers) -> None:
    here, _ = servers
    transport = Transport(_base(here), {"Authorization": "Bearer t"}, 5.0)
    answer = transport.send("GET", "/issues/1", params={"fields": "a b", "page": 2})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/json")
    assert answer.json() == {"method": "GET", "path": "/api/issues/1?fields=a+b&page=2"}
    assert json.loads(answer.text) == answer.json()


def test_a_write_is_sent_as_json_and_a_moved_one_follows_with_its_method(servers) -> None:
    here, _ = servers
    transport = Transport(_base(here), {"Authorization": "Bearer t"}, 5.0)
    answer = transport.send("POST", "/moved/comments", json_body={"body": "lesson"})
    assert answer.json() == {"method": "POST", "path": "/new/comments"}  # 307 keeps the method and body
    method, path, headers, body = here.seen[-1]
    assert (method, path, json.loads(body)) == ("POST", "/new/comments", {"body": "lesson"})
    assert headers["Content-Type"] == "application/json" and headers["Authorization"] == "Bearer t"
    assert transport.send("GET", "/moved/issues/1").json() == {"method": "GET", "path": "/new/issues/1"}


def test_a_header_given_for_one_call_replaces_the_default_whatever_its_case(servers) -> None:
    here, _ = servers
    transport = Transport(_base(here), {"Authorization": "Bearer app"}, 5.0)
    transport.send("GET", "/installation", headers={"authorization": "Bearer jwt"})
    _, _, headers, _ = here.seen[-1]
    assert [value for name, value in headers.items() if name.lower() == "authorization"] == ["Bearer jwt"]


def test_a_redirect_to_another_host_drops_the_credentials(servers) -> None:
    here, there = servers
    transport = Transport(_base(here), {"Authorization": "Bearer secret"}, 5.0)
    assert transport.send("GET", "/away").status_code == 200
    _, path, headers, _ = there.seen[-1]
    assert path == "/new" and "Authorization" not in headers


def test_a_header_that_would_split_the_request_is_refused_unsent(servers) -> None:
    here, _ = servers
    transport = Transport(_base(here), {"Authorization": "Bearer ghp_leaky\n"}, 5.0)
    with pytest.raises(InvalidHeader) as caught:
        transport.send("GET", "/user")
    assert "ghp_leaky" not in str(caught.value) and "Authorization" in str(caught.value)
    with pytest.raises(InvalidHeader):
        Transport(_base(here), {}, 5.0).send("GET", "/user", headers={"X-Smuggled": "a\r\nHost: evil"})
    assert here.seen == []


def test_a_refused_connection_never_reached_the_tracker() -> None:
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        port = spare.getsockname()[1]
    with pytest.raises(NoAnswer) as caught:
        Transport(f"http://127.0.0.1:{port}", {}, 2.0).send("POST", "/x", json_body={})
    assert caught.value.kind == "connection failed" and caught.value.never_connected


def test_an_answer_that_never_comes_times_out_and_may_have_applied() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        transport = Transport(f"http://127.0.0.1:{silent.getsockname()[1]}", {}, (2.0, 0.2))
        with pytest.raises(NoAnswer) as caught:
            transport.send("POST", "/x", json_body={})
    assert caught.value.kind == "timed out" and not caught.value.never_connected
    assert str(caught.value) == "timed out: ReadTimeoutError"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_connection_dropped_after_the_request_is_not_sent_again(servers, method: str) -> None:
    """The request reached the tracker (a write may have been applied): urllib3 must not re-send
    it; whether to try again is the client's decision, made knowing that."""
    here, _ = servers
    with pytest.raises(NoAnswer) as caught:
        Transport(_base(here), {}, 5.0).send(
            method, "/drop", json_body={"body": "lesson"} if method == "POST" else None
        )
    assert caught.value.kind == "connection failed" and not caught.value.never_connected
    assert [m for m, *_ in here.seen] == [method]


@pytest.mark.parametrize("method", ["GET", "PATCH", "POST"])
def test_an_answer_that_asks_to_try_again_is_handed_back_after_one_send(servers, method: str) -> None:
    """A 503 with ``Retry-After`` goes back to the client as it came: each attempt must take its own
    rate-limit slot, and the wait the tracker asks for must be capped and shared."""
    here, _ = servers
    answer = Transport(_base(here), {}, 5.0).send(method, "/busy", json_body={} if method != "GET" else None)
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "0"
    assert len(here.seen) == 1


def test_the_rate_limiter_paces_every_send_of_the_session(servers, redis: Redis) -> None:
    here, _ = servers
    transport = Transport(_base(here), {}, 5.0, tracker="github")
    transport.adapter.limiter = RateLimiter(
        redis, "github", credential_key("github", _base(here), "t"), per_minute(1), max_wait=0.0
    )
    assert transport.session.get(_base(here) + "/issues/1", timeout=5.0).status_code == 200
    with pytest.raises(RateLimited):
        transport.send("GET", "/issues/2")
    assert [path for _, path, *_ in here.seen] == ["/api/issues/1"]


def test_a_cookie_the_tracker_sets_is_never_sent_back(servers) -> None:
    """A session cookie would go on signing requests in after the credentials were refused."""
    here, _ = servers
    transport = Transport(_base(here), {"Authorization": "Bearer t"}, 5.0)
    transport.send("GET", "/issues/1")
    transport.send("GET", "/issues/2")
    assert [headers.get("Cookie") for _, _, headers, _ in here.seen] == [None, None]
