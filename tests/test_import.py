"""``lessonloop import``: past reviews from GitHub, Jira and Markdown files into the learning log."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from service.store import lessons
from tests.conftest import REDIS_URL, base_env

PAST_REVIEW_MD = """# Database failover took 40 minutes

## Summary
The primary database failed over during a storage incident and writes stopped for 40 minutes.

## Timeline
- 10:00 storage alerts

## What we expected
The failover to take under a minute.

## Lessons learned
Health checks that wait forever turn a fast failover into a slow one.

## Action items
- Add a timeout to the lag check
"""

PAST_REVIEW_JIRA = """h2. What happened
The queue consumer stalled for 25 minutes.

h2. Contributing factors
The consumer had no liveness probe.

h2. Customer impact
Payments confirmed late.

h2. What we learned
A process that is up is not a process that works.
"""


def lessonloop(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env=base_env() | env | {"PATH": "/usr/bin"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_markdown_files_import_once_with_a_clear_outcome_each(tmp_path: Path, database_url: str, redis) -> None:
    folder = tmp_path / "postmortems"
    (folder / "2024").mkdir(parents=True)
    (folder / "2024" / "db-failover.md").write_text(PAST_REVIEW_MD)
    (folder / "bad.md").write_bytes(b"\xff\xfe not text")
    (folder / "empty.md").write_text("# Nothing written yet\n")
    env = {"DATABASE_URL": database_url}
    dry = lessonloop("import", f"markdown:{folder}", "--dry-run", env=env, cwd=tmp_path)
    assert "would import 1, skipped 1, failed 1" in dry.stdout
    first = lessonloop("import", f"markdown:{folder}", env=env, cwd=tmp_path)
    assert first.returncode == 1  # one file could not be read
    assert "imported: markdown:2024/db-failover.md (missing Why it turned out differently)" in first.stdout
    assert "failed: markdown:bad.md (not UTF-8 text)" in first.stdout
    assert "skipped: markdown:empty.md (none of the lesson's sections is written)" in first.stdout
    assert "imported 1, skipped 1, failed 1" in first.stdout
    again = lessonloop("import", f"markdown:{folder}", env=env, cwd=tmp_path)
    assert "imported 0, skipped 2, failed 1" in again.stdout  # idempotent

    from service.store.engine import make_engine

    engine = make_engine(database_url)
    kept = lessons.get(engine, "markdown:2024/db-failover.md")
    engine.dispose()
    assert kept is not None
    assert kept.sections["what_happened"].startswith("The primary database failed over")  # "Summary" is an alias
    assert kept.sections["what_we_learned"].startswith("Health checks")
    assert "**Timeline**\n- 10:00 storage alerts" in kept.other_sections["other_notes"]
    shown = lessonloop("lessons", "show", "markdown:2024/db-failover.md", env=env, cwd=tmp_path)
    assert shown.returncode == 0 and "### Other notes" in shown.stdout


def test_a_github_repository_of_past_reviews(
    tmp_path: Path,
    database_url: str,
    redis,
    trackers,
    github_double,
) -> None:
    github_double.add_repo("acme/postmortems")
    body = PAST_REVIEW_MD.split("\n", 2)[2] + "\nSee https://github.com/acme/web/issues/7\n"
    github_double.add_issue(
        "acme/postmortems", "DB failover", body=body, labels=("post-incident-review",), state="closed"
    )
    github_double.add_issue("acme/postmortems", "Unrelated", body=body, labels=("question",))
    github_double.add_issue("acme/web", "follow-up")
    github_double.reset_log()
    env = {"DATABASE_URL": database_url} | trackers
    result = lessonloop("import", "github:acme/postmortems", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "imported 1, skipped 0, failed 0 from github:acme/postmortems" in result.stdout
    assert github_double.comments == {}  # nothing posted without --share
    assert "imported 0, skipped 1" in lessonloop("import", "github:acme/postmortems", env=env, cwd=tmp_path).stdout


def test_share_posts_an_imported_lesson_on_the_review_and_the_items_it_names(
    tmp_path: Path, database_url: str, redis, trackers, github_double
) -> None:
    github_double.add_repo("acme/postmortems")
    body = PAST_REVIEW_MD.split("\n", 2)[2] + "\nSee https://github.com/acme/web/issues/1\n"
    github_double.add_issue(
        "acme/postmortems", "DB failover", body=body, labels=("post-incident-review",), state="closed"
    )
    github_double.add_issue("acme/web", "follow-up")
    env = {"DATABASE_URL": database_url} | trackers
    result = lessonloop("import", "github:acme/postmortems", "--share", env=env, cwd=tmp_path)
    assert "queued to share: github:acme/postmortems#1" in result.stdout, result.stdout + result.stderr
    worked = lessonloop("worker", "--burst", env=env, cwd=tmp_path)
    assert worked.returncode == 0, worked.stderr[-2000:]
    for repo in ("acme/postmortems", "acme/web"):
        (comment,) = github_double.comments_on(repo, 1)
        assert "Health checks that wait forever" in comment["body"]


def test_a_jira_project_of_past_reviews(
    tmp_path: Path,
    database_url: str,
    redis,
    trackers,
    jira_double,
) -> None:
    jira_double.add_issue(
        "OPS", "Queue stalled", description=PAST_REVIEW_JIRA, issue_type="Task", labels=("post-incident-review",)
    )
    env = {"DATABASE_URL": database_url} | trackers
    result = lessonloop("import", "jira:OPS", env=env, cwd=tmp_path)
    assert "imported 1, skipped 0, failed 0 from jira:OPS" in result.stdout, result.stdout + result.stderr
    from service.store.engine import make_engine

    engine = make_engine(database_url)
    (kept,) = [lesson for lesson in lessons.listing(engine) if lesson.incident_title == "Queue stalled"]
    engine.dispose()
    assert kept.sections["what_we_learned"] == "A process that is up is not a process that works."
    assert kept.sections["why_different"] == "The consumer had no liveness probe."  # an alias
    assert "*Customer impact*\nPayments confirmed late." in kept.other_sections["other_notes"]


def test_bad_sources_say_what_is_wrong(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'l.db'}", "REDIS_URL": REDIS_URL}
    wrong = lessonloop("import", "gitlab:acme/x", env=env, cwd=tmp_path)
    assert wrong.returncode == 2 and "not an import source: 'gitlab:acme/x'" in wrong.stderr
    missing = lessonloop("import", f"markdown:{tmp_path / 'nope'}", env=env, cwd=tmp_path)
    assert missing.returncode == 1 and "not a folder" in missing.stderr
    no_token = lessonloop("import", "github:acme/x", env=env, cwd=tmp_path)
    assert no_token.returncode == 1 and "LESSONLOOP_GITHUB_TOKEN" in no_token.stderr


def test_an_imported_markdown_lesson_shows_on_the_pages(runtime, client, tmp_path: Path) -> None:
    from service import importer, lesson

    folder = tmp_path / "pm"
    folder.mkdir()
    (folder / "db.md").write_text(PAST_REVIEW_MD)
    (candidate,) = importer.from_markdown(folder)
    assert isinstance(candidate, importer.Candidate)
    outcome = importer.import_one(
        runtime.engine,
        candidate,
        lesson.load_template(None),
        importer.ImportSource.parse(f"markdown:{folder}"),
        False,
        lambda _: None,
    )
    assert outcome.status == "imported"
    listed = client.get("/lessons?q=failover")
    assert listed.status_code == 200 and "Database failover took 40 minutes" in listed.get_data(as_text=True)
    page = client.get("/lessons/markdown:db.md")
    assert page.status_code == 200 and "Health checks that wait forever" in page.get_data(as_text=True)
    assert client.get("/api/v1/lessons/markdown:db.md").status_code == 200
