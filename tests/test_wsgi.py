"""The web server's loop with one thread a process (``lessonloop web``'s default): each request
runs in the loop's own thread, and what that could break does not break: a stop signal waits for
the request in hand, a long request does not make the other connections late, a large answer to
a client that does not read does not stop the loop.

The server is :func:`service.wsgi.make_server` on port 0, its loop run in a thread of the test
(or, for the stop signal, in the test's own thread: Python runs signal handlers there only)."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from flask import Flask, Response

from config.settings import Settings, load_settings
from service import prefork
from service.wsgi import ReceiverServer, make_server

BIG_ANSWER = 32 * 1024 * 1024
"""Past waitress's 16 MiB, where it makes the thread running a request wait for the loop."""


def deadline(seconds: float) -> Callable[[], bool]:
    ends = time.monotonic() + seconds
    return lambda: time.monotonic() < ends


def settings_with(tmp_path, read_timeout_seconds: int) -> Settings:
    """The server reads only its own settings; no store or Redis is touched here."""
    return load_settings(
        {"LESSONLOOP_READ_TIMEOUT_SECONDS": str(read_timeout_seconds), "DATABASE_URL": f"sqlite:///{tmp_path}/l.db"},
        None,
    )


@pytest.fixture
def server_settings(tmp_path) -> Settings:
    return settings_with(tmp_path, 2)


@pytest.fixture
def loop_server(server_settings: Settings) -> Iterator[Callable[..., ReceiverServer]]:
    """Serve an app with one thread, its loop running in a thread of the test named
    ``server-loop``."""
    from waitress import wasyncore

    running: list[tuple[ReceiverServer, threading.Thread]] = []

    def start(app: Flask, settings: Settings = server_settings) -> ReceiverServer:
        server = make_server(app, settings, "127.0.0.1", 0, threads=1)
        thread = threading.Thread(target=server.run, name="server-loop", daemon=True)
        thread.start()
        running.append((server, thread))
        return server

    yield start
    for server, thread in running:
        server.task_dispatcher.shutdown()
        wasyncore.close_all(server._map)
        thread.join(timeout=5)


def url(server: ReceiverServer, path: str) -> str:
    return f"http://127.0.0.1:{server.effective_port}{path}"


def test_with_one_thread_each_request_runs_in_the_servers_loop(loop_server) -> None:
    """No worker thread: the request runs in the thread that polls the sockets."""
    app = Flask("loop")
    app.get("/thread")(lambda: threading.current_thread().name)
    server = loop_server(app)
    session = requests.Session()
    for _ in range(3):  # kept alive: the second and third are the loop's next passes
        assert session.get(url(server, "/thread"), timeout=10).text == "server-loop"
    assert not [thread.name for thread in threading.enumerate() if thread.name.startswith("waitress-")]


def test_a_long_request_does_not_make_the_other_connections_late(loop_server, tmp_path) -> None:
    """A client starts a request, and while the loop runs another client's long request (longer
    than the read deadline), sends the rest. Its bytes waited unread in the kernel: it is
    answered, not dropped as late. (Without the loop's time on the long request excused, the
    deadline check that follows it dropped the first client.) The deadline is 4 s, so that a
    loaded machine still starts the long request well within it."""
    started, release = threading.Event(), threading.Event()
    app = Flask("loop")

    @app.get("/long")
    def long() -> str:
        started.set()
        release.wait(30)
        return "long done"

    app.get("/healthz")(lambda: "ok")
    server = loop_server(app, settings_with(tmp_path, 4))
    begun = time.monotonic()
    patient = socket.create_connection(("127.0.0.1", server.effective_port), timeout=30)
    patient.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    in_time = deadline(30)
    while in_time() and not any(channel.request is not None for channel in list(server.active_channels.values())):
        time.sleep(0.01)  # until the loop has read the first half
    assert any(channel.request is not None for channel in list(server.active_channels.values()))

    with requests.Session() as other:
        answer: dict[str, Any] = {}
        long_request = threading.Thread(
            target=lambda: answer.setdefault("long", other.get(url(server, "/long"), timeout=60)), daemon=True
        )
        long_request.start()
        assert started.wait(30)
        patient.sendall(b"Connection: close\r\n\r\n")  # complete, within the deadline
        assert time.monotonic() - begun < server.read_timeout, "too slow a machine to tell"
        while time.monotonic() - begun < server.read_timeout + 0.5:
            time.sleep(0.05)  # the long request outlasts the deadline
        release.set()
        long_request.join(60)
        assert answer["long"].text == "long done"

    received = b""
    while chunk := patient.recv(65536):
        received += chunk
    assert received.startswith(b"HTTP/1.1 200 ") and received.endswith(b"ok"), received
    patient.close()


def test_a_large_answer_to_a_client_that_does_not_read_leaves_the_loop_serving(loop_server) -> None:
    """A 32 MiB answer, written in 1 MiB pieces, to a client that reads nothing yet: the loop
    buffers it (past 1 MiB in a file) and serves others meanwhile; the client then gets every
    byte. Waitress would make the request's thread wait for the loop to send past 16 MiB, and
    here that thread is the loop."""
    app = Flask("loop")
    chunk = 1024 * 1024

    @app.get("/big")
    def big() -> Response:  # in pieces: waitress looks at what is unsent before each
        pieces = (b"x" * chunk for _ in range(BIG_ANSWER // chunk))
        return Response(pieces, headers={"Content-Length": str(BIG_ANSWER)})

    app.get("/healthz", endpoint="healthz")(lambda: "ok")
    server = loop_server(app)
    reader = socket.create_connection(("127.0.0.1", server.effective_port), timeout=60)
    reader.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    for _ in range(3):
        assert requests.get(url(server, "/healthz"), timeout=10).text == "ok"

    received = bytearray()
    while chunk := reader.recv(1 << 20):
        received += chunk
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and len(body) == BIG_ANSWER
    reader.close()


def test_a_stop_signal_during_a_request_in_the_loop_lets_it_finish(server_settings: Settings) -> None:
    """SIGTERM lands while the loop runs a request: the request is finished and answered, and
    the loop stops after it. (The stop handler raises SystemExit; raised inside the request, it
    would cut it off mid-way, between recording a delivery and answering it.)"""
    from waitress import wasyncore

    app = Flask("loop")

    @app.get("/stop-me")
    def stop_me() -> str:
        os.kill(os.getpid(), signal.SIGTERM)
        worked = sum(range(200_000))  # bytecodes enough for the handler to run in between
        return f"finished {worked}"

    server = make_server(app, server_settings, "127.0.0.1", 0, threads=1)
    answers: dict[str, Any] = {}

    def ask() -> None:
        try:
            answers["stop-me"] = requests.get(url(server, "/stop-me"), timeout=30)
        except requests.RequestException as error:
            answers["stop-me"] = error

    earlier = {number: signal.getsignal(number) for number in prefork.STOP_SIGNALS}
    prefork.install_stop_handlers()
    client = threading.Thread(target=ask, daemon=True)
    try:
        client.start()
        server.run()  # returns once stopped
    finally:
        for number, handler in earlier.items():
            signal.signal(number, handler)
        stopped = prefork.stop_requested()
        prefork._stop_requested = False
        wasyncore.close_all(server._map)
    client.join(30)
    assert stopped
    answer = answers["stop-me"]
    assert isinstance(answer, requests.Response), answer
    assert answer.status_code == 200 and answer.text == f"finished {sum(range(200_000))}"
