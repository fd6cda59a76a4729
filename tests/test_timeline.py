"""The incident's timeline and responders in the review's header, and [people] across trackers."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from service import lesson
from service.domain.events import Item, ItemRef
from service.domain.history import History, HistoryEntry
from service.lesson.responders import assignee, responders
from service.lesson.timeline import render_timeline
from service.store import reviews
from service.trackers.github.timeline import history_from_timeline
from service.trackers.jira.changelog import history_from_changelog
from service.trackers.pagerduty.client import history_from_log_entries
from tests import loop
from tests.conftest import RULES_TOML
from tests.loop import send, work

HERE = Path(__file__).parent
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
PEOPLE = """
[people]
"ada@acme.example" = { pagerduty = "PUSER02", jira = "557058:ada", github = "ada-sre" }
"codertocat@acme.example" = { github = "Codertocat", jira = "557058:codertocat" }
"""


# --- reading each tracker's history -------------------------------------------------------------


def test_pagerduty_log_entries_the_vendor_documents() -> None:
    spec = json.loads((HERE / "contracts" / "pagerduty-rest.openapi.json").read_text())
    example = spec["paths"]["/incidents/{id}/log_entries"]["get"]["responses"]["200"]["content"]["application/json"][
        "examples"
    ]["response"]["value"]
    (entry,) = history_from_log_entries(example["log_entries"])
    assert entry.what == "triggered" and entry.who == "My Mail Service" and entry.responder == ""


def test_pagerduty_responders_are_who_acknowledged_was_assigned_or_wrote_a_note() -> None:
    ada = {"id": "PUSER02", "type": "user_reference", "summary": "Ada"}
    bob = {"id": "PUSER03", "type": "user_reference", "summary": "Bob"}
    service = {"id": "PSVC", "type": "service_reference", "summary": "Checkout"}
    entries = history_from_log_entries(
        [
            {"type": "trigger_log_entry", "created_at": "2026-11-20T10:00:00Z", "agent": service},
            {"type": "assign_log_entry", "created_at": "2026-11-20T10:00:00Z", "agent": service, "assignees": [ada]},
            {"type": "notify_log_entry", "created_at": "2026-11-20T10:00:01Z", "agent": service},
            {"type": "acknowledge_log_entry", "created_at": "2026-11-20T10:03:00Z", "agent": bob},
            {"type": "brand_new_log_entry", "created_at": "2026-11-20T10:04:00Z", "agent": bob},
            {"type": "annotate_log_entry", "created_at": "nonsense", "agent": bob},
            "not an entry",
        ]
    )
    assert [e.what for e in entries] == ["triggered", "assigned to Ada", "acknowledged", "brand new"]
    assert History(tuple(entries)).people() == ["Ada", "Bob"]


def test_github_timeline_and_jira_changelog() -> None:
    github = history_from_timeline(
        [
            {
                "event": "labeled",
                "created_at": "2026-11-20T10:01:00Z",
                "actor": {"login": "ada"},
                "label": {"name": "sev1"},
            },
            {
                "event": "assigned",
                "created_at": "2026-11-20T10:02:00Z",
                "actor": {"login": "ada"},
                "assignee": {"login": "bob"},
            },
            {"event": "subscribed", "created_at": "2026-11-20T10:02:00Z", "actor": {"login": "ada"}},
            {"event": "commented", "created_at": "2026-11-20T10:05:00Z", "user": {"login": "carol"}},
            {"event": "closed", "created_at": "2026-11-20T11:00:00Z", "actor": {"login": "ada"}},
        ]
    )
    assert [(e.what, e.who) for e in github] == [
        ("labelled sev1", "ada"),
        ("assigned to bob", "ada"),
        ("commented", "carol"),
        ("closed", "ada"),
    ]
    jira = history_from_changelog(
        {
            "changelog": {
                "histories": [
                    {
                        "created": "2026-11-20T10:01:00.000+0000",
                        "author": {"displayName": "Ada"},
                        "items": [
                            {"field": "status", "fromString": "Open", "toString": "In Progress"},
                            {"field": "assignee", "to": "557058:bob", "toString": "Bob"},
                            {"field": "labels", "toString": "x"},
                        ],
                    }
                ]
            },
            "fields": {
                "comment": {
                    "comments": [
                        {
                            "created": "2026-11-20T10:09:00.000+0000",
                            "author": {"displayName": "Carol", "accountId": "557058:carol"},
                        }
                    ]
                }
            },
        }
    )
    assert [(e.what, e.responder) for e in jira] == [
        ("status: Open → In Progress", ""),
        ("assigned to Bob", "Bob"),
        ("commented", "Carol"),
    ]


# --- rendering ----------------------------------------------------------------------------------


def entry(minutes: int, what: str, who: str = "") -> HistoryEntry:
    return HistoryEntry(T0 + timedelta(minutes=minutes), what, who=who)


@pytest.mark.parametrize("markup", ["markdown", "jira"])
def test_a_timeline_is_one_line_an_event_in_utc_with_minutes_since_the_first(markup: str) -> None:
    text = render_timeline(History((entry(0, "triggered", "Checkout"), entry(4, "acknowledged", "Ada"))), markup, 30)
    bullet = "* " if markup == "jira" else "- "
    assert f"{bullet}2026-11-20 10:00 (+0 min) triggered, by Checkout" in text
    assert f"{bullet}2026-11-20 10:04 (+4 min) acknowledged, by Ada" in text


def test_a_long_timeline_keeps_its_first_and_last_events_and_links_the_rest() -> None:
    history = History(tuple(entry(n, f"event {n}") for n in range(100)), url="https://pd.example/i/1", omitted=900)
    lines = [line for line in render_timeline(history, "markdown", 30).split("\n") if line.startswith("- ")]
    assert len(lines) == 30
    assert "event 0" in lines[0] and "event 99" in lines[-1]
    assert "… 971 more events: [the full history](https://pd.example/i/1)" in "\n".join(lines)
    assert render_timeline(history, "markdown", 0) == ""


def test_tracker_text_in_a_timeline_is_inert() -> None:
    hostile = "<!-- lessonloop:review incident=github:acme/web#1 --> [x](https://evil.example) *bold*"
    text = render_timeline(History((entry(0, hostile, hostile),)), "markdown", 30)
    assert "<!--" not in text.replace("\\<!--", "") and "[x](" not in text and "*bold*" not in text
    jira = render_timeline(History((entry(0, "{html}<b>x</b>{html} [~admin]"),)), "jira", 30)
    assert not re.search(r"(?<!\\)\{html", jira) and "[~admin]" not in jira  # an escaped { opens nothing


def test_an_unreadable_history_is_said_not_failed() -> None:
    text = render_timeline(History.unreadable("github history: 403 Resource not accessible"), "markdown", 30)
    assert "_The timeline could not be read in full: github history: 403 Resource not accessible_" in text


def test_a_stub_with_its_timeline_still_reads_back_incomplete() -> None:
    incident = Item(
        ItemRef.parse("pagerduty:PGR0VU2"),
        "Checkout down",
        "https://pd.example/i/PGR0VU2",
        created_at=T0,
        closed_at=T0 + timedelta(minutes=90),
    )
    timeline = render_timeline(History((entry(0, "triggered"), entry(4, "What happened: we learned"))), "jira", 30)
    template = lesson.load_template(None)
    for markup in ("markdown", "jira"):
        body = lesson.render_stub(incident, template, markup, timeline=timeline)
        assert "Timeline" in body
        parsed = lesson.parse_lesson(body, template)
        assert not parsed.complete and len(parsed.missing) == 5


def test_a_custom_template_without_the_placeholder_gets_the_timeline_at_the_end_of_its_header() -> None:
    template = lesson.parse_template("Incident: {incident}\n\n## What happened\n_prompt_\n")
    incident = Item(ItemRef.parse("github:acme/web#1"), "Down", "https://github.com/acme/web/issues/1")
    body = lesson.render_stub(incident, template, "markdown", timeline="**Timeline**\n\n- one")
    assert body.index("**Timeline**") < body.index("## What happened")


# --- responders and assignees across trackers ----------------------------------------------------


def _people():
    import tomllib

    from config.people import Accounts

    return {email: Accounts(**ids) for email, ids in tomllib.loads(PEOPLE)["people"].items()}


def test_known_people_are_mentioned_the_review_trackers_way_and_others_are_named() -> None:
    incident = Item(ItemRef.parse("pagerduty:P1"), "x", "")
    history = History(
        (
            HistoryEntry(T0, "assigned to Ada", person="PUSER02", responder="Ada Responder", kind="assign"),
            HistoryEntry(T0, "acknowledged", person="PUSER09", responder="@everyone Stranger", kind="acknowledge"),
        )
    )
    assert responders(incident, history, "jira", _people(), jira_by_name=False) == [
        "[~accountid:557058:ada]",
        "@everyone Stranger",
    ]
    assert responders(incident, history, "github", _people(), jira_by_name=False) == ["@ada-sre", "@everyone Stranger"]
    named = responders(incident, history, "jira", _people(), jira_by_name=False)
    assert isinstance(named[0], lesson.Mention) and not isinstance(named[1], lesson.Mention)
    assert assignee(incident, history, "jira", _people()) == "557058:ada"  # the last one assigned
    assert assignee(incident, History(), "jira", _people()) is None


# --- end to end -----------------------------------------------------------------------------------


@pytest.fixture
def mapped(make_settings, trackers, make_runtime, tmp_path):
    rules = tmp_path / "people.toml"
    rules.write_text(
        RULES_TOML + '\n[[rules]]\nsource = "github"\nlabels = ["jira-review"]\nreview = "jira:OPS"\n' + PEOPLE
    )
    # the GitHub rule for "jira-review" comes after the one for "incident": put it first
    text = rules.read_text().replace(
        '[[rules]]\nsource = "github"\nlabels = ["incident"]',
        '[[rules]]\nsource = "github"\nlabels = ["jira-review"]\nreview = "jira:OPS"\n\n'
        '[[rules]]\nsource = "github"\nlabels = ["incident"]',
        1,
    )
    rules.write_text(text)
    runtime = make_runtime(make_settings(config_file=rules, **trackers))
    return runtime, loop.web_client(runtime)


def test_a_pagerduty_incident_opens_a_jira_review_with_its_timeline_assigned_across(
    mapped, jira_double, pagerduty_double
) -> None:
    runtime, client = mapped
    pagerduty_double.reset_log()
    send(client, loop.pagerduty_resolved(pagerduty_double, "PGR0VU2"))
    work(runtime)
    record = reviews.review_of(runtime.engine, "pagerduty:PGR0VU2")
    review = jira_double.issue(record.ref.split(":", 1)[1])
    description = review["fields"]["description"]
    assert "*Timeline (UTC; minutes since the first event)*" in description
    for line in (
        "* 2026-11-20 10:00 (+0 min) triggered, by Checkout API",
        "(+4 min) acknowledged, by Ada Responder",
        "(+90 min) resolved, by Ada Responder",
    ):
        assert line in description
    assert "[~accountid:557058:ada]" in description  # the responder, named the way Jira names her
    assert review["fields"]["assignee"] == {"accountId": "557058:ada"}
    assert pagerduty_double.counts()["list_log_entries"] == 1  # one extra request per incident


def test_a_github_incident_opens_a_jira_review_assigned_to_the_mapped_account(
    mapped,
    github_double,
    jira_double,
) -> None:
    runtime, client = mapped
    github_double.issues["Codertocat/Hello-World"][1]["labels"].append({"name": "jira-review"})
    github_double.add_comment("Codertocat/Hello-World", 1, "rolled back", author="ada-sre")
    send(client, loop.github_issue_event(github_double, "Codertocat/Hello-World", 1, "closed"))
    work(runtime)
    record = reviews.review_of(runtime.engine, "github:Codertocat/Hello-World#1")
    assert record is not None and record.ref.startswith("jira:OPS-")
    review = jira_double.issue(record.ref.split(":", 1)[1])
    assert review["fields"]["assignee"] == {"accountId": "557058:codertocat"}
    assert "commented, by ada-sre" in review["fields"]["description"]
    assert "[~accountid:557058:ada]" in review["fields"]["description"]


def test_without_people_a_cross_tracker_review_names_and_assigns_no_one(
    client,
    runtime,
    github_double,
    jira_double,
    pagerduty_double,
) -> None:
    send(client, loop.pagerduty_resolved(pagerduty_double, "PGR0VU2"))
    work(runtime)
    review = jira_double.issue(reviews.review_of(runtime.engine, "pagerduty:PGR0VU2").ref.split(":", 1)[1])
    assert review["fields"]["assignee"] is None
    assert "Ada Responder" in review["fields"]["description"] and "[~" not in review["fields"]["description"]


def test_a_long_history_costs_two_requests_and_is_cut(client, runtime, jira_double, pagerduty_double) -> None:
    ada = {"id": "PUSER02", "type": "user_reference", "summary": "Ada Responder"}
    for n in range(250):
        stamp = (T0 + timedelta(seconds=30 + n)).strftime("%Y-%m-%dT%H:%M:%SZ")
        pagerduty_double.add_log_entry("PGR0VU2", "annotate", stamp, ada)
    pagerduty_double.reset_log()
    send(client, loop.pagerduty_resolved(pagerduty_double, "PGR0VU2"))
    work(runtime)
    assert pagerduty_double.counts()["list_log_entries"] == 2
    review = jira_double.issue(reviews.review_of(runtime.engine, "pagerduty:PGR0VU2").ref.split(":", 1)[1])
    lines = [line for line in review["fields"]["description"].split("\n") if line.startswith("* 2026")]
    assert len(lines) == runtime.settings.review.timeline_entries - 1  # and one "… N more events" line
    assert "(+0 min) triggered" in lines[0] and "resolved" in lines[-1]
    assert (
        "more events: [the full history|https://acme.pagerduty.com/incidents/PGR0VU2]"
        in review["fields"]["description"]
    )


def test_a_history_the_token_cannot_read_still_opens_the_review(
    client,
    runtime,
    jira_double,
    pagerduty_double,
) -> None:
    pagerduty_double.fail_next(1, 403, operation="list_log_entries")
    answer = send(client, loop.pagerduty_resolved(pagerduty_double, "PGR0VU2"))
    work(runtime)
    from service.store import deliveries

    assert deliveries.get(runtime.engine, answer["delivery"]).status == deliveries.DONE
    review = jira_double.issue(reviews.review_of(runtime.engine, "pagerduty:PGR0VU2").ref.split(":", 1)[1])
    assert "The timeline could not be read in full: pagerduty history: 403" in review["fields"]["description"]


def test_a_jira_incident_and_its_changelog_are_read_in_one_request(client, runtime, jira_double) -> None:
    """A Jira review of a Jira incident needs the issue and its changelog: one GET with
    ``expand=changelog`` gives both (it took two)."""
    jira_double.add_history(
        "OPS-42",
        T0 + timedelta(minutes=4),
        [{"field": "status", "fromString": "Open", "toString": "In Progress"}],
    )
    jira_double.reset_log()
    send(client, loop.jira_issue_event(jira_double, "OPS-42"))
    work(runtime)
    record = reviews.review_of(runtime.engine, "jira:OPS-42")
    assert record is not None
    description = jira_double.issue(record.ref.split(":", 1)[1])["fields"]["description"]
    assert "status: Open → In Progress, by Ada Responder" in description
    reads = [entry for entry in jira_double.calls("get_issue") if entry.path.endswith("/OPS-42")]
    assert len(reads) == 1, [entry.path for entry in reads]


def test_a_pagerduty_review_shows_the_body_the_notes_and_the_times_from_the_log(
    client, runtime, jira_double, pagerduty_double
) -> None:
    """The incident's body (``include[]=body``), what each note said, and "Closed"/"Lasted" from
    the resolve entry of an incident whose answer has no ``resolved_at``: four PagerDuty requests."""
    pagerduty_double.add_incident(
        "PDETAIL1",
        "Checkout 502s",
        details="Error rate 12% on checkout.\n[~accountid:557058:ada] *rollback* {code}x{code}",
        resolved_at_shown=False,
    )
    pagerduty_double.add_note("PDETAIL1", "Rolled back release 41.", created_at="2026-11-20T10:20:00Z")
    pagerduty_double.reset_log()
    send(client, loop.pagerduty_resolved(pagerduty_double, "PDETAIL1"))
    work(runtime)
    review = jira_double.issue(reviews.review_of(runtime.engine, "pagerduty:PDETAIL1").ref.split(":", 1)[1])
    description = review["fields"]["description"]
    assert "*Details from PagerDuty*\n\nbq. Error rate 12% on checkout.\n" in description
    # inert: every opener escaped (a closing ] or } opens nothing, so it is left as typed)
    assert "bq. \\[\\~accountid:557058:ada] \\*rollback\\* \\{code}x\\{code}" in description
    assert "(+20 min) note added: Rolled back release 41., by Ada Responder" in description
    assert "*Closed:* 2026-11-20 11:30 UTC" in description and "*Lasted:* 1 h 30 min" in description
    counts = pagerduty_double.counts()
    assert (counts["get_incident"], counts["list_log_entries"], counts["list_incident_notes"]) == (1, 1, 1)
    counts.pop("get_current_user", None)  # who am I: asked once per worker, as docs/trackers.md counts
    assert counts["create_incident_note"] == 1 and sum(counts.values()) == 4
