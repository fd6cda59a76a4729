"""Watching and killing the processes tests start (lessonloop serve, workers)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


def children(pid: int) -> dict[int, str]:
    """Child processes of ``pid`` with their command lines, from every thread's list (a
    process may start children from a thread of its own, as ``lessonloop serve`` does)."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            command = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            found[int(child)] = command
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


def wait_for(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")
