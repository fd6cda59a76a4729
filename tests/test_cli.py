"""The ``lessonloop`` command as an operator meets it: run as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.settings import load_settings
from tests.conftest import GITHUB_SECRET, REDIS_URL, RULES_TOML, base_env
from tests.processes import run_lessonloop


def test_check_prints_the_settings_with_secrets_masked(tmp_path: Path, redis) -> None:
    (tmp_path / "lessonloop.toml").write_text(RULES_TOML)
    env = base_env() | {"DATABASE_URL": f"sqlite:///{tmp_path / 'l.db'}", "LESSONLOOP_GITHUB_TOKEN": "ghp_topsecret"}
    result = run_lessonloop("check", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"enabled_sources": [\n    "github",\n    "jira",\n    "pagerduty"' in result.stdout
    assert "github:acme/postmortems" in result.stdout
    assert "redis: ok" in result.stdout and "store: ok" in result.stdout
    for secret in (GITHUB_SECRET, "ghp_topsecret"):
        assert secret not in result.stdout + result.stderr


def test_a_bad_setting_stops_with_one_line_naming_it(tmp_path: Path) -> None:
    result = run_lessonloop("worker", env={"REDIS_URL": "http://nope"}, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "lessonloop: REDIS_URL: must start with redis://, rediss:// or unix://"


def test_a_rule_for_a_source_without_a_secret_stops_start_up(tmp_path: Path) -> None:
    (tmp_path / "lessonloop.toml").write_text(RULES_TOML)
    env = {"LESSONLOOP_GITHUB_WEBHOOK_SECRET": "x"}
    result = run_lessonloop("web", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "rules[2] is for source 'jira', which is not enabled" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_check_reports_unreachable_services_and_fails(tmp_path: Path) -> None:
    env = {"REDIS_URL": "redis://127.0.0.1:1/0", "DATABASE_URL": f"sqlite:///{tmp_path / 'l.db'}"}
    result = run_lessonloop("check", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "redis: unavailable at redis://127.0.0.1:1/0" in result.stdout
    assert "warning: no source is enabled" in result.stdout


def test_replay_of_an_unknown_delivery_says_so(tmp_path: Path, redis) -> None:
    env = {"REDIS_URL": REDIS_URL, "DATABASE_URL": f"sqlite:///{tmp_path / 'l.db'}"}
    result = run_lessonloop("replay", "github:nope", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "no recorded delivery github:nope" in result.stderr
    assert run_lessonloop("replay", "--failed", env=env, cwd=tmp_path).stdout.strip() == "nothing to replay"


def test_check_online_asks_each_tracker_who_we_are(
    tmp_path: Path,
    redis,
    github_double,
    jira_double,
    pagerduty_double,
) -> None:
    env = {
        "REDIS_URL": REDIS_URL,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'l.db'}",
        "LESSONLOOP_GITHUB_TOKEN": "test-token",
        "LESSONLOOP_GITHUB_API_URL": github_double.base_url,
        "LESSONLOOP_JIRA_URL": jira_double.base_url,
        "LESSONLOOP_JIRA_EMAIL": jira_double.email,
        "LESSONLOOP_JIRA_API_TOKEN": jira_double.api_token,
        "LESSONLOOP_PAGERDUTY_API_TOKEN": "user-token",
        "LESSONLOOP_PAGERDUTY_FROM": "sre@example.com",
        "LESSONLOOP_PAGERDUTY_API_URL": pagerduty_double.base_url,
    }
    result = run_lessonloop("check", "--online", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "github: signed in as " in result.stdout and "(lessonloop-bot)" in result.stdout
    assert "jira: signed in as" in result.stdout
    assert "pagerduty: signed in as" in result.stdout

    refused = run_lessonloop("check", "--online", env=env | {"LESSONLOOP_GITHUB_TOKEN": "revoked"}, cwd=tmp_path)
    assert refused.returncode == 1
    assert "github: " in refused.stdout and "401" in refused.stdout
    assert "revoked" not in refused.stdout


def test_check_online_names_the_url_it_could_not_reach(tmp_path: Path) -> None:
    env = {
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'l.db'}",
        "LESSONLOOP_GITHUB_TOKEN": "t",
        "LESSONLOOP_GITHUB_API_URL": "http://127.0.0.1:1",
    }
    result = run_lessonloop("check", "--online", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "github: " in result.stdout and "(API at http://127.0.0.1:1)" in result.stdout


# --- one line, naming what to fix, where a traceback used to be ------------------------------------


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.slow
def test_a_missing_sqlite_folder_is_refused_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent" / "dir"
    for command in (("lessons", "list"), ("lessons", "stats"), ("replay", "--failed"), ("worker", "--burst")):
        result = run_lessonloop(
            *command, env={"DATABASE_URL": f"sqlite:///{missing}/x.db", "REDIS_URL": REDIS_URL}, cwd=tmp_path
        )
        assert result.returncode == 3, command
        assert one_line(result) == (
            f"lessonloop: DATABASE_URL: the folder {missing} does not exist: create it, or "
            "fix the path (sqlite:///relative/path.db, sqlite:////absolute/path.db)"
        )
    assert not missing.parent.exists()


def test_a_store_path_that_is_a_folder_is_refused(tmp_path: Path) -> None:
    result = run_lessonloop("lessons", "list", env={"DATABASE_URL": f"sqlite:///{tmp_path}"}, cwd=tmp_path)
    assert result.returncode == 3 and "is a folder" in one_line(result)


def test_export_to_a_missing_folder_or_a_folder_says_so(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'l.db'}"}
    missing = run_lessonloop("lessons", "export", "-o", str(tmp_path / "no" / "x.json"), env=env, cwd=tmp_path)
    assert missing.returncode == 1
    assert one_line(missing) == f"lessonloop: cannot write {tmp_path / 'no' / 'x.json'}: No such file or directory"
    folder = run_lessonloop("lessons", "export", "-o", str(tmp_path), env=env, cwd=tmp_path)
    assert folder.returncode == 1 and one_line(folder).endswith("Is a directory")


@pytest.mark.slow
def test_settings_errors_name_what_the_operator_wrote(tmp_path: Path) -> None:
    (tmp_path / "cfg.toml").write_text("redis_url = 5\n")
    assert one_line(run_lessonloop("--config", "cfg.toml", "check", env={}, cwd=tmp_path)) == (
        "lessonloop: cfg.toml: redis_url: must be a string"
    )
    assert one_line(run_lessonloop("--config", "missing.toml", "check", env={}, cwd=tmp_path)) == (
        "lessonloop: --config: no such file: missing.toml"
    )
    assert one_line(run_lessonloop("check", env={"LESSONLOOP_CONFIG": "gone.toml"}, cwd=tmp_path)) == (
        "lessonloop: LESSONLOOP_CONFIG: no such file: gone.toml"
    )
    assert one_line(run_lessonloop("check", env={"REDIS_URL": "redis://localhost:6379/abc"}, cwd=tmp_path)) == (
        "lessonloop: REDIS_URL: the database after the host must be a number (redis://HOST:6379/0), got 'abc'"
    )


@pytest.mark.slow
def test_small_commands_say_what_is_wrong(tmp_path: Path, redis) -> None:
    env = {"REDIS_URL": REDIS_URL, "DATABASE_URL": f"sqlite:///{tmp_path / 'l.db'}"}
    assert one_line(run_lessonloop("replay", env=env, cwd=tmp_path)) == (
        "lessonloop: name deliveries to replay (numbers, or SOURCE:DELIVERY-ID), or use --failed"
    )
    assert one_line(run_lessonloop("lessons", "show", "not-a-ref", env=env, cwd=tmp_path)).startswith(
        "lessonloop: not an item ref: 'not-a-ref'"
    )
    down = run_lessonloop(
        "link", "github:a/b#1", "jira:OPS-1", env=env | {"REDIS_URL": "redis://127.0.0.1:1/0"}, cwd=tmp_path
    )
    assert down.returncode == 0 and down.stdout.startswith("linked:")  # no lesson yet: Redis is not needed
    helped = run_lessonloop("--help", env={}, cwd=tmp_path).stdout
    assert "``" not in helped and "link" in helped and "lessons" in helped


def test_check_validates_the_people_table(tmp_path: Path) -> None:
    (tmp_path / "good.toml").write_text(
        '[people]\n"ana@globex.example" = { github = "sre-ana", jira = '
        '"5b109f2e9729b51b54dc274d", pagerduty = "PUSER01" }\n'
    )
    env = {"REDIS_URL": "redis://127.0.0.1:1/0", "DATABASE_URL": f"sqlite:///{tmp_path / 'l.db'}"}
    assert (
        "people: 1 mapped across trackers"
        in run_lessonloop("--config", "good.toml", "check", env=env, cwd=tmp_path).stdout
    )
    for table, said in [
        ('"ana" = { github = "sre-ana" }', "people: [people] keys are email addresses, got 'ana'"),
        ('"a@b.example" = { github = "sre ana" }', "is not a GitHub login"),
        ('"a@b.example" = { pagerduty = "x" }', "is not a PagerDuty user id"),
        ('"a@b.example" = { slack = "U1" }', "people.a@b.example.slack: unknown key"),
    ]:
        (tmp_path / "bad.toml").write_text(f"[people]\n{table}\n")
        result = run_lessonloop("--config", "bad.toml", "check", env=env, cwd=tmp_path)
        assert result.returncode == 2 and said in one_line(result), result.stderr


# --- lessons lint -----------------------------------------------------------------------------

BLAME_SETS = Path(__file__).parent / "fixtures" / "blame"


@pytest.mark.parametrize("name,size", [("sentences.tsv", 300), ("heldout.tsv", 100)])
def test_lint_on_the_labelled_sets_keeps_its_precision_and_recall(tmp_path: Path, name: str, size: int) -> None:
    """The quality floor of the blameless-language nudge, through the command, on the fixed
    labelled sets: every sentence a paragraph of its own, each finding mapped back to its sentence
    by the line it reports. Deterministic (the same set and rules give the same figures)."""
    rows = []
    for line in (BLAME_SETS / name).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith(("#", "label\t")):
            label, sentence = line.split("\t")[:2]
            rows.append((label, sentence.replace("\\n", "\n")))
    starts: dict[int, int] = {}
    text, line_number = [], 1
    for index, (_, sentence) in enumerate(rows):
        starts[line_number] = index
        text.append(sentence)
        line_number += sentence.count("\n") + 2
    (tmp_path / "set.md").write_text("\n\n".join(text) + "\n", encoding="utf-8")
    result = run_lessonloop("lessons", "lint", "set.md", "--format", "json", env={}, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    import json

    flagged = set()
    for finding in json.loads(result.stdout)["findings"]:
        first = max(start for start in starts if start <= finding["line"])
        flagged.add(starts[first])
    tp = sum(1 for index in flagged if rows[index][0] == "blame")
    fp = len(flagged) - tp
    blame = sum(1 for label, _ in rows if label == "blame")
    precision, recall = tp / (tp + fp), tp / blame
    assert len(rows) >= size
    assert precision >= 0.9, (precision, [rows[i][1] for i in flagged if rows[i][0] == "ok"])
    assert recall >= 0.7, recall


def test_lint_exit_codes_and_formats(tmp_path: Path) -> None:
    (tmp_path / "clean.md").write_text("## What happened\n\nThe deploy tool forgot the flag.\n")
    (tmp_path / "blaming.md").write_text("## Why\n\nThe canary watched latency only.\nBob forgot the flag.\n")
    clean = run_lessonloop("lessons", "lint", "clean.md", env={}, cwd=tmp_path)
    assert (clean.returncode, clean.stdout, clean.stderr.strip()) == (0, "", "no blaming language found")
    found = run_lessonloop("lessons", "lint", "blaming.md", env={}, cwd=tmp_path)
    assert found.returncode == 1
    assert found.stdout.splitlines() == [
        "line 4: Bob forgot the flag.",
        '  rule: person-failure ("Bob forgot")',
        "  ask:  What made this the reasonable thing to do at the time? What would have caught it?",
    ]
    assert found.stderr.strip() == "1 sentence to reconsider"


def test_lint_needs_no_settings(tmp_path: Path) -> None:
    (tmp_path / "lessonloop.toml").write_text("this is not TOML [")
    (tmp_path / "lesson.md").write_text("The intern was careless.\n")
    result = run_lessonloop("lessons", "lint", "lesson.md", env={"REDIS_URL": "http://nope"}, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert 'rule: judgement ("intern was careless")' in result.stdout


def test_lint_reads_standard_input(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LESSONLOOP_")}
    for args in (("lessons", "lint"), ("lessons", "lint", "-")):
        result = subprocess.run(
            [sys.executable, "-m", "service.entry.cli", *args, "--format", "json"],
            cwd=tmp_path,
            env=clean,
            input="It was human error.\n\nWe expected the canary to stop it.\n",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 1, result.stderr
        assert '"rule": "human-error"' in result.stdout and '"line": 1' in result.stdout
        assert '"count": 1' in result.stdout


def test_lint_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    (tmp_path / "latin1.md").write_bytes("Bob oublia le drapeau \xe0 midi.".encode("latin-1"))
    (tmp_path / "folder").mkdir()
    for name, message in (
        ("latin1.md", "latin1.md is not UTF-8 text"),
        ("folder", "folder is a folder"),
        ("missing.md", "cannot read missing.md: No such file or directory"),
    ):
        result = run_lessonloop("lessons", "lint", name, env={}, cwd=tmp_path)
        assert result.returncode == 2, (name, result.stderr)
        assert result.stdout == "" and result.stderr.startswith(f"lessonloop: {message}"), result.stderr


def test_check_names_an_unknown_variable_and_counts_each_sources_secrets(tmp_path: Path, redis) -> None:
    env = {
        "REDIS_URL": REDIS_URL,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'l.db'}",
        "LESSONLOOP_GITHUB_WEBHOOK_SECRET": "It's a Secret, to Everybody",
        "LESSONLOOP_GITHUB_WEBHOOK_SECRET_PREVIOUS": "older",
        "LESSONLOOP_JIRA_WEBHOK_SECRET": "typo",
    }
    result = run_lessonloop("check", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (
        "warning: LESSONLOOP_JIRA_WEBHOK_SECRET is not a lessonloop setting and is ignored "
        "(did you mean LESSONLOOP_JIRA_WEBHOOK_SECRET?)"
    ) in result.stdout.splitlines()
    assert "webhooks: github 2 secrets; jira off (no secret); pagerduty off (no secret)" in result.stdout.splitlines()
    assert "Everybody" not in result.stdout + result.stderr and "typo" not in result.stdout + result.stderr
    started = run_lessonloop("replay", "--failed", env=env, cwd=tmp_path)
    assert "LESSONLOOP_JIRA_WEBHOK_SECRET is not a lessonloop setting" in started.stderr  # logged by every command


def test_a_limit_below_one_is_refused_not_answered_with_no_lessons(tmp_path: Path) -> None:
    for command in (("lessons", "list"), ("lessons", "search", "dns")):
        result = run_lessonloop(*command, "--limit", "0", env={}, cwd=tmp_path)
        assert result.returncode == 2
        assert "--limit: must be a whole number of at least 1, got '0'" in result.stderr
        assert "no lessons" not in result.stdout


def test_init_writes_rules_for_the_trackers_whose_secrets_are_set_and_asks_nothing(tmp_path: Path) -> None:
    secrets = {"LESSONLOOP_GITHUB_WEBHOOK_SECRET": "g", "LESSONLOOP_JIRA_AUTOMATION_TOKEN": "j"}
    written = run_lessonloop("init", env=secrets, cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert written.stdout.startswith("wrote lessonloop.toml: rules for github, jira\n")
    settings = load_settings(secrets, tmp_path / "lessonloop.toml")
    assert [(rule.source, rule.labels, rule.issue_types) for rule in settings.rules] == [
        ("github", ("incident",), ()),
        ("jira", (), ("Incident",)),
    ]
    again = run_lessonloop("init", env=secrets, cwd=tmp_path)
    assert again.returncode == 2 and "exists; `lessonloop init --force` replaces it" in again.stderr
    only_pagerduty = {"LESSONLOOP_PAGERDUTY_WEBHOOK_SECRET": "p"}
    forced = run_lessonloop("init", "--force", env=only_pagerduty, cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert "warning: PagerDuty has no tasks" in forced.stdout  # its rule needs a target: commented out
    assert load_settings(only_pagerduty, tmp_path / "lessonloop.toml").rules == ()
    checked = run_lessonloop(
        "check", env=only_pagerduty | {"DATABASE_URL": f"sqlite:///{tmp_path / 'l.db'}"}, cwd=tmp_path
    )
    assert checked.returncode in (0, 1) and "PagerDuty has no tasks" in checked.stdout


def test_an_announced_line_is_one_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scripts read "web listening on URL" from stderr, which the web workers log to as well:
    the line and its newline must leave in one write, or a worker's line can glue itself on."""
    from service.infra import logs

    class Recorded:
        def __init__(self) -> None:
            self.writes: list[str] = []

        def write(self, text: str) -> int:
            self.writes.append(text)
            return len(text)

        def flush(self) -> None:
            pass

    recorded = Recorded()
    monkeypatch.setattr(sys, "stderr", recorded)
    logs.say("lessonloop: web listening on http://127.0.0.1:8000")
    assert recorded.writes == ["lessonloop: web listening on http://127.0.0.1:8000\n"]
