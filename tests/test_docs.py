"""The reference pages say what the code does: every setting, variable and command documented,
and nothing documented that the code does not have.

docs/settings.md's table "Every setting" and its rules table, and docs/commands.md's command
table, are read as written (backticked names in their columns) and compared with what the
settings loader accepts and what ``lessonloop --help`` lists."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from config.rules import ReviewDefaults, Rule
from config.settings import environment_names, file_keys, known_variables
from service.entry.cli import _parser

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _table(markdown: str, heading: str) -> list[list[str]]:
    """The rows (cells) of the first table after ``heading``."""
    lines = markdown[markdown.index(heading) :].splitlines()
    rows: list[list[str]] = []
    for line in lines if heading.startswith("|") else lines[1:]:
        if line.startswith("|"):
            cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if not all(set(cell) <= set("-: ") for cell in cells):
                rows.append(cells)
        elif rows:
            break
    return rows[1:]  # the header row is no setting


def _ticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def _documented_settings() -> tuple[set[str], set[str]]:
    """The variables and the TOML keys (``table.key``, or a top-level key) the table names."""
    variables: set[str] = set()
    keys: set[str] = set()
    for row in _table((DOCS / "settings.md").read_text(), "## Every setting"):
        variables |= {name for name in _ticked(row[0]) if re.fullmatch(r"[A-Z][A-Z0-9_]+", name)}
        table = ""
        for name in _ticked(row[1]):
            found = re.fullmatch(r"\[{1,2}(\w+)\]{1,2}(?: (\w+))?", name)
            if found:
                table = found.group(1)
                keys.add(f"{table}.{found.group(2)}" if found.group(2) else table)
            elif re.fullmatch(r"\w+", name):
                keys.add(f"{table}.{name}" if table else name)
    return variables, keys


def test_every_environment_variable_is_documented_and_every_documented_one_exists() -> None:
    documented, _ = _documented_settings()
    wanted = set(environment_names())
    assert sorted(wanted - documented) == [], "missing from docs/settings.md"
    assert sorted(documented - known_variables() - {"REDIS_URL", "DATABASE_URL"}) == [], "documented, not read"


def test_every_settings_file_key_is_documented_and_every_documented_one_exists() -> None:
    _, documented = _documented_settings()
    tables = file_keys()
    accepted = {f"{table}.{key}" for table, keys in tables.items() if table for key in keys}
    accepted |= {key for key in tables[""] if key != "review"}  # [review] is the rules' own model
    accepted |= {f"review.{key}" for key in ReviewDefaults.model_fields}
    assert sorted(accepted - documented) == [], "missing from docs/settings.md"
    assert sorted(documented - accepted) == [], "documented, but the settings file refuses it"


def test_every_rule_key_is_documented() -> None:
    rows = _table((DOCS / "settings.md").read_text(), "| key | meaning |")
    documented = {name for row in rows for name in _ticked(row[0]) if re.fullmatch(r"\w+", name)}
    keys = set(Rule.model_fields) | {field.alias for field in Rule.model_fields.values() if field.alias}
    assert sorted(keys - documented) == [], "rule keys missing from docs/settings.md"
    assert sorted(documented - keys) == [], "documented rule keys the rules refuse"


def _help(*args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        _parser().parse_args([*args, "--help"])
    return out.getvalue()


def _commands() -> set[str]:
    """Every command ``lessonloop --help`` lists, with the subcommands of a command group."""
    found: set[str] = set()
    for name in re.findall(r"^    (\w+)  ", _help(), re.MULTILINE):
        subcommands = re.findall(r"^    (\w+)  ", _help(name), re.MULTILINE)
        found |= {f"{name} {sub}" for sub in subcommands} or {name}
    return found


def test_every_command_is_documented_and_every_documented_one_exists() -> None:
    rows = _table((DOCS / "commands.md").read_text(), "| command | does |")
    documented = set()
    for row in rows:
        for usage in _ticked(row[0]):
            words = usage.split()
            if words and words[0] == "lessonloop":
                named = [word for word in words[1:3] if re.fullmatch(r"[a-z]+", word)]
                documented.add(" ".join(named[: next((i for i, w in enumerate(words[1:3]) if w not in named), 2)]))
    commands = _commands()
    assert sorted(commands - documented) == [], "commands missing from docs/commands.md"
    assert sorted(documented - commands) == [], "documented commands lessonloop does not have"


def test_the_top_level_help_names_every_command() -> None:
    description = " ".join(_help().split())
    listed = {command.split()[0] for command in _commands()}
    missing = [command for command in sorted(listed) if f" {command}," not in description.replace(".", ",")]
    assert missing == []


def test_compose_passes_every_setting_and_reads_the_operators_rules() -> None:
    """docker-compose.yml as its header says to run it: with ./lessonloop.toml (from
    `lessonloop init`), every variable lessonloop reads passed through, and restarts."""
    import yaml

    compose = yaml.safe_load((DOCS.parent / "docker-compose.yml").read_text())
    for name in ("web", "worker"):
        service = compose["services"][name]
        assert service["restart"] == "unless-stopped"
        assert "./lessonloop.toml:/config/lessonloop.toml:ro" in service["volumes"]
        passed = set(service["environment"])
        wanted = known_variables() - {"LESSONLOOP_REDIS_URL", "LESSONLOOP_DATABASE_URL"}
        assert sorted(wanted - passed) == [], f"{name} does not pass these"
