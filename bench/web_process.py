"""``lessonloop web`` as the benches run it: a process of its own on a free port, in an empty
working folder (so no ``lessonloop.toml`` of the checkout is read), with none of the caller's
``LESSONLOOP_*`` settings but those given."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import threading


def start_web(
    settings: dict[str, str], *options: str, python: str = sys.executable
) -> tuple[subprocess.Popen[bytes], int]:
    """``lessonloop web --port 0 [options]`` with ``settings`` in its environment; the process
    and the port read back from its log. Its log keeps being drained, so a full pipe never
    blocks it."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LESSONLOOP_")} | settings
    workdir = tempfile.mkdtemp(prefix="lessonloop-bench-")
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    process = subprocess.Popen(
        [python, "-m", "service.entry.cli", "web", "--port", "0", *options],
        cwd=workdir,
        env=env,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert process.stderr is not None
    for line in process.stderr:
        if b"web listening on " in line:
            threading.Thread(target=process.stderr.read, daemon=True).start()
            return process, int(line.decode().rsplit(":", 1)[1])
    raise SystemExit(f"lessonloop web exited ({process.wait()}) without listening")
