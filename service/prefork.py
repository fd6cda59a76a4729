"""Several server processes on one listening socket, kept running by the process that bound it.

Why processes: a delivery is mostly Python (HMAC, JSON, the insert, RQ's job) between short
waits on the store and Redis, and in one process every such wait hands the GIL to another
thread. With more requests in flight each handoff finds another thread ready, and the server's
CPU per delivery rose with the connections (1.6 ms at 2, 2.5 ms at 32): throughput fell as
load rose. Processes do not share a GIL, so each runs its few threads on its own core.

Which process takes a new connection: every child polls the one listening socket, and left to
the kernel the first awake takes every connection waiting, so two kept-alive clients often
landed in one process while the others idled (half the throughput, and figures that moved by
2× between runs). :class:`ConnectionShares` keeps each child's count of open connections in
memory they share, and only the children holding the fewest poll for new ones.

The parent binds the socket (so ``--port 0`` is resolved once, and a restarted child listens on
the same port), then forks the children; each builds its own app, store engine and Redis
client after the fork (nothing that holds a connection or a thread crosses it). The parent
holds no connection and runs no request: it restarts a child that dies (with a growing pause,
so one that cannot start does not spin) and, on SIGTERM or SIGINT, passes SIGTERM on and waits
for every child to finish the requests it holds.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from service import logs

log = logs.get(__name__)

FAST_EXIT_SECONDS = 10.0
"""A child that exits sooner than this after starting is restarted after a growing pause."""
MAX_PAUSE_SECONDS = 30.0
STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})


def default_count() -> int:
    """Two processes for each core this process may run on (one runs while the other waits on
    the store or Redis), at most 4: past that, more processes mostly cost memory (set more with
    ``--processes`` or ``[server] web_processes`` on a bigger machine)."""
    return max(2, min(4, 2 * len(os.sched_getaffinity(0))))


def run_child(serve: Callable[[], int]) -> None:
    """In a freshly forked child: ``serve`` until it returns, then leave without running the
    parent's ``atexit`` handlers or ``finally`` blocks (they belong to the parent). The stop
    signals, blocked by the parent around the fork, are let through once the child's own
    handlers are in place."""
    code = 1
    try:
        install_stop_handlers()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        code = serve()
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 0
    except BaseException:  # noqa: BLE001 - a child must never return into the parent's code
        log.exception("web process failed")
    finally:
        _ignore_stop_signals()  # one more SIGTERM must not cut the clean-up short
        try:
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def install_stop_handlers() -> None:
    """SIGTERM or SIGINT stops the server once (SystemExit in waitress's loop, which then waits
    for the requests in hand); later ones are ignored. A child hears SIGTERM twice when its
    whole process group is signalled (a service manager's stop): once from the manager, once
    passed on by its parent. The second used to cut the wait for its requests short."""
    signal.signal(signal.SIGTERM, _stop_once)
    signal.signal(signal.SIGINT, _stop_once)


_stop_requested = False
_request_in_hand = False


@contextlib.contextmanager
def request_in_hand() -> Iterator[None]:
    """Around a request run in the loop's own thread (``--threads 1``): a stop signal that
    lands meanwhile is noted, not raised, so the request is finished and answered first; the
    loop stops once it is done."""
    global _request_in_hand
    _request_in_hand = True
    try:
        yield
    finally:
        _request_in_hand = False


def stop_requested() -> bool:
    """Whether a stop signal came. The server's loop looks every pass: the SystemExit the
    handler raises is lost when the signal lands in a weakref callback or a finalizer (Python
    ignores exceptions there), and the process then served on while its parent waited."""
    return _stop_requested


def _stop_once(*_: object) -> None:
    global _stop_requested
    _stop_requested = True
    _ignore_stop_signals()
    if not _request_in_hand:
        raise SystemExit(0)


def _ignore_stop_signals() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class ConnectionShares:
    """Each child's count of open connections and when it last said so, in memory shared by
    the children (made before they are forked). Each slot is written only by its own child and
    read without a lock: a stale read costs one connection landing one process off balance.

    A child that has not said for ``STALE_SECONDS`` (starting, dead, stopped with SIGSTOP, or
    stuck) is left out: otherwise, holding the fewest, it would keep the others from taking any
    new connection while it takes none itself. A serving child says at least once a second
    (waitress's loop wakes that often)."""

    STALE_SECONDS = 3.0

    def __init__(self, count: int) -> None:
        self.counts = multiprocessing.RawArray(ctypes.c_long, count)
        self.seen = multiprocessing.RawArray(ctypes.c_double, count)  # time.monotonic(); 0: never

    def share(self, slot: int) -> Share:
        """The slot of a child about to start, left out until its server first polls."""
        self.absent(slot)
        return Share(self, slot)

    def absent(self, slot: int) -> None:
        self.seen[slot] = 0.0


@dataclass(frozen=True)
class Share:
    """One child's place in :class:`ConnectionShares`, and the parent that forked it."""

    shares: ConnectionShares
    slot: int
    parent: int = field(default_factory=os.getpid)

    def orphaned(self) -> bool:
        """Whether the parent is gone (killed, say, by the OOM killer). Its children would
        otherwise go on serving the port unsupervised, and a new ``lessonloop web`` could not
        bind it."""
        return os.getppid() != self.parent

    def may_accept(self, held: int, now: float | None = None) -> bool:
        """Record that this child holds ``held`` connections; whether it holds no more than any
        other child still serving, and so should take the next one."""
        now = time.monotonic() if now is None else now
        shares = self.shares
        shares.counts[self.slot] = held
        shares.seen[self.slot] = now
        cutoff = now - shares.STALE_SECONDS
        return all(held <= count for count, seen in zip(shares.counts, shares.seen, strict=True) if seen > cutoff)


@dataclass
class Supervisor:
    """Forks ``count`` children that each run ``serve`` with their :class:`Share` (see
    :func:`run_child`) and keeps that many running until told to stop."""

    serve: Callable[[Share], int]
    count: int
    children: dict[int, tuple[float, int]] = field(default_factory=dict)
    """pid → when it started, and its slot"""
    stopping: bool = False
    pause: float = 1.0
    shares: ConnectionShares = field(init=False)

    def __post_init__(self) -> None:
        self.shares = ConnectionShares(self.count)

    def run(self) -> int:
        """Until SIGTERM or SIGINT; returns 0 when stopped that way."""
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for slot in range(self.count):
            self._fork(slot)
        while self.children:
            try:
                pid, status = os.wait()
            except ChildProcessError:  # none left (they were reaped elsewhere)
                break
            child = self.children.pop(pid, None)
            if child is None or self.stopping:
                continue
            started, slot = child
            self.shares.absent(slot)  # until its successor serves, the others take its share
            code = os.waitstatus_to_exitcode(status)
            quick = time.monotonic() - started < FAST_EXIT_SECONDS
            self.pause = min(self.pause * 2, MAX_PAUSE_SECONDS) if quick else 1.0
            log.error("web process exited; starting another", pid=pid, exit_code=code, pause_seconds=self.pause)
            self._wait(self.pause)
            if not self.stopping:
                self._fork(slot)
        return 0

    def _fork(self, slot: int) -> None:
        share = self.shares.share(slot)  # absent until the new child serves
        # SIGTERM and SIGINT wait until each side has its own handlers: caught in the child by
        # the parent's handler, they would have it signal its siblings
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:
                self.children.clear()
                run_child(lambda: self.serve(share))
            self.children[pid] = (time.monotonic(), slot)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

    def _wait(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if told to stop meanwhile (a signal does not end
        ``time.sleep`` early, so sleep in short steps)."""
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    def _stop(self, *_: object) -> None:
        if self.stopping:
            return
        self.stopping = True
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:  # exited already; os.wait reaps it
                continue


def listening_socket(host: str, port: int, backlog: int) -> socket.socket:
    """``host``:``port`` bound and listening, as waitress would bind it (its own resolution of
    ``host``, IPv6 only on an IPv6 address, SO_REUSEADDR), for every child to accept on."""
    from waitress.adjustments import Adjustments  # untyped

    family, kind, protocol, address = Adjustments(host=host, port=port).listen[0]
    bound = socket.socket(family, kind, protocol)
    try:
        if family == socket.AF_INET6:
            bound.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        bound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        bound.bind(address)
        bound.listen(backlog)
    except OSError:
        bound.close()
        raise
    bound.setblocking(False)
    return bound
