"""The lesson template: the sections a lesson has, with their prompts, and the header of the
stub, read from a template file. The format is described in ``config/lesson_template.md``, the
built-in default; reading it is the only thing in ``service.lesson`` that touches a file."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from service.lesson.text import (
    drop_comments,
    expand_contractions,
    heading_key,
    normalise_newlines,
    strip_blank_edges,
    unify_quotes,
)

HEADER_PLACEHOLDERS = frozenset(
    {
        "incident",
        "title",
        "url",
        "ref",
        "priority",
        "service",
        "opened",
        "closed",
        "duration",
        "responders",
        "details",
        "timeline",
    }
)

_KEY = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Section:
    """One section of the lesson: its stored key, heading, one-line prompt and whether it is needed."""

    key: str
    title: str
    prompt: str
    required: bool = True
    aliases: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Every heading that names this section, normalised for comparison."""
        return tuple(dict.fromkeys(heading_key(n) for n in (self.title, *self.aliases, self.key.replace("_", " "))))


@dataclass(frozen=True)
class LessonTemplate:
    """A header (Markdown with ``{placeholders}``) and the sections, in the order they are shown."""

    header: str
    sections: tuple[Section, ...]
    source: str = "<built-in>"

    def section(self, key: str) -> Section:
        for section in self.sections:
            if section.key == key:
                return section
        raise KeyError(key)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(s.key for s in self.sections)


def default_template_path() -> Path:
    """The built-in template, shipped as package data of ``config``."""
    return Path(str(resources.files("config").joinpath("lesson_template.md")))


def load_template(path: str | None) -> LessonTemplate:
    """The template at ``path``, or the built-in one for None.

    Raises ValueError naming the file and line when the file cannot be read or is malformed, so
    that ``lessonloop check`` can say what to fix before any review is opened with it."""
    if path is None:
        return _default_template()
    return _read_template(Path(path))


@lru_cache(maxsize=1)
def _default_template() -> LessonTemplate:
    return _read_template(default_template_path(), source="<built-in>")


def _read_template(path: Path, source: str | None = None) -> LessonTemplate:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"lesson template {path}: cannot read it: {error}") from error
    return parse_template(text, source=source or str(path))


_TEMPLATE_SECTION = re.compile(r"^##[ \t]+(?P<title>\S.*?)[ \t]*#*[ \t]*$")
_TEMPLATE_DEEPER = re.compile(r"^#{3,6}[ \t]")
_HINT = re.compile(r"^<!--(?P<body>.*)-->$")
PLACEHOLDER = re.compile(r"\{\{|\}\}|\{(?P<name>[^{}]*)\}|[{}]")


def parse_template(text: str, source: str = "<string>") -> LessonTemplate:
    """A template from the text of a template file (format: see ``config/lesson_template.md``)."""
    text = drop_comments(normalise_newlines(text), keep_one_line=True)
    lines = text.split("\n")
    first = next((i for i, line in enumerate(lines) if _TEMPLATE_SECTION.match(line)), None)
    if first is None:
        raise ValueError(f"lesson template {source}: no sections: start each one with a '## Title' line")
    header = _template_header("\n".join(lines[:first]), source)
    sections: list[Section] = []
    start = first
    while start < len(lines):
        end = next((i for i in range(start + 1, len(lines)) if _TEMPLATE_SECTION.match(lines[i])), len(lines))
        sections.append(_template_section(lines, start, end, source))
        start = end
    _check_unique(sections, source)
    return LessonTemplate(header=header, sections=tuple(sections), source=source)


def _template_header(text: str, source: str) -> str:
    header = drop_comments(text)
    if "<!--" in header or "-->" in header:
        raise ValueError(
            f"lesson template {source}: header: an HTML comment is not closed, or closed twice (comments do not nest)"
        )
    for match in PLACEHOLDER.finditer(header):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        name = match.group("name")
        if name is None:
            raise ValueError(f"lesson template {source}: header: a lone {token!r}; write {token * 2} for a literal one")
        if name not in HEADER_PLACEHOLDERS:
            known = ", ".join("{" + n + "}" for n in sorted(HEADER_PLACEHOLDERS))
            raise ValueError(f"lesson template {source}: header: unknown placeholder {{{name}}}; known: {known}")
    return strip_blank_edges(header)


def _template_section(lines: list[str], start: int, end: int, source: str) -> Section:
    heading = _TEMPLATE_SECTION.match(lines[start])
    assert heading is not None  # the caller found this line by that pattern
    title = _strip_emphasis(heading["title"]).strip()
    where = f"lesson template {source}: line {start + 1} ('## {title}')"
    hints: dict[str, str] = {}
    prompt: str | None = None
    for number in range(start + 1, end):
        line = lines[number].strip()
        if not line:
            continue
        hint = _HINT.match(line)
        if hint and prompt is None:
            hints.update(_parse_hint(hint["body"], f"lesson template {source}: line {number + 1}"))
        elif _TEMPLATE_DEEPER.match(line):
            raise ValueError(f"lesson template {source}: line {number + 1}: section headings use '## ', not {line!r}")
        elif prompt is None:
            prompt = _strip_emphasis(line).strip()
        else:
            raise ValueError(
                f"lesson template {source}: line {number + 1}: a section has one prompt line; "
                f"{line!r} follows the prompt of '{title}'"
            )
    if not prompt:
        raise ValueError(f"{where}: no prompt: put a one-line prompt on the line after the heading")
    key = hints.get("key") or _key_for(title)
    if not _KEY.match(key):
        raise ValueError(f"{where}: key {key!r} must be lower case letters, digits and underscores")
    required = _parse_bool(hints.get("required", "true"), where)
    aliases = tuple(a.strip() for a in hints.get("aliases", "").split(",") if a.strip())
    return Section(key=key, title=title, prompt=prompt, required=required, aliases=aliases)


def _parse_hint(body: str, where: str) -> dict[str, str]:
    hints: dict[str, str] = {}
    for part in body.split(";"):
        if not part.strip():
            continue
        name, sep, value = part.partition(":")
        name = name.strip().lower()
        if not sep or name not in ("key", "required", "aliases"):
            raise ValueError(f"{where}: hint {part.strip()!r} is not 'key: …', 'required: …' or 'aliases: …'")
        hints[name] = value.strip()
    return hints


def _parse_bool(value: str, where: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "yes"):
        return True
    if lowered in ("false", "no"):
        return False
    raise ValueError(f"{where}: required must be true or false, not {value!r}")


def _key_for(title: str) -> str:
    """A stored key from a title with no explicit ``key`` hint: "Customer impact" -> customer_impact."""
    words = re.findall(r"[a-z0-9]+", expand_contractions(unify_quotes(title).lower()))
    key = "_".join(words)
    return key if _KEY.match(key) else f"section_{key}"


def _check_unique(sections: list[Section], source: str) -> None:
    keys: set[str] = set()
    names: dict[str, str] = {}
    for section in sections:
        if section.key in keys:
            raise ValueError(f"lesson template {source}: two sections have the key {section.key!r}")
        keys.add(section.key)
        for name in section.names:
            if name in names and names[name] != section.key:
                raise ValueError(
                    f"lesson template {source}: the heading {name!r} would name two sections "
                    f"({names[name]} and {section.key})"
                )
            names[name] = section.key


def _strip_emphasis(text: str) -> str:
    match = re.match(r"^\s*([*_]{1,2})(.+?)\1\s*$", text)
    return match.group(2) if match else text
