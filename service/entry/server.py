"""Serving the Flask app with granian, built in each worker from the settings the command loaded.

Why granian (docs/server.md and docs/design.md have the measurements): its HTTP/1 parsing, its
header deadline and its connections live in Rust, so a client that stalls before its headers
are complete costs a socket, never a Python thread, and is dropped at
``LESSONLOOP_READ_TIMEOUT_SECONDS``. Granian does not bound how long a request *body* may take
to arrive (emmett-framework/granian#728, closed as won't fix), and its WSGI interface hands the
app a ``wsgi.input`` whose reads block a thread until the body is in. So the app is served
through granian's ASGI interface: :class:`ArrivalDeadline` reads each body on the event loop,
within the same deadline and at most one byte past ``max_body_bytes``, and only a request that
has arrived whole reaches the Flask app (:class:`WholeAnswers`: in the event loop's thread, or
on a pool of ``--threads`` threads).

The listening port is reserved here before granian starts (:func:`reserve_port`): a busy port
is a one-line error before anything says "listening", and ``--port 0`` is resolved once to a
port this process holds until it exits (granian cannot report the port it picked,
emmett-framework/granian#711).
"""

from __future__ import annotations

import asyncio
import errno
import io
import os
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.settings import Settings
from service.infra import logs

BACKLOG = 2048
WORKER_STOP_SECONDS = 20
"""How long a stopping worker may take to finish the requests it holds before it is killed."""
ANNOUNCE_WITHIN_SECONDS = 120.0
CONFIG_ENV = "LESSONLOOP_CONFIG"
THREADS_ENV = "LESSONLOOP_WEB_THREADS"
log = logs.get(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class PortInUse(Exception):
    """The address the web should listen on is taken (or not this machine's)."""


def default_count() -> int:
    """Two processes for each core this process may run on (one runs Python while the other
    waits on the store or Redis), at most 4 (set more with ``--processes`` or ``[server]
    web_processes`` on a bigger machine)."""
    return max(2, min(4, 2 * len(os.sched_getaffinity(0))))


def reserve_port(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port`` (0: a free port, read back with ``getsockname``),
    not listening, that granian's own listeners may then share (SO_REUSEPORT is set only
    after the bind, so the bind itself fails on a port any other socket holds, including
    another lessonloop's). Keep it open while serving: it holds the port."""
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        raise PortInUse(f"cannot listen on {host}: {error.strerror}") from None
    reserved = socket.socket(family, kind, protocol)
    try:
        if family == socket.AF_INET6:
            reserved.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT, never a listener
        reserved.bind(address)
        reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    except OSError as error:
        reserved.close()
        if error.errno == errno.EADDRINUSE:
            raise PortInUse(f"port {port} on {host} is in use") from None
        raise PortInUse(f"cannot listen on {host} port {port}: {error.strerror}") from None
    return reserved


def shown_address(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


@dataclass(frozen=True)
class _Command:
    """What ``lessonloop web`` loaded, for the workers granian forks from it."""

    settings: Settings
    threads: int


_command: _Command | None = None


def serve(settings: Settings, host: str, port: int, threads: int, processes: int) -> int:
    """Serve until SIGTERM or SIGINT (granian then lets each worker finish the requests it
    holds, for up to ``WORKER_STOP_SECONDS``); a worker that dies is replaced. Raises
    :class:`PortInUse` before printing anything when the port is taken."""
    global _command
    reserved = reserve_port(host, port)
    bound = reserved.getsockname()[1]
    _command = _Command(settings, threads)  # forked workers read it; others load as app_for_worker says
    os.environ[THREADS_ENV] = str(threads)
    if settings.config_file:
        os.environ[CONFIG_ENV] = str(Path(settings.config_file).resolve())
    server = granian_server(settings, host, bound, processes)
    threading.Thread(target=_announce, args=(host, bound), name="lessonloop-announce", daemon=True).start()
    log.info("web serving", processes=processes, threads_each=threads)
    try:
        server.serve()
    except SystemExit as stop:  # granian's way to say a worker exited unasked, or kept failing
        if server.interrupt_signal:
            # a stop was asked for (SIGTERM or SIGINT; granian's handler sets the flag): workers
            # that the same signal reached first, as systemd's KillMode=control-group sends it to
            # every process, are stopping, not failing
            return 0
        return stop.code if isinstance(stop.code, int) else 1
    finally:
        reserved.close()
    return 0


def granian_server(settings: Settings, host: str, port: int, processes: int) -> Any:
    """Granian, configured (docs/server.md has the table): HTTP/1 only, the ASGI interface
    without lifespan (:func:`app_for_worker` builds everything), the header deadline in ms."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    # its startup lines only when debugging; its warnings (a worker killed, one that exited) always
    level = LogLevels.info if settings.server.log_level.lower() == "debug" else LogLevels.warning
    return Granian(
        "service.entry.server:app_for_worker",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGINL,
        http=HTTPModes.http1,
        http1_settings=HTTP1Settings(header_read_timeout=settings.server.read_timeout_seconds * 1000),
        workers=processes,
        backlog=BACKLOG,
        respawn_failed_workers=True,
        workers_kill_timeout=WORKER_STOP_SECONDS,
        log_level=level,
        websockets=False,
    )


def _announce(host: str, port: int) -> None:
    """Say where the web listens once a worker accepts connections there (granian starts its
    workers after :func:`serve` has handed it the port; before that, connections are refused)."""
    target = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    deadline = time.monotonic() + ANNOUNCE_WITHIN_SECONDS
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((target, port), timeout=1):
                pass
        except OSError:
            time.sleep(0.05)
            continue
        logs.say(f"lessonloop: web listening on {shown_address(host, port)}")
        return
    log.error("no web worker accepted connections", seconds=ANNOUNCE_WITHIN_SECONDS)


def app_for_worker() -> AsgiApp:
    """Granian's factory target, run in each worker: the app on the settings ``lessonloop web``
    loaded. A forked worker has them in memory; a worker started afresh (another start method)
    loads them from the file the command read (``LESSONLOOP_CONFIG``, set to its full path) and
    the same environment."""
    # until granian installs the worker's own handlers, the ones inherited from its main process
    # would swallow a stop signal (and the worker then ran until killed): stop outright instead,
    # nothing is in hand yet
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if _command is not None:
        settings, threads = _command.settings, _command.threads
    else:
        from config.settings import load_settings

        settings, threads = load_settings(), int(os.environ.get(THREADS_ENV, "1"))
    app = build_asgi(settings, threads)
    _stop_when_orphaned(os.getppid())
    log.info("web process ready", threads=threads)
    return app


def _stop_when_orphaned(parent: int) -> None:
    """SIGTERM this worker once the process that started it is gone (killed outright, say by
    the OOM killer): granian's workers would otherwise serve the port unsupervised, and a new
    ``lessonloop web`` could not bind it."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        log.warning("web process stopping: the process that started it is gone")
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="lessonloop-orphan-watch", daemon=True).start()


def build_asgi(settings: Settings, threads: int) -> AsgiApp:
    """The Flask app on ``settings`` with its own store and Redis clients, behind the arrival
    deadline, run by ``threads`` threads (one: the event loop's own)."""
    from service.entry.app import create_app, web_runtime
    from service.infra.runtime import all_secrets

    logs.configure(settings.server.log_level, settings.server.log_format, all_secrets(settings))
    app = create_app(settings, web_runtime(settings, threads))
    return ArrivalDeadline(
        WholeAnswers(app, threads),
        seconds=settings.server.read_timeout_seconds,
        max_body=settings.server.max_body_bytes,
    )


Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


class WholeAnswers:
    """Runs the WSGI app on a request whose body is already in, and sends its answer whole.

    With one thread (the default) the app runs in the worker's event loop thread: no handoff to
    a thread and back per request. a2wsgi's ``WSGIMiddleware`` hands each request to a thread
    and each part of the answer back to the loop (four switches a request), which costs the
    server about twice the CPU per ``/healthz`` (docs/benchmarks.md). Granian parses and
    times out the headers in its own threads meanwhile, and a body whose client stalls waits in
    :class:`ArrivalDeadline`, never here. With more threads, requests run on a pool of that many.
    a2wsgi builds the WSGI environ from the ASGI scope."""

    def __init__(self, app: Callable[..., Any], threads: int) -> None:
        self.app = app
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="lessonloop-web") if threads > 1 else None

    async def __call__(self, scope: Scope, body: bytes, send: Send) -> None:
        from a2wsgi.wsgi import build_environ

        environ = build_environ(scope, io.BytesIO(body))  # type: ignore[arg-type]
        if self.pool is None:
            status, headers, content = _run_wsgi(self.app, environ)
        else:
            status, headers, content = await asyncio.get_running_loop().run_in_executor(
                self.pool, _run_wsgi, self.app, environ
            )
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})


def _run_wsgi(app: Callable[..., Any], environ: Mapping[str, object]) -> Answer:
    """The app's answer to ``environ``: status, headers, and the body joined."""
    started: list[tuple[int, list[tuple[bytes, bytes]]]] = []
    parts: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        started[:] = [
            (int(status.split(" ", 1)[0]), [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers])
        ]
        return parts.append

    result = app(environ, start_response)
    try:
        parts.extend(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    status, headers = started[0]
    return status, headers, b"".join(parts)


class ArrivalDeadline:
    """ASGI middleware: the request body is read whole on the event loop before the app sees
    it, within ``seconds`` of the headers, and never past ``max_body`` + 1 bytes. A body that
    does not arrive in time is answered 408 and its connection closed; a stalled client
    therefore never holds one of the app's threads. A declared ``Content-Length`` over the
    limit is not read at all: the app answers it 413, with its reason, from the header."""

    def __init__(self, app: WholeAnswers, seconds: float, max_body: int) -> None:
        self.app = app
        self.seconds = seconds
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # granian's asginl interface sends no lifespan; websockets are off
            return
        declared = declared_length(scope)
        if declared is None:
            await _answer(send, 400, b'{"status":"error","reason":"Content-Length is not a number"}')
            return
        if declared > self.max_body:
            body = b""
        else:
            try:
                async with asyncio.timeout(self.seconds):
                    body = await _read_body(receive, self.max_body + 1)
            except TimeoutError:
                await _answer(send, 408, b'{"status":"error","reason":"the request did not arrive in time"}')
                return
        await self.app(_with_length(scope, body), body, send)


def _with_length(scope: Scope, body: bytes) -> Scope:
    """``scope`` as the app should see a chunked request once read whole: its length declared,
    its chunking gone (a WSGI app reads no body of a request still marked chunked)."""
    headers = list(scope.get("headers", ()))
    if not any(name.lower() == b"transfer-encoding" for name, _ in headers):
        return scope
    kept = [(name, value) for name, value in headers if name.lower() not in (b"transfer-encoding", b"content-length")]
    return {**scope, "headers": [*kept, (b"content-length", str(len(body)).encode())]}


def declared_length(scope: Scope) -> int | None:
    """The declared body length (0 when none is declared); None when it is not a number."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            # ASCII digits only ("²" is a digit to str.isdigit), and few enough for int()
            return int(text) if text.isascii() and text.isdigit() and len(text) <= 19 else None
    return 0


async def _read_body(receive: Receive, limit: int) -> bytes:
    """The body's bytes as they come, stopping at ``limit`` (enough for the app to see it is
    too large) or at the end."""
    body = bytearray()
    while len(body) < limit:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    return bytes(body[:limit])


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
