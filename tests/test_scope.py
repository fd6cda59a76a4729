"""Scope, tried as an attacker would: text decides neither where lessonloop writes, what it reads,
nor what it shows. Each test goes through the real web app, a real RQ worker and the tracker
doubles over HTTP. The test rules share ``github:acme/*`` with every rule; ``initech/payroll``
is a repository no rule names."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from config.settings import Settings
from service.domain.events import ItemRef
from service.entry.cli import main
from service.infra.runtime import Runtime
from service.store import deliveries, followups, lessons, reviews
from service.text import markers
from tests import loop
from tests.conftest import RULES_TOML, base_env
from tests.loop import marked, send, work

INCIDENT_REPO, REVIEW_REPO = loop.INCIDENT_REPO, loop.REVIEW_REPO
REVIEW = f"github:{REVIEW_REPO}#1"
ELSEWHERE = "initech/payroll"  # a repository no rule names
BOT = "lessonloop-bot"
OUTSIDE = "not shared: outside this rule's scope"


def bot_comments(double, repo: str, number: int) -> list[dict]:
    return [c for c in double.comments_on(repo, number) if c["user"]["login"] == BOT]


def requests_to(double, repo: str) -> list[str]:
    return [f"{r.method} {r.path}" for r in double.log if f"/repos/{repo}/" in r.path]


def lesson_with(changes: str) -> dict[str, str]:
    return loop.FILLED_MARKDOWN | {"What we'll change": changes}


# --- a lesson decides where the bot writes ----------------------------------------------------


def test_thirty_links_to_a_repository_no_rule_names_get_no_comment_and_are_named(
    client, runtime: Runtime, github_double, monkeypatch, capsys
) -> None:
    for number in range(1, 31):
        github_double.add_issue(ELSEWHERE, f"payroll issue {number}")
    github_double.issues[INCIDENT_REPO][1]["body"] = (
        "\n".join(f"https://github.com/{ELSEWHERE}/issues/{n}" for n in range(1, 31))
        + "\nhttps://github.com/acme/web/issues/1"
    )
    github_double.add_issue("acme/web", "in scope: shared with every rule")
    review = loop.open_github_review(client, runtime, github_double)
    github_double.reset_log()
    answer = loop.close_github_review(client, github_double, review)
    work(runtime)

    assert all(bot_comments(github_double, ELSEWHERE, n) == [] for n in range(1, 31))
    assert requests_to(github_double, ELSEWHERE) == []  # never written to, never read
    assert len(marked(bot_comments(github_double, "acme/web", 1), markers.LESSON)) == 1  # in scope: shared
    outcome = deliveries.get(runtime.engine, answer["delivery"]).outcome or ""
    assert f"{OUTSIDE}: 30 items" in outcome and f"github:{ELSEWHERE}#30" in outcome

    for name, value in base_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LESSONLOOP_CONFIG", str(runtime.settings.config_file))
    monkeypatch.setenv("DATABASE_URL", runtime.settings.database_url)
    capsys.readouterr()
    assert main(["lessons", "show", REVIEW]) == 0
    shown = capsys.readouterr().out
    shared, outside = shown.split("## Not shared: outside this rule's scope")
    assert f"github:{ELSEWHERE}" not in shared and "- github:acme/web#1\n" in shared
    assert outside.count(f"\n- github:{ELSEWHERE}#") == 30

    page = client.get(f"/lessons/{REVIEW.replace('#', '%23')}").get_data(as_text=True)
    assert "Not shared: outside this rule&#39;s scope" in page or "Not shared: outside this rule's scope" in page
    assert f"<li>github:{ELSEWHERE}#7</li>" in page


def test_a_link_made_by_an_operator_is_not_limited_by_scope(client, runtime: Runtime, github_double) -> None:
    from service.store import links

    github_double.add_issue(ELSEWHERE, "linked by hand")
    links.add(
        runtime.engine, ItemRef.parse(f"github:{INCIDENT_REPO}#1"), ItemRef.parse(f"github:{ELSEWHERE}#1"), "manual"
    )
    loop.learn_on_github(client, runtime, github_double)
    assert len(marked(bot_comments(github_double, ELSEWHERE, 1), markers.LESSON)) == 1


def test_follow_up_state_of_an_item_outside_scope_is_not_shown_nor_read(
    client, runtime: Runtime, github_double
) -> None:
    github_double.add_issue(ELSEWHERE, "closed, in a repository the writer cannot see", state="closed")
    changes = (
        f"- Do it in https://github.com/{ELSEWHERE}/issues/1\n"
        f"- And in https://github.com/{ELSEWHERE}/issues/404\n"
        "- Write a runbook\n"
    )
    loop.learn_on_github(client, runtime, github_double, lesson_with(changes))

    assert requests_to(github_double, ELSEWHERE) == []  # not even a read: a 404 would tell what exists
    rows = followups.of_review(runtime.engine, REVIEW)
    assert [(r.origin, r.ref, r.reason) for r in rows[:2]] == [
        ("not opened", None, OUTSIDE),
        ("not opened", None, OUTSIDE),
    ]
    assert not followups.is_followup(runtime.engine, f"github:{ELSEWHERE}#1")
    [comment] = marked(github_double.comments_on(INCIDENT_REPO, 1), markers.LESSON)
    block = comment["body"].split("Follow-ups", 1)[1]
    assert block.count("outside this rule's scope") == 2
    assert "**done**" not in block and "cannot read" not in block and "Not Found" not in block
    assert "**open, due" in block  # the runbook task lessonloop opened in the review's repository


def test_a_hundred_and_twenty_follow_up_links_are_capped(client, runtime: Runtime, github_double) -> None:
    for number in range(1, 121):
        github_double.add_issue("acme/web", f"web issue {number}")
    changes = "".join(f"- Fix https://github.com/acme/web/issues/{n}\n" for n in range(1, 121))
    changes += "- Write a runbook\n"
    review = loop.open_github_review(client, runtime, github_double)
    github_double.reset_log()
    loop.close_github_review(client, github_double, review, lesson_with(changes))
    work(runtime)

    cap = runtime.settings.followups.max_per_lesson
    rows = followups.of_review(runtime.engine, REVIEW)
    tracked = [r for r in rows if r.tracked]
    assert len(rows) == 121 and len(tracked) == cap
    assert [r.ref for r in tracked] == [f"github:acme/web#{n}" for n in range(1, cap + 1)]
    assert {r.reason for r in rows if not r.tracked} == {f"over [followups] max_per_lesson ({cap})"}
    reads = [r for r in github_double.log if r.operation == "get_issue" and "/repos/acme/web/" in r.path]
    assert len(reads) == cap
    assert [r for r in github_double.log if r.operation == "create_issue"] == []  # the runbook is over the cap too

    github_double.reset_log()
    due = tracked[0].due_on
    assert due is not None
    refreshed, _, failed = _remind(runtime, due + timedelta(days=1))
    assert failed == [] and refreshed == cap  # the daily read is bounded too


def _remind(runtime: Runtime, day) -> tuple[int, int, list[str]]:
    """The daily job through a real worker: refreshed and nudged counts read from its outcome."""
    job = runtime.queue.enqueue("workers.remind.remind", day.isoformat())
    work(runtime)
    job.refresh()
    outcome = str(job.return_value() or "")
    refreshed = nudged = 0
    if "read " in outcome:
        words = outcome.split("read ", 1)[1].split()
        refreshed, nudged = int(words[0]), int(words[4].rstrip(";"))
    return refreshed, nudged, ([outcome] if "failed" in outcome else [])


def test_reminders_one_per_item_a_week_and_at_most_reminders_per_day(
    make_settings: Callable[..., Settings], trackers: dict[str, str], make_runtime, github_double
) -> None:
    settings = make_settings(**trackers)
    runtime = make_runtime(
        settings.model_copy(update={"followups": settings.followups.model_copy(update={"reminders_per_day": 3})})
    )
    client = loop.web_client(runtime)
    for number in range(1, 6):
        github_double.add_issue("acme/web", f"web issue {number}")
    changes = "".join(f"- Fix https://github.com/acme/web/issues/{n}\n" for n in range(1, 6))
    loop.learn_on_github(client, runtime, github_double, lesson_with(changes))
    # a second incident's lesson follows up the same five issues: still one reminder an item a week
    github_double.add_issue(INCIDENT_REPO, "Checkout API slow again", labels=("incident",), state="closed")
    loop.learn_on_github(client, runtime, github_double, lesson_with(changes), incident=2)
    assert len([r for r in followups.listing(runtime.engine) if r[0].tracked]) == 10

    due = followups.of_review(runtime.engine, REVIEW)[0].due_on
    assert due is not None
    monday = due + timedelta(days=7 - due.weekday())

    def reminded() -> dict[int, int]:
        return {
            n: len(marked(github_double.comments_on("acme/web", n), markers.FOLLOWUP_REMINDER)) for n in range(1, 6)
        }

    _remind(runtime, monday)
    assert sum(reminded().values()) == 3 and max(reminded().values()) == 1  # the day's cap, one an item
    _remind(runtime, monday + timedelta(days=1))  # the same (real) day: the cap is spent
    assert sum(reminded().values()) == 3


# --- lessons leak across scopes, then get written back ------------------------------------------

PRIVATE_LESSON = loop.FILLED_MARKDOWN | {
    "What we learned": "Redis failover timeouts hide behind the checkout retries; the admin password is hunter2.",
}


def _two_rules(tmp_path: Path, public_extra: str = "", review_extra: str = "") -> Path:
    """A private repository's incidents reviewed in a private repository, everyone else's in a
    public one."""
    path = tmp_path / "scoped.toml"
    path.write_text(
        RULES_TOML.split("[[rules]]", 1)[0].replace('share = ["github:acme/*"]', "share = []")
        + review_extra
        + """
[[rules]]
source = "github"
name = "private"
labels = ["incident"]
project = ["acme/vault"]
review = "github:acme/vault-reviews"

[[rules]]
source = "github"
name = "public"
labels = ["incident"]
review = "github:oss/reviews"
"""
        + public_extra
    )
    return path


def _private_then_public(make_settings, trackers, make_runtime, github_double, config: Path):
    runtime = make_runtime(make_settings(config_file=config, **trackers))
    client = loop.web_client(runtime)
    for repo in ("acme/vault", "acme/vault-reviews", "oss/public", "oss/reviews"):
        github_double.add_repo(repo)
    github_double.add_issue(
        "acme/vault", "Redis failover timeouts during checkout", labels=("incident",), state="closed"
    )
    send(client, loop.github_issue_event(github_double, "acme/vault", 1, "closed"))
    work(runtime)
    private = github_double.issues["acme/vault-reviews"][1]
    private["body"] = loop.fill_lesson_markdown(private["body"], PRIVATE_LESSON)
    private["state"] = "closed"
    send(client, loop.github_issue_event(github_double, "acme/vault-reviews", 1, "closed"))
    work(runtime)
    assert lessons.get(runtime.engine, "github:acme/vault-reviews#1") is not None
    before = [c["body"] for c in github_double.comments_on("acme/vault-reviews", 1)]

    github_double.add_issue(
        "oss/public", "Redis failover timeouts during checkout?", labels=("incident",), state="closed", author="mallory"
    )
    send(client, loop.github_issue_event(github_double, "oss/public", 1, "closed"))
    work(runtime)
    public = github_double.issues["oss/reviews"][1]
    header = public["body"]
    public["body"] = loop.fill_lesson_markdown(public["body"])
    public["state"] = "closed"
    send(client, loop.github_issue_event(github_double, "oss/reviews", 1, "closed"))
    work(runtime)
    after = [c["body"] for c in github_double.comments_on("acme/vault-reviews", 1)]
    return runtime, header, before, after


def test_a_private_lesson_never_appears_in_a_public_review(
    make_settings, trackers, make_runtime, github_double, tmp_path: Path
) -> None:
    runtime, header, before, after = _private_then_public(
        make_settings, trackers, make_runtime, github_double, _two_rules(tmp_path)
    )
    assert "Lessons from similar incidents" not in header
    assert "hunter2" not in header and "vault-reviews" not in header
    assert after == before  # nothing written back on the private review
    kept = lessons.get(runtime.engine, "github:oss/reviews#1")
    assert kept is not None and "hunter2" not in str(kept.sections)


def test_the_header_lessonloop_wrote_is_never_read_back_as_recipients_or_lesson(
    make_settings, trackers, make_runtime, github_double, tmp_path: Path
) -> None:
    """Even when the operator lets the private lessons show in public reviews, and the public
    rule's scope takes in the private repository, the links in the header are not recipients."""
    config = _two_rules(
        tmp_path,
        public_extra='share = ["github:acme/*"]\n',
        review_extra='related_from = ["github:acme/vault-reviews"]\n',
    )
    runtime, header, before, after = _private_then_public(make_settings, trackers, make_runtime, github_double, config)
    assert "Lessons from similar incidents" in header and "vault-reviews/issues/1" in header  # shown, as allowed
    assert after == before  # but not read back: no lesson posted on the private review
    record = reviews.review(runtime.engine, "github:oss/reviews#1")
    assert record is not None and record.rule == "2:public" and record.header and "vault-reviews" in record.header
    kept = lessons.get(runtime.engine, "github:oss/reviews#1")
    assert kept is not None and "hunter2" not in str(kept.sections)


@pytest.mark.parametrize(
    "share",
    ['"github:acme"', '"gitlab:acme/x"', '"jira:OPS-1"', '"github:acme/[ab]"', "3"],
)
def test_a_share_entry_that_is_no_place_is_refused(make_settings, trackers, tmp_path: Path, share: str) -> None:
    from config.settings import SettingsError

    path = tmp_path / "bad.toml"
    path.write_text(RULES_TOML.replace('share = ["github:acme/*"]', f"share = [{share}]"))
    with pytest.raises(SettingsError, match="share"):
        make_settings(config_file=path, **trackers)


def test_scope_names_its_places() -> None:
    from pydantic import SecretStr

    from config.rules import Rule
    from config.settings import JiraSettings
    from service.loop import scope

    rule = Rule(source="jira", projects=("ops",), review="jira:PIR", share=("github:globex/*", "jira:sec*"))
    settings = Settings(jira=JiraSettings(webhook_secrets=(SecretStr("s"),)), rules=(rule,))
    within = scope.scope_of(settings, rule, "jira:INC-1", "jira:PIR-2")
    assert ItemRef.parse("github:Globex/Web#1") in within and ItemRef.parse("jira:SECURITY-4") in within
    assert ItemRef.parse("jira:OPS-9") in within and ItemRef.parse("pagerduty:PX1") in within
    assert ItemRef.parse("github:globex2/web#1") not in within and ItemRef.parse("jira:HR-1") not in within


def test_a_header_line_shaped_like_a_section_is_not_lesson_text() -> None:
    """A related lesson without a link, titled like a section, in the header lessonloop wrote:
    read back, it would start "What we learned" with a stranger's words."""
    from service import lesson

    header = "**Incident:** x\n\n**Lessons from similar incidents**\n\n- What we learned: the password is hunter2"
    body = (
        header
        + "\n\n"
        + loop.fill_lesson_markdown("\n\n".join(f"## {title}\n\n_prompt_" for title in loop.FILLED_MARKDOWN))
    )
    template = lesson.load_template(None)
    assert "hunter2" in lesson.parse_lesson(body, template).sections["what_we_learned"]  # the hazard
    kept = lesson.parse_lesson(lesson.without_header(body, header), template)
    assert kept.complete and "hunter2" not in str(kept.sections)
    assert lesson.without_header(body.replace("\n", "\r\n"), header).count("hunter2") == 0


def test_the_recorded_rule_is_found_again_after_rules_change() -> None:
    from pydantic import SecretStr

    from config.rules import Rule
    from config.settings import GitHubSettings
    from service.loop import scope

    vault = Rule(source="github", name="vault", review="github:acme/vault-reviews", share=("github:acme/*",))
    public = Rule(source="github", review="github:oss/reviews")
    on = GitHubSettings(webhook_secrets=(SecretStr("s"),))
    before = Settings(github=on, rules=(vault, public))
    key_vault, key_public = scope.rule_key(before, vault), scope.rule_key(before, public)
    assert (key_vault, key_public) == ("1:vault", "2:")
    after = Settings(github=on, rules=(public, Rule(source="github", review="github:oss/other"), vault))
    assert scope.rule_named(after, key_vault, "github:acme/vault#1", "github:acme/vault-reviews#1") is vault
    # the unnamed rule moved: its old place now names a rule that opens reviews elsewhere
    assert scope.rule_named(after, key_public, "github:oss/x#1", "github:oss/reviews#1") is public
    assert scope.rule_named(after, None, "github:oss/x#1", "github:oss/nowhere#1") is None
    bare = scope.scope_of_review(after, "github:oss/x#1", "github:oss/nowhere#1", None)
    assert ItemRef.parse("github:oss/x#9") in bare and ItemRef.parse("github:acme/web#1") not in bare
