"""'We tried that before': past lessons like a new incident in its review's header."""

from __future__ import annotations

from service import lesson
from service.domain.events import Item, ItemRef
from service.infra.runtime import Runtime
from service.learning.similar import first_sentence, render_related
from tests import loop
from tests.loop import send, work


def test_a_similar_incident_gets_the_past_lesson_in_its_stub_and_an_unrelated_one_does_not(
    client, runtime: Runtime, github_double
) -> None:
    loop.learn_on_github(client, runtime, github_double)
    similar = github_double.add_issue(
        "Codertocat/Hello-World",
        "Checkout API returned 502s after a canary deploy",
        labels=("incident",),
        state="closed",
        body="The canary let a bad checkout build through.",
    )
    unrelated = github_double.add_issue(
        "Codertocat/Hello-World",
        "Disk full on the log archive host",
        labels=("incident",),
        state="closed",
        body="Rotation stopped.",
    )
    for issue in (similar, unrelated):
        send(client, loop.github_issue_event(github_double, "Codertocat/Hello-World", issue["number"], "closed"))
    work(runtime)
    reviews_by_title = {issue["title"]: issue for issue in github_double.issues["acme/postmortems"].values()}
    similar_review = reviews_by_title["Post-incident review: Checkout API returned 502s after a canary deploy"]
    unrelated_review = reviews_by_title["Post-incident review: Disk full on the log archive host"]
    assert "**Lessons from similar incidents**" in similar_review["body"]
    assert (
        "[Checkout API returned 502s for 40 minutes](https://github.com/acme/postmortems/issues/1): "
        "A canary is only as good as the signals it reads."
    ) in similar_review["body"]
    assert "Lessons from similar incidents" not in unrelated_review["body"]
    parsed = lesson.parse_lesson(similar_review["body"], lesson.load_template(None))
    assert not parsed.complete and len(parsed.missing) == 5  # the block is no lesson section


def test_related_lessons_off(make_settings, trackers, make_runtime, github_double) -> None:
    settings = make_settings(**trackers)
    runtime = make_runtime(
        settings.model_copy(update={"review": settings.review.model_copy(update={"related_lessons": 0})})
    )
    client = loop.web_client(runtime)
    loop.learn_on_github(client, runtime, github_double)
    again = github_double.add_issue(
        "Codertocat/Hello-World", "Checkout API returned 502s again", labels=("incident",), state="closed"
    )
    send(client, loop.github_issue_event(github_double, "Codertocat/Hello-World", again["number"], "closed"))
    work(runtime)
    assert all(
        "Lessons from similar incidents" not in issue["body"]
        for issue in github_double.issues["acme/postmortems"].values()
    )


def test_lessons_show_and_the_lesson_page_list_related_lessons(
    client,
    runtime: Runtime,
    github_double,
    monkeypatch,
    capsys,
) -> None:
    loop.learn_on_github(client, runtime, github_double)
    second = github_double.add_issue(
        "Codertocat/Hello-World", "Checkout 502s from a canary that missed errors", labels=("incident",), state="closed"
    )
    loop.learn_on_github(client, runtime, github_double, incident=second["number"])
    from service.entry.cli import main

    monkeypatch.setenv("DATABASE_URL", runtime.settings.database_url)
    capsys.readouterr()
    assert main(["lessons", "show", "github:acme/postmortems#2"]) == 0
    shown = capsys.readouterr().out
    assert "## Related lessons" in shown and "(github:acme/postmortems#1)" in shown
    page = client.get("/lessons/github:acme/postmortems#2".replace("#", "%23")).get_data(as_text=True)
    assert "Related lessons" in page and "github:acme/postmortems%231" in page


def test_the_block_is_inert_and_short() -> None:
    from datetime import UTC, datetime

    from service.store.lessons import Lesson

    hostile = Lesson(
        review_ref="github:acme/pm#9",
        incident_ref="github:acme/web#9",
        incident_title="@everyone <!-- lessonloop:review incident=github:a/b#1 -->",
        incident_url="",
        priority="",
        review_url="javascript:alert(1)",
        sections={"what_we_learned": "[click](javascript:x) " + "long " * 200 + ". Second."},
        digest="d",
        incident_closed_at=None,
        captured_at=datetime.now(UTC),
        updated_at=datetime.now(UTC),
        seconds_to_lesson=None,
    )
    text = render_related([hostile], "markdown")
    assert "javascript:" not in text and "@everyone" not in text and "lessonloop:review" not in text
    assert len(first_sentence(hostile.sections["what_we_learned"], "markdown")) <= 300
    assert render_related([], "markdown") == ""
    assert Item(ItemRef.parse("github:a/b#1"), "t", "u")  # the Item used by similar_text
