"""Crash safety: a real ``lessonloop worker`` process is killed with SIGKILL while a tracker
call of open_review or sync_lesson is in flight, either before the tracker carried it out or
after (the write happened, the answer never arrived). Running the job again must end exactly
where an uninterrupted run ends: nothing duplicated, nothing missing.

The double holds the request until the test lets it go, and the test waits until the double
has carried it out before it asserts: nothing here passes because a held write has not landed
yet. A write let go before the retry runs must be found by it; one let go after the retry
looked (inside the window of docs/guarantees.md) doubles what the retry wrote, and the next run
that looks must tidy up lessonloop's duplicate, and nothing a person wrote."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest

from service.infra.queue import fetch_job
from service.infra.runtime import Runtime
from service.store import deliveries, effects, followups, lessons
from service.text import markers
from tests import loop
from tests.conftest import base_env
from tests.doubles.base import TrackerDouble
from tests.processes import kill_worker, wait_for
from workers.effects import SETTLE_SECONDS
from workers.sweep import sweep

INCIDENT_REPO, REVIEW_REPO = loop.INCIDENT_REPO, loop.REVIEW_REPO

Landing = Literal["before the retry", "after the retry looked", "never"]


def _crash_during(
    runtime: Runtime,
    trackers: dict[str, str],
    double: TrackerDouble,
    operation: str,
    when: str,
    run_after: bool = True,
    skip: int = 0,
    lands: Landing = "before the retry",
) -> None:
    """Start a worker, hold ``operation`` at the double, and SIGKILL the worker there (it runs
    the job in its own process) with its scheduler; then run the sweep and an in-process
    worker, as the next worker to start would.

    ``lands``: when the held request is let go and carried out. "never" leaves it held until
    the double stops (the retry then writes alone; the held write is the test's to let go)."""
    served_before = len(double.calls(operation)) + skip
    if skip:  # let the first ``skip`` calls of the operation through
        double.slow_next(skip, 0, operation=operation)
    gate = double.hold_next(operation) if when == "before" else double.hold_reply_next(operation)
    env = (
        os.environ
        | base_env()
        | trackers
        | {"DATABASE_URL": runtime.settings.database_url, "LESSONLOOP_CONFIG": str(runtime.settings.config_file)}
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "service.entry.cli", "worker"],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        if when == "before":
            wait_for(lambda: double.arrivals(operation) > served_before)
        else:
            wait_for(lambda: len(double.calls(operation)) > served_before)  # carried out, not answered
    finally:
        kill_worker(worker)
    if lands == "before the retry":
        _land(double, gate, operation, when)
    # the sweep sees the job's worker is gone (RQ would wait about 90 s for its heartbeat to
    # lapse); the incident lock's lease would lapse in 30 s: let it go now
    for key in runtime.redis.scan_iter("lessonloop:lock:*"):
        runtime.redis.delete(key)
    sweep(runtime, older_than_seconds=0)
    if run_after:
        loop.work(runtime)
    if lands == "after the retry looked":
        _land(double, gate, operation, when)


def _land(double: TrackerDouble, gate: threading.Event, operation: str, when: str) -> None:
    """Let the held request go and, when it was held before the tracker acted, wait until the
    double has carried it out (it is logged once its handler has run): what is asserted next
    sees it. Held "after", it was carried out already; only its answer was held."""
    served = len(double.calls(operation))
    gate.set()
    if when == "before":
        wait_for(lambda: len(double.calls(operation)) > served)


STEPS_OF_OPEN_REVIEW = [
    ("create_issue", "before"),
    ("create_issue", "after"),  # the review exists, we never heard of it: found by searching
    ("list_timeline", "before"),  # the intent to open is recorded, no review exists: none is found
    ("create_comment", "before"),  # the intent to comment is recorded, the comment is not written
    ("create_comment", "after"),  # the comment exists, we never heard of it: found by its marker
]


@pytest.mark.parametrize(("operation", "when"), STEPS_OF_OPEN_REVIEW)
def test_open_review_killed_at_any_step_ends_as_an_uninterrupted_run(
    client, runtime: Runtime, trackers, github_double, operation: str, when: str
) -> None:
    delivery_pk = loop.accept(client, loop.github_issue_event(github_double, INCIDENT_REPO, 1, "closed"))
    _crash_during(runtime, trackers, github_double, operation, when)
    assert deliveries.get(runtime.engine, delivery_pk).status == deliveries.DONE
    assert len(github_double.issues[REVIEW_REPO]) == 1
    assert len(loop.marked(github_double.comments_on(INCIDENT_REPO, 1), markers.REVIEW_OPENED)) == 1


# --- a write that lands after the retry looked: lessonloop's duplicate is tidied ---------------


def _closed_again(client, github_double, minutes: int = 1) -> int:
    """A person reopens and closes the incident again: a new delivery about it, whose run looks
    for what was written (the same body twice would be one delivery)."""
    incident = github_double.issues[INCIDENT_REPO][1]
    incident["updated_at"] = (datetime.now(UTC) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return loop.accept(client, loop.github_issue_event(github_double, INCIDENT_REPO, 1, "closed"))


def _outcome(runtime: Runtime, delivery_pk: int) -> str:
    delivery = deliveries.get(runtime.engine, delivery_pk)
    assert delivery.status == deliveries.DONE, delivery.last_error
    return delivery.outcome or ""


def test_a_review_created_after_the_retry_looked_is_closed_as_a_duplicate(
    client, runtime: Runtime, trackers, github_double
) -> None:
    loop.accept(client, loop.github_issue_event(github_double, INCIDENT_REPO, 1, "closed"))
    _crash_during(runtime, trackers, github_double, "create_issue", "before", lands="after the retry looked")
    assert len(github_double.issues[REVIEW_REPO]) == 2  # the retry's review, then the held one, landed late
    delivery_pk = _closed_again(client, github_double)
    loop.work(runtime)
    kept, late = github_double.issues[REVIEW_REPO][1], github_double.issues[REVIEW_REPO][2]
    assert (kept["state"], late["state"], late["state_reason"]) == ("open", "closed", "duplicate")
    [note] = loop.marked(github_double.comments_on(REVIEW_REPO, 2), markers.LINK)
    assert kept["html_url"] in note["body"]
    assert len(loop.marked(github_double.comments_on(INCIDENT_REPO, 1), markers.REVIEW_OPENED)) == 1
    assert f"closed our duplicate review github:{REVIEW_REPO}#2 (kept github:{REVIEW_REPO}#1)" in _outcome(
        runtime, delivery_pk
    )
    loop.work(runtime)  # a run after that closes nothing twice
    assert len(loop.marked(github_double.comments_on(REVIEW_REPO, 2), markers.LINK)) == 1


def test_a_comment_written_after_the_retry_looked_is_deleted(client, runtime: Runtime, trackers, github_double) -> None:
    loop.accept(client, loop.github_issue_event(github_double, INCIDENT_REPO, 1, "closed"))
    _crash_during(runtime, trackers, github_double, "create_comment", "before", lands="after the retry looked")
    doubled = loop.marked(github_double.comments_on(INCIDENT_REPO, 1), markers.REVIEW_OPENED)
    assert len(doubled) == 2  # the retry's comment, then the held one, landed late
    first, late = sorted(comment["id"] for comment in doubled)
    delivery_pk = _closed_again(client, github_double)
    loop.work(runtime)
    [kept] = loop.marked(github_double.comments_on(INCIDENT_REPO, 1), markers.REVIEW_OPENED)
    assert kept["id"] == first
    assert [comment["id"] for comment in github_double.deleted_comments] == [late]
    assert f"deleted our duplicate comment {late} on github:{INCIDENT_REPO}#1" in _outcome(runtime, delivery_pk)


def _run_scheduled_tidying(runtime: Runtime) -> list[str]:
    """Start now the second looks that searches scheduled (RQ's scheduler would start them
    ``TIDY_AFTER_SECONDS`` later) and run them; their results."""
    registry = runtime.queue.scheduled_job_registry
    jobs = [fetch_job(job_id, runtime.redis) for job_id in registry.get_job_ids()]
    tidying = [job for job in jobs if job.id.startswith("tidy-")]
    for job in tidying:
        registry.remove(job)
        runtime.queue.enqueue_job(job)
    loop.work(runtime)
    return [str(fetch_job(job.id, runtime.redis).return_value()) for job in tidying]


@pytest.mark.parametrize("operation", ["create_issue", "create_comment"])
def test_with_no_delivery_after_it_a_scheduled_look_tidies_up(
    client, runtime: Runtime, trackers, github_double, operation: str
) -> None:
    loop.accept(client, loop.github_issue_event(github_double, INCIDENT_REPO, 1, "closed"))
    _crash_during(runtime, trackers, github_double, operation, "before", lands="after the retry looked")
    outcomes = _run_scheduled_tidying(runtime)
    if operation == "create_issue":
        assert github_double.issues[REVIEW_REPO][2]["state_reason"] == "duplicate"
        assert outcomes == [f"closed our duplicate review github:{REVIEW_REPO}#2 (kept github:{REVIEW_REPO}#1)"]
    else:
        [deleted] = github_double.deleted_comments
        assert outcomes == [f"deleted our duplicate comment {deleted['id']} on github:{INCIDENT_REPO}#1"]
    assert len(loop.marked(github_double.comments_on(INCIDENT_REPO, 1), markers.REVIEW_OPENED)) == 1
    assert [issue["state"] for issue in github_double.issues[REVIEW_REPO].values()].count("open") == 1


def test_runs_stop_looking_once_the_search_is_an_hour_old(client, runtime: Runtime, trackers, github_double) -> None:
    loop.accept(client, loop.github_issue_event(github_double, INCIDENT_REPO, 1, "closed"))
    _crash_during(runtime, trackers, github_double, "create_comment", "before", lands="after the retry looked")
    item, kind, key = f"github:{INCIDENT_REPO}#1", effects.UNSETTLED + markers.REVIEW_OPENED, f"github:{REVIEW_REPO}#1"
    assert effects.get(runtime.engine, item, kind, key) is not None  # the retry's search left its mark
    long_ago = datetime.now(UTC) - timedelta(seconds=SETTLE_SECONDS + 60)
    effects.put(runtime.engine, item, kind, key, long_ago.isoformat(), "")
    _closed_again(client, github_double)
    loop.work(runtime)
    assert len(github_double.deleted_comments) == 1  # the last search still tidies
    assert effects.get(runtime.engine, item, kind, key) is None
    listed = len(github_double.calls("list_comments"))
    _closed_again(client, github_double, minutes=2)
    loop.work(runtime)
    assert len(github_double.calls("list_comments")) == listed  # and then runs stop looking


def test_a_lesson_comment_written_after_the_retry_looked_is_deleted(
    client, runtime: Runtime, trackers, github_double
) -> None:
    review = loop.open_github_review(client, runtime, github_double)
    loop.close_github_review(client, github_double, review)
    _crash_during(runtime, trackers, github_double, "create_comment", "before", lands="after the retry looked")
    counts = [
        len(loop.marked(github_double.comments_on(repo, 1), markers.LESSON)) for repo in (INCIDENT_REPO, REVIEW_REPO)
    ]
    assert sorted(counts) == [1, 2]
    review["body"] = review["body"].replace("signals it reads", "signals it is given")
    delivery_pk = loop.accept(client, loop.github_issue_event(github_double, REVIEW_REPO, 1, "edited"))
    loop.work(runtime)
    for repo in (INCIDENT_REPO, REVIEW_REPO):
        posted = loop.marked(github_double.comments_on(repo, 1), markers.LESSON)
        assert len(posted) == 1 and "signals it is given" in posted[0]["body"]
    [deleted] = github_double.deleted_comments
    assert f"deleted our duplicate comment {deleted['id']} on github:" in _outcome(runtime, delivery_pk)


def _jira_reviews(jira_double) -> list[dict]:
    with jira_double.lock:
        found = [i for i in jira_double.issues.values() if "lessonloop" in i["fields"]["labels"]]
    return sorted(found, key=lambda issue: int(issue["id"]))


def test_a_jira_review_created_after_the_retry_looked_is_labelled_a_duplicate(
    client, runtime: Runtime, trackers, jira_double, pagerduty_double
) -> None:
    loop.accept(client, loop.pagerduty_resolved(pagerduty_double, "PGR0VU2"))
    _crash_during(runtime, trackers, jira_double, "create_issue", "before", lands="after the retry looked")
    assert len(_jira_reviews(jira_double)) == 2  # the retry's review, then the held one, landed late
    delivery_pk = loop.accept(client, loop.pagerduty_resolved(pagerduty_double, "PGR0VU2"))  # sent again
    loop.work(runtime)
    kept, late = _jira_reviews(jira_double)
    assert "lessonloop-duplicate" not in kept["fields"]["labels"]
    assert "lessonloop-duplicate" in late["fields"]["labels"]
    [note] = loop.marked(loop.jira_comments(jira_double, late["key"]), markers.LINK)
    assert f"/browse/{kept['key']}" in note["body"]
    assert f"closed our duplicate review jira:{late['key']} (kept jira:{kept['key']})" in _outcome(runtime, delivery_pk)


def test_a_jira_lesson_comment_written_after_the_retry_looked_is_deleted(
    client, runtime: Runtime, trackers, jira_double, pagerduty_double
) -> None:
    loop.accept(client, loop.pagerduty_resolved(pagerduty_double, "PGR0VU2"))
    loop.work(runtime)
    [review] = _jira_reviews(jira_double)
    review["fields"]["description"] = loop.fill_lesson_jira(review["fields"]["description"])
    review["fields"]["status"] = {"name": "Done", "statusCategory": {"key": "done"}}
    loop.accept(client, loop.jira_issue_event(jira_double, review["key"]))
    _crash_during(runtime, trackers, jira_double, "add_comment", "before", lands="after the retry looked")
    doubled = loop.marked(loop.jira_comments(jira_double, review["key"]), markers.LESSON)
    assert len(doubled) == 2  # the retry's comment, then the held one, landed late
    first, late = sorted(doubled, key=lambda comment: int(comment["id"]))
    review["fields"]["description"] = review["fields"]["description"].replace("40 minutes", "41 minutes")
    delivery_pk = loop.accept(client, loop.jira_issue_event(jira_double, review["key"], changed="description"))
    loop.work(runtime)
    [kept] = loop.marked(loop.jira_comments(jira_double, review["key"]), markers.LESSON)
    assert kept["id"] == first["id"] and "41 minutes" in kept["body"]
    assert [comment["id"] for comment in jira_double.deleted_comments] == [late["id"]]
    assert f"deleted our duplicate comment {late['id']} on jira:{review['key']}" in _outcome(runtime, delivery_pk)


@pytest.mark.parametrize("operation", ["create_issue", "create_comment"])
def test_what_people_wrote_is_never_tidied_away(
    client, runtime: Runtime, trackers, github_double, operation: str
) -> None:
    """Copies of lessonloop's review and comment that a person made (the marker verifies, the
    author is not lessonloop), and look-alikes under lessonloop's name whose MAC is wrong, are
    not lessonloop's duplicates: the run that tidies leaves every one of them as it was."""
    loop.accept(client, loop.github_issue_event(github_double, INCIDENT_REPO, 1, "closed"))
    _crash_during(runtime, trackers, github_double, operation, "before", lands="after the retry looked")
    review = github_double.issues[REVIEW_REPO][1]
    [opened, *_] = loop.marked(github_double.comments_on(INCIDENT_REPO, 1), markers.REVIEW_OPENED)
    people = [
        github_double.add_comment(INCIDENT_REPO, 1, opened["body"], author="octocat"),
        github_double.add_comment(INCIDENT_REPO, 1, _forged(opened["body"]), author="lessonloop-bot"),
    ]
    issues = [
        github_double.add_issue(REVIEW_REPO, review["title"], review["body"], author="octocat"),
        github_double.add_issue(REVIEW_REPO, review["title"], _forged(review["body"]), author="lessonloop-bot"),
    ]
    _closed_again(client, github_double)
    loop.work(runtime)
    assert len(github_double.deleted_comments) == (1 if operation == "create_comment" else 0)
    remaining = {comment["id"] for comment in github_double.comments_on(INCIDENT_REPO, 1)}
    assert {comment["id"] for comment in people} <= remaining
    assert [issue["state"] for issue in issues] == ["open", "open"]
    assert not github_double.comments_on(REVIEW_REPO, issues[0]["number"])
    assert not github_double.comments_on(REVIEW_REPO, issues[1]["number"])
    closed = [number for number, issue in github_double.issues[REVIEW_REPO].items() if issue["state"] == "closed"]
    assert closed == ([2] if operation == "create_issue" else [])


def _forged(body: str) -> str:
    """``body`` with every marker's MAC replaced by one lessonloop never made."""
    return re.sub(r"mac=[0-9a-f]+", "mac=" + "0" * 32, body)


STEPS_OF_SYNC_LESSON = [
    ("get_issue", "before"),  # reading the review as it is now
    ("create_comment", "before"),
    ("create_comment", "after"),
]


@pytest.mark.parametrize(("operation", "when"), STEPS_OF_SYNC_LESSON)
def test_sync_lesson_killed_at_any_step_ends_as_an_uninterrupted_run(
    client, runtime: Runtime, trackers, github_double, operation: str, when: str
) -> None:
    review = loop.open_github_review(client, runtime, github_double)
    delivery_pk = loop.close_github_review(client, github_double, review)["delivery"]
    _crash_during(runtime, trackers, github_double, operation, when)
    assert deliveries.get(runtime.engine, delivery_pk).status == deliveries.DONE
    assert lessons.get(runtime.engine, f"github:{REVIEW_REPO}#1") is not None
    assert len(loop.marked(github_double.comments_on(INCIDENT_REPO, 1), markers.LESSON)) == 1
    assert len(loop.marked(github_double.comments_on(REVIEW_REPO, 1), markers.LESSON)) == 1


def test_an_edit_killed_after_the_tracker_edited_the_comment(
    client,
    runtime: Runtime,
    trackers,
    github_double,
) -> None:
    review = loop.learn_on_github(client, runtime, github_double)
    review["body"] = review["body"].replace("signals it reads", "signals it is given")
    delivery_pk = loop.accept(client, loop.github_issue_event(github_double, REVIEW_REPO, 1, "edited"))
    _crash_during(runtime, trackers, github_double, "update_comment", "after")
    assert deliveries.get(runtime.engine, delivery_pk).status == deliveries.DONE
    for repo in (INCIDENT_REPO, REVIEW_REPO):
        posted = loop.marked(github_double.comments_on(repo, 1), markers.LESSON)
        assert len(posted) == 1 and "signals it is given" in posted[0]["body"]


# --- follow-ups -------------------------------------------------------------------------------

FOLLOWUP_CHANGES = (
    "- Add error rate to canary checks (https://github.com/acme/web/issues/1)\n"
    "- Alert on the 5xx rate of each deploy\n"
    "- Write a runbook for rolling back a canary\n"
)
STEPS_OF_FOLLOWUPS = [
    ("get_issue", "before"),  # reading the issue an item adopts (after the review itself)
    ("create_issue", "before"),  # opening the first task
    ("create_issue", "after"),  # the task exists, we never heard of it: found by its marker
    ("list_issues", "before"),  # searching for it, on the run after that
]


def _review_with_followups(client, runtime: Runtime, github_double) -> int:
    github_double.add_issue("acme/web", "Canary watches latency only")
    review = loop.open_github_review(client, runtime, github_double)
    sections = loop.FILLED_MARKDOWN | {"What we'll change": FOLLOWUP_CHANGES}
    return loop.close_github_review(client, github_double, review, sections)["delivery"]


@pytest.mark.parametrize(("operation", "when"), STEPS_OF_FOLLOWUPS)
def test_follow_ups_killed_at_any_step_end_as_an_uninterrupted_run(
    client, runtime: Runtime, trackers, github_double, operation: str, when: str
) -> None:
    delivery_pk = _review_with_followups(client, runtime, github_double)
    if operation == "list_issues":  # a crash after the create, then one while searching for it
        _crash_during(runtime, trackers, github_double, "create_issue", "after", run_after=False)
    # the first get_issue reads the review: hold the second, the adopted issue's
    _crash_during(runtime, trackers, github_double, operation, when, skip=1 if operation == "get_issue" else 0)
    assert deliveries.get(runtime.engine, delivery_pk).status == deliveries.DONE
    assert len(github_double.issues[REVIEW_REPO]) == 3  # the review and two tasks, never a third
    rows = followups.of_review(runtime.engine, f"github:{REVIEW_REPO}#1")
    assert sorted((r.origin, r.ref) for r in rows) == [
        ("adopted", "github:acme/web#1"),
        ("opened", f"github:{REVIEW_REPO}#2"),
        ("opened", f"github:{REVIEW_REPO}#3"),
    ]
    [comment] = loop.marked(github_double.comments_on(INCIDENT_REPO, 1), markers.LESSON)
    assert comment["body"].count("**open, due") == 3


def test_a_state_change_killed_after_the_comment_was_edited(client, runtime: Runtime, trackers, github_double) -> None:
    _review_with_followups(client, runtime, github_double)
    loop.work(runtime)
    task = github_double.issues[REVIEW_REPO][2]
    task.update(state="closed", state_reason="completed")
    delivery_pk = loop.accept(client, loop.github_issue_event(github_double, REVIEW_REPO, 2, "closed"))
    _crash_during(runtime, trackers, github_double, "update_comment", "after")
    assert deliveries.get(runtime.engine, delivery_pk).status == deliveries.DONE
    assert followups.by_ref(runtime.engine, f"github:{REVIEW_REPO}#2")[0].state == "done"
    for repo in (INCIDENT_REPO, REVIEW_REPO):
        [comment] = loop.marked(github_double.comments_on(repo, 1), markers.LESSON)
        assert "**done**" in comment["body"]


# --- an append-only tracker -------------------------------------------------------------------


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_new_pagerduty_note_killed_mid_write_is_written_once(
    client, runtime: Runtime, trackers, jira_double, pagerduty_double, when: str
) -> None:
    """PagerDuty's notes cannot be edited: a changed lesson is a new note. Killed while that
    note is being added, the run after it adds it if it is missing and never adds it twice."""
    loop.accept(client, loop.pagerduty_resolved(pagerduty_double, "PGR0VU2"))
    loop.work(runtime)
    review = jira_double.issue("OPS-43")
    review["fields"]["description"] = loop.fill_lesson_jira(review["fields"]["description"])
    review["fields"]["status"] = {"name": "Done", "statusCategory": {"key": "done"}}
    loop.accept(client, loop.jira_issue_event(jira_double, "OPS-43"))
    loop.work(runtime)
    review["fields"]["description"] = review["fields"]["description"].replace("40 minutes", "41 minutes")
    delivery_pk = loop.accept(client, loop.jira_issue_event(jira_double, "OPS-43", changed="description"))
    _crash_during(runtime, trackers, pagerduty_double, "create_incident_note", when)
    assert deliveries.get(runtime.engine, delivery_pk).status == deliveries.DONE
    notes = loop.marked(pagerduty_double.notes["PGR0VU2"], markers.LESSON)
    assert len(notes) == 2 and "41 minutes" in notes[1]["content"]
