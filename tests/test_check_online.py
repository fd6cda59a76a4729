"""``lessonloop check --online`` against the doubles: who we are, and whether each rule's review
target can take reviews (GitHub: the repository, its issues, write access; Jira: the project,
the issue type in it, its create fields), with one line per problem and a non-zero exit."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import load_settings
from service.infra.runtime import MissingCredentials
from service.loop.targets import check_targets
from tests.conftest import GITHUB_SECRET, JIRA_SECRET, PAGERDUTY_SECRET, REDIS_URL
from tests.doubles.github import GitHubDouble
from tests.doubles.jira import JiraDouble
from tests.doubles.pagerduty import PagerDutyDouble
from tests.processes import run_lessonloop


@pytest.fixture
def env(
    tmp_path: Path, redis, github_double: GitHubDouble, jira_double: JiraDouble, pagerduty_double: PagerDutyDouble
) -> dict[str, str]:
    """What a new operator sets, from docs/setup-*.md: secrets, credentials, API URLs."""
    github_double.add_repo("acme/postmortems")
    return {
        "REDIS_URL": REDIS_URL,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'l.db'}",
        "LESSONLOOP_GITHUB_WEBHOOK_SECRET": GITHUB_SECRET,
        "LESSONLOOP_GITHUB_TOKEN": "test-token",
        "LESSONLOOP_GITHUB_API_URL": github_double.base_url,
        "LESSONLOOP_JIRA_WEBHOOK_SECRET": JIRA_SECRET,
        "LESSONLOOP_JIRA_URL": jira_double.base_url,
        "LESSONLOOP_JIRA_EMAIL": jira_double.email,
        "LESSONLOOP_JIRA_API_TOKEN": jira_double.api_token,
        "LESSONLOOP_PAGERDUTY_WEBHOOK_SECRET": PAGERDUTY_SECRET,
        "LESSONLOOP_PAGERDUTY_API_TOKEN": "user-token",
        "LESSONLOOP_PAGERDUTY_FROM": "lessonloop@example.com",
        "LESSONLOOP_PAGERDUTY_API_URL": pagerduty_double.base_url,
    }


def set_rules(tmp_path: Path, text: str) -> None:
    (tmp_path / "lessonloop.toml").write_text(
        '[review]\njira_issue_type = "Task"\n\n[[rules]]\nsource = "github"\nlabels = ["incident"]\n'
        'review = "github:acme/postmortems"\n\n' + text
    )


def test_from_init_to_a_passing_check_online_without_reading_code(tmp_path: Path, env: dict[str, str]) -> None:
    """``init`` writes the rules, says what to run next, and that passes; uncommenting the
    PagerDuty rule init wrote, with the review target it suggests, passes too."""
    written = run_lessonloop("init", env=env, cwd=tmp_path)
    assert written.returncode == 0, written.stdout + written.stderr
    assert "next: lessonloop check --online" in written.stdout
    checked = run_lessonloop("check", "--online", env=env, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "github: signed in as" in checked.stdout and "jira: signed in as" in checked.stdout
    assert "review targets of rules[1], rules[2]: beside each incident, so checked when one arrives" in checked.stdout

    settings = tmp_path / "lessonloop.toml"
    head, said, block = settings.read_text().partition("# PagerDuty has no tasks")
    assert said and '# source = "pagerduty"' in block and '# review = "jira:OPS"' in block
    uncommented = "\n".join(line.removeprefix("# ") for line in block.split("\n")[1:])
    settings.write_text(head + uncommented)
    checked = run_lessonloop("check", "--online", env=env, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "review target jira:OPS, issue type Task (rules[3]): ok, reviews can be opened there" in checked.stdout


def test_a_review_target_that_does_not_exist_is_named_and_fails(tmp_path: Path, env: dict[str, str]) -> None:
    set_rules(tmp_path, '[[rules]]\nsource = "jira"\nissue_types = ["Incident"]\nreview = "jira:NOPE"\n')
    result = run_lessonloop("check", "--online", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "review target github:acme/postmortems (rules[1]): ok" in result.stdout
    problems = [line for line in result.stdout.splitlines() if line.startswith("review target jira:NOPE")]
    assert problems == [
        "review target jira:NOPE (rules[2]): project NOPE does not exist, or lessonloop's Jira account cannot browse it"
    ]


def test_jira_issue_type_permission_and_required_fields(
    tmp_path: Path, env: dict[str, str], jira_double: JiraDouble
) -> None:
    jira_double.projects |= {"SRE", "LOCKED"}
    jira_double.no_create.add("LOCKED")
    jira_double.required_fields["Bug"] = [
        {
            "fieldId": "customfield_10010",
            "key": "customfield_10010",
            "name": "Customer",
            "required": True,
            "hasDefaultValue": False,
            "operations": ["set"],
            "schema": {"type": "string"},
        }
    ]
    set_rules(
        tmp_path,
        '[[rules]]\nsource = "jira"\nissue_types = ["Incident"]\nreview = "jira:OPS"\njira_issue_type = "Story"\n\n'
        '[[rules]]\nsource = "jira"\nissue_types = ["Bug"]\nreview = "jira:SRE"\njira_issue_type = "Bug"\n\n'
        '[[rules]]\nsource = "pagerduty"\nreview = "jira:LOCKED"\n',
    )
    result = run_lessonloop("check", "--online", env=env, cwd=tmp_path)
    assert result.returncode == 1
    lines = [line for line in result.stdout.splitlines() if line.startswith("review target jira:")]
    assert lines == [
        "review target jira:OPS (rules[2]): issue type 'Story' cannot be created in OPS; it offers: Bug, Incident, Task",
        "review target jira:SRE (rules[3]): Bug in SRE requires Customer (customfield_10010), which lessonloop does "
        "not fill: make it optional or give it a default",
        "review target jira:LOCKED (rules[4]): lessonloop's Jira account may create no issue in LOCKED (the "
        "project's Create issues permission)",
    ]


def test_github_repository_missing_read_only_or_without_issues(
    tmp_path: Path, env: dict[str, str], github_double: GitHubDouble
) -> None:
    for repo in ("acme/readonly", "acme/noissues"):
        github_double.add_repo(repo)
    github_double.read_only.add("acme/readonly")
    github_double.issues_off.add("acme/noissues")
    set_rules(
        tmp_path,
        "".join(
            f'[[rules]]\nsource = "github"\nlabels = ["{n}"]\nreview = "github:acme/{n}"\n\n'
            for n in ("gone", "readonly", "noissues")
        ),
    )
    result = run_lessonloop("check", "--online", env=env, cwd=tmp_path)
    assert result.returncode == 1
    lines = [line for line in result.stdout.splitlines() if line.startswith("review target github:")]
    assert lines == [
        "review target github:acme/postmortems (rules[1]): ok, reviews can be opened there",
        "review target github:acme/gone (rules[2]): repository acme/gone does not exist, or the token's account "
        "cannot see it",
        "review target github:acme/readonly (rules[3]): the token's account can only read acme/readonly: reviews "
        "need triage or write access (labels on a new issue, closing a duplicate)",
        "review target github:acme/noissues (rules[4]): repository acme/noissues has issues turned off "
        "(Settings → Features → Issues)",
    ]


def test_a_target_without_api_credentials_names_what_to_set_as_a_job_would(tmp_path: Path) -> None:
    """The check names the settings a missing tracker needs in the words a job that needs them
    fails with (``MissingCredentials``), so the operator reads one instruction, not two."""
    (tmp_path / "lessonloop.toml").write_text('[[rules]]\nsource = "github"\nreview = "jira:OPS"\n')
    settings = load_settings({"LESSONLOOP_GITHUB_WEBHOOK_SECRET": GITHUB_SECRET}, tmp_path / "lessonloop.toml")
    lines, problems = check_targets(settings, {})
    assert (lines, problems) == ([f"review target jira:OPS (rules[1]): {MissingCredentials('jira')}"], 1)
