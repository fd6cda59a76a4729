"""A Redis server of the test run's own: one per test process, on a free port, in a temporary folder.

The suite never touches a Redis it did not start (unless ``LESSONLOOP_TEST_REDIS_URL`` names
one), so two checkouts can run their suites at once, a laptop needs no Redis service, and no
test can take another run's jobs. Each pytest-xdist worker is a process of its own and so gets
a server of its own.

The port is found by binding port 0 and reading it back; the server is started on it and, if
another process took the port in between, started again on another one: a failed bind is a
visible exit, never a silent share. The server is started with ``PR_SET_PDEATHSIG`` so that it
dies with the test process even when that process is killed outright.
"""

from __future__ import annotations

import atexit
import ctypes
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_STARTS = 5
_STARTUP_SECONDS = 20.0


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass  # not Linux: atexit still stops it on a normal exit


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """``redis-server`` on 127.0.0.1, keeping nothing on disk, stopped at exit."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: apt-get install redis-server")
        self.binary = binary
        self.folder = Path(tempfile.mkdtemp(prefix="lessonloop-test-redis-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        atexit.register(self.stop)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> str:
        """Start it (again, after :meth:`stop`, on a port of its own) and return its URL without a
        database number."""
        problems: list[str] = []
        for _ in range(_STARTS):
            port = _free_port()
            process = subprocess.Popen(
                [self.binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
                + ["--dir", str(self.folder), "--databases", "16", "--loglevel", "warning"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                preexec_fn=_die_with_parent,  # one prctl call: safe between fork and exec
            )
            deadline = time.monotonic() + _STARTUP_SECONDS
            while time.monotonic() < deadline and process.poll() is None and not _answers(port):
                time.sleep(0.02)
            if process.poll() is None and _answers(port):
                self.process, self.port = process, port
                return self.url
            process.kill()
            _, error = process.communicate()
            problems.append(f"port {port}: {error.decode(errors='replace').strip()[-200:] or 'no answer'}")
        raise RuntimeError("could not start redis-server: " + "; ".join(problems))

    def stop(self) -> None:
        """Stop the server and close the pipe its errors came on (read only if it failed to start)."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stderr is not None:
            process.stderr.close()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


_server: RedisServer | None = None


def url() -> str:
    """This test process's Redis (started on first use), without a database number."""
    global _server
    if _server is None:
        _server = RedisServer()
        _server.start()
        atexit.register(_server.remove)
    return _server.url
