"""``lessonloop lessons list|show|search|export`` and ``lessonloop link``, on a learning log
filled through the real loop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.entry import cli
from service.infra.runtime import Runtime
from service.text import markers
from tests import loop
from tests.conftest import base_env


@pytest.fixture
def learned(client, runtime: Runtime, github_double) -> Runtime:
    """One lesson in the log: GitHub incident Codertocat/Hello-World#1, review acme/postmortems#1."""
    loop.learn_on_github(client, runtime, github_double)
    return runtime


@pytest.fixture
def run(learned: Runtime, trackers, monkeypatch: pytest.MonkeyPatch, capsys):
    for key, value in (base_env() | trackers | {"DATABASE_URL": learned.settings.database_url}).items():
        monkeypatch.setenv(key, value)

    def invoke(*args: str) -> tuple[int, str, str]:
        code = cli.main(["--config", str(learned.settings.config_file), *args])
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


def test_list_and_search(run) -> None:
    code, out, _ = run("lessons", "list")
    assert code == 0
    assert "github:acme/postmortems#1" in out and "github:Codertocat/Hello-World#1" in out
    assert run("lessons", "search", "canary", "SIGNALS")[1] == out  # every word, any case
    code, out, _ = run("lessons", "search", "canary", "kubernetes")
    assert (code, out.strip()) == (0, "no lessons")
    assert run("lessons", "search", "100%")[1].strip() == "no lessons"  # % is a character, not a wildcard


def test_show_by_review_or_incident(run) -> None:
    code, by_review, _ = run("lessons", "show", "github:acme/postmortems#1")
    assert code == 0
    assert "### What we learned" in by_review and "A canary is only as good as the signals it reads." in by_review
    assert run("lessons", "show", "github:Codertocat/Hello-World#1")[1] == by_review
    code, _, err = run("lessons", "show", "jira:NOPE-1")
    assert code == 1 and "no lesson for jira:NOPE-1" in err


def test_export_json_and_markdown(run, tmp_path: Path) -> None:
    code, out, _ = run("lessons", "export")
    exported = json.loads(out)
    assert code == 0 and len(exported) == 1
    entry = exported[0]
    assert entry["review"] == "github:acme/postmortems#1" and entry["incident"] == "github:Codertocat/Hello-World#1"
    assert set(entry["sections"]) == {
        "what_happened",
        "what_we_expected",
        "why_different",
        "what_we_learned",
        "what_we_will_change",
    }
    assert entry["seconds_to_lesson"] is None or entry["seconds_to_lesson"] >= 0
    assert entry["markup"] == "markdown"  # as written in the GitHub review
    target = tmp_path / "log.md"
    code, _, err = run("lessons", "export", "--format", "markdown", "--output", str(target))
    assert code == 0 and "wrote 1 lessons" in err
    assert (
        target.read_text().startswith("# Learning log\n") and "### Why it turned out differently" in target.read_text()
    )


def test_link_posts_a_kept_lesson_on_the_newly_related_item(run, learned: Runtime, github_double) -> None:
    github_double.add_issue("acme/checkout", "Retry storms on payment provider timeouts")
    code, out, _ = run("link", "github:Codertocat/Hello-World#1", "github:acme/checkout#1")
    assert code == 0 and "linked: github:Codertocat/Hello-World#1 <-> github:acme/checkout#1" in out
    assert "queued" in out
    loop.work(learned)
    posted = [c for c in github_double.comments_on("acme/checkout", 1) if markers.find_kind(c["body"], markers.LESSON)]
    assert len(posted) == 1
    assert "- github:acme/checkout#1" in run("lessons", "show", "github:acme/postmortems#1")[1].split("## Shared on")[1]
    assert run("link", "github:acme/checkout#1", "github:Codertocat/Hello-World#1")[1].startswith("already linked")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("github:acme", "jira:OPS-1"), "not an item ref"),
        (("jira:OPS-1", "jira:OPS-1"), "cannot be linked to itself"),
    ],
)
def test_link_refuses_bad_refs(run, args: tuple[str, str], message: str) -> None:
    code, _, err = run("link", *args)
    assert code == 2 and message in err


def test_a_lesson_written_in_jira_exports_as_markdown() -> None:
    from datetime import UTC, datetime

    from service.learning.export import lesson_dict, lesson_markdown
    from service.store.lessons import Lesson

    moment = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    kept = Lesson(
        review_ref="jira:OPS-43",
        incident_ref="pagerduty:PGR0VU2",
        incident_title="Checkout 502s",
        incident_url="https://acme.pagerduty.com/incidents/PGR0VU2",
        priority="P1",
        review_url="https://jira.test/browse/OPS-43",
        sections={"what_we_learned": "The *canary* read {{latency}} only."},
        digest="d",
        incident_closed_at=None,
        captured_at=moment,
        updated_at=moment,
        seconds_to_lesson=None,
    )
    assert lesson_dict(kept)["markup"] == "jira"
    assert lesson_dict(kept)["sections"]["what_we_learned"] == "The *canary* read {{latency}} only."  # as written
    assert "### What we learned\n\nThe **canary** read `latency` only." in lesson_markdown(kept)


def test_stats_count_reviews_lessons_and_where_they_went(run) -> None:
    code, out, _ = run("lessons", "stats")
    assert code == 0
    assert "reviews opened           1" in out
    assert "lessons captured         1 (100% of reviews)" in out
    assert "reviews still open       0, 0 past their due date" in out
    assert "lesson comments          github 2" in out  # the incident and the review
    assert "github 1 of 1 captured" in out
    code, out, _ = run("lessons", "stats", "--format", "json", "--days", "7")
    figures = json.loads(out)
    assert code == 0 and figures["reviews_opened"] == 1 and figures["items_per_lesson"]["median"] == 2
    assert figures["close_to_lesson"]["count"] == 1  # closed and captured within the test: seconds apart
    assert run("lessons", "stats", "--days", "0")[0] == 2
