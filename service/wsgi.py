"""Serving the app with waitress, built from the settings the command loaded.

Why waitress (docs/server.md has the longer story): its one asyncore thread reads every
request whole, headers and body, before a worker thread sees it, so a client that stalls
mid-request holds a file descriptor, never a thread; gunicorn's sync and gthread workers give
such a client a thread (or a whole worker) until its timeout. Waitress alone does not bound how
long a request may take to arrive (``channel_timeout`` counts silence, so a client sending one
byte every few seconds lives forever): :class:`DeadlineChannel` adds that deadline. With one
thread a process (the default), that same loop thread runs each request once it has arrived
whole (:class:`LoopDispatcher`): no thread handoff per request.

The app is built from the ``Settings`` object the command built, in each web process
(:mod:`service.prefork` forks them after binding the port): there is no second settings load
that could read another file.
"""

from __future__ import annotations

import resource
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

# waitress ships no type hints (and typeshed's types-waitress is not a dependency we want)
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer

from config.settings import Settings
from service import logs, prefork

# file descriptors kept back for the store, Redis, logs and the listening socket
_SPARE_DESCRIPTORS = 64
_MAX_CONNECTIONS = 10_000
BACKLOG = 2048
EXCUSED_AFTER_SECONDS = 0.05
"""A request that holds the loop this long or longer is not counted against the other
connections' deadlines: their bytes waited, unread, in the kernel meanwhile."""
_UNBOUNDED_OUTPUT = 2**62
log = logs.get(__name__)


class DeadlineChannel(HTTPChannel):  # subclassing an untyped class
    """A connection that must deliver each request complete within the server's deadline.

    ``incomplete_since`` is when the connection began owing us a request: when it was accepted,
    or when the first bytes of a request came after an earlier one was read whole. It is
    ``None`` while nothing is owed (between requests on a kept-alive connection, where
    waitress's own inactivity timeout applies). Only the asyncore thread touches it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.incomplete_since: float | None = time.monotonic()

    def received(self, data: bytes) -> bool:
        result = bool(super().received(data))
        if self.request is None:  # every byte so far belongs to complete requests
            self.incomplete_since = None
        elif self.incomplete_since is None:
            self.incomplete_since = time.monotonic()
        return result


class LoopDispatcher:
    """Waitress's task dispatcher for a process of one thread: a connection whose request has
    arrived whole waits here until the loop has finished its pass over the sockets, and then
    the loop's own thread runs it (:meth:`ReceiverServer.run`).

    Waitress's own dispatcher hands each request to a worker thread: the loop thread wakes the
    worker, and the worker wakes the loop (a byte down a pipe) to send the answer. With one
    worker that is two thread switches a request and nothing gained, and with a second
    connection in the process the two threads also fought for the GIL: the server's CPU per
    ``/healthz`` doubled from 2 connections to 8, and its rate fell by 40 % (docs/server.md).
    Reading stays in the same loop, so a stalled client still costs a socket, never a thread.
    """

    def __init__(self) -> None:
        self.ready: deque[Any] = deque()

    def add_task(self, channel: Any) -> None:
        self.ready.append(channel)

    def shutdown(self, cancel_pending: bool = True, timeout: float = 5) -> bool:
        """Nothing runs but in the loop, so nothing to wait for. The loop answers what it had
        read whole before calling this (:meth:`ReceiverServer.run`); anything left is dropped
        with its connection, as waitress drops its queued tasks."""
        while self.ready:
            self.ready.popleft().cancel()
        return True


class ReceiverServer(TcpWSGIServer):  # subclassing an untyped class
    """Waitress's TCP server, whose periodic maintenance also drops connections whose request
    has not arrived whole within ``read_timeout`` seconds; with ``threads=1`` it runs each
    request in its own loop (:class:`LoopDispatcher`)."""

    channel_class = DeadlineChannel

    def __init__(self, *args: Any, read_timeout: float, share: prefork.Share | None = None, **kwargs: Any) -> None:
        self.read_timeout = read_timeout
        self.share = share
        self.loop_dispatcher = LoopDispatcher() if kwargs.get("threads") == 1 else None
        self.loop_thread: int | None = None
        if self.loop_dispatcher is not None:
            kwargs["dispatcher"] = self.loop_dispatcher
            # waitress makes a worker wait for the loop to send once 16 MiB are unsent; here
            # the worker *is* the loop, so an answer is buffered whole (past 1 MiB in a file)
            kwargs["outbuf_high_watermark"] = _UNBOUNDED_OUTPUT
        super().__init__(*args, **kwargs)
        if share is not None:
            share.may_accept(0)  # counted from now on: the others leave it its share

    def run(self) -> None:
        """Waitress's loop; with one thread, each pass over the sockets is followed by the
        requests it completed, run here. A stop signal during one is held until it is
        answered (:func:`service.prefork.request_in_hand`); those read whole when it came are
        answered too, then the loop stops."""
        if self.loop_dispatcher is None:
            super().run()
            return
        ready = self.loop_dispatcher.ready
        self.loop_thread = threading.get_ident()
        try:
            while self._map:
                wasyncore.poll2(0 if ready else self.adj.asyncore_loop_timeout, self._map)
                for _ in range(len(ready)):  # those queued again (pipelined) wait a pass
                    self._serve(ready.popleft())
                if prefork.stop_requested():
                    raise SystemExit(0)
        except (SystemExit, KeyboardInterrupt):
            while ready:  # read whole before the signal: answered, not dropped
                self._serve(ready.popleft())
            self.task_dispatcher.shutdown()

    def _serve(self, channel: Any) -> None:
        started = time.monotonic()
        with prefork.request_in_hand():
            channel.service()
        took = time.monotonic() - started
        if took >= EXCUSED_AFTER_SECONDS:
            self._excuse(took, served=channel)

    def _excuse(self, seconds: float, served: Any) -> None:
        """Move the other connections' clocks on by ``seconds`` the loop spent on one request:
        what they sent meanwhile waited unread, and must not make them look idle or late."""
        for channel in list(self.active_channels.values()):
            if channel is served:
                continue
            channel.last_activity += seconds
            if getattr(channel, "incomplete_since", None) is not None:
                channel.incomplete_since += seconds

    def pull_trigger(self) -> None:
        """Waitress wakes its loop from a worker thread with a byte down a pipe; the loop's own
        thread needs no waking (its next pass looks at every socket again)."""
        if self.loop_thread is not None and threading.get_ident() == self.loop_thread:
            return
        super().pull_trigger()

    def readable(self) -> bool:
        """Whether to poll the listening socket now: waitress's answer (its maintenance, its
        connection limit) and, among several processes, only while this one holds no more
        connections than any other (:class:`service.prefork.ConnectionShares`)."""
        if prefork.stop_requested():  # the handler's SystemExit may have been swallowed
            raise SystemExit(0)
        ready = bool(super().readable())
        if self.share is None:
            return ready
        return self.share.may_accept(len(self.active_channels)) and ready

    def maintenance(self, now: float) -> None:
        if self.share is not None and self.share.orphaned():
            log.warning("web process stopping: the process that started it is gone")
            raise SystemExit(0)  # out of waitress's loop, which finishes the requests in hand
        super().maintenance(now)
        cutoff = time.monotonic() - self.read_timeout
        for channel in list(self.active_channels.values()):
            started = getattr(channel, "incomplete_since", None)
            if started is not None and started < cutoff and not channel.requests:
                channel.will_close = True  # closed on the loop's next pass


def connection_limit() -> int:
    """As many connections as this process may open descriptors for (raising the soft limit to
    the hard one first): every stalled client costs one, and a full table stops ``accept``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard if hard != resource.RLIM_INFINITY else _MAX_CONNECTIONS * 2, _MAX_CONNECTIONS * 2)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError) as error:  # serve within the soft limit we have
            logs.get(__name__).warning(
                "could not raise the open files limit", soft=soft, wanted=wanted, error=str(error)
            )
    usable = _MAX_CONNECTIONS * 2 if soft == resource.RLIM_INFINITY else soft
    return max(100, min(_MAX_CONNECTIONS, usable - _SPARE_DESCRIPTORS))


def make_server(
    app: Any,
    settings: Settings,
    host: str,
    port: int,
    threads: int,
    sock: socket.socket | None = None,
    share: prefork.Share | None = None,
) -> ReceiverServer:
    """The server ``lessonloop web`` runs, bound (``port`` 0 picks a free one: read it back
    from ``effective_port``) but not yet running: call ``run()``. Given ``sock``, a socket
    already bound and listening (:func:`service.prefork.listening_socket`), it accepts on that
    one instead of binding its own; with ``share`` too, it takes turns with the other
    processes on that socket."""
    read_timeout = settings.server.read_timeout_seconds
    return ReceiverServer(
        app,
        _sock=sock,
        bind_socket=sock is None,
        share=share,
        read_timeout=read_timeout,
        host=host,
        port=port,
        threads=threads,
        connection_limit=connection_limit(),
        backlog=BACKLOG,
        asyncore_use_poll=True,  # select() stops at descriptor 1024
        channel_timeout=read_timeout,  # idle kept-alive connections
        cleanup_interval=1,  # how often the deadline is checked
        # one byte over the app's limit, so the app's own 413, with its reason, answers
        max_request_body_size=settings.server.max_body_bytes + 1,
        ident="lessonloop",
        expose_tracebacks=False,
        log_socket_errors=False,
    )


def serve(make_app: Callable[[], Any], settings: Settings, host: str, port: int, threads: int, processes: int) -> int:
    """Run the server in the foreground until SIGTERM or SIGINT; requests being handled then
    are finished first (waitress waits for its threads). With ``processes`` above one, that
    many processes share the listening socket (:mod:`service.prefork`), each building its own
    app with ``make_app`` after the fork; with one, this process serves."""
    sock = prefork.listening_socket(host, port, BACKLOG)
    shown = f"[{host}]" if ":" in host else host
    bound_port = sock.getsockname()[1]
    # the port read back, so `--port 0` tells which one it got
    print(f"lessonloop: web listening on http://{shown}:{bound_port}", file=sys.stderr, flush=True)
    log.info("web serving", processes=processes, threads_each=threads)

    def run_one(share: prefork.Share | None) -> int:
        server = make_server(make_app(), settings, host, port, threads, sock=sock, share=share)
        log.info("web process ready", threads=threads)
        server.run()  # returns once SIGTERM or SIGINT raised SystemExit in it
        server.close()
        return 0

    if processes > 1:
        return prefork.Supervisor(run_one, processes).run()
    prefork.install_stop_handlers()
    return run_one(None)


def build_app() -> Any:
    """The app from the environment (``$LESSONLOOP_CONFIG`` or ./lessonloop.toml), for
    ``waitress-serve --call service.wsgi:build_app`` and other WSGI servers; ``lessonloop web``
    passes the settings it loaded instead."""
    from config.settings import load_settings
    from service.app import create_app
    from service.runtime import all_secrets

    settings = load_settings()
    logs.configure(settings.server.log_level, settings.server.log_format, all_secrets(settings))
    return create_app(settings)
