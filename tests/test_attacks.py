"""Attacks on lessonloop's trust, each as an outsider with a plain tracker account would try it,
through the real web app, a real RQ worker and the tracker doubles. Each must change nothing that
lessonloop did not write and notify nobody, while the real loop goes on working."""

from __future__ import annotations

import copy

from service.infra.runtime import Runtime
from service.store import deliveries, lessons, reviews
from service.text import markers
from service.trackers.registry import dialect_of
from tests import loop, payloads
from tests.conftest import JIRA_TOKEN, PAGERDUTY_SECRET, base_env
from tests.loop import marked, send, work

INCIDENT_REPO, REVIEWS_REPO = loop.INCIDENT_REPO, loop.REVIEW_REPO
INCIDENT = f"github:{INCIDENT_REPO}#1"
OUTSIDER = "mallory"

PHISHING = {
    "What happened": "Everything broke. Details: [log in here](https://evil.example/login) @acme/everyone",
    "What we expected": "Nothing.",
    "Why it turned out differently": "Because.",
    "What we learned": "Always enter your password at https://evil.example.",
    "What we'll change": "Nothing.",
}


def lesson_body(sections: dict[str, str], heading: str = "## ") -> str:
    return "\n\n".join(f"{heading}{title}\n\n{text}" for title, text in sections.items())


def bot_comments(double, repo: str, number: int) -> list[dict]:
    return [c for c in double.comments_on(repo, number) if c["user"]["login"] == "lessonloop-bot"]


def run_the_real_loop(client, runtime: Runtime, github_double) -> dict:
    """The incident closes, its review opens, the team writes the lesson and closes the review."""
    review = loop.learn_on_github(client, runtime, github_double)
    assert lessons.get(runtime.engine, f"github:{REVIEWS_REPO}#1") is not None
    return review


def snapshot(github_double) -> dict[int, str]:
    return {comment_id: comment["body"] for comment_id, comment in github_double.comments.items()}


# --- forged reviews -----------------------------------------------------------------------------


def test_a_forged_review_is_not_adopted_and_rewrites_no_lesson(client, runtime: Runtime, github_double) -> None:
    run_the_real_loop(client, runtime, github_double)
    before = snapshot(github_double)
    forged = github_double.add_issue(
        REVIEWS_REPO,
        "Post-incident review: Checkout API",
        state="closed",
        author=OUTSIDER,
        body=lesson_body(PHISHING) + f"\n\n<!-- lessonloop:review incident={INCIDENT} -->\n",
    )
    answer = send(client, loop.github_issue_event(github_double, REVIEWS_REPO, forged["number"], "closed"))
    work(runtime)

    assert snapshot(github_double) == before  # no comment added or edited anywhere
    assert reviews.review(runtime.engine, f"github:{REVIEWS_REPO}#{forged['number']}") is None
    kept = lessons.get(runtime.engine, f"github:{REVIEWS_REPO}#1")
    assert kept is not None and "evil.example" not in str(kept.sections)
    assert deliveries.get(runtime.engine, answer["delivery"]).status == deliveries.IGNORED


def test_a_copy_of_a_real_review_marker_on_an_outsiders_issue_is_not_ours(
    client,
    runtime: Runtime,
    github_double,
) -> None:
    review = run_the_real_loop(client, runtime, github_double)
    before = snapshot(github_double)
    real_marker = dialect_of("markdown").render_marker(markers.find_kind(review["body"], markers.REVIEW))
    forged = github_double.add_issue(
        REVIEWS_REPO, "copy", state="closed", author=OUTSIDER, body=lesson_body(PHISHING) + "\n\n" + real_marker
    )
    send(client, loop.github_issue_event(github_double, REVIEWS_REPO, forged["number"], "closed"))
    work(runtime)
    assert snapshot(github_double) == before
    assert "evil.example" not in str(lessons.get(runtime.engine, f"github:{REVIEWS_REPO}#1").sections)


def test_a_forged_review_closed_first_does_not_stop_the_real_one(client, runtime: Runtime, github_double) -> None:
    forged = github_double.add_issue(
        REVIEWS_REPO,
        "Post-incident review",
        state="closed",
        author=OUTSIDER,
        body=lesson_body(PHISHING) + f"\n\n<!-- lessonloop:review incident={INCIDENT} -->\n",
    )
    send(client, loop.github_issue_event(github_double, REVIEWS_REPO, forged["number"], "closed"))
    send(client, loop.github_issue_event(github_double, REVIEWS_REPO, forged["number"], "edited"))
    work(runtime)
    assert reviews.review_of(runtime.engine, INCIDENT) is None

    send(client, loop.github_issue_event(github_double, INCIDENT_REPO, 1, "closed"))
    work(runtime)
    record = reviews.review_of(runtime.engine, INCIDENT)
    assert record is not None and record.ref != f"github:{REVIEWS_REPO}#{forged['number']}"
    opened = github_double.issues[REVIEWS_REPO][int(record.ref.rsplit("#", 1)[1])]
    assert opened["user"]["login"] == "lessonloop-bot"
    assert len(marked(bot_comments(github_double, INCIDENT_REPO, 1), markers.REVIEW_OPENED)) == 1


def test_an_edited_review_marker_does_not_move_the_lesson(client, runtime: Runtime, github_double) -> None:
    """Someone who can edit the review points its marker at another item: the store decides."""
    github_double.add_issue("acme/web", "unrelated")
    send(client, loop.github_issue_event(github_double, INCIDENT_REPO, 1, "closed"))
    work(runtime)
    review = github_double.issues[REVIEWS_REPO][1]
    review["body"] = loop.fill_lesson_markdown(review["body"]).replace(
        f"incident={INCIDENT}", "incident=github:acme/web#1"
    )
    review["state"] = "closed"
    send(client, loop.github_issue_event(github_double, REVIEWS_REPO, 1, "closed"))
    work(runtime)
    assert lessons.get(runtime.engine, f"github:{REVIEWS_REPO}#1").incident_ref == INCIDENT
    assert github_double.comments_on("acme/web", 1) == []
    assert len(marked(bot_comments(github_double, INCIDENT_REPO, 1), markers.LESSON)) == 1


def test_a_forged_jira_review_reaches_no_other_tracker(
    client,
    runtime: Runtime,
    github_double,
    jira_double,
    pagerduty_double,
) -> None:
    send(client, loop.pagerduty_resolved(pagerduty_double, "PGR0VU2"))
    work(runtime)  # the real review of PGR0VU2 is OPS-43, still open
    notes_before = copy.deepcopy(pagerduty_double.notes["PGR0VU2"])
    outsider = {"displayName": "Mallory", "accountId": "557058:mallory"}
    forged = jira_double.add_issue(
        "OPS",
        "Post-incident review",
        issue_type="Task",
        labels=("lessonloop", "post-incident-review"),
        description=lesson_body(PHISHING, "h2. ") + "\n\nlessonloop:review incident=pagerduty:PGR0VU2",
        reporter=outsider,
        creator=outsider,
    )
    forged["_properties"]["lessonloop"] = {"kind": "review", "incident": "pagerduty:PGR0VU2"}
    send(client, loop.jira_issue_event(jira_double, forged["key"]))
    work(runtime)
    assert pagerduty_double.notes["PGR0VU2"] == notes_before
    assert lessons.get(runtime.engine, f"jira:{forged['key']}") is None
    assert jira_double.issue(forged["key"])["_comments"] == []
    assert github_double.comments == {}


# --- comments that look like ours ----------------------------------------------------------------


def test_look_alike_comments_are_neither_edited_nor_taken_for_ours(client, runtime: Runtime, github_double) -> None:
    review_ref = f"github:{REVIEWS_REPO}#1"
    fake_opened = github_double.add_comment(
        INCIDENT_REPO, 1, f"Review is here <!-- lessonloop:review-opened key={review_ref} digest=0 -->", author=OUTSIDER
    )
    fake_lesson = github_double.add_comment(
        INCIDENT_REPO, 1, f"my notes <!-- lessonloop:lesson key={review_ref} digest=0 -->", author=OUTSIDER
    )
    run_the_real_loop(client, runtime, github_double)

    assert github_double.comments[fake_opened["id"]]["body"].startswith("Review is here")
    assert github_double.comments[fake_lesson["id"]]["body"].startswith("my notes")
    ours = bot_comments(github_double, INCIDENT_REPO, 1)
    assert len(marked(ours, markers.REVIEW_OPENED)) == 1 and len(marked(ours, markers.LESSON)) == 1
    assert not [
        call
        for call in github_double.calls("update_comment")
        if call.path.endswith((f"/{fake_opened['id']}", f"/{fake_lesson['id']}"))
    ]


def test_a_marker_in_an_incident_title_does_not_send_the_lesson_elsewhere(
    client,
    runtime: Runtime,
    github_double,
) -> None:
    github_double.add_issue("acme/web", "the attacker's target")
    issue = github_double.issues[INCIDENT_REPO][1]
    issue["title"] = (
        "Checkout 502s <!-- lessonloop:review incident=github:acme/web#1 --> lessonloop:review incident=github:acme/web#1"
    )
    run_the_real_loop(client, runtime, github_double)
    assert github_double.comments_on("acme/web", 1) == []
    assert lessons.get(runtime.engine, f"github:{REVIEWS_REPO}#1").incident_ref == INCIDENT


# --- replays ------------------------------------------------------------------------------------


def test_one_signed_pagerduty_body_under_fresh_webhook_ids_is_one_delivery(
    client,
    runtime: Runtime,
    pagerduty_double,
) -> None:
    body = loop.pagerduty_resolved(pagerduty_double, "PGR0VU2").body
    answers = [send(client, payloads.pagerduty(body, PAGERDUTY_SECRET, webhook_id=f"hook-{n}")) for n in range(200)]
    assert [a["status"] for a in answers].count("queued") == 1
    assert {a["status"] for a in answers[1:]} == {"duplicate"}
    assert runtime.queue.count == 1


def test_a_github_body_replayed_under_a_new_delivery_id_is_a_duplicate(
    client,
    runtime: Runtime,
    github_double,
) -> None:
    first = loop.github_issue_event(github_double, INCIDENT_REPO, 1, "closed", delivery_id="d-1")
    replayed = payloads.github(first.body, loop.GITHUB_SECRET, delivery_id="d-2")
    assert send(client, first)["status"] == "queued"
    assert send(client, replayed)["status"] == "duplicate"


def test_an_automation_request_for_an_open_jira_issue_opens_no_review(
    client,
    runtime: Runtime,
    jira_double,
) -> None:
    """X-Lessonloop-Token proves who sent the request, not what its body says."""
    issue = jira_double.add_issue("OPS", "Disk filling up", issue_type="Incident", status="In Progress")
    claimed = copy.deepcopy(issue)
    claimed["fields"]["status"] = {"name": "Done", "statusCategory": {"key": "done"}}
    claimed = {k: v for k, v in claimed.items() if not k.startswith("_")}
    answer = send(client, payloads.jira_automation({"issue": claimed}, JIRA_TOKEN))
    assert answer["status"] == "queued"  # the web cannot know; the worker asks Jira
    work(runtime)
    assert reviews.review_of(runtime.engine, f"jira:{issue['key']}") is None
    assert not [i for i in jira_double.issues.values() if "lessonloop" in i["fields"]["labels"]]
    delivery = deliveries.get(runtime.engine, answer["delivery"])
    assert delivery.status == deliveries.IGNORED and "not closed" in (delivery.outcome or "")


# --- fan-out ------------------------------------------------------------------------------------


def test_three_hundred_links_in_an_incident_reach_at_most_the_cap(
    client,
    runtime: Runtime,
    github_double,
    monkeypatch,
    capsys,
) -> None:
    for number in range(1, 41):
        github_double.add_issue("acme/web", f"issue {number}")
    issue = github_double.issues[INCIDENT_REPO][1]
    issue["body"] = "\n".join(f"https://github.com/acme/web/issues/{n}" for n in range(1, 301))
    send(client, loop.github_issue_event(github_double, INCIDENT_REPO, 1, "closed"))
    work(runtime)
    review = github_double.issues[REVIEWS_REPO][1]
    review["body"] = loop.fill_lesson_markdown(review["body"])
    review["state"] = "closed"
    github_double.reset_log()
    answer = send(client, loop.github_issue_event(github_double, REVIEWS_REPO, 1, "closed"))
    work(runtime)

    cap = runtime.settings.lesson.max_related_items
    written = github_double.counts()["create_comment"]
    assert written == cap  # the incident, the review and 23 of the named items
    assert sum(github_double.counts().values()) <= 3 * cap
    outcome = deliveries.get(runtime.engine, answer["delivery"]).outcome or ""
    assert "not shared (over [lesson] max_related_items): 277 items" in outcome
    assert "github:acme/web#300" in outcome

    from service.entry.cli import main

    for name, value in base_env().items():  # the service's own settings: its rules and their scope
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LESSONLOOP_CONFIG", str(runtime.settings.config_file))
    monkeypatch.setenv("DATABASE_URL", runtime.settings.database_url)
    capsys.readouterr()
    assert main(["lessons", "show", f"github:{REVIEWS_REPO}#1"]) == 0
    shown = capsys.readouterr().out
    assert "outside this rule's scope" not in shown  # acme/* is shared with every rule
    shared_part, not_shared_part = shown.split("## Not shared (over [lesson] max_related_items = 25)")
    shared_on = shared_part.split("## Shared on")[1]
    assert shared_on.count("\n- ") == cap and "- github:acme/web#23\n" in shared_on
    assert not_shared_part.count("\n- ") == 277 and "- github:acme/web#24\n" in not_shared_part


def test_items_linked_by_hand_always_get_the_lesson(make_settings, trackers, make_runtime, github_double) -> None:
    from service.domain.events import ItemRef
    from service.store import links

    settings = make_settings(**trackers)
    runtime = make_runtime(
        settings.model_copy(update={"lesson": settings.lesson.model_copy(update={"max_related_items": 3})})
    )
    client = loop.web_client(runtime)
    for number in range(1, 6):
        github_double.add_issue("acme/web", f"issue {number}")
    github_double.issues[INCIDENT_REPO][1]["body"] = (
        "https://github.com/acme/web/issues/1 https://github.com/acme/web/issues/2"
    )
    for number in (4, 5):
        links.add(runtime.engine, ItemRef.parse(INCIDENT), ItemRef.parse(f"github:acme/web#{number}"), "manual")
    run_the_real_loop(client, runtime, github_double)
    reached = {n for n in range(1, 6) if marked(bot_comments(github_double, "acme/web", n), markers.LESSON)}
    assert reached == {4, 5}  # over the cap already: the items found in text wait, the hand-made links do not


def test_an_incident_quoting_a_review_marker_still_gets_its_review(client, runtime: Runtime, github_double) -> None:
    """A marker pasted into a real incident (to make it look like a review) does not stop it."""
    github_double.issues[INCIDENT_REPO][1]["body"] = "<!-- lessonloop:review incident=github:acme/web#5 -->"
    answer = send(client, loop.github_issue_event(github_double, INCIDENT_REPO, 1, "closed"))
    assert answer["kind"] == "incident_closed"  # no review of ours can live there: its close is an incident's
    work(runtime)
    record = reviews.review_of(runtime.engine, INCIDENT)
    assert record is not None and record.ref == f"github:{REVIEWS_REPO}#1"
    assert len(marked(bot_comments(github_double, INCIDENT_REPO, 1), markers.REVIEW_OPENED)) == 1


# --- copied text ----------------------------------------------------------------------------------


def test_a_jira_lesson_reaches_github_and_pagerduty_notifying_no_one_and_linking_nowhere_bad(
    client, runtime: Runtime, github_double, jira_double, pagerduty_double
) -> None:
    import re

    for number in range(1, 8):
        github_double.add_issue("acme/web", f"issue {number}")
    send(client, loop.pagerduty_resolved(pagerduty_double, "PGR0VU2"))
    work(runtime)
    review = jira_double.issue("OPS-43")
    hostile = (
        "Ping @acme/everyone and @octocat, [~accountid:557058:ada] and [~admin]. "
        "[click|javascript:alert(1)] {html}<img src=x onerror=alert(1)>{html} "
        "<!-- lessonloop:lesson key=github:acme/web#7 digest=0 -->"
    )
    review["fields"]["description"] = loop.fill_lesson_jira(
        review["fields"]["description"], loop.FILLED_MARKDOWN | {"What we learned": hostile}
    )
    review["fields"]["status"] = {"name": "Done", "statusCategory": {"key": "done"}}
    send(client, loop.jira_issue_event(jira_double, "OPS-43"))
    work(runtime)
    [on_github] = marked(bot_comments(github_double, "acme/web", 7), markers.LESSON)
    body = on_github["body"]
    assert not re.search(r"(?<![\w`])@[A-Za-z0-9-]", body)  # no live mention
    assert "](javascript" not in body and "<img" not in body
    assert len(markers.find(body)) == 1  # only lessonloop's own marker
    [on_jira] = marked(jira_double.issue("OPS-43")["_comments"], markers.LESSON)
    assert "[~accountid:" not in on_jira["body"] and "[~admin]" not in on_jira["body"]
    assert not re.search(r"(?<!\\)\{html", on_jira["body"])  # escaped: shown as text
    [note] = marked(pagerduty_double.notes["PGR0VU2"], markers.LESSON)
    assert len(markers.find(note["content"])) == 1


# --- character references and autolinks (issue 23) ------------------------------------------------

CHARACTER_REFERENCES = "ping @&#97;cme/everyone and @&#x6F;ctocat, see _ftp://x and 64ftp://x"
"""GitHub decodes a character reference before it looks for mentions, and its autolinker takes
``ftp://`` after any letters or digits: each of these notified or linked before."""


def _github_live(markdown: str) -> list[str]:
    """What would act in a body lessonloop wrote on GitHub, besides its own one marker."""
    from tests.test_copied_text import github_live

    assert len(markers.find(markdown)) == 1
    text, _, marker = markdown.rpartition("<!-- lessonloop:")
    return github_live(text + marker.partition("-->")[2])


def test_character_reference_mentions_in_a_lesson_notify_no_one(client, runtime: Runtime, github_double) -> None:
    sections = loop.FILLED_MARKDOWN | {"What we learned": CHARACTER_REFERENCES}
    loop.learn_on_github(client, runtime, github_double, sections)
    [posted] = marked(bot_comments(github_double, INCIDENT_REPO, 1), markers.LESSON)
    assert _github_live(posted["body"]) == [], posted["body"]
    shown = posted["body"].replace("\u200b", "")
    assert "@acme/everyone and @octocat" in shown and "ftp://x" in shown  # shown as GitHub showed it


def test_character_reference_mentions_in_a_jira_lesson_reach_github_inert(
    client, runtime: Runtime, github_double, jira_double, pagerduty_double
) -> None:
    github_double.add_issue("acme/web", "related")
    send(client, loop.pagerduty_resolved(pagerduty_double, "PGR0VU2"))
    work(runtime)
    review = jira_double.issue("OPS-43")
    lesson_text = f"{CHARACTER_REFERENCES} https://github.com/acme/web/issues/1"
    review["fields"]["description"] = loop.fill_lesson_jira(
        review["fields"]["description"], loop.FILLED_MARKDOWN | {"What we learned": lesson_text}
    )
    review["fields"]["status"] = {"name": "Done", "statusCategory": {"key": "done"}}
    send(client, loop.jira_issue_event(jira_double, "OPS-43"))
    work(runtime)
    [posted] = marked(bot_comments(github_double, "acme/web", 1), markers.LESSON)
    assert _github_live(posted["body"]) == [], posted["body"]
    assert "cme/everyone" in posted["body"]


def test_character_references_in_a_title_and_a_timeline_line_notify_no_one(
    client, runtime: Runtime, github_double
) -> None:
    issue = github_double.issues[INCIDENT_REPO][1]
    issue["title"] = f"Checkout down {CHARACTER_REFERENCES}"
    issue["assignee"], issue["assignees"] = None, []  # lessonloop mentions a responder it knows: none here
    github_double.add_timeline_event(
        INCIDENT_REPO,
        1,
        {
            "event": "labeled",
            "created_at": "2026-11-20T10:05:00Z",
            "actor": {"login": "mallory"},
            "label": {"name": CHARACTER_REFERENCES},
        },
    )
    review = loop.learn_on_github(client, runtime, github_double)
    stub = github_double.issues[REVIEWS_REPO][review["number"]]["body"]
    assert "labelled ping" in stub  # the timeline line is there
    assert _github_live(stub) == [], stub
    for comment in bot_comments(github_double, INCIDENT_REPO, 1):
        assert _github_live(comment["body"]) == [], comment["body"]


def test_character_references_in_a_responders_name_notify_no_one(
    make_settings, trackers, make_runtime, tmp_path, github_double, pagerduty_double
) -> None:
    from tests.conftest import RULES_TOML

    rules = tmp_path / "rules.toml"
    rules.write_text(RULES_TOML.replace('source = "pagerduty"\nurgency = ["high"]\nreview = "jira:OPS"', _PD_TO_GITHUB))
    runtime = make_runtime(make_settings(config_file=rules, **trackers))
    client = loop.web_client(runtime)
    mallory = {"id": "PUSER09", "type": "user_reference", "summary": f"Mallory {CHARACTER_REFERENCES}"}
    pagerduty_double.add_log_entry("PGR0VU2", "acknowledge", "2026-11-20T10:04:00Z", mallory)
    send(client, loop.pagerduty_resolved(pagerduty_double, "PGR0VU2"))
    work(runtime)
    record = reviews.review_of(runtime.engine, "pagerduty:PGR0VU2")
    assert record is not None and record.ref.startswith(f"github:{REVIEWS_REPO}#")
    stub = github_double.issues[REVIEWS_REPO][int(record.ref.rsplit("#", 1)[1])]["body"]
    assert "Mallory" in stub and "cme/everyone" in stub
    assert _github_live(stub) == [], stub


_PD_TO_GITHUB = 'source = "pagerduty"\nurgency = ["high"]\nreview = "github:acme/postmortems"'
