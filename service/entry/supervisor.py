"""Keeping ``lessonloop serve``'s worker processes running, and stopping its children in bounded time.

``serve`` is the single-machine way to run lessonloop: nothing (systemd, compose) stands around
it to restart a worker that dies. granian restarts the web's own processes
(``respawn_failed_workers``), but it runs only its ASGI workers, not RQ's: each worker is a
``lessonloop worker`` process of its own, and this module is what keeps it running (restarted
after a pause that grows, so one that cannot start does not spin) and what stops everything
``serve`` started within :data:`STOP_WITHIN_SECONDS`, killing what does not stop.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from service.infra import logs

STOP_WITHIN_SECONDS = 4.5
"""How long ``serve`` waits, once told to stop, for its web and workers before killing them."""


class WorkerSupervisor(threading.Thread):
    """Keeps one worker process running beside the web (``serve`` starts one per worker process),
    restarting it if it dies (with a growing pause, so a worker that cannot start does not spin)."""

    def __init__(self, command: list[str]) -> None:
        super().__init__(name="lessonloop-worker-supervisor", daemon=True)
        self.command = command
        self.stopping = threading.Event()
        self.started = threading.Lock()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def run(self) -> None:
        pause = 1.0
        while not self.stopping.is_set():
            started = time.monotonic()
            with self.started:  # no new worker once stopping is set: request_stop holds this
                if self.stopping.is_set():
                    return
                self.process = subprocess.Popen(self.command, start_new_session=True)
            code = self.process.wait()
            _signal_group(self.process.pid, signal.SIGTERM)  # what it left behind (its scheduler)
            if self.stopping.is_set():
                return
            pause = 1.0 if time.monotonic() - started > 60 else min(pause * 2, 60)
            logs.get(__name__).error("worker exited; starting another", exit_code=code, pause_seconds=pause)
            self.stopping.wait(pause)

    def request_stop(self) -> None:
        """Ask the worker to stop after its job (one SIGTERM: a second would stop it mid-job)."""
        with self.started:
            if self.stopping.is_set():
                return
            self.stopping.set()
            if self.process is not None and self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)

    def finish(self, deadline: float) -> bool:
        """Whether the worker stopped by ``deadline``; if not, it and its group are killed."""
        self.request_stop()
        return self.process is None or _ended(self.process, deadline)


def watch(web: subprocess.Popen[bytes], stop: threading.Event) -> int:
    """Waits until ``stop`` is set (0) or the web exits on its own (its exit code, 1 for a 0:
    the web never ends unless told to, so any exit of its own is a failure)."""
    while not stop.wait(0.5):
        if web.poll() is not None:
            print(f"lessonloop: the web process exited ({web.returncode})", file=sys.stderr)
            return web.returncode or 1
    return 0


def stop_all(
    web: subprocess.Popen[bytes], workers: list[WorkerSupervisor], redis_process: subprocess.Popen[bytes] | None
) -> None:
    """SIGTERM to the web and every worker at once, then wait for them together, for at most
    :data:`STOP_WITHIN_SECONDS`; whatever still runs then is killed with its process group."""
    print(
        f"lessonloop: stopping: waiting up to {STOP_WITHIN_SECONDS:g} s for the web to answer the requests it "
        f"holds and {len(workers)} worker(s) to finish their jobs",
        file=sys.stderr,
        flush=True,
    )
    deadline = time.monotonic() + STOP_WITHIN_SECONDS
    if web.poll() is None:
        web.send_signal(signal.SIGTERM)  # granian passes it on to its workers
    for worker in workers:
        worker.request_stop()
    late = [name for name, done in [("web", _ended(web, deadline))] if not done]
    late += [f"worker {w.pid}" for w in workers if not w.finish(deadline)]
    if redis_process is not None:
        _terminate(redis_process)
    if late:
        print(f"lessonloop: killed what had not stopped in time: {', '.join(late)}", file=sys.stderr)


def _ended(process: subprocess.Popen[bytes], deadline: float) -> bool:
    """Whether ``process`` exited by ``deadline``; if not, its process group is killed."""
    try:
        process.wait(timeout=max(0.0, deadline - time.monotonic()))
        return True
    except subprocess.TimeoutExpired:
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()
        return False


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:  # the group has exited already: nothing left to signal
        return
    except PermissionError as error:  # its pid now belongs to someone else's group
        logs.get(__name__).warning("could not signal a worker's process group", pgid=pgid, error=str(error))


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
