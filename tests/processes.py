"""Starting, watching and killing the processes tests start (lessonloop serve and web, workers)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType

import requests
from sqlalchemy import create_engine, text

from tests.conftest import base_env

WEB_LISTENING = "web listening on "
"""What ``lessonloop web`` (alone, or as part of ``serve``) prints before its address."""

LOADED_SECONDS = 60.0
"""How long a test waits for a process tree it started to reach a step (say where it listens,
answer ready, start a worker again, finish a job): generous to a loaded 2-core machine, where
``serve`` starts five Python processes that each import the service while a full run's other
tests do the same (docs/testing.md has what it measured). A step never reached still fails the
test, only later."""


def lessonloop_env(**values: str) -> dict[str, str]:
    """The environment of a ``lessonloop`` process a test starts: this one's without any
    ``LESSONLOOP_*`` setting, the tests' secrets and Redis, JSON logs, then ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LESSONLOOP_")}
    return env | base_env() | {"LESSONLOOP_LOG_FORMAT": "json"} | values


def run_lessonloop(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``lessonloop ARGS`` run to its end in ``cwd``, with none of this process's settings but
    ``env``; its output captured."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LESSONLOOP_") and k not in ("REDIS_URL", "DATABASE_URL")
    }
    return subprocess.run(
        [sys.executable, "-m", "service.entry.cli", *args],
        env=clean | env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


class Lessonloop:
    """``lessonloop ARGS --port 0`` as a process of its own (``serve``, ``web``): its web binds a
    free port and says which, and :attr:`url` is read from that line. (A port the test picked
    and released first could be taken by another process in between.) Its output, stdout and
    stderr, is read as it comes, so a full pipe never blocks it, and kept for the test. As a
    context manager it is stopped at the end, its last lines printed when the test failed."""

    def __init__(self, *args: str, cwd: Path, env: Mapping[str, str], seconds: float = LOADED_SECONDS) -> None:
        self.args = args
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service.entry.cli", *args, "--port", "0"],
            cwd=cwd,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.lines: list[str] = []
        found: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, args=(found,), daemon=True)
        self._reader.start()
        try:
            url = found.get(timeout=seconds)
        except queue.Empty:
            url = None
        if url is None:
            self.stop()
            raise AssertionError(f"lessonloop {' '.join(args)} did not say where it listens:\n{self.tail()}")
        self.url = url

    def _read(self, found: queue.Queue[str | None]) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode(errors="replace")
            self.lines.append(line)
            if WEB_LISTENING in line:
                found.put(line.split(WEB_LISTENING, 1)[1].strip())
        found.put(None)  # it ended without saying

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.url.removeprefix("http://").rsplit(":", 1)
        return host, int(port)

    def wait_ready(self, path: str = "/readyz", seconds: float = LOADED_SECONDS) -> None:
        """Until ``path`` answers 200 (the web binds before its store and Redis are ready). An
        answer slower than one try's timeout is one more try, not a failure, until ``seconds``."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + path, timeout=5).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.05)
        raise AssertionError(f"{self.url}{path} did not answer 200 within {seconds} s:\n{self.tail()}")

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it (SIGKILL to its group if it has not exited in
        30 s); its exit code. Its output pipe is closed once read to its end (a process it left
        behind may still hold the pipe: then the reader goes on, and the pipe stays open)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._reader.join(timeout=10)
        if not self._reader.is_alive() and self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    def output(self) -> str:
        return "".join(self.lines)

    def tail(self, count: int = 40) -> str:
        return "".join(self.lines[-count:])

    def __enter__(self) -> Lessonloop:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
        if error is not None:
            print(f"--- lessonloop {' '.join(self.args)}, its last lines:\n{self.tail()}")


def children(pid: int) -> dict[int, str]:
    """Child processes of ``pid`` with their command lines, from every thread's list (a
    process may start children from a thread of its own, as ``lessonloop serve`` does). A
    child reaped, or a thread ended, while they are read is left out: ``serve`` reaps a killed
    worker whenever its thread gets to it, which may be between the two reads."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            listed = (task / "children").read_text().split()
        except FileNotFoundError:  # the thread ended
            continue
        for child in listed:
            try:
                command = Path(f"/proc/{child}/cmdline").read_bytes()
            except (FileNotFoundError, ProcessLookupError):  # reaped since it was listed
                continue
            found[int(child)] = command.replace(b"\0", b" ").decode().strip()
    return found


def work_horse(worker_pid: int) -> int | None:
    """The child of an RQ worker that runs the current job, if one does. RQ puts its work horse
    in a process group of its own (``os.setpgrp``); the scheduler it forks stays in the
    worker's. Start times cannot tell them apart: both often start within one clock tick."""
    for child in children(worker_pid):
        try:
            if process_group(child) == child:
                return child
        except FileNotFoundError:  # exited while we looked
            continue
    return None


def process_group(pid: int) -> int:
    """Process group id (field 5 of /proc/PID/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[2])


def kill_worker(worker: subprocess.Popen[bytes]) -> None:
    """As if the machine died: the worker, its scheduler and its work horse (which RQ puts in a
    session of its own, so killing the worker's group alone would spare it)."""
    for child in children(worker.pid):
        os.kill(child, signal.SIGKILL)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)


def wait_for(condition: Callable[[], bool], seconds: float = LOADED_SECONDS) -> None:
    """Until ``condition()`` holds, polled; an AssertionError once ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"condition not met within {seconds:g} s")


def wait_for_status(database: Path, delivery: int, wanted: str, seconds: float = LOADED_SECONDS) -> str | None:
    """The status of ``delivery`` in the SQLite store at ``database``, once it is ``wanted`` or
    ``seconds`` have passed."""
    engine = create_engine(f"sqlite:///{database}")
    deadline = time.monotonic() + seconds
    status = None
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            status = connection.execute(text("SELECT status FROM deliveries WHERE id = :id"), {"id": delivery}).scalar()
        if status == wanted:
            break
        time.sleep(0.05)
    engine.dispose()
    return status


def connections_held(pids: list[int], port: int) -> dict[int, int]:
    """How many established TCP connections on local ``port`` each of ``pids`` holds open
    (Linux: the sockets in /proc/PID/fd matched to /proc/net/tcp{,6} by inode)."""
    established = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01":  # 01: ESTABLISHED
                established.add(fields[9])
    held = {}
    for pid in pids:
        inodes = set()
        for descriptor in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(descriptor)
            except FileNotFoundError:  # closed while we looked
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
        held[pid] = len(inodes & established)
    return held
