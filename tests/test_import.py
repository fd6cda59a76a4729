"""``lessonloop import``: past reviews from GitHub, Jira and Markdown files into the learning log."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from service.store import lessons
from service.trackers.registry import dialect_of
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
        [sys.executable, "-m", "service.entry.cli", *args],
        env=base_env() | env | {"PATH": "/usr/bin"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
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
    github_double.add_issue("initech/payroll", "a repository no rule names")
    github_double.issues["acme/postmortems"][1]["body"] += "And https://github.com/initech/payroll/issues/1\n"
    (tmp_path / "lessonloop.toml").write_text('[lesson]\nshare = ["github:acme/*"]\n')
    env = {"DATABASE_URL": database_url} | trackers
    result = lessonloop("import", "github:acme/postmortems", "--share", env=env, cwd=tmp_path)
    assert "queued to share: github:acme/postmortems#1" in result.stdout, result.stdout + result.stderr
    worked = lessonloop("worker", "--burst", env=env, cwd=tmp_path)
    assert worked.returncode == 0, worked.stderr[-2000:]
    for repo in ("acme/postmortems", "acme/web"):
        (comment,) = github_double.comments_on(repo, 1)
        assert "Health checks that wait forever" in comment["body"]
    assert github_double.comments_on("initech/payroll", 1) == []  # outside the scope: text does not reach it


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
    assert "*Customer impact*\nPayments confirmed late." in kept.sections["what_happened"]  # a format's heading


def test_bad_sources_say_what_is_wrong(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'l.db'}", "REDIS_URL": REDIS_URL}
    wrong = lessonloop("import", "gitlab:acme/x", env=env, cwd=tmp_path)
    assert wrong.returncode == 2 and "not an import source: 'gitlab:acme/x'" in wrong.stderr
    missing = lessonloop("import", f"markdown:{tmp_path / 'nope'}", env=env, cwd=tmp_path)
    assert missing.returncode == 1 and "not a folder" in missing.stderr
    no_token = lessonloop("import", "github:acme/x", env=env, cwd=tmp_path)
    assert no_token.returncode == 1 and "LESSONLOOP_GITHUB_TOKEN" in no_token.stderr


def test_an_imported_markdown_lesson_shows_on_the_pages(runtime, client, tmp_path: Path) -> None:
    from service import lesson
    from service.learning import importer

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


# --- the common post-mortem formats ----------------------------------------------------------

SRE_BOOK_MD = """# Shakespeare Sonnet++ Postmortem (incident #465)

**Date:** 2015-10-21

**Authors:** jennifer, martym, agoogler

## Summary
Shakespeare Search down for 66 minutes during a period of very high interest in Shakespeare.

## Impact
Estimated 1.21B queries lost, no revenue impact.

## Root Causes
Cascading failure due to combination of exceptionally high load and a resource leak when
searches failed due to terms not being in the Shakespeare corpus.

## Trigger
Latent bug triggered by sudden increase in traffic.

## Resolution
Directed traffic to sacrificial cluster and added 10x capacity to mitigate cascading failure.

## Detection
Borgmon detected high level of HTTP 500s and paged on-call.

## Action Items
- Update playbook with instructions for responding to cascading failure
- Use flux capacitor to balance load between clusters

## Lessons Learned

### What went well
- Monitoring quickly alerted us to high rate (reaching ~100%) of HTTP 500s

### What went wrong
- We're out of practice in responding to cascading failure

### Where we got lucky
- Mailing list of Shakespeare aficionados had a copy of new sonnet available

## Timeline
2015-10-21 (all times UTC)
- 14:51 News reports that a new Shakespearean sonnet has been discovered
"""

INCIDENT_IO_MD = """# Post-mortem: Checkout errors after deploy

## Summary
Checkout returned errors for 12 minutes after a deploy.

## Contributors
The canary only looked at latency, not at error rates.

## Mitigators
A quick rollback through the deploy tool.

## Learnings and risks
Canaries need the same signals as our alerts.

## Follow-ups
- Add error rate to the canary analysis
"""

FIREHYDRANT_MD = """---
title: DNS resolution failures
date: 2024-03-02
severity: SEV2
---
# DNS resolution failures

## Description
Internal DNS failed to resolve service names for 20 minutes.

## Contributing Factors
A configuration push emptied the zone file.

## Tasks
- Validate zone files before they are pushed
"""


def _imported(tmp_path: Path, database_url: str, name: str, text: str):
    from service import lesson
    from service.learning import importer
    from service.store import migrate
    from service.store.engine import make_engine

    folder = tmp_path / "postmortems"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    template = lesson.load_template(None)
    [candidate] = [c for c in importer.from_markdown(folder) if c.ref == f"markdown:{name}"]
    assert isinstance(candidate, importer.Candidate)
    source = importer.ImportSource("markdown", str(folder))
    outcome = importer.import_one(engine, candidate, template, source, False, lambda _: None)
    kept = lessons.get(engine, f"markdown:{name}")
    engine.dispose()
    return outcome, kept, candidate


def test_the_sre_books_postmortem_maps_onto_the_lesson(tmp_path: Path, database_url: str) -> None:
    outcome, kept, candidate = _imported(tmp_path, database_url, "sonnet.md", SRE_BOOK_MD)
    assert (outcome.status, outcome.reason) == ("imported", "missing What we expected")  # no format has one
    assert candidate.written_at is not None and candidate.written_at.date().isoformat() == "2015-10-21"
    why = kept.sections["why_different"]
    assert why.startswith("**Root Causes**\nCascading failure") and "**Trigger**\nLatent bug" in why
    happened = kept.sections["what_happened"]
    assert happened.startswith("Shakespeare Search down") and "**Impact**\nEstimated 1.21B" in happened
    assert "**Detection**" in happened and "**Resolution**" in happened
    learned = kept.sections["what_we_learned"]
    assert learned.count("What went well") == 1 and "Where we got lucky" in learned
    assert "Use flux capacitor" in kept.sections["what_we_will_change"]
    notes = kept.other_sections["other_notes"]
    assert "**Timeline**" in notes and "What went well" not in notes and "Root Causes" not in notes


def test_incident_ios_and_firehydrants_exports_map_onto_the_lesson(tmp_path: Path, database_url: str) -> None:
    _, io, _ = _imported(tmp_path, database_url, "checkout.md", INCIDENT_IO_MD)
    assert io.sections["why_different"].startswith("**Contributors**\nThe canary only looked at latency")
    assert io.sections["what_we_learned"].startswith("**Learnings and risks**\nCanaries need")
    assert io.sections["what_we_will_change"] == "- Add error rate to the canary analysis"
    assert "**Mitigators**\nA quick rollback" in io.other_sections["other_notes"]
    outcome, fh, candidate = _imported(tmp_path, database_url, "dns.md", FIREHYDRANT_MD)
    assert candidate.written_at is not None and candidate.written_at.date().isoformat() == "2024-03-02"
    assert candidate.title == "DNS resolution failures"
    assert fh.sections["what_happened"].startswith("**Description**\nInternal DNS failed")
    assert fh.sections["why_different"] == "A configuration push emptied the zone file."  # an alias already
    assert fh.sections["what_we_will_change"].endswith("- Validate zone files before they are pushed")
    assert outcome.reason == "missing What we expected, What we learned"


def test_an_import_reads_no_file_outside_its_folder(tmp_path: Path, database_url: str) -> None:
    """A symbolic link to a secret, to /dev/zero or to a folder elsewhere is not followed, and a
    file that is not a regular one is not read."""
    import os

    from service.learning import importer

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("## What happened\nthe password is hunter2\n")
    folder = tmp_path / "postmortems"
    folder.mkdir()
    (folder / "real.md").write_text(PAST_REVIEW_MD)
    (folder / "secret.md").symlink_to(outside / "secret.md")
    (folder / "zero.md").symlink_to("/dev/zero")
    (folder / "elsewhere").symlink_to(outside, target_is_directory=True)
    os.mkfifo(folder / "pipe.md")
    found = {item.ref: item for item in importer.from_markdown(folder)}
    assert sorted(found) == ["markdown:pipe.md", "markdown:real.md", "markdown:secret.md", "markdown:zero.md"]
    assert isinstance(found["markdown:real.md"], importer.Candidate)
    assert found["markdown:secret.md"] == importer.Outcome(
        "markdown:secret.md", "skipped", "a symbolic link: not followed"
    )
    assert found["markdown:zero.md"] == importer.Outcome("markdown:zero.md", "skipped", "a symbolic link: not followed")
    assert found["markdown:pipe.md"] == importer.Outcome("markdown:pipe.md", "failed", "not a regular file")
    big = folder / "big.md"
    big.write_bytes(b"## What happened\n" + b"x" * importer.MARKDOWN_LIMIT)
    [too_big] = [item for item in importer.from_markdown(folder) if item.ref == "markdown:big.md"]
    assert too_big == importer.Outcome("markdown:big.md", "failed", "larger than 1024 KiB: not a review")
    link_to_folder = tmp_path / "linked"
    link_to_folder.symlink_to(folder, target_is_directory=True)
    try:
        list(importer.from_markdown(link_to_folder))
        raise AssertionError("a linked folder was read")
    except ValueError as error:
        assert "not a folder" in str(error)


@pytest.mark.slow
def test_a_dry_run_says_what_it_would_import_and_stats_count_imports(tmp_path: Path, database_url: str, redis) -> None:
    folder = tmp_path / "postmortems"
    folder.mkdir()
    (folder / "sonnet.md").write_text(SRE_BOOK_MD)
    env = {"DATABASE_URL": database_url}
    dry = lessonloop("import", f"markdown:{folder}", "--dry-run", env=env, cwd=tmp_path)
    assert "would import: markdown:sonnet.md (missing What we expected)" in dry.stdout.splitlines()
    assert "would import 1, skipped 0, failed 0" in dry.stdout
    lessonloop("import", f"markdown:{folder}", env=env, cwd=tmp_path)
    stats = lessonloop("lessons", "stats", "--format", "json", env=env, cwd=tmp_path)
    import json

    assert json.loads(stats.stdout)["lessons_imported"] == 1
    text = lessonloop("lessons", "stats", env=env, cwd=tmp_path).stdout
    assert "lessons imported         1 (written before lessonloop; not counted above)" in text


def test_a_marker_copied_onto_an_outsiders_issue_names_no_incident(
    tmp_path: Path, database_url: str, redis, trackers, github_double
) -> None:
    """Only lessonloop's own review speaks for an incident: a labelled issue by someone else,
    carrying a marker copied from a real review, is imported as a lesson about itself."""
    from service.store.engine import make_engine
    from service.text import markers

    key = "import-marker-key-0123456789abcdef"
    sealed = markers.MarkerKeys([key]).seal(
        markers.Marker(markers.REVIEW, {"incident": "github:acme/web#1"}), "github:acme/postmortems"
    )
    body = dialect_of("markdown").attach(PAST_REVIEW_MD.split("\n", 2)[2], sealed)
    github_double.add_repo("acme/postmortems")
    for author in ("lessonloop-bot", "mallory"):
        github_double.add_issue(
            "acme/postmortems",
            f"by {author}",
            body=body,
            labels=("post-incident-review",),
            state="closed",
            author=author,
        )
    env = {"DATABASE_URL": database_url, "LESSONLOOP_MARKER_KEY": key} | trackers
    result = lessonloop("import", "github:acme/postmortems", env=env, cwd=tmp_path)
    assert "imported 2, skipped 0, failed 0" in result.stdout, result.stdout + result.stderr
    engine = make_engine(database_url)
    ours, theirs = lessons.get(engine, "github:acme/postmortems#1"), lessons.get(engine, "github:acme/postmortems#2")
    engine.dispose()
    assert ours is not None and ours.incident_ref == "github:acme/web#1"
    assert theirs is not None and theirs.incident_ref == "github:acme/postmortems#2"
