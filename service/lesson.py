"""The lesson: its template, the stub placed in a review ticket, the parser that reads the lesson
back, and the comments that share it.

Everything here is pure (text in, text out) apart from reading a template file whose path the
caller gives. The parser is deliberately forgiving: people edit review tickets by hand, in two
markups, and paste from other documents; a lesson they wrote must not be lost to a heading style.
The template format is described in ``config/lesson_template.md``, the built-in default.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

from service import markers
from service.events import Item
from service.markup import convert

StubMarkup = Literal["markdown", "jira"]
CommentMarkup = Literal["markdown", "jira", "plain"]

UNKNOWN = "unknown"

# How long one comment may be, per markup: GitHub issue comments take 65,536 characters, Jira's
# text fields 32,767, PagerDuty notes 65,535. The caller attaches a marker afterwards, so keep room.
COMMENT_LIMITS: Mapping[str, int] = {"markdown": 65_536, "jira": 32_767, "plain": 65_535}
MARKER_ROOM = 512

HEADER_PLACEHOLDERS = frozenset(
    {"incident", "title", "url", "ref", "priority", "service", "opened", "closed", "duration", "responders"}
)

# What people type to mean "nothing here yet"; a section holding only these is not filled.
PLACEHOLDERS = frozenset(
    {"tbd", "tba", "tbc", "todo", "to do", "n a", "na", "", "xxx", "x", "fill in", "fill me in",
     "placeholder", "coming soon", "wip", "to be done", "to be filled", "to be written"}
)

_KEY = re.compile(r"^[a-z][a-z0-9_]*$")


# --- template ---------------------------------------------------------------------------------


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
        return tuple(dict.fromkeys(_heading_key(n) for n in (self.title, *self.aliases, self.key.replace("_", " "))))


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
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{(?P<name>[^{}]*)\}|[{}]")


def parse_template(text: str, source: str = "<string>") -> LessonTemplate:
    """A template from the text of a template file (format: see ``config/lesson_template.md``)."""
    text = _drop_comments(_normalise_newlines(text), keep_one_line=True)
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
    header = _drop_comments(text)
    if "<!--" in header or "-->" in header:
        raise ValueError(
            f"lesson template {source}: header: an HTML comment is not closed, or closed twice "
            "(comments do not nest)"
        )
    for match in _PLACEHOLDER.finditer(header):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        name = match.group("name")
        if name is None:
            raise ValueError(f"lesson template {source}: header: a lone {token!r}; write {token * 2} for a literal one")
        if name not in HEADER_PLACEHOLDERS:
            known = ", ".join("{" + n + "}" for n in sorted(HEADER_PLACEHOLDERS))
            raise ValueError(f"lesson template {source}: header: unknown placeholder {{{name}}}; known: {known}")
    return _strip_blank_edges(header)


def _template_section(lines: list[str], start: int, end: int, source: str) -> Section:
    title = _strip_emphasis(_TEMPLATE_SECTION.match(lines[start])["title"]).strip()  # type: ignore[index]
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
    words = re.findall(r"[a-z0-9]+", _expand_contractions(_unify_quotes(title).lower()))
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


# --- the stub ---------------------------------------------------------------------------------


def render_stub(
    incident: Item,
    template: LessonTemplate,
    markup: StubMarkup,
    responders: Sequence[str] = (),
) -> str:
    """The body of a new review ticket: the header filled in for this incident, then every
    section's heading with its prompt in italics. ``responders`` defaults to the incident's
    assignees: the people who responded, never "who caused it"."""
    values = header_values(incident, markup, responders)
    parts = []
    if template.header:
        parts.append(_fill(_header_markup(template.header, markup), values))
    for section in template.sections:
        heading = f"## {section.title}" if markup == "markdown" else f"h2. {section.title}"
        parts.append(f"{heading}\n\n_{section.prompt}_")
    return "\n\n".join(parts) + "\n"


def header_values(incident: Item, markup: CommentMarkup, responders: Sequence[str] = ()) -> dict[str, str]:
    """The placeholder values for one incident, already escaped for ``markup``."""
    people = [p.strip() for p in (responders or incident.assignees) if p and p.strip()]
    title = incident.title.strip() or str(incident.ref)
    values = {
        "incident": _link(f"{incident.ref}: {title}", incident.url, markup),
        "title": _escape(title, markup),
        "url": incident.url or UNKNOWN,
        "ref": str(incident.ref),
        "priority": _escape(incident.priority or incident.urgency or UNKNOWN, markup),
        "service": _escape(incident.service or incident.project or UNKNOWN, markup),
        "opened": format_time(incident.created_at),
        "closed": format_time(incident.closed_at),
        "duration": format_duration(incident.created_at, incident.closed_at),
        "responders": _escape(", ".join(dict.fromkeys(people)), markup) if people else "not recorded",
    }
    return values


def format_time(moment: datetime | None) -> str:
    """``2024-05-02 14:03 UTC``; naive times are taken as UTC (that is what the parsers produce)."""
    if moment is None:
        return UNKNOWN
    return _as_utc(moment).strftime("%Y-%m-%d %H:%M UTC")


def format_duration(start: datetime | None, end: datetime | None) -> str:
    """``1 h 22 min``, ``2 d 3 h``, ``under 1 min``; ``unknown`` when either end is missing or the
    incident "closed" before it opened (trackers do send that: clock skew, reopened items)."""
    if start is None or end is None:
        return UNKNOWN
    seconds = int((_as_utc(end) - _as_utc(start)).total_seconds())
    if seconds < 0:
        return UNKNOWN
    minutes = seconds // 60
    if minutes == 0:
        return "under 1 min"
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    return " ".join(p for p in parts if p)


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


_MD_LINK = re.compile(r"\[([^\]\n]+)\]\(([^)\s]+)\)")
_MD_BOLD = re.compile(r"\*\*(.+?)\*\*")
_MD_LIST = re.compile(r"^([ \t]*)[-+*][ \t]+")
_MD_TITLE = re.compile(r"^(#{1,6})[ \t]+")


def _header_markup(header: str, markup: CommentMarkup) -> str:
    """The template's Markdown header in ``markup``: only the few constructs a header uses."""
    if markup == "markdown":
        return header
    out = []
    for line in header.split("\n"):
        heading = _MD_TITLE.match(line)
        if markup == "jira":
            if heading:
                line = f"h{len(heading.group(1))}. " + line[heading.end():]
            line = _MD_LIST.sub(lambda m: "*" * (1 + len(m.group(1).expandtabs(2)) // 2) + " ", line)
            line = _MD_BOLD.sub(r"*\1*", line)
            line = _MD_LINK.sub(r"[\1|\2]", line)
        else:
            if heading:
                line = line[heading.end():]
            line = _MD_BOLD.sub(r"\1", _MD_LIST.sub(r"\1- ", line))
            line = _MD_LINK.sub(r"\1 (\2)", line)
        out.append(line)
    return "\n".join(out)


def _fill(text: str, values: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        return values.get(match.group("name") or "", token)

    return _PLACEHOLDER.sub(one, text)


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>])")
_JIRA_SPECIAL = re.compile(r"([\\\[\]{}|*_^~+!])")


def _escape(text: str, markup: CommentMarkup) -> str:
    """Text from a tracker (a title, a name) placed in markup without turning into markup."""
    text = " ".join(text.split())
    if markup == "markdown":
        return _MD_SPECIAL.sub(r"\\\1", text)
    if markup == "jira":
        return _JIRA_SPECIAL.sub(r"\\\1", text)
    return text


def _link(text: str, url: str, markup: CommentMarkup) -> str:
    """A link in ``markup``; text alone when there is no usable URL."""
    if not url or not re.match(r"^https?://\S+$", url):
        return _escape(text, markup)
    if markup == "markdown":
        return f"[{_escape(text, markup)}]({url.replace(')', '%29')})"
    if markup == "jira":
        safe = " ".join(text.split()).replace("[", "(").replace("]", ")").replace("|", "/")
        return f"[{safe}|{url.replace(']', '%5D').replace('|', '%7C')}]"
    return f"{' '.join(text.split())} ({url})"


# --- parsing a lesson -------------------------------------------------------------------------


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
    r"<!-- ?lessonloop:[^<>]{0,500}?-->|\{color[^}]{0,40}\} ?lessonloop:[^{}]{0,500}\{color\}|\[lessonloop:[^\]]{0,500}\]"
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
    jira = bool(_JIRA_HINT.search(joined)) or _has_jira_link(joined) or any(
        _JIRA_BOLD_LINE.match(line) and _heading_key(line) in names for line in lines
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
        [key, "\n".join(line.rstrip() for line in _normalise_newlines(sections[key]).split("\n") if line.strip())]
        for key in sorted(sections)
    ]
    payload = json.dumps([pair for pair in normal if pair[1]], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(unicodedata.normalize("NFC", payload).encode("utf-8")).hexdigest()


def _clean_source(text: str) -> str:
    """CRLF, HTML comments (invisible on GitHub) and lessonloop's markers gone."""
    text = _drop_comments(_normalise_newlines(unicodedata.normalize("NFC", text or "")))
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
        before = text[max(0, match.start() - 300):match.start()]
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
        key = names.get(_heading_key(jira_heading.group(2)))
        if key is not None or re.match(r"^[ \t]*h[1-6]\.[ \t]", line):  # "h2.acme.net is down" is text
            return _Heading(key, int(jira_heading.group(1)))
    md_heading = _MD_HEADING.match(line)
    if md_heading and md_heading.group(2).strip(" \t#"):
        key = names.get(_heading_key(md_heading.group(2).rstrip(" \t#")))
        if key is not None:
            return _Heading(key, len(md_heading.group(1)))
        if not jira and re.match(r"^ {0,3}#{1,6}[ \t]", line):
            return _Heading(None, len(md_heading.group(1)))
        return None  # in Jira markup "# item" is a numbered list, not a heading
    key = names.get(_heading_key(line))
    if key is not None:
        return _Heading(key, 7)
    label, sep, rest = line.partition(":")
    if sep and rest.strip():
        key = names.get(_heading_key(label))
        if key is not None:
            return _Heading(key, 7, re.sub(r"^[*_]+", "", rest).strip())
    return None


_LONGEST_HEADING = 200
_BLANKS = " \t\r\n\f\v"
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u00b4": "'", "`": "'",
                         "\u201c": '"', "\u201d": '"', "\u00a0": " "})


def _unify_quotes(text: str) -> str:
    """Typographic quotes and non-breaking spaces as plain ones; same length, so offsets hold."""
    return text.translate(_QUOTES)


_CONTRACTIONS = ((re.compile(r"\b(\w+)'ll\b"), r"\1 will"), (re.compile(r"\b(\w+)'ve\b"), r"\1 have"),
                 (re.compile(r"\b(\w+)'re\b"), r"\1 are"), (re.compile(r"\b(\w+)n't\b"), r"\1 not"))


def _expand_contractions(text: str) -> str:
    """"we'll" and "we will" name the same section."""
    if "'" not in text:
        return text
    for pattern, replacement in _CONTRACTIONS:
        text = pattern.sub(replacement, text)
    return text


@lru_cache(maxsize=4096)
def _heading_key(text: str) -> str:
    """A heading reduced to words: markup, numbering, punctuation, case, a trailing
    parenthetical and contractions gone. "## 2) What We’ll Change:" -> "what we will change"."""
    if len(text) > _LONGEST_HEADING:
        return ""  # a paragraph, not a heading (and no regex below sees a long line)
    text = _unify_quotes(text).replace("\\", "").lstrip(_BLANKS + "*_").rstrip(_BLANKS + "*_:.")
    text = re.sub(r"^(?:\(?\d{1,2}[.)]|\d{1,2}\s*[-:])\s*", "", text)
    text = re.sub(r"\s*\([^()]*\)\s*[:.]?$", "", text)
    text = _expand_contractions(text.casefold())
    return " ".join(re.findall(r"[^\W_]+", text.replace("'", "")))


def _section_text(lines: list[str], section: Section) -> str:
    """A section's own text: prompt lines, rules and blank edges removed; empty when what is left
    is only a placeholder such as "TBD"."""
    kept = []
    for line in lines:
        if len(line) < 200 and _RULE.match(line):
            continue
        line = _without_prompt(line, section.prompt)
        if line is not None:
            kept.append(line.rstrip())
    text = re.sub(r"\n{3,}", "\n\n", _strip_blank_edges("\n".join(kept)))
    return "" if _only_placeholders(text) else text


def _without_prompt(line: str, prompt: str) -> str | None:
    """The line without the section's prompt: None when it was only the prompt, the rest when
    someone typed after the prompt on its own line."""
    stripped = _unify_quotes(line.strip())
    wanted = _prompt_key(prompt)
    if not wanted:
        return line
    if _prompt_key(stripped) == wanted:
        return None
    wrapped = re.match(r"^([*_]{1,2})(.+?)\1(?![*_])\s*(.*)$", stripped)
    if wrapped and _prompt_key(wrapped.group(2)) == wanted:
        return wrapped.group(3)
    plain = _unify_quotes(prompt.strip())
    if stripped.casefold().startswith(plain.casefold()):
        return stripped[len(plain):].lstrip(" :-")
    return line


def _prompt_key(text: str) -> str:
    text = _unify_quotes(text).replace("\\", "").strip(_BLANKS + "*_")
    return " ".join(text.casefold().split())


def _only_placeholders(text: str) -> bool:
    for line in text.split("\n"):
        word = re.sub(r"^\s*(?:[-*+#]+|\d+[.)]|\[[ xX]?\])\s+", "", line)
        word = " ".join(re.findall(r"[^\W_]+", word.casefold()))
        if word not in PLACEHOLDERS:
            return False
    return True


# --- comments ---------------------------------------------------------------------------------


def render_lesson_comment(
    sections: Mapping[str, str],
    incident: Item,
    review_url: str,
    template: LessonTemplate,
    markup: CommentMarkup,
    *,
    written_in: CommentMarkup,
) -> str:
    """The finished lesson as one comment for the incident and every related item: the filled
    sections in template order and a link to the review. The sections are in the review's markup
    (``written_in``) and are converted to the item's. Cut cleanly, with the link kept, when it
    would not fit one comment in that tracker."""
    title = incident.title.strip() or str(incident.ref)
    if markup == "markdown":
        parts = [f"### Lesson learned from {_link(title, incident.url, markup)}"]
    elif markup == "jira":
        parts = [f"h3. Lesson learned from {_link(title, incident.url, markup)}"]
    else:
        parts = [f"Lesson learned from {_link(title, incident.url, markup)}"]
    for section in template.sections:
        text = convert(sections.get(section.key) or "", written_in, markup).strip()
        if not text:
            continue
        if markup == "markdown":
            parts.append(f"#### {section.title}\n\n{text}")
        elif markup == "jira":
            parts.append(f"h4. {section.title}\n\n{text}")
        else:
            parts.append(f"{section.title}\n{text}")
    footer = f"Read the whole review: {_link('the review', review_url, markup) if markup != 'plain' else review_url}"
    body = "\n\n".join(parts)
    return _fit(body, footer, review_url, markup)


def _fit(body: str, footer: str, review_url: str, markup: CommentMarkup) -> str:
    limit = COMMENT_LIMITS[markup] - MARKER_ROOM
    whole = f"{body}\n\n{footer}"
    if len(whole) <= limit:
        return whole
    if markup == "plain":  # no full stop after a bare URL: it would be taken as part of it
        tail = f"\n\n… This lesson is longer than one note here allows. Read it in full in the review: {review_url}"
    else:
        where = _link("the review", review_url, markup)
        tail = f"\n\n… This lesson is longer than one comment here allows; read it in full in {where}."
    room = limit - len(tail) - 8  # 8: a closing code fence, if the cut lands in one
    cut = body[:room]
    for boundary in (cut.rfind("\n"), cut.rfind(" ")):  # a whole line if one ends near, else a word
        if boundary > room - 2000:
            cut = cut[:boundary]
            break
    cut = cut.rstrip() + _close_open_block(cut, markup)
    return cut + tail


def _close_open_block(text: str, markup: CommentMarkup) -> str:
    """What closes a code block the cut left open, so the link after it stays a link."""
    if markup == "markdown" and len(re.findall(r"^ {0,3}```", text, re.M)) % 2:
        return "\n```"
    if markup == "jira":
        for name in ("code", "noformat"):
            if len(re.findall(r"\{" + name + r"(?::[^}\n]{0,200})?\}", text)) % 2:
                return "\n{" + name + "}"
    return ""


def render_missing_comment(missing: Sequence[str], markup: CommentMarkup) -> str:
    """Said on the review when it was closed or edited with sections still to write."""
    items = list(missing)
    if not items:
        return "Thank you: every section of this lesson is filled in."
    lead = ("Thanks for working on this review! Before lessonloop shares the lesson, "
            + ("this section still needs" if len(items) == 1 else "these sections still need")
            + " a few words of your own:")
    bullet = "* " if markup == "jira" else "- "
    listing = "\n".join(bullet + _escape(item, markup) for item in items)
    close = ("Replace the prompt under each heading with what you found. A few sentences are enough; "
             "describe processes, signals and assumptions rather than people.")
    return f"{lead}\n\n{listing}\n\n{close}"


def render_review_opened_comment(review_url: str, review_ref: str, markup: CommentMarkup) -> str:
    """Said on the incident once its review is open."""
    link = _link(review_ref, review_url, markup)
    return (f"A blameless post-incident review is open: {link}. Everyone who responded is welcome to "
            "add what they saw and learned there; the finished lesson will be shared here.")


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")


def render_reminder_comment(due: date, markup: CommentMarkup) -> str:
    """The gentle nudge on a review past its due date (``markup`` kept for symmetry; the text
    has no markup of its own)."""
    when = f"{due.day} {_MONTHS[due.month - 1]} {due.year}"
    return (f"A friendly reminder: this review was due on {when}. The lesson is most useful while "
            "the incident is fresh, and a few sentences per section are enough. Thank you!")


# --- small helpers ----------------------------------------------------------------------------


def _drop_comments(text: str, keep_one_line: bool = False) -> str:
    """Text without its closed HTML comments (GitHub shows none of them); an unclosed one is kept
    as text. ``keep_one_line`` keeps one-line comments (template hints) and blanks the lines of
    the others, so that line numbers in error messages stay true. A scan, not a regex, so that a
    body full of ``<!--`` costs linear time."""
    out, position = [], 0
    while (start := text.find("<!--", position)) >= 0:
        end = text.find("-->", start + 4)
        if end < 0:
            break
        comment = text[start:end + 3]
        out.append(text[position:start])
        if "\n" in comment or not keep_one_line:
            out.append("\n" * comment.count("\n") if keep_one_line else "")
        else:
            out.append(comment)
        position = end + 3
    out.append(text[position:])
    return "".join(out)


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _strip_blank_edges(text: str) -> str:
    lines = text.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def _strip_emphasis(text: str) -> str:
    match = re.match(r"^\s*([*_]{1,2})(.+?)\1\s*$", text)
    return match.group(2) if match else text
