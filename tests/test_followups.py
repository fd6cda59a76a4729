"""Follow-ups end to end: the web app, real Redis and RQ workers, the tracker doubles over HTTP.
The items of "What we'll change" are adopted or opened as tasks, their state follows the
trackers (by webhook and by the daily refresh), edits keep them stable, and overdue ones are
nudged once a week."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from config.settings import FollowupSettings
from service.entry import cli
from service.infra.runtime import Runtime
from service.store import deliveries, followups, schema
from service.text import markers
from tests import loop
from tests.conftest import base_env
from tests.doubles.github import now_iso
from workers import track_followups as followup_jobs

INCIDENT_REPO, REVIEW_REPO = loop.INCIDENT_REPO, loop.REVIEW_REPO
REVIEW = f"github:{REVIEW_REPO}#1"

CHANGES_MD = """We will:

- Add error rate to canary checks (https://github.com/acme/web/issues/1)
- Alert on the 5xx rate of each deploy, @octocat to own it
- Write a runbook for rolling back a canary
"""


def close_github(double, repo: str, number: int, reason: str = "completed") -> None:
    issue = double.issues[repo][number]
    issue.update(state="closed", state_reason=reason, closed_at=now_iso(), updated_at=now_iso())


def reopen_github(double, repo: str, number: int) -> None:
    issue = double.issues[repo][number]
    issue.update(state="open", state_reason="reopened", closed_at=None, updated_at=now_iso())


def github_lesson(client, runtime: Runtime, github_double, changes: str = CHANGES_MD) -> dict[str, Any]:
    """A GitHub incident closes, its review is filled in with ``changes`` and closed."""
    github_double.add_issue("acme/web", "Canary watches latency only")  # acme/web#1, to adopt
    return loop.learn_on_github(client, runtime, github_double, loop.FILLED_MARKDOWN | {"What we'll change": changes})


def lesson_comment(github_double, repo: str = INCIDENT_REPO, number: int = 1) -> str:
    [comment] = loop.marked(github_double.comments_on(repo, number), markers.LESSON)
    return comment["body"]


def test_github_items_adopted_and_opened_then_followed_to_done(
    client,
    runtime: Runtime,
    github_double,
) -> None:
    github_lesson(client, runtime, github_double)
    rows = followups.of_review(runtime.engine, REVIEW)
    assert [(r.origin, r.ref, r.state) for r in rows] == [
        ("adopted", "github:acme/web#1", "open"),
        ("opened", f"github:{REVIEW_REPO}#2", "open"),
        ("opened", f"github:{REVIEW_REPO}#3", "open"),
    ]
    task = github_double.issues[REVIEW_REPO][2]
    assert task["title"] == "Alert on the 5xx rate of each deploy, @\u2060octocat to own it"  # mentions no one
    assert [label["name"] for label in task["labels"]] == ["follow-up"]
    assert task["user"]["login"] == "lessonloop-bot"
    marker = runtime.marker_keys().find_kind(task["body"], f"github:{REVIEW_REPO}", markers.FOLLOWUP)
    assert marker is not None and marker.get("review") == REVIEW
    assert github_double.issues[REVIEW_REPO][1]["html_url"] in task["body"]  # linked to the review
    due = rows[1].due_on
    assert due is not None and due == date.today() + timedelta(days=28)
    text = lesson_comment(github_double)
    assert text.split("<!-- lessonloop:")[0].rstrip().endswith("**open, due " + due.isoformat() + "**")
    assert "#### Follow-ups" in text and text.count("**open, due") == 3

    # one task done, another dropped: each webhook edits the comment in place
    close_github(github_double, REVIEW_REPO, 2)
    answer = loop.send(client, loop.github_issue_event(github_double, REVIEW_REPO, 2, "closed"))
    assert answer["status"] == "queued" and answer["kind"] == "item_state"
    close_github(github_double, REVIEW_REPO, 3, reason="not_planned")
    stale_close = loop.github_issue_event(github_double, REVIEW_REPO, 3, "closed")
    loop.send(client, stale_close)
    loop.work(runtime)
    states = {r.ref: r.state for r in followups.of_review(runtime.engine, REVIEW)}
    assert states[f"github:{REVIEW_REPO}#2"] == "done" and states[f"github:{REVIEW_REPO}#3"] == "not doing"
    for repo, number in ((INCIDENT_REPO, 1), (REVIEW_REPO, 1)):
        text = lesson_comment(github_double, repo, number)  # still one comment each
        assert "**done**" in text and "**not doing**" in text

    # reopened; then the old close arrives again (a redelivery): the tracker's word stands
    reopen_github(github_double, REVIEW_REPO, 3)
    loop.send(client, loop.github_issue_event(github_double, REVIEW_REPO, 3, "reopened"))
    loop.work(runtime)
    loop.send(client, loop.github_issue_event(github_double, REVIEW_REPO, 3, "closed"))
    loop.work(runtime)
    states = {r.ref: r.state for r in followups.of_review(runtime.engine, REVIEW)}
    assert states[f"github:{REVIEW_REPO}#3"] == "open"
    assert "**not doing**" not in lesson_comment(github_double)

    # an issue that is nobody's follow-up closing as not planned is still not relevant
    github_double.add_issue("acme/web", "unrelated")
    close_github(github_double, "acme/web", 2, reason="not_planned")
    assert (
        loop.send(client, loop.github_issue_event(github_double, "acme/web", 2, "closed"))["status"] == "not relevant"
    )


def test_edits_keep_follow_ups_stable(client, runtime: Runtime, github_double) -> None:
    review = github_lesson(client, runtime, github_double)
    edited = (
        CHANGES_MD.replace("- Alert on the 5xx rate of each deploy, @octocat to own it\n", "").replace(
            "rolling back a canary", "rolling back canaries"
        )
        + "- Page the owning team when a canary aborts\n"
    )
    review["body"] = loop.fill_lesson_markdown(review["body"], loop.FILLED_MARKDOWN | {"What we'll change": edited})
    loop.send(client, loop.github_issue_event(github_double, REVIEW_REPO, 1, "edited"))
    loop.work(runtime)
    assert len(github_double.issues[REVIEW_REPO]) == 4  # the review, #2, #3, and one new task: #4
    rows = followups.of_review(runtime.engine, REVIEW)
    listed = [(r.ref, r.text) for r in rows if r.listed]
    assert listed == [
        ("github:acme/web#1", "Add error rate to canary checks (https://github.com/acme/web/issues/1)"),
        (f"github:{REVIEW_REPO}#3", "Write a runbook for rolling back canaries"),
        (f"github:{REVIEW_REPO}#4", "Page the owning team when a canary aborts"),
    ]
    assert github_double.issues[REVIEW_REPO][2]["state"] == "open"  # the removed item's task stays
    assert "5xx rate" not in lesson_comment(github_double)
    assert "rolling back canaries" in lesson_comment(github_double)


def test_at_most_max_per_lesson_are_opened_and_the_rest_say_why(
    client,
    runtime: Runtime,
    github_double,
) -> None:
    many = "".join(f"- Item number {n} about subject {n * 7919} of {n * 104729}\n" for n in range(12))
    github_lesson(client, runtime, github_double, changes=many)
    rows = followups.of_review(runtime.engine, REVIEW)
    assert [r.origin for r in rows].count("opened") == 10 and len(github_double.issues[REVIEW_REPO]) == 11
    assert [r.reason for r in rows if r.origin == "not opened"] == ["over [followups] max_per_lesson (10)"] * 2
    assert lesson_comment(github_double).count("**not opened (over") == 2


def test_create_false_only_adopts(client, runtime: Runtime, github_double) -> None:
    runtime.settings = runtime.settings.model_copy(update={"followups": FollowupSettings(create=False)})
    github_lesson(client, runtime, github_double)
    rows = followups.of_review(runtime.engine, REVIEW)
    assert [(r.origin, r.reason) for r in rows] == [
        ("adopted", ""),
        ("not opened", "[followups] create = false"),
        ("not opened", "[followups] create = false"),
    ]
    assert len(github_double.issues[REVIEW_REPO]) == 1


def test_links_to_items_the_token_cannot_see_are_a_clear_outcome(
    client,
    runtime: Runtime,
    github_double,
) -> None:
    changes = "- Fix it in https://github.com/acme/secret/issues/9\n- " + "x" * 50_000 + "\n"
    github_lesson(client, runtime, github_double, changes=changes)
    rows = followups.of_review(runtime.engine, REVIEW)
    assert rows[0].origin == "adopted" and rows[0].state == "unknown" and "Not Found" in rows[0].reason
    assert rows[1].origin == "opened" and len(rows[1].text) <= 4000
    with runtime.engine.connect() as connection:
        statuses = {row[0] for row in connection.execute(select(schema.deliveries.c.status))}
    assert statuses == {deliveries.DONE}


def test_daily_refresh_and_one_nudge_a_week(client, runtime: Runtime, github_double) -> None:
    github_lesson(client, runtime, github_double)
    close_github(github_double, REVIEW_REPO, 2)  # its webhook was lost: the daily refresh reads it
    due = followups.of_review(runtime.engine, REVIEW)[1].due_on
    assert due is not None
    monday = due + timedelta(days=7 - due.weekday())
    refreshed, nudged, failed = followup_jobs.daily(runtime, monday)
    assert failed == [] and refreshed == 3 and nudged == 2  # acme/web#1 and #3 are open and late
    assert followups.by_ref(runtime.engine, f"github:{REVIEW_REPO}#2")[0].state == "done"
    assert "**done**" in lesson_comment(github_double)
    for later in (2, 6):  # the same week: no second nudge
        assert followup_jobs.daily(runtime, monday + timedelta(days=later)) == (2, 0, [])  # read daily, nudged weekly
    reminders = loop.marked(github_double.comments_on(REVIEW_REPO, 3), markers.FOLLOWUP_REMINDER)
    assert len(reminders) == 1 and "the lesson of" in reminders[0]["body"]
    assert loop.marked(github_double.comments_on(REVIEW_REPO, 2), markers.FOLLOWUP_REMINDER) == []  # done: never
    followup_jobs.daily(runtime, monday + timedelta(days=7))  # a week on: one more
    assert len(loop.marked(github_double.comments_on(REVIEW_REPO, 3), markers.FOLLOWUP_REMINDER)) == 2


def test_jira_review_with_a_pagerduty_incident(
    client,
    runtime: Runtime,
    jira_double,
    pagerduty_double,
    github_double,
) -> None:
    loop.send(client, loop.pagerduty_resolved(pagerduty_double, "PGR0VU2"))
    loop.work(runtime)
    review = jira_double.issue("OPS-43")
    jira_double.add_issue("OPS", "Canary reads latency only", issue_type="Task", status="To Do")  # OPS-44
    changes = "* Wire the error rate into the canary (OPS-44)\n* Alert on the 5xx rate of each deploy\n"
    review["fields"]["description"] = loop.fill_lesson_jira(
        review["fields"]["description"], loop.FILLED_MARKDOWN | {"What we'll change": changes}
    )
    review["fields"]["status"] = {"name": "Done", "statusCategory": {"key": "done"}}
    loop.send(client, loop.jira_issue_event(jira_double, "OPS-43"))
    loop.work(runtime)
    rows = followups.of_review(runtime.engine, "jira:OPS-43")
    assert [(r.origin, r.ref) for r in rows] == [("adopted", "jira:OPS-44"), ("opened", "jira:OPS-45")]
    task = jira_double.issue("OPS-45")
    assert task["fields"]["duedate"] == rows[1].due_on.isoformat()
    assert sorted(task["fields"]["labels"]) == ["follow-up", "lessonloop"]
    assert any((link.get("outwardIssue") or {}).get("key") == "OPS-43" for link in task["fields"]["issuelinks"])
    assert len(loop.marked(pagerduty_double.notes["PGR0VU2"], markers.LESSON)) == 1

    # OPS-44 closed as Won't Do, the task done: Jira comments edited, PagerDuty left alone
    jira_double.issue("OPS-44")["fields"].update(
        status={"name": "Done", "statusCategory": {"key": "done"}}, resolution={"name": "Won't Do"}
    )
    jira_double.issue("OPS-45")["fields"].update(
        status={"name": "Done", "statusCategory": {"key": "done"}}, resolution={"name": "Done"}
    )
    for key in ("OPS-44", "OPS-45"):
        assert loop.send(client, loop.jira_issue_event(jira_double, key))["status"] == "queued"
    loop.work(runtime)
    assert {r.ref: r.state for r in followups.of_review(runtime.engine, "jira:OPS-43")} == {
        "jira:OPS-44": "not doing",
        "jira:OPS-45": "done",
    }
    [comment] = loop.marked(jira_double.issue("OPS-43")["_comments"], markers.LESSON)
    assert "*not doing*" in comment["body"] and "*done*" in comment["body"]
    assert (
        len(loop.marked(pagerduty_double.notes["PGR0VU2"], markers.LESSON)) == 1
    )  # a note only when the lesson changes

    # reopened in Jira: back to open
    jira_double.issue("OPS-45")["fields"].update(
        status={"name": "To Do", "statusCategory": {"key": "new"}}, resolution=None
    )
    loop.send(client, loop.jira_issue_event(jira_double, "OPS-45"))
    loop.work(runtime)
    assert followups.by_ref(runtime.engine, "jira:OPS-45")[0].state == "open"


def test_followups_list_show_exports_and_stats_say_the_same(
    client,
    runtime: Runtime,
    github_double,
    trackers,
    monkeypatch,
    capsys,
    tmp_path,
) -> None:
    github_lesson(client, runtime, github_double)
    close_github(github_double, REVIEW_REPO, 2)
    loop.send(client, loop.github_issue_event(github_double, REVIEW_REPO, 2, "closed"))
    loop.work(runtime)
    for key, value in (base_env() | trackers | {"DATABASE_URL": runtime.settings.database_url}).items():
        monkeypatch.setenv(key, value)

    def run(*args: str) -> tuple[int, str]:
        capsys.readouterr()  # what the workers logged before
        code = cli.main(["--config", str(runtime.settings.config_file), *args])
        return code, capsys.readouterr().out

    code, out = run("followups", "list", "--format", "json")
    assert code == 0
    listed = json.loads(out)["followups"]
    assert [(f["ref"], f["state"], f["lesson"]) for f in listed] == [
        ("github:acme/web#1", "open", "Checkout API returned 502s for 40 minutes"),
        (f"github:{REVIEW_REPO}#2", "done", "Checkout API returned 502s for 40 minutes"),
        (f"github:{REVIEW_REPO}#3", "open", "Checkout API returned 502s for 40 minutes"),
    ]
    assert listed[1]["due_on"] and listed[1]["age_days"] == 0
    code, out = run("followups", "list", "--open")
    assert code == 0 and "acme/web#1" in out and f"{REVIEW_REPO}#2 " not in out and len(out.splitlines()) == 2
    assert run("followups", "list", "--overdue")[1].strip() == "no follow-ups"
    code, out = run("lessons", "show", REVIEW)
    assert "### Follow-ups" in out and f"[github:{REVIEW_REPO}#2]" in out and "): done" in out
    code, out = run("lessons", "export", "--format", "json")
    assert [f["state"] for f in json.loads(out)[0]["followups"]] == ["open", "done", "open"]
    code, out = run("lessons", "export", "--format", "markdown")
    assert "### Follow-ups" in out
    code, out = run("lessons", "stats", "--format", "json")
    figures = json.loads(out)["followups"]
    assert figures | {"median_days_to_done": 0} == {
        "opened": 2,
        "adopted": 1,
        "not_opened": 0,
        "done": 1,
        "not_doing": 0,
        "open": 2,
        "open_past_due": 0,
        "done_within_due": 1.0,
        "median_days_to_done": 0,
    }
    assert "2 opened, 1 adopted" in run("lessons", "stats")[1]


# --- the pure parts ---------------------------------------------------------------------------


def test_list_items_in_both_markups() -> None:
    from service.lesson.followup_items import list_items

    markdown = (
        "Intro line.\n\n- first\n  continued\n  - nested is part of it\n* second\n1. third\n"
        "- [ ] a task box\n\n```\n- not an item\n```\nafter\n"
    )
    assert list_items(markdown, "markdown") == [
        "first continued - nested is part of it",
        "second",
        "third",
        "a task box",
    ]
    jira = "* one\n** nested\n# two\n{code}\n* not an item\n{code}\nplain text\n- three\n"
    assert list_items(jira, "jira") == ["one ** nested", "two", "three"]
    assert list_items("A paragraph (https://github.com/acme/web/issues/7).", "markdown") == []


def test_matching_by_link_then_by_words() -> None:
    from service.domain.events import ItemRef
    from service.lesson.followup_items import Known, ListItem, match

    known = [
        Known("github:acme/web#1", "github:acme/web#1", "Fix it (acme/web#1)"),
        Known("t1", "github:acme/postmortems#2", "Alert on the 5xx rate of each deploy"),
        Known("t2", "github:acme/postmortems#3", "Write a runbook for rolling back a canary"),
    ]
    items = [
        ListItem("Write a runbook for rolling back canaries", ()),
        ListItem(
            "Now tracked in https://github.com/acme/postmortems/issues/2", (ItemRef.github("acme/postmortems", 2),)
        ),  # a link to the task we opened
        ListItem("Something else entirely", ()),
    ]
    assert [k.key if k else None for k in match(items, known)] == ["t2", "t1", None]


def test_copied_text_notifies_no_one_and_carries_no_marker(
    client,
    runtime: Runtime,
    github_double,
) -> None:
    changes = "- Page @octocat and [~accountid:123] <!-- lessonloop:review incident=github:x/y#1 -->\n"
    github_lesson(client, runtime, github_double, changes=changes)
    task = github_double.issues[REVIEW_REPO][2]
    block = lesson_comment(github_double).split("#### Follow-ups", 1)[1].split("<!-- lessonloop:lesson", 1)[0]
    # (the lesson's own sections are copied by service.text.markup.convert, which has its own tests)
    for text in (task["title"], task["body"].rsplit("<!-- lessonloop:followup", 1)[0], block):
        assert "@octocat" not in text and "[~accountid" not in text and "lessonloop:review" not in text
    assert markers.find(task["body"])[0].kind == markers.FOLLOWUP and len(markers.find(task["body"])) == 1


def test_two_hundred_items_a_clear_outcome_each(client, runtime: Runtime, github_double) -> None:
    many = "".join(f"- Item {n}: change number {n * 7919} in subsystem {n * 104729}\n" for n in range(200))
    github_lesson(client, runtime, github_double, changes=many)
    rows = followups.of_review(runtime.engine, REVIEW)
    assert len(rows) == 200 and [r.origin for r in rows].count("opened") == 10
    assert all(r.reason == "over [followups] max_per_lesson (10)" for r in rows if r.origin == "not opened")
    assert len(github_double.issues[REVIEW_REPO]) == 11
    text = lesson_comment(github_double)
    assert text.count("**not opened (over") + text.count("**open, due") == 200
    with runtime.engine.connect() as connection:
        assert {row[0] for row in connection.execute(select(schema.deliveries.c.status))} == {deliveries.DONE}


def test_followup_settings_and_a_rules_due_days(tmp_path) -> None:
    import pytest

    from config.settings import SettingsError, load_settings

    path = tmp_path / "lessonloop.toml"
    path.write_text(
        '[followups]\nopen_in = "jira:OPS"\nlabels = ["action-item"]\ndue_days = 56\ncreate = false\n'
        'max_per_lesson = 3\n\n[[rules]]\nsource = "github"\nfollowup_due_days = 14\n'
    )
    settings = load_settings({"LESSONLOOP_GITHUB_WEBHOOK_SECRET": "x", "LESSONLOOP_JIRA_WEBHOOK_SECRET": "y"}, path)
    assert settings.followups.target is not None and str(settings.followups.target) == "jira:OPS"
    assert (
        settings.followups.labels,
        settings.followups.due_days,
        settings.followups.create,
        settings.followups.max_per_lesson,
    ) == (("action-item",), 56, False, 3)
    assert settings.rules[0].followup_due_days == 14
    path.write_text('[followups]\nopen_in = "pagerduty:X"\n')
    with pytest.raises(SettingsError, match="followups.open_in"):
        load_settings({"LESSONLOOP_GITHUB_WEBHOOK_SECRET": "x"}, path)


def test_a_rules_followup_due_days_wins(client, runtime: Runtime, github_double) -> None:
    rules = tuple(
        rule.model_copy(update={"followup_due_days": 7}) if rule.source == "github" else rule
        for rule in runtime.settings.rules
    )
    runtime.settings = runtime.settings.model_copy(update={"rules": rules})
    github_lesson(client, runtime, github_double)
    assert {r.due_on for r in followups.of_review(runtime.engine, REVIEW)} == {date.today() + timedelta(days=7)}


def test_the_log_pages_show_follow_up_state(client, runtime: Runtime, github_double) -> None:
    github_lesson(client, runtime, github_double)
    close_github(github_double, REVIEW_REPO, 2)
    loop.send(client, loop.github_issue_event(github_double, REVIEW_REPO, 2, "closed"))
    loop.work(runtime)
    listed = client.get("/lessons").get_data(as_text=True)
    assert "2 open · 1 done" in listed  # the row's short form; the page says "1 of 3 done"
    page = client.get(f"/lessons/{REVIEW.replace('#', '%23')}").get_data(as_text=True)
    assert "Follow-ups (1 of 3 done)" in page and f"github:{REVIEW_REPO}#2</a>: done" in page
