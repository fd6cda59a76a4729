"""``lessonloop serve --worker-processes N``: N worker processes beside the web, each kept
running, all stopped in order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests import payloads
from tests.conftest import GITHUB_SECRET, RULES_TOML, base_env
from tests.processes import children, wait_for
from tests.test_serve import free_port, wait_for_status


def test_serve_runs_as_many_workers_as_asked(tmp_path: Path, redis, trackers) -> None:
    (tmp_path / "lessonloop.toml").write_text(RULES_TOML)
    port = free_port()
    database = tmp_path / "lessonloop.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LESSONLOOP_")}
    env |= base_env() | trackers | {"DATABASE_URL": f"sqlite:///{database}", "LESSONLOOP_LOG_FORMAT": "json"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            "1",
            "--worker-processes",
            "2",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def workers() -> list[int]:
        return [pid for pid, command in children(process.pid).items() if command.endswith(" worker")]

    try:
        wait_for(lambda: len(workers()) == 2)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        delivery = payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET)
        response = requests.post(
            f"http://127.0.0.1:{port}{delivery.path}", data=delivery.body, headers=delivery.headers, timeout=10
        )
        assert response.status_code == 202, response.text
        assert wait_for_status(database, response.json()["delivery"], "done") == "done"
        first, second = workers()
        os.kill(first, signal.SIGKILL)  # one dies: it alone is started again
        wait_for(lambda: len(workers()) == 2 and first not in workers())
        assert second in workers()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
    assert process.returncode == 0, output.decode()[-3000:]
