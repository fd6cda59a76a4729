"""The review loop end to end: the web app, a real Redis, real RQ workers, the tracker doubles
over HTTP, and the trackers' own payload shapes, for every source x review tracker pair."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from service.infra.runtime import Runtime
from service.store import deliveries, effects, lessons, reviews
from service.text import markers
from tests import loop
from tests.conftest import base_env


def test_an_incident_its_tracker_says_was_closed_as_a_duplicate_gets_no_review(
    client, runtime: Runtime, github_double
) -> None:
    """The delivery says completed; by the time the worker asks, GitHub says duplicate: the
    tracker's word decides, and nothing is written anywhere."""
    incident_repo = "Codertocat/Hello-World"
    delivery = loop.accept(client, loop.github_issue_event(github_double, incident_repo, 1, "closed"))
    github_double.issues[incident_repo][1]["state_reason"] = "duplicate"
    loop.work(runtime)
    recorded = deliveries.get(runtime.engine, delivery)
    assert recorded is not None and recorded.status == deliveries.IGNORED
    assert "closed as 'duplicate'" in (recorded.outcome or "")
    assert github_double.issues["acme/postmortems"] == {}
    assert github_double.comments_on(incident_repo, 1) == []


# --- GitHub incident, GitHub review -----------------------------------------------------------


def test_github_to_github(client, runtime: Runtime, github_double) -> None:
    incident_repo, review_repo = "Codertocat/Hello-World", "acme/postmortems"
    answer = loop.send(client, loop.github_issue_event(github_double, incident_repo, 1, "closed"))
    assert answer["status"] == "queued"
    loop.work(runtime)

    review = github_double.issues[review_repo][1]
    assert review["title"].startswith("Post-incident review: ")
    assert markers.find_kind(review["body"], markers.REVIEW).get("incident") == f"github:{incident_repo}#1"
    assert (
        "## What happened" in review["body"] and "https://github.com/Codertocat/Hello-World/issues/1" in review["body"]
    )
    assert [label["name"] for label in review["labels"]] == ["post-incident-review"]
    opened = loop.marked(github_double.comments_on(incident_repo, 1), markers.REVIEW_OPENED)
    assert len(opened) == 1 and review["html_url"] in opened[0]["body"]
    assert reviews.review_of(runtime.engine, f"github:{incident_repo}#1").ref == f"github:{review_repo}#1"

    # the team writes the lesson and closes the review
    review["body"] = loop.fill_lesson_markdown(review["body"])
    review["state"] = "closed"
    loop.send(client, loop.github_issue_event(github_double, review_repo, 1, "closed"))
    loop.work(runtime)
    kept = lessons.get(runtime.engine, f"github:{review_repo}#1")
    assert kept is not None
    assert kept.sections["what_happened"].startswith("Checkout returned 502s")
    assert kept.sections["why_different"].startswith("The canary watched latency only")
    assert kept.incident_ref == f"github:{incident_repo}#1"
    on_incident = loop.marked(github_double.comments_on(incident_repo, 1), markers.LESSON)
    on_review = loop.marked(github_double.comments_on(review_repo, 1), markers.LESSON)
    assert len(on_incident) == len(on_review) == 1
    assert "A canary is only as good as the signals it reads." in on_incident[0]["body"]

    # an edit later edits those comments, it adds none
    review["body"] = review["body"].replace("signals it reads", "signals it is given")
    loop.send(client, loop.github_issue_event(github_double, review_repo, 1, "edited"))
    loop.work(runtime)
    on_incident = loop.marked(github_double.comments_on(incident_repo, 1), markers.LESSON)
    assert len(on_incident) == 1 and "signals it is given" in on_incident[0]["body"]
    assert "signals it is given" in lessons.get(runtime.engine, f"github:{review_repo}#1").sections["what_we_learned"]


# --- Jira incident, Jira review ---------------------------------------------------------------


def test_jira_to_jira(client, runtime: Runtime, jira_double) -> None:
    loop.send(client, loop.jira_issue_event(jira_double, "OPS-42"))
    loop.work(runtime)
    review_key = "OPS-43"
    review = jira_double.issue(review_key)
    assert review["fields"]["summary"].startswith("Post-incident review: ")
    assert "h2. What happened" in review["fields"]["description"]
    assert review["_properties"]["lessonloop"]["incident"] == "jira:OPS-42"
    linked = [
        link
        for link in review["fields"]["issuelinks"]
        if (link.get("outwardIssue") or link.get("inwardIssue") or {}).get("key") == "OPS-42"
    ]
    assert linked, review["fields"]["issuelinks"]
    assert len(loop.marked(loop.jira_comments(jira_double, "OPS-42"), markers.REVIEW_OPENED)) == 1

    review["fields"]["description"] = loop.fill_lesson_jira(review["fields"]["description"])
    review["fields"]["status"] = {"name": "Done", "statusCategory": {"key": "done"}}
    loop.send(client, loop.jira_issue_event(jira_double, review_key))
    loop.work(runtime)
    assert lessons.get(runtime.engine, f"jira:{review_key}") is not None
    lesson_comments = loop.marked(loop.jira_comments(jira_double, "OPS-42"), markers.LESSON)
    assert len(lesson_comments) == 1 and "Checkout returned 502s" in lesson_comments[0]["body"]


# --- PagerDuty incidents, reviews in Jira and in GitHub ---------------------------------------


def test_pagerduty_to_jira(client, runtime: Runtime, jira_double, pagerduty_double) -> None:
    loop.send(client, loop.pagerduty_resolved(pagerduty_double, "PGR0VU2"))
    loop.work(runtime)
    review = jira_double.issue("OPS-43")
    assert any(
        link["object"]["url"] == "https://acme.pagerduty.com/incidents/PGR0VU2" for link in review["_remotelinks"]
    )
    notes = pagerduty_double.notes["PGR0VU2"]
    assert len(loop.marked(notes, markers.REVIEW_OPENED)) == 1 and "OPS-43" in notes[0]["content"]

    review["fields"]["description"] = loop.fill_lesson_jira(review["fields"]["description"])
    review["fields"]["status"] = {"name": "Done", "statusCategory": {"key": "done"}}
    loop.send(client, loop.jira_issue_event(jira_double, "OPS-43"))
    loop.work(runtime)
    lesson_notes = loop.marked(pagerduty_double.notes["PGR0VU2"], markers.LESSON)
    assert len(lesson_notes) == 1 and "Checkout returned 502s" in lesson_notes[0]["content"]

    # an edit that changes the text gives one new note; one that changes nothing gives none
    review["fields"]["description"] = review["fields"]["description"].replace("40 minutes", "41 minutes")
    loop.send(client, loop.jira_issue_event(jira_double, "OPS-43", changed="description"))
    loop.send(client, loop.jira_issue_event(jira_double, "OPS-43", changed="description"))
    loop.work(runtime)
    assert len(loop.marked(pagerduty_double.notes["PGR0VU2"], markers.LESSON)) == 2


def test_pagerduty_to_github(
    make_settings,
    trackers,
    make_runtime,
    github_double,
    pagerduty_double,
    tmp_path: Path,
) -> None:
    rules = tmp_path / "pd-github.toml"
    rules.write_text('[[rules]]\nsource = "pagerduty"\nreview = "github:acme/postmortems"\n')
    runtime = make_runtime(make_settings(config_file=rules, **trackers))
    client = loop.web_client(runtime)
    loop.send(client, loop.pagerduty_resolved(pagerduty_double, "PGR0VU2"))
    loop.work(runtime)
    review = github_double.issues["acme/postmortems"][1]
    assert "https://acme.pagerduty.com/incidents/PGR0VU2" in review["body"]
    assert len(loop.marked(pagerduty_double.notes["PGR0VU2"], markers.REVIEW_OPENED)) == 1
    review["body"] = loop.fill_lesson_markdown(review["body"])
    review["state"] = "closed"
    loop.send(client, loop.github_issue_event(github_double, "acme/postmortems", 1, "closed"))
    loop.work(runtime)
    assert len(loop.marked(pagerduty_double.notes["PGR0VU2"], markers.LESSON)) == 1
    assert len(loop.marked(github_double.comments_on("acme/postmortems", 1), markers.LESSON)) == 1
    runtime.engine.dispose()


def test_a_lesson_reaches_all_three_trackers(
    client,
    runtime: Runtime,
    github_double,
    jira_double,
    pagerduty_double,
) -> None:
    for number in range(1, 8):
        github_double.add_issue("acme/web", f"issue {number}")
    loop.send(client, loop.pagerduty_resolved(pagerduty_double, "PGR0VU2"))
    loop.work(runtime)
    review = jira_double.issue("OPS-43")
    # the follow-up section links a GitHub issue: it becomes a related item; the lesson is
    # written in Jira's wiki markup, and each tracker gets it in its own
    learned = (
        "A canary is only as good as the *signals* it reads: [canary runbook|https://wiki.test/canary].\n"
        "* {{latency}} alone hid the errors"
    )
    review["fields"]["description"] = loop.fill_lesson_jira(
        review["fields"]["description"], loop.FILLED_MARKDOWN | {"What we learned": learned}
    )
    assert "https://github.com/acme/web/issues/7" in review["fields"]["description"]
    review["fields"]["status"] = {"name": "Done", "statusCategory": {"key": "done"}}
    loop.send(client, loop.jira_issue_event(jira_double, "OPS-43"))
    loop.work(runtime)
    [note] = loop.marked(pagerduty_double.notes["PGR0VU2"], markers.LESSON)
    [jira_comment] = loop.marked(loop.jira_comments(jira_double, "OPS-43"), markers.LESSON)
    [github_comment] = loop.marked(github_double.comments_on("acme/web", 7), markers.LESSON)
    assert learned in jira_comment["body"]
    assert (
        "the **signals** it reads: [canary runbook](https://wiki.test/canary).\n- `latency` alone hid the errors"
    ) in github_comment["body"]
    assert ("the signals it reads: canary runbook (https://wiki.test/canary).\n- latency alone hid the errors") in note[
        "content"
    ]


# --- incomplete lessons -----------------------------------------------------------------------


def test_a_review_closed_incomplete_is_told_once_per_text(client, runtime: Runtime, github_double) -> None:
    loop.send(client, loop.github_issue_event(github_double, "Codertocat/Hello-World", 1, "closed"))
    loop.work(runtime)
    review = github_double.issues["acme/postmortems"][1]
    partial = dict(loop.FILLED_MARKDOWN)
    del partial["What we learned"], partial["What we'll change"]
    review["body"] = loop.fill_lesson_markdown(review["body"], partial)
    review["state"] = "closed"
    for _ in range(3):  # closed, re-sent, and a no-op edit: one comment
        loop.send(client, loop.github_issue_event(github_double, "acme/postmortems", 1, "closed"))
    loop.work(runtime)
    asked = loop.marked(github_double.comments_on("acme/postmortems", 1), markers.MISSING)
    assert len(asked) == 1
    assert "What we learned" in asked[0]["body"] and "What happened" not in asked[0]["body"]
    assert lessons.get(runtime.engine, "github:acme/postmortems#1") is None
    assert loop.marked(github_double.comments_on("Codertocat/Hello-World", 1), markers.LESSON) == []

    review["body"] = review["body"].replace("The canary to stop", "Canary to stop")
    loop.send(client, loop.github_issue_event(github_double, "acme/postmortems", 1, "edited"))
    loop.work(runtime)  # a different (still incomplete) text, but the review was edited, not closed
    assert len(loop.marked(github_double.comments_on("acme/postmortems", 1), markers.MISSING)) == 1


# --- guarantees -------------------------------------------------------------------------------


def test_fifty_concurrent_copies_give_one_review_and_one_comment(
    live_server: str,
    runtime: Runtime,
    github_double,
) -> None:
    delivery = loop.github_issue_event(github_double, "Codertocat/Hello-World", 1, "closed")
    with ThreadPoolExecutor(max_workers=50) as pool:
        codes = list(
            pool.map(
                lambda _: (
                    requests.post(
                        live_server + delivery.path, data=delivery.body, headers=delivery.headers, timeout=30
                    ).status_code
                ),
                range(50),
            )
        )
    assert sorted(codes) == [200] * 49 + [202]
    loop.work(runtime)
    assert len(github_double.issues["acme/postmortems"]) == 1
    assert len(loop.marked(github_double.comments_on("Codertocat/Hello-World", 1), markers.REVIEW_OPENED)) == 1


def test_distinct_deliveries_for_one_incident_give_one_review(client, runtime: Runtime, github_double) -> None:
    for n in range(5):  # closed, reopened, closed again...: new delivery ids and bodies each time
        github_double.issues["Codertocat/Hello-World"][1]["updated_at"] = f"2026-11-20T12:0{n}:00Z"
        loop.send(client, loop.github_issue_event(github_double, "Codertocat/Hello-World", 1, "closed"))
    loop.work(runtime)
    assert len(github_double.issues["acme/postmortems"]) == 1
    assert len(loop.marked(github_double.comments_on("Codertocat/Hello-World", 1), markers.REVIEW_OPENED)) == 1
    assert deliveries.counts(runtime.engine)[deliveries.DONE] == 5


def test_our_own_writes_echoed_back_start_nothing(
    client,
    runtime: Runtime,
    github_double,
    jira_double,
    pagerduty_double,
) -> None:
    loop.send(client, loop.github_issue_event(github_double, "Codertocat/Hello-World", 1, "closed"))
    loop.send(client, loop.pagerduty_resolved(pagerduty_double, "PGR0VU2"))
    loop.work(runtime)
    before = deliveries.counts(runtime.engine)
    comment = loop.marked(github_double.comments_on("Codertocat/Hello-World", 1), markers.REVIEW_OPENED)[0]
    answers = [
        loop.send(client, loop.github_comment_event(github_double, "Codertocat/Hello-World", 1, comment)),
        loop.send(client, loop.github_comment_event(github_double, "Codertocat/Hello-World", 1, comment, "edited")),
        loop.send(client, loop.github_issue_event(github_double, "acme/postmortems", 1, "opened")),
        loop.send(
            client,
            loop.jira_comment_event(
                jira_double, "OPS-43", {"body": "x\n{color:#97a0af}lessonloop:lesson key=jira:OPS-43{color}"}
            ),
        ),
        loop.send(client, loop.pagerduty_annotated(pagerduty_double, "PGR0VU2", pagerduty_double.notes["PGR0VU2"][0])),
    ]
    assert [answer["status"] for answer in answers] == ["not relevant"] * 5
    assert deliveries.counts(runtime.engine) == before


# --- tracker faults ---------------------------------------------------------------------------


def test_a_429_with_retry_after_is_waited_out(client, runtime: Runtime, github_double) -> None:
    github_double.fail_next(1, 429, retry_after=1, operation="create_issue")
    github_double.fail_next(2, 500, operation="get_issue")
    loop.send(client, loop.github_issue_event(github_double, "Codertocat/Hello-World", 1, "closed"))
    loop.work(runtime)
    assert len(github_double.issues["acme/postmortems"]) == 1
    assert len(loop.marked(github_double.comments_on("Codertocat/Hello-World", 1), markers.REVIEW_OPENED)) == 1
    assert deliveries.counts(runtime.engine)[deliveries.DONE] == 1
    assert github_double.counts()["get_issue"] == 3  # two 500s, retried at once, then the answer


def test_a_tracker_down_for_longer_reschedules_the_job(client, runtime: Runtime, github_double) -> None:
    github_double.fail_next(50, 503, operation="create_issue")
    delivery_pk = loop.send(client, loop.github_issue_event(github_double, "Codertocat/Hello-World", 1, "closed"))[
        "delivery"
    ]
    loop.work(runtime)
    waiting = deliveries.get(runtime.engine, delivery_pk)
    assert waiting is not None and waiting.status == deliveries.RECEIVED
    assert waiting.retry_at is not None and waiting.current_job == f"delivery-{delivery_pk}-retry-1"
    assert "503" in (waiting.last_error or "")
    from rq.registry import ScheduledJobRegistry

    assert waiting.current_job in ScheduledJobRegistry(queue=runtime.queue).get_job_ids()
    github_double._faults.clear()  # the tracker is back; run the retry now rather than in 15 s
    from workers.open_review import open_review

    assert "open for github:Codertocat/Hello-World#1" in open_review(delivery_pk)
    # the first try may have created the review before its 503: the retry searched first
    assert github_double.calls("list_issues")
    assert len(github_double.issues["acme/postmortems"]) == 1


def test_a_permanent_error_fails_the_job_and_replay_runs_it_once_fixed(
    client,
    runtime: Runtime,
    github_double,
) -> None:
    from service.entry import cli

    del github_double.issues["acme/postmortems"]  # the review repository is not there (404)
    delivery_pk = loop.send(client, loop.github_issue_event(github_double, "Codertocat/Hello-World", 1, "closed"))[
        "delivery"
    ]
    loop.work(runtime)
    failed = deliveries.get(runtime.engine, delivery_pk)
    assert failed is not None and failed.status == deliveries.FAILED
    assert failed.last_error is not None and failed.last_error.startswith("github ")
    assert "Not Found" in failed.last_error
    github_double.add_repo("acme/postmortems")
    env = base_env() | {"DATABASE_URL": runtime.settings.database_url}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        assert cli.main(["--config", str(runtime.settings.config_file), "replay", "--failed"]) == 0
    loop.work(runtime)
    assert deliveries.get(runtime.engine, delivery_pk).status == deliveries.DONE
    assert len(github_double.issues["acme/postmortems"]) == 1


# --- reminders --------------------------------------------------------------------------------


def test_reminders_once_a_day_on_overdue_open_reviews(client, runtime: Runtime, github_double) -> None:
    from datetime import timedelta

    from workers.remind import remind

    loop.send(client, loop.github_issue_event(github_double, "Codertocat/Hello-World", 1, "closed"))
    loop.work(runtime)
    due = reviews.review(runtime.engine, "github:acme/postmortems#1").due_on
    assert due is not None
    assert remind(due.isoformat()) == "reminded 0 reviews"  # due today: not overdue yet
    late = (due + timedelta(days=1)).isoformat()
    assert remind(late) == "reminded 1 reviews"
    assert remind(late) == "reminded 0 reviews"
    assert remind((due + timedelta(days=2)).isoformat()) == "reminded 1 reviews"
    assert len(loop.marked(github_double.comments_on("acme/postmortems", 1), markers.REMINDER)) == 2
    reviews.set_status(runtime.engine, "github:acme/postmortems#1", "closed")
    assert remind((due + timedelta(days=3)).isoformat()) == "reminded 0 reviews"


# --- helpers ----------------------------------------------------------------------------------


def test_the_lesson_stub_reads_back_as_incomplete(client, runtime: Runtime, github_double) -> None:
    from service import lesson

    loop.send(client, loop.github_issue_event(github_double, "Codertocat/Hello-World", 1, "closed"))
    loop.work(runtime)
    parsed = lesson.parse_lesson(github_double.issues["acme/postmortems"][1]["body"], lesson.load_template(None))
    assert not parsed.complete and len(parsed.missing) == 5
    assert not any(parsed.sections.values())  # the prompts count as nothing written
    assert effects.count(runtime.engine, markers.REVIEW_OPENED) == 1


def test_a_review_done_under_another_status_name_counts_as_closed(client, runtime: Runtime, jira_double) -> None:
    """The close's webhook was lost; a later edit finds the review in "Resolved", a status of
    the done category: the review is closed (no more reminders) and its lesson shared."""
    loop.send(client, loop.jira_issue_event(jira_double, "OPS-42"))
    loop.work(runtime)
    review = jira_double.issue("OPS-43")
    review["fields"]["description"] = loop.fill_lesson_jira(review["fields"]["description"])
    review["fields"]["status"] = {"name": "Resolved", "statusCategory": {"key": "done"}}
    loop.send(client, loop.jira_issue_event(jira_double, "OPS-43", changed="description"))
    loop.work(runtime)
    assert reviews.review(runtime.engine, "jira:OPS-43").status == "closed"
    assert len(loop.marked(loop.jira_comments(jira_double, "OPS-42"), markers.LESSON)) == 1
