"""``lessonloop serve --worker-processes N``: N worker processes beside the web, each kept
running, all stopped in order."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import requests

from tests import payloads
from tests.conftest import GITHUB_SECRET, RULES_TOML
from tests.processes import Lessonloop, children, lessonloop_env, wait_for, wait_for_status


@pytest.mark.slow
def test_serve_runs_as_many_workers_as_asked(tmp_path: Path, redis, trackers) -> None:
    (tmp_path / "lessonloop.toml").write_text(RULES_TOML)
    database = tmp_path / "lessonloop.db"
    env = lessonloop_env(**trackers, DATABASE_URL=f"sqlite:///{database}")
    with Lessonloop("serve", "--workers", "1", "--worker-processes", "2", cwd=tmp_path, env=env) as serve:

        def workers() -> list[int]:
            return [pid for pid, command in children(serve.process.pid).items() if command.endswith(" worker")]

        wait_for(lambda: len(workers()) == 2)
        serve.wait_ready()
        delivery = payloads.github(payloads.raw("github/issues.closed"), GITHUB_SECRET)
        response = requests.post(serve.url + delivery.path, data=delivery.body, headers=delivery.headers, timeout=10)
        assert response.status_code == 202, response.text
        assert wait_for_status(database, response.json()["delivery"], "done") == "done"
        first, second = workers()
        os.kill(first, signal.SIGKILL)  # one dies: it alone is started again
        wait_for(lambda: len(workers()) == 2 and first not in workers())
        assert second in workers()
    assert serve.returncode == 0, serve.output()[-3000:]
