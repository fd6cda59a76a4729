"""Reading the lesson back from a review ticket. The parser is deliberately forgiving: people
edit review tickets by hand, in two markups, and paste from other documents; a lesson they wrote
must not be lost to a heading style."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from service.lesson.template import LessonTemplate, Section
from service.lesson.text import (
    BLANKS,
    drop_comments,
    heading_key,
    normalise_newlines,
    strip_blank_edges,
    unify_quotes,
)
from service.text import markers

# What people type to mean "nothing here yet"; a section holding only these is not filled.
PLACEHOLDERS = frozenset(
    {
        "tbd",
        "tba",
        "tbc",
        "todo",
        "to do",
        "n a",
        "na",
        "",
        "xxx",
        "x",
        "fill in",
        "fill me in",
        "placeholder",
        "coming soon",
        "wip",
        "to be done",
        "to be filled",
        "to be written",
    }
)


@dataclass(frozen=True)
class ParsedLesson:
    """What the review ticket says: each section's own text (empty when not filled in), the
    titles of the required sections still missing, and a digest that changes only with content,
    so that re-posting the lesson happens when it was edited and not when whitespace moved."""

    sections: dict[str, str]
    missing: tuple[str, ...]
    complete: bool
    digest: str


@dataclass(frozen=True)
class _Heading:
    key: str | None  # the section it names; None for a heading that names none of them
    level: int  # 1-6 for real headings, 7 for a bold or plain line
    rest: str = ""  # text after "Title:" on the same line


_MD_HEADING = re.compile(r"^ {0,3}(#{1,6})(.*)$")
_JIRA_HEADING = re.compile(r"^[ \t]*h([1-6])\.(.*)$")
_JIRA_HINT = re.compile(r"^[ \t]*(h[1-6]\.[ \t]|\{(code|noformat|panel|quote)\b)", re.M)
_JIRA_LINK_END = re.compile(r"\|https?://")
_JIRA_BOLD_LINE = re.compile(r"^[ \t]*\*[^*\s](?:[^*]*[^*\s])?\*[ \t]*:?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_JIRA_BLOCK = re.compile(r"\{(code|noformat)(?::[^}\n]{0,200})?\}")
_RULE = re.compile(r"^[ \t]*([-=*_])(?:[ \t]*\1){2,}[ \t]*$|^[ \t]*-{4,}[ \t]*$")
_MARKER_FORMS = re.compile(
    r"<!-- ?lessonloop:[^<>]{0,500}?-->"
    r"|\{color[^}]{0,40}\} ?lessonloop:[^{}]{0,500}\{color\}"
    r"|\[lessonloop:[^\]]{0,500}\]"
)


def parse_lesson(text: str, template: LessonTemplate) -> ParsedLesson:
    """The lesson written on a review ticket (GitHub Markdown or Jira wiki markup).

    Tolerates what people do to a ticket: any heading level or a bold line as heading, numbered
    headings, trailing colons, case, contractions and typographic apostrophes, reordered, extra
    and repeated sections, CRLF, prompts left in place. Text outside the template's sections
    (the header, extra sections, lessonloop's markers) is ignored."""
    lines = _clean_source(text).split("\n")
    names = {name: s.key for s in template.sections for name in s.names}
    joined = "\n".join(lines)
    jira = (
        bool(_JIRA_HINT.search(joined))
        or _has_jira_link(joined)
        or any(_JIRA_BOLD_LINE.match(line) and heading_key(line) in names for line in lines)
    )
    collected: dict[str, list[str]] = {s.key: [] for s in template.sections}
    current: str | None = None
    current_level = 0
    for line, fenced in _fence_aware(lines):
        heading = None if fenced else _heading(line, names, jira)
        if heading is not None and heading.key is not None:
            current, current_level = heading.key, heading.level
            if collected[current]:
                collected[current].append("")
            if heading.rest:
                collected[current].append(heading.rest)
        elif heading is not None and current is not None and heading.level <= current_level:
            current = None  # an extra section of the same or higher rank: ignored
        elif current is not None:
            collected[current].append(line)
    sections = {s.key: _section_text(collected[s.key], s) for s in template.sections}
    missing = tuple(s.title for s in template.sections if s.required and not sections[s.key])
    return ParsedLesson(sections=sections, missing=missing, complete=not missing, digest=lesson_digest(sections))


def lesson_digest(sections: Mapping[str, str]) -> str:
    """sha256 of the filled sections, by key, each line stripped at its end and blank lines dropped."""
    normal = [
        [key, "\n".join(line.rstrip() for line in normalise_newlines(sections[key]).split("\n") if line.strip())]
        for key in sorted(sections)
    ]
    payload = json.dumps([pair for pair in normal if pair[1]], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(unicodedata.normalize("NFC", payload).encode("utf-8")).hexdigest()


def _clean_source(text: str) -> str:
    """CRLF, HTML comments (invisible on GitHub) and lessonloop's markers gone."""
    text = drop_comments(normalise_newlines(unicodedata.normalize("NFC", text or "")))
    out = []
    for line in text.split("\n"):
        if markers.find(line):
            line = _MARKER_FORMS.sub("", line)
            if markers.find(line) or not line.strip():
                continue
        out.append(line)
    return "\n".join(out)


def _has_jira_link(text: str) -> bool:
    """Whether ``[title|https://…]`` occurs: found from the ``|http`` end, so that a body full of
    ``[`` costs linear time."""
    for match in _JIRA_LINK_END.finditer(text):
        before = text[max(0, match.start() - 300) : match.start()]
        opening = before.rfind("[")
        if 0 <= opening < len(before) - 1 and not any(c in before[opening:] for c in "]|\n"):
            return True
    return False


def _fence_aware(lines: list[str]) -> Iterator[tuple[str, bool]]:
    """Each line with whether it sits inside a code block (where nothing is a heading)."""
    fence: str | None = None
    jira_block: str | None = None
    for line in lines:
        opener = _FENCE.match(line)
        blocks = _JIRA_BLOCK.findall(line)
        inside = fence is not None or jira_block is not None
        if opener and jira_block is None:
            fence = None if fence == opener.group(1) else (fence or opener.group(1))
            inside = True
        for name in blocks:
            if fence is None:
                jira_block = None if jira_block == name else (jira_block or name)
                inside = True
        yield line, inside


def _heading(line: str, names: Mapping[str, str], jira: bool) -> _Heading | None:
    """The heading this line is, if any: a Markdown or Jira heading (known or not), or a bold,
    numbered or plain line that names a section, possibly followed by ``: text``."""
    if not line.strip():
        return None
    jira_heading = _JIRA_HEADING.match(line)
    if jira_heading:
        key = names.get(heading_key(jira_heading.group(2)))
        if key is not None or re.match(r"^[ \t]*h[1-6]\.[ \t]", line):  # "h2.acme.net is down" is text
            return _Heading(key, int(jira_heading.group(1)))
    md_heading = _MD_HEADING.match(line)
    if md_heading and md_heading.group(2).strip(" \t#"):
        key = names.get(heading_key(md_heading.group(2).rstrip(" \t#")))
        if key is not None:
            return _Heading(key, len(md_heading.group(1)))
        if not jira and re.match(r"^ {0,3}#{1,6}[ \t]", line):
            return _Heading(None, len(md_heading.group(1)))
        return None  # in Jira markup "# item" is a numbered list, not a heading
    key = names.get(heading_key(line))
    if key is not None:
        return _Heading(key, 7)
    label, sep, rest = line.partition(":")
    if sep and rest.strip():
        key = names.get(heading_key(label))
        if key is not None:
            return _Heading(key, 7, re.sub(r"^[*_]+", "", rest).strip())
    return None


def _section_text(lines: list[str], section: Section) -> str:
    """A section's own text: prompt lines, rules and blank edges removed; empty when what is left
    is only a placeholder such as "TBD"."""
    kept = []
    for line in lines:
        if len(line) < 200 and _RULE.match(line):
            continue
        without = _without_prompt(line, section.prompt)
        if without is not None:
            kept.append(without.rstrip())
    text = re.sub(r"\n{3,}", "\n\n", strip_blank_edges("\n".join(kept)))
    return "" if _only_placeholders(text) else text


def _without_prompt(line: str, prompt: str) -> str | None:
    """The line without the section's prompt: None when it was only the prompt, the rest when
    someone typed after the prompt on its own line."""
    stripped = unify_quotes(line.strip())
    wanted = _prompt_key(prompt)
    if not wanted:
        return line
    if _prompt_key(stripped) == wanted:
        return None
    wrapped = re.match(r"^([*_]{1,2})(.+?)\1(?![*_])\s*(.*)$", stripped)
    if wrapped and _prompt_key(wrapped.group(2)) == wanted:
        return wrapped.group(3)
    plain = unify_quotes(prompt.strip())
    if stripped.casefold().startswith(plain.casefold()):
        return stripped[len(plain) :].lstrip(" :-")
    return line


def _prompt_key(text: str) -> str:
    text = unify_quotes(text).replace("\\", "").strip(BLANKS + "*_")
    return " ".join(text.casefold().split())


def _only_placeholders(text: str) -> bool:
    for line in text.split("\n"):
        word = re.sub(r"^\s*(?:[-*+#]+|\d+[.)]|\[[ xX]?\])\s+", "", line)
        word = " ".join(re.findall(r"[^\W_]+", word.casefold()))
        if word not in PLACEHOLDERS:
            return False
    return True
