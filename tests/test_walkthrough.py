"""WALKTHROUGH.md, run: the doubles, ``lessonloop serve`` and the walkthrough driver as separate
processes, from a closed PagerDuty incident to a lesson on all three trackers and in the log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from service.text import markers
from tests import redis_server, walkthrough
from tests.browser import VIEWPORTS, chromium, screenshot_folder
from tests.conftest import emptied_redis
from tests.doubles import GitHubDouble, JiraDouble, PagerDutyDouble
from tests.doubles.__main__ import ADMIN_PATH, admin_app, seed
from tests.processes import Lessonloop

ROOT = Path(__file__).resolve().parent.parent
# the other tests use database 15
REDIS_URL = os.environ.get("LESSONLOOP_WALKTHROUGH_REDIS_URL") or f"{redis_server.url()}/11"
RULES = """
[server]
log_format = "console"

[review]
labels = ["post-incident-review"]
jira_issue_type = "Task"
related_from = ["jira:OPS"]   # GitHub reviews may show lessons reviewed in Jira too

# the company's repositories: lessons may be shared and follow-ups adopted there, whichever rule
[lesson]
share = ["github:acme/*"]

[[rules]]
source = "pagerduty"
review = "jira:OPS"

[[rules]]
source = "github"
labels = ["incident"]
review = "github:acme/postmortems"

[[rules]]
source = "jira"
issue_types = ["Incident"]
review = "jira:OPS"

[people]
"ada@acme.example" = { pagerduty = "PUSER02", jira = "557058:ada", github = "ada-sre" }
"""
SECRETS = {
    "LESSONLOOP_GITHUB_WEBHOOK_SECRET": "walkthrough-github",
    "LESSONLOOP_JIRA_WEBHOOK_SECRET": "walkthrough-jira",
    "LESSONLOOP_PAGERDUTY_WEBHOOK_SECRET": "walkthrough-pagerduty",
}


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


@pytest.fixture
def walkthrough_redis() -> Iterator[None]:
    with emptied_redis(REDIS_URL):
        yield


@pytest.mark.parametrize("github_auth", ["token", "app"])
@pytest.mark.slow
def test_the_walkthrough_end_to_end(tmp_path: Path, walkthrough_redis: None, github_auth: str) -> None:
    """As docs/walkthrough.md runs it; with ``app``, the GitHub double plays a GitHub App and
    lessonloop gets the App's settings instead of a token."""
    (tmp_path / "lessonloop.toml").write_text(RULES)
    env_file = tmp_path / "doubles.env"
    env = {key: value for key, value in os.environ.items() if not key.startswith("LESSONLOOP_")}
    env |= SECRETS | {
        "PYTHONPATH": str(ROOT),
        "REDIS_URL": REDIS_URL,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'walkthrough.db'}",
    }
    doubles: subprocess.Popen[bytes] | None = None
    serve: Lessonloop | None = None
    doubles_log = open(tmp_path / "doubles.log", "wb")  # noqa: SIM115

    def driver(*args: str) -> str:
        run = subprocess.run(
            [sys.executable, "-m", "tests.walkthrough", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert run.returncode == 0, f"{args}: {run.stdout}{run.stderr}\n--- serve log:\n{serve.tail() if serve else ''}"
        return run.stdout

    def lessonloop(*args: str) -> str:
        run = subprocess.run(
            [sys.executable, "-m", "service.entry.cli", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        return run.stdout

    try:
        doubles = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.doubles",
                "--github-port",
                "0",
                "--jira-port",
                "0",
                "--pagerduty-port",
                "0",
                "--env-file",
                str(env_file),
                *(["--github-app", str(tmp_path / "app.pem")] if github_auth == "app" else []),
            ],
            cwd=tmp_path,
            env=env,
            stdout=doubles_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while not env_file.exists():
            assert doubles.poll() is None and time.monotonic() < deadline, _tail(tmp_path / "doubles.log")
            time.sleep(0.02)
        env |= dict(line.split("=", 1) for line in env_file.read_text().split())  # the ports the doubles got
        assert not env["LESSONLOOP_GITHUB_API_URL"].endswith(":0"), env["LESSONLOOP_GITHUB_API_URL"]
        assert ("LESSONLOOP_GITHUB_APP_ID" in env) == (github_auth == "app") != ("LESSONLOOP_GITHUB_TOKEN" in env)
        serve = Lessonloop("serve", "--workers", "1", "--threads", "2", cwd=tmp_path, env=env)
        env["LESSONLOOP_URL"] = serve.url  # for the driver
        assert "lessonloop is ready" in driver("wait", "--timeout", "20")

        # an incident closes in PagerDuty: the review opens in Jira, the incident gets a note
        said = driver("close", "pagerduty:PGR0VU2")
        assert "202 status queued" in said and "opened the review jira:OPS-2" in said, said
        review = driver("show", "jira:OPS-2")
        # the header has the incident's timeline, and the review is Ada's, named the way Jira names her
        for said_in_timeline in ("triggered", "acknowledged, by Ada Responder", "resolved, by Ada Responder"):
            assert said_in_timeline in review, review
        assert "[~accountid:557058:ada]" in review, review
        assert "lessonloop:review incident=pagerduty:PGR0VU2" in review and "h2. What happened" in review

        # the team writes the lesson and closes the review: the lesson reaches all three trackers
        said = driver("fill", "--followups", "jira:OPS-2")  # docs/followups.md: with follow-ups
        assert "kept the lesson and posted it on jira:OPS-2 and pagerduty:PGR0VU2" in said, said
        deadline = time.monotonic() + 10
        while "<lessonloop:lesson>" not in driver("show", "github:acme/web#7"):  # posted in the same job
            assert time.monotonic() < deadline, driver("show", "github:acme/web#7")
            time.sleep(0.05)
        for ref, _source in (
            ("pagerduty:PGR0VU2", "pagerduty"),
            ("jira:OPS-2", "jira"),
            ("github:acme/web#7", "github"),
        ):
            text = driver("show", ref)
            assert text.count("<lessonloop:lesson>") == 1, text
            assert "A canary is only as good as the signals it reads." in text, text
        assert "<lessonloop:review-opened>" in driver("show", "pagerduty:PGR0VU2")

        # and it is in the learning log
        listed = lessonloop("lessons", "list")
        assert "jira:OPS-2" in listed and "pagerduty:PGR0VU2" in listed and "Checkout latency above SLO" in listed
        shown = lessonloop("lessons", "show", "jira:OPS-2")
        assert "### What we learned" in shown and "A canary is only as good as the signals it reads." in shown
        stats = lessonloop("lessons", "stats")
        assert "lessons captured         1 (100% of reviews)" in stats, stats
        assert "lesson comments          github 1, jira 1, pagerduty 1" in stats, stats

        # docs/followups.md: the follow-ups opened (two tasks in Jira) and adopted (acme/web#7);
        # acme/web#7 is closed in GitHub, and the lesson comments that list it say done
        listed = lessonloop("followups", "list")
        assert "github:acme/web#7" in listed and "jira:OPS-3" in listed and "jira:OPS-4" in listed, listed
        said = driver("close", "github:acme/web#7")
        assert "202 status queued" in said and "recorded github:acme/web#7 as a follow-up done" in said, said
        for ref, done in (("jira:OPS-2", "*done*"), ("github:acme/web#7", "**done**")):
            assert done in driver("show", ref), driver("show", ref)
        assert "Follow-ups" in driver("show", "pagerduty:PGR0VU2")  # the note as the lesson was posted
        still_open = lessonloop("followups", "list", "--open")
        assert len(still_open.splitlines()) == 2 and "acme/web#7" not in still_open, still_open
        stats = lessonloop("lessons", "stats")
        assert "follow-ups               2 opened, 1 adopted, 0 not opened" in stats, stats
        assert "1 done, 0 not doing, 2 open" in stats, stats

        # docs/walkthrough.md: a second, similar incident closes; its review shows the first lesson
        said = driver("close", "github:acme/web#1")
        assert "opened the review github:acme/postmortems#1" in said, said
        review = driver("show", "github:acme/postmortems#1")
        assert "Lessons from similar incidents" in review and "Checkout latency above SLO" in review, review

        # and the walkthrough ends on the learning log's page
        page = requests.get(env["LESSONLOOP_URL"] + "/", timeout=10)
        assert page.status_code == 200 and page.url.endswith("/lessons"), page.status_code
        assert "Checkout latency above SLO" in page.text
        # its last step: the lesson read on a phone, with its follow-ups' state
        followups = _lesson_on_a_phone(env["LESSONLOOP_URL"] + "/lessons/jira:OPS-2", screenshot_folder(tmp_path))
        assert "github:acme/web#7: done" in followups, followups
        assert "jira:OPS-3: open" in followups and "jira:OPS-4: open" in followups, followups
        assert "VIOLATION" not in _tail(tmp_path / "doubles.log")
    finally:
        if serve is not None:
            serve.stop()
        _stop(doubles)
        doubles_log.close()
    assert doubles.returncode == 0 and serve.returncode == 0, serve.tail()


def _lesson_on_a_phone(url: str, screenshots: Path) -> str:
    """Open a lesson's page in chromium at 390 x 844, as docs/walkthrough.md's last step does;
    the page must fit the phone's width. Returns the text of its follow-ups section."""
    with chromium() as browser:
        page = browser.new_page(viewport=VIEWPORTS["phone"])
        answer = page.goto(url)
        page.wait_for_load_state("load")
        assert answer is not None and answer.status == 200, answer and answer.status
        assert "Checkout latency above SLO" in page.inner_text("h1")
        wide = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert wide[0] <= wide[1] == VIEWPORTS["phone"]["width"], wide
        page.screenshot(path=str(screenshots / "walkthrough-phone.png"), full_page=True)
        return str(page.inner_text("section.followups"))


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --- the admin interface and the driver's refusals, in process ----------------------------------


@pytest.fixture
def doubles() -> Iterator[tuple[GitHubDouble, JiraDouble, PagerDutyDouble]]:
    github, jira, pagerduty = GitHubDouble(), JiraDouble(), PagerDutyDouble()
    seed(github, jira, pagerduty)
    for double in (github, jira, pagerduty):
        double.mount(ADMIN_PATH, admin_app(double))
        double.start()
    try:
        yield github, jira, pagerduty
    finally:
        for double in (github, jira, pagerduty):
            double.stop()


def test_the_admin_interface_is_apart_from_the_validated_api(doubles) -> None:
    github, jira, pagerduty = doubles
    admin = github.base_url + ADMIN_PATH
    assert requests.get(admin + "/items/acme/web%237", timeout=5).json()["title"] == "Add error rate to canary checks"
    closed = requests.post(admin + "/items/acme/web%231/close", timeout=5).json()
    assert closed["state"] == "closed" and closed["closed_at"] and github.issues["acme/web"][1]["state"] == "closed"
    edited = requests.put(jira.base_url + ADMIN_PATH + "/items/OPS-1/body", json={"body": "new"}, timeout=5).json()
    assert edited["fields"]["description"] == "new"
    done = requests.post(jira.base_url + ADMIN_PATH + "/items/OPS-1/close", timeout=5).json()
    assert done["fields"]["status"] == {"name": "Done", "statusCategory": {"key": "done", "name": "Done"}}
    resolved = requests.post(pagerduty.base_url + ADMIN_PATH + "/items/PGR0VU2/close", timeout=5).json()
    assert resolved["status"] == "resolved" and resolved["resolved_at"]
    assert (
        requests.put(pagerduty.base_url + ADMIN_PATH + "/items/PGR0VU2/body", json={"body": "x"}, timeout=5).status_code
        == 400
    )
    assert requests.get(admin + "/items/acme/web%2399", timeout=5).status_code == 404
    # none of that is an API request: not logged, no violation; the API still refuses what it does not know
    assert github.log == [] and jira.log == [] and github.violations == []
    assert requests.get(github.base_url + "/_doubles/items", timeout=5).status_code == 404
    assert github.violations == ["GET /_doubles/items: not in the API description"]


def test_the_driver_says_when_lessonloop_does_not_answer_and_changes_nothing(
    doubles, dead_port: int, capsys, monkeypatch
) -> None:
    github, jira, pagerduty = doubles
    dead = dead_port
    options = [
        f"--github={github.base_url}",
        f"--jira={jira.base_url}",
        f"--pagerduty={pagerduty.port}",
        f"--lessonloop=http://127.0.0.1:{dead}",
    ]
    assert walkthrough.main([*options, "close", "pagerduty:PGR0VU2"]) == walkthrough.EXIT_UNAVAILABLE
    assert "lessonloop does not answer at http://127.0.0.1:" in capsys.readouterr().err
    assert pagerduty.incidents["PGR0VU2"]["status"] == "triggered"
    monkeypatch.delenv("LESSONLOOP_JIRA_URL", raising=False)
    assert walkthrough.main([f"--jira={dead}", "show", "jira:OPS-1"]) == walkthrough.EXIT_UNAVAILABLE
    assert f"the jira double does not answer at http://127.0.0.1:{dead}" in capsys.readouterr().err
    assert walkthrough.main([*options, "fill", "jira:OPS-1"]) == walkthrough.EXIT_UNAVAILABLE  # lessonloop first
    assert walkthrough.main([*options, "show", "github:acme/web#1"]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("github:acme/web#1  [open]  Checkout returns 502") and "no comments" in shown
    assert markers.find(shown) == []
