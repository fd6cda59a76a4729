"""``lessonloop import``: the post-incident reviews a team wrote before lessonloop, into the
learning log, so that related-lesson search has history from the first day.

A review is read with the same tolerant parser as a live one (sections found by their titles and
aliases); text under headings the template does not know is kept under "Other notes". Imports
are idempotent (a review already in the log is skipped), post nothing on any tracker unless asked
to share, and say for every item what happened to it.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import Engine

from service import lesson
from service.domain.events import Item, ItemRef, ReviewMarkup, review_markup
from service.lesson.text import drop_comments, heading_key, normalise_newlines
from service.store import lessons
from service.store.deliveries import now
from service.store.engine import begin_write, insert
from service.store.schema import imports
from service.text import markers
from service.trackers.registry import TRACKERS, dialect_of, markup_of, project_of

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
        entry = TRACKERS.get(kind)
        if entry is not None and entry.review_kind and entry.project_shape and entry.project_shape.fullmatch(where):
            return cls(entry.review_kind, where)
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


def from_items(items: list[Item], keys: markers.MarkerKeys | None, own_author: str = "") -> Iterator[Candidate]:
    """Tracker issues as candidates. A review lessonloop opened names its incident in its
    marker; the marker counts only when it verifies and the tracker says ``own_author``
    (lessonloop's identity there) wrote the issue: on anyone else's issue a marker copied from a
    real review is text, and the issue's lesson is about that issue."""
    for item in items:
        incident = ""
        if keys is not None and own_author and item.author == own_author:
            where = markers.container_of(item.ref.source, project_of(item.ref))
            marker = keys.find_kind(item.body, where, markers.REVIEW)
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
    """Every ``*.md`` regular file under ``folder``, one review each; its title is its first
    heading, its date the one it states (front matter ``date:`` or a ``Date:`` line), else the
    file's modification time. Symbolic links are not followed, to a file or a folder: an import
    reads what is in the folder it was given, never a file elsewhere (or ``/dev/zero``)."""
    if folder.is_symlink() or not folder.is_dir():
        raise ValueError(f"markdown:{folder}: not a folder")
    for path in _markdown_files(folder):
        ref = f"markdown:{path.relative_to(folder).as_posix()}"
        if path.is_symlink():
            yield Outcome(ref, "skipped", "a symbolic link: not followed")
            continue
        try:
            text = _read_limited(path)
        except UnicodeDecodeError:
            yield Outcome(ref, "failed", "not UTF-8 text")
            continue
        except _NotAReview as error:
            yield Outcome(ref, "failed", str(error))
            continue
        except OSError as error:
            yield Outcome(ref, "failed", f"cannot read it: {error.strerror}")
            continue
        title = next((line.lstrip("#").strip() for line in text.splitlines() if line.startswith("# ")), path.stem)
        written = stated_date(text) or datetime.fromtimestamp(path.lstat().st_mtime, UTC)
        yield Candidate(ref, title, "", text, written, "markdown")


class _NotAReview(Exception):
    """A file that cannot be a review (too large, not a regular file): said in its outcome."""


def _markdown_files(folder: Path) -> list[Path]:
    found = []
    for root, folders, files in os.walk(folder, followlinks=False):
        folders[:] = sorted(name for name in folders if not (Path(root) / name).is_symlink())
        found += [Path(root) / name for name in files if name.endswith(".md")]
    return sorted(found)


def _read_limited(path: Path) -> str:
    """The file's text, read through a descriptor opened without following a link, checked to
    be a regular file, and read to at most one byte past the limit (a size from ``stat`` can
    change before the read)."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise _NotAReview("not a regular file")
        data = handle.read(MARKDOWN_LIMIT + 1)
    if len(data) > MARKDOWN_LIMIT:
        raise _NotAReview(f"larger than {MARKDOWN_LIMIT // 1024} KiB: not a review")
    return data.decode("utf-8")


_FRONT_MATTER_DATE = re.compile(r"^date:[ \t]*['\"]?(\d{4}-\d{2}-\d{2})", re.IGNORECASE)
_DATE_LINE = re.compile(r"^[ \t>*_-]*date[*_ \t]*:[*_ \t]*(\d{4}-\d{2}-\d{2})", re.IGNORECASE)
_DATE_LINES_READ = 40


def stated_date(text: str) -> datetime | None:
    """The date a post-mortem states for itself: ``date:`` in its front matter, or a ``Date:``
    line (``**Date:** 2015-10-21``) among its first lines; None when it states none."""
    lines = text.split("\n", _DATE_LINES_READ)[:_DATE_LINES_READ]
    if lines and lines[0].strip() == "---":
        for line in lines[1:]:
            if line.strip() == "---":
                break
            found = _FRONT_MATTER_DATE.match(line)
            if found:
                return _day(found.group(1))
    for line in lines:
        found = _DATE_LINE.match(line)
        if found:
            return _day(found.group(1))
    return None


def _day(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None


FORMAT_HEADINGS: dict[str, tuple[str, ...]] = {
    "what_happened": ("Description", "Overview", "Impact", "Customer impact", "Detection", "Resolution"),
    "what_we_expected": ("Expected behaviour", "Expected behavior"),
    "why_different": ("Root causes", "Root cause", "Trigger", "Contributors", "Causes", "Root cause analysis"),
    "what_we_learned": ("Learnings and risks", "Lessons", "Takeaways"),
    "what_we_will_change": ("Tasks", "Remediations", "Corrective actions", "Action items and follow ups"),
}
"""Headings of the common post-mortem formats (the Google SRE book's template, incident.io's
and FireHydrant's Markdown exports) that stand for one of the built-in template's sections,
beyond the aliases the template itself knows. Several may fill one section: each keeps its own
heading as a bold line inside it. No format has a "What we expected"; an import of one says it
is missing rather than invent it."""

_ANY_HEADING = re.compile(r"^( {0,3}#{2,6}|[ \t]*h[2-6]\.)[ \t]+(.*)$")


def relabel(text: str, template: lesson.LessonTemplate, markup: ReviewMarkup) -> str:
    """``text`` with each heading of a known format that names a template section (see
    :data:`FORMAT_HEADINGS`) turned into that section's own heading, its original title kept
    below it as a bold line. A heading the template already knows is left as it is."""
    known = {name for section in template.sections for name in section.names}
    by_heading = {
        heading_key(heading): section
        for section in template.sections
        for heading in FORMAT_HEADINGS.get(section.key, ())
    }
    out: list[str] = []
    for line in normalise_newlines(text).split("\n"):
        heading = _ANY_HEADING.match(line) if len(line) < 200 else None
        section = by_heading.get(heading_key(heading.group(2))) if heading else None
        if heading is None or section is None or heading_key(heading.group(2)) in known:
            out.append(line)
            continue
        title = heading.group(2).strip()
        out.append(f"{heading.group(1)} {section.title}")
        out.append(dialect_of(markup).strong(title))
    return "\n".join(out)


def other_notes(text: str, template: lesson.LessonTemplate, markup: ReviewMarkup) -> str:
    """Text under headings that name no section of the template, each under its heading. A
    heading nested inside a section (``### What went well`` under ``## Lessons learned``) is
    part of that section, not a note of its own."""
    names = {name for section in template.sections for name in section.names}
    kept: list[str] = []
    current: list[str] | None = None
    section_level = 0  # the level of the template section the lines belong to; 0: none
    for line in drop_comments(normalise_newlines(text)).split("\n"):
        heading = re.match(r"^ {0,3}(#{2,6})\s+(.*)$|^\s*h([2-6])\.\s+(.*)$", line)
        if heading:
            level = len(heading.group(1)) if heading.group(1) else int(heading.group(3))
            title = (heading.group(2) or heading.group(4) or "").strip()
            if heading_key(title) in names:
                current, section_level = None, level
                continue
            if section_level and level > section_level:
                continue  # a subsection of a template section: the parser keeps it there
            section_level = 0
            current = [title]
            kept.append("")
            kept.append(dialect_of(markup).strong(title))
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
    body = relabel(candidate.body, template, candidate.markup)
    parsed = lesson.parse_lesson(body, template)
    sections = dict(parsed.sections)
    if not any(sections.values()):
        return Outcome(candidate.ref, "skipped", "none of the lesson's sections is written")
    notes = other_notes(body, template, candidate.markup)
    if notes:
        sections[OTHER_NOTES] = notes
    incident = candidate.incident or candidate.ref
    missing = f"missing {', '.join(parsed.missing)}" if parsed.missing else ""
    if dry_run:
        return Outcome(candidate.ref, "imported", missing)
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
    return Outcome(candidate.ref, "imported", missing)


def incident_of(outcome_ref: str, engine: Engine) -> ItemRef | None:
    """The incident an imported lesson is about, when it is a tracker item other than the review."""
    kept = lessons.get(engine, outcome_ref)
    if kept is None or kept.incident_ref == kept.review_ref:
        return None
    try:
        return ItemRef.parse(kept.incident_ref)
    except ValueError:
        return None
