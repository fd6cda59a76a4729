"""The blameless-language nudge: the rules on the sentences they must and must not flag, and on
sync, one comment on the review per distinct set of sentences, never holding the lesson up."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import SettingsError, load_settings
from service import lesson
from service.infra.runtime import Runtime
from service.lesson.blame import find_blame
from service.lesson.blame_rules import RULES_DIR, BlameRulesError, load_language
from service.store import lessons
from service.text import markers
from tests import loop
from tests.conftest import base_env

# --- the rules --------------------------------------------------------------------------------

MUST_FLAG = {
    "Bob forgot to set the flag.": "person-failure",
    "The on-call engineer ignored the first three pages.": "person-failure",
    "The intern didn't check which profile was active.": "person-failure",
    "Marta should have caught this in review.": "hindsight",
    "He should have been more careful.": "hindsight",
    "Root cause: human error.": "human-error",
    "The engineer was careless with the credentials.": "judgement",
    "It was Kevin's fault.": "fault",
    "The architect was at fault.": "fault",
    "The root cause was Dave running the script.": "root-cause",
    "Ultimately the DBA is to blame.": "blame",
    "Raj's mistake in the Helm values crashed the pods.": "mistake",
    "The page was ignored by the secondary on-call.": "person-failure",
    "@alice forgot the flag.": "person-failure",
    "Kwame truncated the production orders table.": "person-failure",
    "The contractor dropped the backups instead of the snapshots.": "person-failure",
    "Ola took the warehouse down for everyone.": "person-failure",
    "It was Farid who restarted the primary.": "person-failure",
    "Omar merged the change without running the tests.": "person-failure",
    "This one was on Jake, plain and simple.": "root-cause",
    "The outage traces back to Mina's hotfix.": "root-cause",
    "Typical Dave.": "judgement",
    "Thanks to Steve, we lost the whole weekend.": "judgement",
    "Nobody on the team bothered to read the release notes.": "judgement",
    "A more experienced DBA would never have run that.": "judgement",
    "No sensible engineer would run a migration at peak.": "judgement",
    "What were they thinking, running a migration at peak?": "judgement",
    "Great job, Tom, the whole site went down.": "judgement",
    "Frankly, our ops team is out of its depth.": "judgement",
    "Carla was supposed to rotate the keys and never did.": "person-failure",
    "Tobias pushed a config change that broke payments.": "person-failure",
    "Pavel brought the payments API to a halt with a runaway script.": "person-failure",
    "The platform team let the certificate expire.": "person-failure",
    "The intern refused to escalate.": "person-failure",
    "The on-call, worn out after a week of pages, ignored the alert.": "person-failure",
    "Fault: the new DBA.": "root-cause",
    "Karim is the reason we spent the weekend restoring backups.": "root-cause",
    "Blame for the outage sits with the mobile team.": "root-cause",
    "The outage happened on the night shift's watch.": "fault",
}

MUST_NOT_FLAG = [
    "The deploy tool forgot the flag.",
    'Bob said "I forgot to set the flag" in the channel.',
    "Someone called it \u201ca careless mistake\u201d.",
    "> I forgot to run the migration, my bad",
    "We expected the canary to stop it.",
    "Our fault tolerance depends on two zones.",
    "We ran fault injection last week.",
    "A disk fault on the primary triggered the failover.",
    "The alert should have fired at 80% disk usage.",
    "This should have been caught by the contract tests.",
    "Run `git blame` to see when the flag went: `bob forgot`.",
    "```\nerror: you forgot the --region flag\n```",
    "See [why human error is a myth](https://example.com/human-error).",
    "The runbook is at https://wiki.example.com/who-forgot-the-flag today.",
    "This was not human error: the form accepted the wrong region.",
    "Nobody is to blame here.",
    "If an engineer forgets the flag, the tool deletes real data.",
    "We use lazy loading for images.",
    "Terraform ignored the lock.",
    "CI didn't check the generated files.",
    "We missed our SLO for the month.",
    "We should have a rollback button.",
    "We should have been paged at the first error.",
    "Canary missed the error spike.",
    "<!-- a note for editors: Bob forgot the flag -->",
    "14:02 Kwame truncated the production events table, as planned.",
    "The cleanup job truncated the production orders table.",
    "Hiro took the old cluster down after the migration was verified.",
    "It was Farid who spotted the leak first.",
    "It was the cron job that deleted the audit logs.",
    "The database restarted without losing any writes.",
    "The fix is on Maria's branch.",
    "Nobody with admin rights was on call.",
    "The call was on Zoom.",
    "Thanks to Steve, we restored the backups within the hour.",
    # what is placed on a person is a duty to come, or is placed on a thing
    "The on-call rotation falls on Ana next month.",
    "The fix for the incident is on Maria now.",
    "The responsibility for the runbook sits with the SRE team.",
    "The blame for the delay lies with our change process.",
    # negation from further back, and a view held up to be questioned
    "We were not looking for someone to blame.",
    "It is tempting to say the intern should have asked, but nothing in the runbook suggested it.",
    # a better person who excuses, not judges
    "Any reasonable engineer would have done the same.",
    "No experienced engineer would have known the flag was global.",
    # praise and thanks for what was saved
    "Thanks to Ana, we lost only five minutes of data.",
    "Thanks to the on-call, no data was lost.",
    "Great job, support team, keeping customers informed while the site was down.",
    "Great work, Priya, the failover finished before any customer noticed.",
    "Ravi is the reason we caught it so quickly.",
    # what happened to a person, a duty done, a tool's act, what someone found
    "The on-call was supposed to get a page and didn't.",
    "Sam was asked to renew the certificate and did.",
    "Nobody on the team was told about the change.",
    "The scheduler let the certificate expire.",
    "Alice found a bug that broke payments.",
    "Culprit: the Redis eviction policy.",
    "The lock wouldn't release.",
]


@pytest.mark.parametrize("sentence,rule", sorted(MUST_FLAG.items()))
def test_a_sentence_about_a_person_is_flagged_under_its_rule(sentence: str, rule: str) -> None:
    [finding] = find_blame(sentence)
    assert finding.rule == rule
    assert finding.sentence == sentence and finding.line == 1
    assert finding.suggestion and finding.language == "en"


@pytest.mark.parametrize("text", MUST_NOT_FLAG)
def test_hard_cases_are_not_flagged(text: str) -> None:
    assert find_blame(text) == [], text


def test_sentences_are_found_across_lines_with_the_line_they_start_on() -> None:
    text = (
        "# Why it turned out differently\n\nThe canary watched latency only.\nLater the\non-call "
        "engineer forgot\nto page the DBA. The deploy tool forgot the flag.\n\n- We should have rolled back.\n"
        "- The alert should have fired.\n"
    )
    found = find_blame(text)
    assert [(f.line, f.sentence, f.rule) for f in found] == [
        (4, "Later the on-call engineer forgot to page the DBA.", "person-failure"),
        (8, "- We should have rolled back.", "hindsight"),
    ]


def test_jira_markup_is_read_as_jira() -> None:
    text = "h2. What happened\n\n{code}\nbob forgot the flag\n{code}\n{quote}I forgot it{quote}\nSam ignored the page."
    assert [f.sentence for f in find_blame(text, "jira")] == ["Sam ignored the page."]


def test_a_quoted_sentence_is_cut_short_and_carries_no_marker() -> None:
    long = "Bob forgot " + "the flag and " * 100 + "left."
    [finding] = find_blame(long + " <!-- lessonloop:lesson key=1 -->")
    assert len(finding.sentence) <= 400 and "lessonloop:" not in finding.sentence


def test_hostile_text_is_read_without_blowing_up() -> None:
    text = (
        "Bob forgot it. " + "`x" * 5000 + "<!--" * 5000 + '"' * 5000 + "[" * 5000 + "](" * 5000 + "Bob forgot " * 3000
    )
    assert len(find_blame(text)) == 2  # finishes (pytest-timeout guards the time) and still reads the prose
    shapes = (" " * 60000 + "|", "e.g. " * 12000, " \n |" * 15000, "{quote}" * 8000)  # once quadratic
    triggers = ("It was Bob who ", "took it down ", "Bob deleted the prod ", "without running ", "is on Jake ")
    triggers += ("easy to say ", "nobody bothered to ", "a more careful reviewer would ", "was supposed to and ")
    triggers += ("on Bob's watch ", "Tom pushed a change that broke ", "nice work Ann offline ")
    for shape in (*shapes, *(unit * 4000 for unit in triggers)):  # rules that look ahead or back, bounded
        assert find_blame(shape + "\n\nBob forgot it.", "jira" if "{" in shape else "markdown")


def test_a_language_file_is_checked_when_read(tmp_path: Path) -> None:
    good = (RULES_DIR / "en.toml").read_text(encoding="utf-8")
    (tmp_path / "xx.toml").write_text(good.replace('language = "en"', 'language = "xx"'))
    assert load_language(tmp_path / "xx.toml").language == "xx"
    (tmp_path / "bad.toml").write_text(good.replace("[people]\n", '[people]\nfriends = ["bob"]\n'))
    with pytest.raises(BlameRulesError, match=r"bad.toml: people.friends: Extra inputs"):
        load_language(tmp_path / "bad.toml")
    (tmp_path / "typo.toml").write_text(good.replace('hindsight = "What', 'hindsite = "What'))
    with pytest.raises(BlameRulesError, match="unknown rule 'hindsite'"):
        load_language(tmp_path / "typo.toml")
    (tmp_path / "slot.toml").write_text(good.replace('"what was {person} thinking"', '"what was {persn} thinking"'))
    with pytest.raises(BlameRulesError, match=r"slot.toml: patterns.judgement: .*unknown slot \{persn\}"):
        load_language(tmp_path / "slot.toml")
    (tmp_path / "slots.toml").write_text(good.replace('"what was {person} thinking"', '"{person} {loss}"'))
    with pytest.raises(BlameRulesError, match=r"patterns.judgement: '\{person\} \{loss\}': no word to look for"):
        load_language(tmp_path / "slots.toml")


def test_another_language_is_one_more_file(tmp_path: Path) -> None:
    """docs/blameless.md's recipe: the words of a language in a file of its own."""
    english = load_language(RULES_DIR / "en.toml")
    german = english.model_copy(
        update={
            "language": "de",
            "people": english.people.model_copy(
                update={
                    "pronouns": ("er", "sie", "wir", "ich", "jemand"),
                    "roles": ("entwickler", "praktikant"),
                    "capitalised_names": False,
                }
            ),  # every German noun is
            "failure": english.failure.model_copy(update={"verbs": ("vergaß", "ignorierte", "übersah")}),
            "phrases": english.phrases.model_copy(
                update={"human_error": ("menschliches versagen",), "judgement": ("fahrlässig", "schlampig")}
            ),
        }
    )
    found = find_blame(
        "Der Praktikant vergaß den Schalter. Das Werkzeug vergaß den Schalter. Es war menschliches Versagen.",
        languages=[german],
    )
    assert [(f.sentence, f.rule) for f in found] == [
        ("Der Praktikant vergaß den Schalter.", "person-failure"),
        ("Es war menschliches Versagen.", "human-error"),
    ]


def test_the_nudge_comment_quotes_escaped_sentences_with_their_questions() -> None:
    found = find_blame("Bob forgot the *flag*. Sam was sloppy with [the](x) config.")
    text = lesson.render_blame_comment(found, "markdown")
    assert "not a blocker" in text and "kept and shared" in text
    assert "> Bob forgot the \\*flag\\*." in text
    assert found[0].suggestion in text and found[1].suggestion in text
    jira = lesson.render_blame_comment(found, "jira")
    assert "bq. Bob forgot the \\*flag\\*." in jira


def test_blame_check_is_a_lesson_setting(tmp_path: Path) -> None:
    path = tmp_path / "l.toml"
    path.write_text('[lesson]\nblame_check = "off"\n')
    assert load_settings(base_env(), path).lesson.blame_check == "off"
    assert load_settings(base_env()).lesson.blame_check == "comment"
    path.write_text('[lesson]\nblame_check = "gate"\n')
    with pytest.raises(SettingsError, match="lesson.blame_check"):
        load_settings(base_env(), path)


# --- on sync ----------------------------------------------------------------------------------

BLAMING = dict(loop.FILLED_MARKDOWN) | {
    "Why it turned out differently": (
        "The canary watched latency only. The on-call engineer ignored the "
        "first page, and `bob forgot` is what the chat said."
    ),
}


def _close_with(client, runtime: Runtime, github_double, sections: dict[str, str]) -> dict:
    """The incident closes, its review opens, the team writes the lesson and closes the review."""
    review = loop.open_github_review(client, runtime, github_double)
    loop.close_github_review(client, github_double, review, sections)
    return review


def test_a_blaming_lesson_is_kept_shared_and_nudged_once(client, runtime: Runtime, github_double) -> None:
    review = _close_with(client, runtime, github_double, BLAMING)
    loop.work(runtime)
    assert lessons.get(runtime.engine, "github:acme/postmortems#1") is not None  # kept
    assert len(loop.marked(github_double.comments_on("Codertocat/Hello-World", 1), markers.LESSON)) == 1  # shared
    [nudge] = loop.marked(github_double.comments_on("acme/postmortems", 1), markers.BLAME)
    assert "> The on-call engineer ignored the first page, and \\`bob forgot\\` is what the chat said." in nudge["body"]
    assert "What would have caught it?" in nudge["body"]
    assert "The canary watched latency only" not in nudge["body"]

    # the same text again (an edit elsewhere, a re-sent delivery): no second nudge
    review["body"] = review["body"].replace("A canary is only as good", "A canary is only ever as good")
    for _ in range(2):
        loop.send(client, loop.github_issue_event(github_double, "acme/postmortems", 1, "edited"))
    loop.work(runtime)
    assert len(loop.marked(github_double.comments_on("acme/postmortems", 1), markers.BLAME)) == 1
    assert (
        "only ever as good"
        in loop.marked(github_double.comments_on("Codertocat/Hello-World", 1), markers.LESSON)[0]["body"]
    )

    # rewritten blamelessly: nothing more is said
    review["body"] = review["body"].replace(
        "The on-call engineer ignored the first page", "The first page looked like the flaky alert of the week before"
    )
    loop.send(client, loop.github_issue_event(github_double, "acme/postmortems", 1, "edited"))
    loop.work(runtime)
    assert len(loop.marked(github_double.comments_on("acme/postmortems", 1), markers.BLAME)) == 1

    # a new blaming sentence is a new text: one more nudge, quoting it
    review["body"] = review["body"].replace(
        "A canary is only ever as good", "We should have known that a canary is as good"
    )
    loop.send(client, loop.github_issue_event(github_double, "acme/postmortems", 1, "edited"))
    loop.work(runtime)
    nudges = loop.marked(github_double.comments_on("acme/postmortems", 1), markers.BLAME)
    assert len(nudges) == 2 and "We should have known" in nudges[1]["body"]


def test_a_blameless_lesson_gets_no_nudge(client, runtime: Runtime, github_double) -> None:
    _close_with(client, runtime, github_double, loop.FILLED_MARKDOWN)
    loop.work(runtime)
    assert lessons.get(runtime.engine, "github:acme/postmortems#1") is not None
    assert loop.marked(github_double.comments_on("acme/postmortems", 1), markers.BLAME) == []


def test_blame_check_off_posts_no_nudge(
    make_settings,
    trackers,
    make_runtime,
    github_double,
    tmp_path: Path,
) -> None:
    from tests.conftest import RULES_TOML

    rules = tmp_path / "off.toml"
    rules.write_text(RULES_TOML.replace("[lesson]\n", '[lesson]\nblame_check = "off"\n', 1))
    runtime = make_runtime(make_settings(config_file=rules, **trackers))
    client = loop.web_client(runtime)
    _close_with(client, runtime, github_double, BLAMING)
    loop.work(runtime)
    assert lessons.get(runtime.engine, "github:acme/postmortems#1") is not None
    assert len(loop.marked(github_double.comments_on("Codertocat/Hello-World", 1), markers.LESSON)) == 1
    assert loop.marked(github_double.comments_on("acme/postmortems", 1), markers.BLAME) == []
    runtime.engine.dispose()


def test_a_jira_review_is_nudged_in_jira_markup(client, runtime: Runtime, jira_double) -> None:
    loop.send(client, loop.jira_issue_event(jira_double, "OPS-42"))
    loop.work(runtime)
    review = jira_double.issue("OPS-43")
    sections = dict(loop.FILLED_MARKDOWN) | {"What we learned": "Honestly, it was human error."}
    review["fields"]["description"] = loop.fill_lesson_jira(review["fields"]["description"], sections)
    review["fields"]["status"] = {"name": "Done", "statusCategory": {"key": "done"}}
    loop.send(client, loop.jira_issue_event(jira_double, "OPS-43"))
    loop.work(runtime)
    assert lessons.get(runtime.engine, "jira:OPS-43") is not None
    [nudge] = loop.marked(loop.jira_comments(jira_double, "OPS-43"), markers.BLAME)
    assert "bq. Honestly, it was human error." in nudge["body"]


def test_a_broken_language_file_holds_nothing_up(
    client,
    runtime: Runtime,
    github_double,
    monkeypatch,
) -> None:
    from service.lesson.blame import lint
    from service.store import deliveries

    def broken() -> list:
        raise BlameRulesError("config/blame/en.toml: people.roles: Input should be a valid tuple")

    monkeypatch.setattr(lint, "built_in", broken)
    _close_with(client, runtime, github_double, BLAMING)
    loop.work(runtime)
    assert lessons.get(runtime.engine, "github:acme/postmortems#1") is not None
    assert len(loop.marked(github_double.comments_on("Codertocat/Hello-World", 1), markers.LESSON)) == 1
    assert loop.marked(github_double.comments_on("acme/postmortems", 1), markers.BLAME) == []
    outcomes = [d.outcome or "" for d in deliveries.list_by_status(runtime.engine, ["done"])]
    assert any("blame check skipped: config/blame/en.toml: people.roles" in outcome for outcome in outcomes), outcomes


def test_a_heading_is_never_part_of_the_sentence_below_it() -> None:
    markdown = find_blame("## Contributing factors\nThe on-call engineer ignored the alert\n## Next\nfine.\n")
    assert [(f.line, f.sentence) for f in markdown] == [(2, "The on-call engineer ignored the alert")]
    jira = find_blame("h2. Summary\nThe on-call engineer ignored the alert.\n", "jira")
    assert [(f.line, f.sentence) for f in jira] == [(2, "The on-call engineer ignored the alert.")]
