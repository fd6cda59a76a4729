"""Settings: the DESIGN example file works as written; every mistake is one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import SettingsError, load_settings
from tests.conftest import RULES_TOML

SECRETS = {
    "LESSONLOOP_GITHUB_WEBHOOK_SECRET": "gh",
    "LESSONLOOP_JIRA_WEBHOOK_SECRET": "ji",
    "LESSONLOOP_PAGERDUTY_WEBHOOK_SECRET": "pd",
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lessonloop.toml"
    path.write_text(text)
    return path


def test_design_example_file_works_as_written(tmp_path: Path) -> None:
    settings = load_settings(SECRETS, write(tmp_path, RULES_TOML))
    assert settings.enabled_sources == ("github", "jira", "pagerduty")
    assert [rule.review for rule in settings.rules] == ["github:acme/postmortems", "jira:OPS", "jira:OPS"]
    assert settings.rules[2].urgency == ("high",)
    assert settings.review.due_days == 5
    assert [note.split(" API ")[0] for note in settings.warnings()] == [
        "the rules need the github",
        "the rules need the jira",
        "the rules need the pagerduty",
    ]
    api = {
        "LESSONLOOP_GITHUB_TOKEN": "t",
        "LESSONLOOP_JIRA_URL": "https://acme.atlassian.net",
        "LESSONLOOP_JIRA_EMAIL": "sre@acme.test",
        "LESSONLOOP_JIRA_API_TOKEN": "j",
        "LESSONLOOP_PAGERDUTY_API_TOKEN": "p",
        "LESSONLOOP_PAGERDUTY_FROM": "sre@acme.test",
    }
    assert load_settings(SECRETS | api, write(tmp_path, RULES_TOML)).warnings() == []


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no lessonloop.toml here
    settings = load_settings({})
    assert settings.redis_url == "redis://localhost:6379/0"
    assert settings.database_url == "sqlite:///lessonloop.db"
    assert settings.enabled_sources == ()
    assert settings.rules == ()
    assert any("no source is enabled" in note for note in settings.warnings())


def test_default_rules_follow_enabled_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(SECRETS)
    assert [(r.source, r.labels, r.issue_types, r.review) for r in settings.rules] == [
        ("github", ("incident",), (), None),
        ("jira", (), ("Incident",), None),
    ]
    assert any("PagerDuty has no tasks" in note for note in settings.warnings())


def test_default_file_in_the_working_directory_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, RULES_TOML)
    monkeypatch.chdir(tmp_path)
    settings = load_settings(SECRETS)
    assert settings.rules_from_file and settings.config_file == "lessonloop.toml"


def test_environment_wins_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, 'redis_url = "redis://file:6379/0"\n[github]\napi_url = "https://ghe.example/api/v3"\n')
    settings = load_settings({"REDIS_URL": "redis://env:6379/1"}, path)
    assert settings.redis_url == "redis://env:6379/1"
    assert settings.github.api_url == "https://ghe.example/api/v3"


def test_a_webhook_secret_is_taken_whole_and_rotates_through_previous(tmp_path: Path) -> None:
    """GitHub's own example secret has a comma: splitting on it made two wrong secrets."""
    secret_file = tmp_path / "pd.secret"
    secret_file.write_text("from-file, one\nsecond line\n\n")
    settings = load_settings(
        {
            "LESSONLOOP_GITHUB_WEBHOOK_SECRET": " It's a Secret, to Everybody ",
            "LESSONLOOP_GITHUB_WEBHOOK_SECRET_PREVIOUS": "old, too",
            "LESSONLOOP_PAGERDUTY_WEBHOOK_SECRET_FILE": str(secret_file),
            "LESSONLOOP_JIRA_AUTOMATION_TOKEN": "a,b",
        },
        None,
    )
    assert [s.get_secret_value() for s in settings.github.webhook_secrets] == [
        "It's a Secret, to Everybody",
        "old, too",
    ]
    assert [s.get_secret_value() for s in settings.pagerduty.webhook_secrets] == ["from-file, one", "second line"]
    assert [s.get_secret_value() for s in settings.jira.automation_tokens] == ["a,b"]
    assert "Everybody" not in repr(settings) and "from-file" not in repr(settings)


def test_marker_keys_stay_comma_separated() -> None:
    settings = load_settings({"LESSONLOOP_MARKER_KEY": "0123456789abcdef0, fedcba98765432100"}, None)
    assert [key.get_secret_value() for key in settings.marker_keys] == ["0123456789abcdef0", "fedcba98765432100"]


def test_the_lessonloop_prefixed_names_of_redis_and_the_store_are_read() -> None:
    settings = load_settings(
        {"LESSONLOOP_REDIS_URL": "redis://queue:6379/2", "LESSONLOOP_DATABASE_URL": "postgresql://u@db/l"}, None
    )
    assert (settings.redis_url, settings.database_url) == ("redis://queue:6379/2", "postgresql://u@db/l")
    same = load_settings({"LESSONLOOP_REDIS_URL": "redis://q:6379/0", "REDIS_URL": "redis://q:6379/0"}, None)
    assert same.redis_url == "redis://q:6379/0"
    with pytest.raises(SettingsError, match=r"^LESSONLOOP_REDIS_URL: REDIS_URL is set too, to another value"):
        load_settings({"LESSONLOOP_REDIS_URL": "redis://a:6379/0", "REDIS_URL": "redis://b:6379/0"}, None)


def test_an_unknown_lessonloop_variable_is_named_with_the_closest_known_one() -> None:
    settings = load_settings(
        {
            "LESSONLOOP_GITHUB_WEBHOOK_SECRET": "s",
            "LESSONLOOP_GITHUB_WEBHOK_SECRET": "typo",
            "LESSONLOOP_NOTHING_LIKE_IT": "x",
            "LESSONLOOP_GITHUB_WEBHOOK_SECRET_PREVIOUS": "known",
            "LESSONLOOP_JIRA_PAT_FILE": "",
            "OTHER_TOOL_SETTING": "not ours",
        },
        None,
    )
    assert settings.environment_notes == (
        "LESSONLOOP_GITHUB_WEBHOK_SECRET is not a lessonloop setting and is ignored "
        "(did you mean LESSONLOOP_GITHUB_WEBHOOK_SECRET?)",
        "LESSONLOOP_NOTHING_LIKE_IT is not a lessonloop setting and is ignored",
    )
    assert settings.environment_notes[0] in settings.warnings()
    assert "typo" not in " ".join(settings.warnings())


def test_a_review_tracker_that_cannot_be_heard_is_warned_about(tmp_path: Path) -> None:
    rules = tmp_path / "lessonloop.toml"
    rules.write_text("[[rules]]\nsource = 'github'\nlabels = ['incident']\nreview = 'jira:OPS'\n")
    settings = load_settings({"LESSONLOOP_GITHUB_WEBHOOK_SECRET": "s"}, rules)
    assert any(
        note.startswith("reviews open in jira, but jira is not enabled: lessons written there are never heard")
        and "LESSONLOOP_JIRA_WEBHOOK_SECRET" in note
        for note in settings.warnings()
    )
    heard = load_settings({"LESSONLOOP_GITHUB_WEBHOOK_SECRET": "s", "LESSONLOOP_JIRA_WEBHOOK_SECRET": "j"}, rules)
    assert not any("never heard" in note for note in heard.warnings())


def test_config_file_from_environment_must_exist(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="LESSONLOOP_CONFIG: no such file"):
        load_settings({"LESSONLOOP_CONFIG": str(tmp_path / "missing.toml")})


@pytest.mark.parametrize(
    ("env", "toml", "message"),
    [
        ({"REDIS_URL": "http://localhost"}, "", r"^REDIS_URL: must start with redis://"),
        ({"DATABASE_URL": "mysql://x"}, "", r"^DATABASE_URL: must be sqlite"),
        ({"LESSONLOOP_GITHUB_API_URL": "api.github.com"}, "", r"^LESSONLOOP_GITHUB_API_URL: must be an http"),
        ({"LESSONLOOP_MAX_BODY_BYTES": "lots"}, "", r"^LESSONLOOP_MAX_BODY_BYTES: "),
        ({"LESSONLOOP_MAX_BODY_BYTES": "0"}, "", r"^LESSONLOOP_MAX_BODY_BYTES: "),
        ({"LESSONLOOP_JIRA_EMAIL": "sre@acme.test"}, "", r"LESSONLOOP_JIRA_API_TOKEN is required"),
        (
            {"LESSONLOOP_JIRA_EMAIL": "a@b", "LESSONLOOP_JIRA_API_TOKEN": "t", "LESSONLOOP_JIRA_PAT": "p"},
            "",
            r"either LESSONLOOP_JIRA_PAT",
        ),
        ({"LESSONLOOP_MARKER_KEY": ","}, "", r"^LESSONLOOP_MARKER_KEY: is set but holds no"),
        ({"LESSONLOOP_GITHUB_TOKEN_FILE": "/nonexistent/token"}, "", r"^LESSONLOOP_GITHUB_TOKEN_FILE: cannot read"),
        (
            {},
            "[[rules]]\nsource = 'github'\n",
            r"rules\[1\] is for source 'github', which is not enabled: "
            r"set LESSONLOOP_GITHUB_WEBHOOK_SECRET",
        ),
        (SECRETS, "[[rules]]\nsource = 'pagerduty'\nurgency = ['high']\n", r"PagerDuty has no tasks"),
        (SECRETS, "[[rules]]\nsource = 'github'\nreview = 'gitlab:x/y'\n", r"rules\[1\]\.review: .*github:<owner>"),
        (
            SECRETS,
            "[[rules]]\nsource = 'github'\nlables = ['incident']\n",
            r"rules\[1\]\.lables: unknown key \(did you mean 'labels'\?\)$",
        ),
        (SECRETS, "[[rules]]\nsource = 'trello'\n", r"rules\[1\]\.source: "),
        (SECRETS, "[review]\ndue_days = -1\n", r"review\.due_days: "),
        (SECRETS, "[review]\ntemplate = '/nonexistent.md'\n", r"template file not found"),
        (SECRETS, "[github]\ntoken = 'ghp_x'\n", r"secrets are read only from the environment"),
        (SECRETS, "[jira]\napi_token = 'x'\n", r"secrets are read only from the environment"),
        (SECRETS, "colour = 'blue'\n", r"unknown setting 'colour'"),
        (SECRETS, "[[rules]\n", r"not valid TOML"),
    ],
)
def test_each_mistake_is_one_line_naming_the_setting(
    tmp_path: Path, env: dict[str, str], toml: str, message: str
) -> None:
    path = write(tmp_path, toml) if toml else None
    with pytest.raises(SettingsError, match=message) as caught:
        load_settings(env, path)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("toml", "said"),
    [
        ("[[rules]]\nsource = 'github'\ndue_day = 3\n", "rules[1].due_day: unknown key (did you mean 'due_days'?)"),
        ("[review]\nlabels = 3\n", "review.labels: must be a list of strings"),
        ("[[rules]]\nsource = 'github'\nlabels = [1]\n", "rules[1].labels: must be a list of strings"),
        ("[review]\ndue_days = 'x'\n", "review.due_days: must be a whole number"),
        ("[followups]\ndue_day = 3\n", "unknown setting 'followups.due_day' (did you mean 'followups.due_days'?)"),
        ("[reviews]\ndue_days = 3\n", "unknown setting 'reviews' (did you mean 'review'?)"),
    ],
)
def test_mistakes_are_said_in_the_settings_words_not_pydantics(tmp_path: Path, toml: str, said: str) -> None:
    path = tmp_path / "lessonloop.toml"
    path.write_text(toml)
    with pytest.raises(SettingsError) as raised:
        load_settings(SECRETS, path)
    assert str(raised.value) == f"{path}: {said}"
