"""``lessonloop serve`` as a newcomer runs it: one process tree, real HTTP, a real worker."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

from tests import payloads
from tests.conftest import GITHUB_SECRET, RULES_TOML, base_env
from tests.processes import children


def wait_for_status(database: Path, delivery: int, wanted: str) -> str | None:
    engine = create_engine(f"sqlite:///{database}")
    deadline = time.monotonic() + 30
    status = None
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            status = connection.execute(text("SELECT status FROM deliveries WHERE id = :id"),
                                        {"id": delivery}).scalar()
        if status == wanted:
            break
        time.sleep(0.2)
    engine.dispose()
    return status


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_records_queues_and_handles_a_signed_delivery(tmp_path: Path, redis, trackers) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "lessonloop.toml").write_text(RULES_TOML)
    port = free_port()
    database = tmp_path / "lessonloop.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LESSONLOOP_")}
    env |= base_env() | trackers | {"DATABASE_URL": f"sqlite:///{database}", "LESSONLOOP_LOG_FORMAT": "json"}
    process = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--workers", "2"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        else:
            raise AssertionError("serve did not become ready")
        delivery = payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET)
        response = requests.post(base + delivery.path, data=delivery.body, headers=delivery.headers, timeout=10)
        assert response.status_code == 202, response.text
        assert wait_for_status(database, response.json()["delivery"], "done") == "done"
        # nothing about sign-in configured, on loopback: the learning log opens at once
        page = requests.get(base + "/", timeout=10)
        assert page.status_code == 200 and page.url == base + "/lessons" and "Learning log" in page.text

        # the worker dies: serve starts another, and the next delivery is handled too
        worker = next(pid for pid, command in children(process.pid).items() if command.endswith(" worker"))
        os.kill(worker, signal.SIGKILL)
        again = payloads.github(payloads.raw("github/issues.closed") + b"\n", GITHUB_SECRET)  # a new body
        response = requests.post(base + again.path, data=again.body, headers=again.headers, timeout=10)
        assert response.status_code == 202, response.text
        assert wait_for_status(database, response.json()["delivery"], "done") == "done"
        assert worker not in children(process.pid)
    except AssertionError:
        process.send_signal(signal.SIGTERM)
        print(process.communicate(timeout=30)[0].decode()[-4000:])
        raise
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
    log = output.decode()
    assert GITHUB_SECRET not in log
    assert '"event": "delivery accepted"' in log
    assert process.returncode == 0, log[-3000:]
