"""``lessonloop import``: the post-incident reviews a team wrote before lessonloop, into the
learning log, so that related-lesson search has history from the first day.

A review is read with the same tolerant parser as a live one (sections found by their titles and
aliases); text under headings the template does not know is kept under "Other notes". Imports
are idempotent (a review already in the log is skipped), post nothing on any tracker unless asked
to share, and say for every item what happened to it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import Engine, select

from service import lesson, markers
from service.events import Item, ItemRef, ReviewMarkup, review_markup
from service.lesson.text import drop_comments, heading_key, normalise_newlines
from service.store import lessons
from service.store.deliveries import now
from service.store.engine import begin_write, insert
from service.store.schema import imports
from service.trackers.registry import markup_of

OTHER_NOTES = "other_notes"
MARKDOWN_LIMIT = 1024 * 1024  # a file larger than this is no review


@dataclass(frozen=True)
class ImportSource:
    kind: Literal["github", "jira", "markdown"]
    where: str  # "owner/repo", "OPS", or a folder

    def __str__(self) -> str:
        return f"{self.kind}:{self.where}"

    @classmethod
    def parse(cls, text: str) -> ImportSource:
        kind, _, where = text.partition(":")
        if kind == "github" and re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", where):
            return cls("github", where)
        if kind == "jira" and re.fullmatch(r"[A-Z][A-Z0-9_]*", where):
            return cls("jira", where)
        if kind == "markdown" and where:
            return cls("markdown", where)
        raise ValueError(f"not an import source: {text!r} (github:owner/repo, jira:PROJECT or markdown:DIR)")


@dataclass(frozen=True)
class Candidate:
    """One past review, as read: its ref (``github:…``, ``jira:…`` or ``markdown:PATH``)."""

    ref: str
    title: str
    url: str
    body: str
    written_at: datetime | None
    markup: ReviewMarkup
    incident: str = ""


@dataclass(frozen=True)
class Outcome:
    ref: str
    status: Literal["imported", "skipped", "failed"]
    reason: str = ""


def from_items(items: list[Item], keys: markers.MarkerKeys | None) -> Iterator[Candidate]:
    """Tracker issues as candidates; a review lessonloop opened names its incident in its marker."""
    for item in items:
        incident = ""
        if keys is not None:
            marker = keys.find_kind(item.body, markers.container_of(item.ref.source, item.ref.project), markers.REVIEW)
            incident = (marker.get("incident") or "") if marker else ""
        yield Candidate(
            str(item.ref),
            item.title,
            item.url,
            item.body,
            item.closed_at or item.created_at,
            review_markup(markup_of(item.ref.source)),
            incident,
        )


def from_markdown(folder: Path) -> Iterator[Candidate | Outcome]:
    """Every ``*.md`` file under ``folder``, one review each; its title is its first heading."""
    if not folder.is_dir():
        raise ValueError(f"markdown:{folder}: not a folder")
    for path in sorted(folder.rglob("*.md")):
        ref = f"markdown:{path.relative_to(folder).as_posix()}"
        try:
            if path.stat().st_size > MARKDOWN_LIMIT:
                yield Outcome(ref, "failed", f"larger than {MARKDOWN_LIMIT // 1024} KiB: not a review")
                continue
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            yield Outcome(ref, "failed", "not UTF-8 text")
            continue
        except OSError as error:
            yield Outcome(ref, "failed", f"cannot read it: {error.strerror}")
            continue
        title = next((line.lstrip("#").strip() for line in text.splitlines() if line.startswith("# ")), path.stem)
        written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        yield Candidate(ref, title, "", text, written, "markdown")


def other_notes(text: str, template: lesson.LessonTemplate, markup: ReviewMarkup) -> str:
    """Text under headings that name no section of the template, each under its heading."""
    names = {name for section in template.sections for name in section.names}
    kept: list[str] = []
    current: list[str] | None = None
    for line in drop_comments(normalise_newlines(text)).split("\n"):
        heading = re.match(r"^ {0,3}#{2,6}\s+(.*)$|^\s*h[2-6]\.\s+(.*)$", line)
        if heading:
            title = (heading.group(1) or heading.group(2) or "").strip()
            current = [title] if heading_key(title) not in names else None
            if current is not None:
                kept.append("")
                kept.append(f"*{title}*" if markup == "jira" else f"**{title}**")
            continue
        if current is not None and not markers.find(line):
            kept.append(line)
    return "\n".join(kept).strip()


def import_one(
    engine: Engine,
    candidate: Candidate,
    template: lesson.LessonTemplate,
    source: ImportSource,
    dry_run: bool,
    related: Callable[[Candidate], None],
) -> Outcome:
    """Keep one past review in the learning log, unless it is there already or holds no lesson.
    Its incident is the one its marker names, else the review itself (an item the text merely
    mentions may be a follow-up as well as the incident: ``related`` records those as links)."""
    if lessons.get(engine, candidate.ref) is not None:
        return Outcome(candidate.ref, "skipped", "already in the learning log")
    parsed = lesson.parse_lesson(candidate.body, template)
    sections = dict(parsed.sections)
    if not any(sections.values()):
        return Outcome(candidate.ref, "skipped", "none of the lesson's sections is written")
    notes = other_notes(candidate.body, template, candidate.markup)
    if notes:
        sections[OTHER_NOTES] = notes
    incident = candidate.incident or candidate.ref
    missing = f" (missing: {', '.join(parsed.missing)})" if parsed.missing else ""
    if dry_run:
        return Outcome(candidate.ref, "imported", f"would be imported{missing}")
    lessons.save(
        engine,
        review_ref=candidate.ref,
        incident_ref=incident,
        incident_title=candidate.title,
        incident_url=candidate.url,
        priority="",
        review_url=candidate.url,
        sections=sections,
        digest=lesson.lesson_digest(sections),
        incident_closed_at=None,
        captured_at=candidate.written_at,
    )
    with begin_write(engine) as connection:
        connection.execute(
            insert(engine, imports)
            .values(review_ref=candidate.ref, source=str(source), imported_at=now())
            .on_conflict_do_nothing()
        )
    related(candidate)
    return Outcome(candidate.ref, "imported", missing.strip(" ()").replace("missing:", "missing") if missing else "")


def imported_refs(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.execute(select(imports.c.review_ref)).scalars())


def incident_of(outcome_ref: str, engine: Engine) -> ItemRef | None:
    """The incident an imported lesson is about, when it is a tracker item other than the review."""
    kept = lessons.get(engine, outcome_ref)
    if kept is None or kept.incident_ref == kept.review_ref:
        return None
    try:
        return ItemRef.parse(kept.incident_ref)
    except ValueError:
        return None
