"""The marker lessonloop leaves in everything it writes to a tracker.

A marker is a token ``lessonloop:<kind> key=value ...``. It lets a retry after a crash find what
was already written, and lets the webhook parsers ignore lessonloop's own comments and edits (no
loops). Each tracker hides it as well as its markup allows:

- GitHub Markdown: an HTML comment, invisible when rendered.
- Jira wiki markup: a small grey footer line (Jira has no hidden markup in comments).
- PagerDuty notes: a short bracketed prefix (notes are plain text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

Markup = Literal["markdown", "jira", "plain"]

# what lessonloop writes; the kind says which effect a marker stands for
REVIEW = "review"  # the body of a review ticket lessonloop opened
REVIEW_OPENED = "review-opened"  # the comment on an incident that says its review is open
LESSON = "lesson"  # the comment carrying a finished lesson
MISSING = "missing-sections"  # the comment that names what a lesson still lacks
REMINDER = "reminder"  # the nudge on a review past its due date
LINK = "link"  # a note or comment that only links two items

_VALUE = r"[^\s<>{}\[\]\"']+"
_TOKEN = re.compile(rf"lessonloop:(?P<kind>[a-z][a-z-]*)(?P<attrs>(?:[ \t]+[a-z_]+={_VALUE})*)")
_ATTR = re.compile(rf"([a-z_]+)=({_VALUE})")


@dataclass(frozen=True)
class Marker:
    kind: str
    attrs: dict[str, str] = field(default_factory=dict)

    def token(self) -> str:
        parts = [f"lessonloop:{self.kind}"]
        for key, value in sorted(self.attrs.items()):
            if not re.fullmatch(_VALUE, value) or not re.fullmatch(r"[a-z_]+", key):
                raise ValueError(f"marker attribute {key}={value!r} cannot be written safely")
            parts.append(f"{key}={value}")
        return " ".join(parts)

    def get(self, key: str) -> str | None:
        return self.attrs.get(key)


def render(marker: Marker, markup: Markup) -> str:
    """The marker as a line to append to (or, on PagerDuty, put before) a text."""
    token = marker.token()
    if markup == "markdown":
        return f"<!-- {token} -->"
    if markup == "jira":
        return "{color:#97a0af}" + token + "{color}"
    return f"[{token}]"


def attach(text: str, marker: Marker, markup: Markup) -> str:
    """``text`` with the marker placed where that markup keeps it discreet."""
    line = render(marker, markup)
    if markup == "plain":
        return f"{line} {text}"
    return f"{text.rstrip()}\n\n{line}\n"


def find(text: str | None) -> list[Marker]:
    """Every marker in ``text``, in order."""
    if not text:
        return []
    found = []
    for match in _TOKEN.finditer(text):
        attrs = dict(_ATTR.findall(match.group("attrs")))
        found.append(Marker(match.group("kind"), attrs))
    return found


def find_kind(text: str | None, kind: str) -> Marker | None:
    for marker in find(text):
        if marker.kind == kind:
            return marker
    return None


def is_ours(text: str | None) -> bool:
    """True when lessonloop wrote this text (a comment, a note, a review body)."""
    return bool(find(text))
