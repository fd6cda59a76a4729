"""The rules file's shape: which closed incidents get a review, and where it is opened.

A rule's match fields are all optional; an empty one matches anything, a filled one matches
when any of its values matches (case-insensitively). The first rule that matches decides.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from config.sources import Source

ReviewSource = Literal["github", "jira"]
"""The trackers a review can be opened in: those with tasks (PagerDuty has none)."""

_REVIEW_TARGET = re.compile(r"^(jira:[A-Z][A-Z0-9_]*|github:[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)$")
_SHARE = re.compile(r"^(jira:[A-Z0-9_*?]+|github:[A-Za-z0-9_.*?-]+/[A-Za-z0-9_.*?-]+|pagerduty)$")


def share_pattern(text: str) -> str:
    """One entry of a ``share`` list, as written: ``github:OWNER/REPO`` or ``jira:KEY``, where
    ``*`` and ``?`` are globs (``github:globex/*``); ValueError for anything else. A Jira key is
    compared in capitals, so ``jira:ops`` is ``jira:OPS``."""
    pattern = text.strip()
    if pattern.startswith("jira:"):
        pattern = "jira:" + pattern.removeprefix("jira:").upper()
    if not _SHARE.match(pattern):
        raise ValueError(
            f"share entries are 'github:<owner>/<repo>' or 'jira:<PROJECT KEY>' (* and ? as globs), got {text!r}"
        )
    return pattern


def share_patterns(value: tuple[str, ...]) -> tuple[str, ...]:
    """A whole ``share`` list, each entry checked, each once."""
    return tuple(dict.fromkeys(share_pattern(entry) for entry in value))


def one_or_many(value: object) -> object:
    """A list setting written as one string (``labels = "sev1"``) is that one value."""
    return (value,) if isinstance(value, str) else value


SharePatterns = Annotated[tuple[str, ...], BeforeValidator(one_or_many), AfterValidator(share_patterns)]
"""A ``share`` list (``[lesson] share``, a rule's ``share``): one pattern or many, each checked."""


@dataclass(frozen=True)
class ReviewTarget:
    """Where reviews open: a GitHub repository or a Jira project (PagerDuty has no tasks)."""

    source: ReviewSource
    container: str  # "owner/repo" or "OPS"

    @classmethod
    def parse(cls, text: str) -> ReviewTarget:
        """``github:owner/repo`` or ``jira:KEY``; ValueError for anything else."""
        if not _REVIEW_TARGET.match(text):
            raise ValueError(f"review must be 'jira:<PROJECT KEY>' or 'github:<owner>/<repo>', got {text!r}")
        source, container = text.split(":", 1)
        return cls("github" if source == "github" else "jira", container)

    def __str__(self) -> str:
        return f"{self.source}:{self.container}"


def _review_target(text: str) -> str:
    """``text`` as written, once :meth:`ReviewTarget.parse` takes it (else its ValueError)."""
    ReviewTarget.parse(text)
    return text


TargetText = Annotated[str, AfterValidator(_review_target)]
"""A review target as the settings write it (``jira:OPS``, ``github:owner/repo``), checked on reading."""


def _template_exists(path: str) -> str:
    if not Path(path).is_file():
        raise ValueError(f"template file not found: {path}")
    return path


TemplatePath = Annotated[str, AfterValidator(_template_exists)]
"""The path of a lesson template file, which must exist when the settings are read."""


class ReviewDefaults(BaseModel):
    """The ``[review]`` table: how every review is opened unless a rule says otherwise."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    due_days: int = Field(5, ge=0, le=365)
    labels: tuple[str, ...] = ("post-incident-review",)
    jira_issue_type: str = "Task"
    template: TemplatePath | None = None
    """Path of a file that replaces the built-in lesson template."""
    assign_from_incident: bool = True
    related_lessons: int = Field(3, ge=0, le=20)
    """How many past lessons like the incident go into the review's header (0: none)."""
    timeline_entries: int = Field(30, ge=0, le=1000)
    """How many lines of the incident's history go into the review's header (0: none)."""
    related_from: tuple[str, ...] = ()
    """Review targets (``github:owner/repo``, ``jira:KEY``) whose lessons may appear as related in
    a new review's header, besides the new review's own; empty: its own only. A lesson kept in
    a private repository's reviews never shows up in a public one unless the operator says so."""

    @field_validator("related_from", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return one_or_many(value)

    @field_validator("related_from")
    @classmethod
    def _targets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(str(ReviewTarget.parse(entry.strip())) for entry in value))


class Rule(BaseModel):
    """One ``[[rules]]`` entry."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    source: Source
    name: str | None = None
    labels: tuple[str, ...] = ()
    issue_types: tuple[str, ...] = ()
    priorities: tuple[str, ...] = Field((), alias="priority")
    urgency: tuple[str, ...] = ()
    services: tuple[str, ...] = Field((), alias="service")
    projects: tuple[str, ...] = Field((), alias="project")
    review: TargetText | None = None
    """``jira:<PROJECT>`` or ``github:<owner>/<repo>``; empty means beside the incident."""
    due_days: int | None = Field(None, ge=0, le=365)
    review_labels: tuple[str, ...] | None = None
    jira_issue_type: str | None = None
    template: TemplatePath | None = None
    followup_due_days: int | None = Field(None, ge=0, le=3650)
    """Days after the lesson its follow-ups are due; unset: ``[followups] due_days``."""
    skip_resolutions: tuple[str, ...] | None = None
    """Closes that are not incidents, by the tracker's resolution (GitHub's ``state_reason``,
    Jira's resolution name, ``merged`` for a PagerDuty incident merged into another), matched
    case-insensitively; unset: :data:`DEFAULT_SKIP_RESOLUTIONS` for the rule's source. A list
    replaces the default, so keep ``Duplicate`` in one that adds ``Won't Do``."""
    share: SharePatterns = ()
    """Repositories and projects beyond the rule's own scope that its lessons may reach (shared
    on, adopted as follow-ups, reminded), as ``github:owner/repo`` or ``jira:KEY`` globs; adds
    to ``[lesson] share``. See ``service.loop.scope``."""

    @field_validator(
        "labels",
        "issue_types",
        "priorities",
        "urgency",
        "services",
        "projects",
        "review_labels",
        "skip_resolutions",
        mode="before",
    )
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return one_or_many(value)

    @property
    def target(self) -> ReviewTarget | None:
        """Where this rule opens reviews; None: beside the incident."""
        return None if self.review is None else ReviewTarget.parse(self.review)

    @model_validator(mode="after")
    def _pagerduty_needs_a_target(self) -> Rule:
        if self.source == "pagerduty" and self.review is None:
            raise ValueError(
                'PagerDuty has no tasks: a pagerduty rule needs review = "jira:KEY" or "github:owner/repo"'
            )
        return self

    @property
    def label(self) -> str:
        return self.name or f"{self.source} rule"

    @property
    def skipped_resolutions(self) -> tuple[str, ...]:
        """The resolutions this rule does not review (its own list, or its source's default)."""
        if self.skip_resolutions is not None:
            return self.skip_resolutions
        return DEFAULT_SKIP_RESOLUTIONS[self.source]


DEFAULT_SKIP_RESOLUTIONS: dict[str, tuple[str, ...]] = {
    "github": ("duplicate",),
    "jira": ("Duplicate",),
    "pagerduty": ("merged",),
}
"""A duplicate or a merge closes an item, but the incident lives on elsewhere: reviewing it
would split one incident's lesson in two."""


def default_rules(enabled_sources: Iterable[str]) -> list[Rule]:
    """The rules in force when the file has none: GitHub issues labelled ``incident`` and Jira
    issues of type ``Incident``, reviewed beside the incident. PagerDuty gets none, because only
    the operator can say where its reviews go."""
    enabled = set(enabled_sources)
    rules = []
    if "github" in enabled:
        rules.append(Rule(source="github", name="default github", labels=("incident",)))
    if "jira" in enabled:
        rules.append(Rule(source="jira", name="default jira", issue_types=("Incident",)))
    return rules
