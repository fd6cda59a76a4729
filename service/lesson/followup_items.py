"""Follow-ups, the pure part: the items of "What we'll change", matching them to the follow-ups a
lesson already has, a follow-up's state from its tracker's word, and how they are shown.

Matching is stable across edits, in this order: an item that links an issue is the follow-up of
that issue; an item that links the task lessonloop opened for it (someone pasted its link) is
that follow-up; an item without a link is the follow-up whose recorded text is most like it (a
similarity ratio of at least :data:`SIMILAR`), each follow-up taken once. What matches nothing
is new.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from service.domain.events import Item, ItemRef, Markup
from service.lesson.stub import escape, link
from service.text.markers import break_markers
from service.text.markup import convert
from service.trackers.registry import dialect_of, is_task_ref, tracker

ITEM_LIMIT = 4000
"""An item's text is kept (and copied into its task) up to this many characters."""
TITLE_LIMIT = 200
SIMILAR = 0.6
NOT_DOING_RESOLUTIONS = frozenset({"not_planned", "won't do", "wont do", "declined", "won't fix", "duplicate"})
"""GitHub's ``not_planned`` and Jira's resolutions that say the work was dropped (case-blind)."""

_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_JIRA_BLOCK = re.compile(r"\{(code|noformat)(?::[^}\n]{0,200})?\}")


@dataclass(frozen=True)
class ListItem:
    text: str  # in the lesson's markup, without its bullet
    refs: tuple[ItemRef, ...]  # the GitHub or Jira issues it links or names, in order


def list_items(section: str, markup: Markup) -> list[str]:
    """The top-level items of every list in ``section``: a bullet starts one, indented lines
    (nested lists included) continue it, anything else ends it. Code blocks hold no items."""
    items: list[list[str]] = []
    current: list[str] | None = None
    fenced = False
    dialect = dialect_of(markup)
    for line in section.replace("\r\n", "\n").split("\n"):
        if _FENCE.match(line) or len(_JIRA_BLOCK.findall(line)) % 2:
            fenced = not fenced
            current = None
            continue
        if fenced:
            continue
        nested = dialect.nested_item(line)
        start = dialect.item_start(line)
        if start is not None:
            current = [line[start:].strip()]
            items.append(current)
        elif current is not None and line.strip() and (line[:1] in " \t" or nested):
            current.append(line.strip())
        elif not line.strip():
            continue
        else:
            current = None
    return [" ".join(parts)[:ITEM_LIMIT] for parts in items if " ".join(parts).strip()]


def key_of(text: str) -> str:
    """The key minted for a new item without a link: stable for the same words."""
    return "t" + hashlib.sha256(normal(text).encode("utf-8")).hexdigest()[:15]


def normal(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.findall(r"\w+", text))


@dataclass(frozen=True)
class Known:
    """What matching needs of a recorded follow-up."""

    key: str
    ref: str | None
    text: str


def match(items: Sequence[ListItem], known: Sequence[Known]) -> list[Known | None]:
    """For each item, the recorded follow-up it is (or None: a new one); each taken once."""
    taken: set[str] = set()
    out: list[Known | None] = [None] * len(items)
    by_ref = {k.ref: k for k in known if k.ref}
    for index, item in enumerate(items):  # by link: to the adopted issue, or to our own task
        for ref in item.refs:
            found = by_ref.get(str(ref))
            if found is not None and found.key not in taken:
                out[index] = found
                taken.add(found.key)
                break
    for index, item in enumerate(items):  # same words, then the most similar
        if out[index] is not None or item.refs:
            continue
        wanted = normal(item.text)
        best: tuple[float, Known] | None = None
        for candidate in known:
            if candidate.key in taken or is_task_ref(candidate.key):
                continue
            score = (
                1.0
                if normal(candidate.text) == wanted
                else difflib.SequenceMatcher(None, normal(candidate.text)[:500], wanted[:500], autojunk=False).ratio()
            )
            if score >= SIMILAR and (best is None or score > best[0]):
                best = (score, candidate)
        if best is not None:
            out[index] = best[1]
            taken.add(best[1].key)
    return out


def state_of(item: Item) -> str:
    """``open``, ``done`` or ``not doing``, by the tracker's word."""
    if not item.done:
        return "open"
    return "not doing" if item.resolution.strip().casefold().replace("’", "'") in NOT_DOING_RESOLUTIONS else "done"


_WORD_JOINER = "\u2060"
_MENTION = re.compile(r"(?<![\w`])@(?=[A-Za-z0-9])")
_JIRA_MENTION = re.compile(r"\[~")


def inert(text: str) -> str:
    """Copied text that notifies no one and carries nothing marker-shaped: ``@name`` and Jira's
    ``[~user]`` get an invisible word joiner after their sign, and markers are broken as
    everywhere (:func:`service.text.markers.break_markers`). (``service.text.markup.convert`` is
    the general defence; this holds for the follow-ups' own copies whatever the markups.)"""
    text = _MENTION.sub("@" + _WORD_JOINER, text)
    text = _JIRA_MENTION.sub("[" + _WORD_JOINER + "~", text)
    return break_markers(text)


def title_of(text: str, written_in: Markup, markup: Markup) -> str:
    """A task title from an item: one line, in the target's markup, made inert."""
    line = dialect_of(markup).macro_free(" ".join(inert(convert(text, written_in, markup)).split()))
    return line if len(line) <= TITLE_LIMIT else line[: TITLE_LIMIT - 1].rstrip() + "…"


@dataclass(frozen=True)
class Shown:
    """One follow-up as the lesson comment shows it."""

    text: str  # in the lesson's markup
    url: str
    ref: str | None
    state: str
    origin: str
    due_on: date | None
    reason: str = ""


def render_followups(shown: Sequence[Shown], written_in: Markup, markup: Markup) -> str:
    """The block that ends a lesson comment: each follow-up, its link and its state."""
    if not shown:
        return ""
    dialect = dialect_of(markup)
    bullet = dialect.bullet
    lines = [dialect.heading(4, "Follow-ups"), ""]
    for one in shown:
        title = title_of(one.text, written_in, "plain")
        if one.url:  # the link follows: the item's own copy of the URL would say it twice
            title = " ".join(title.replace(f"({one.url})", "").replace(one.url, "").split()) or title
        title = dialect.macro_free(title)
        named = link(title, one.url, markup) if one.url else escape(title, markup)
        if one.origin == "not opened" and one.reason.startswith("not shared"):
            status = escape(one.reason, markup)  # outside the scope: not an issue lessonloop failed to open
        elif one.origin == "not opened":
            status = f"not opened ({escape(one.reason, markup)})" if one.reason else "not opened"
        else:
            status = one.state
            if one.state == "open" and one.due_on is not None:
                status += f", due {one.due_on.isoformat()}"
        lines.append(f"{bullet}{named}: {_emphasis(status, markup)}")
    return "\n".join(lines)


def _emphasis(text: str, markup: Markup) -> str:
    return dialect_of(markup).strong(text) if text else text


def parse_items(section: str, markup: Markup, find: Callable[[str], set[ItemRef]]) -> list[ListItem]:
    """The list items with the issues each one links (issues of a tracker with tasks), in text order."""
    out = []
    for text in list_items(section, markup):
        found = [ref for ref in find(text) if tracker(ref.source).has_tasks]
        found.sort(key=lambda ref: _first_mention(text, ref))
        out.append(ListItem(text, tuple(found)))
    return out


def _first_mention(text: str, ref: ItemRef) -> int:
    spot = text.find(tracker(ref.source).in_text(ref.key))
    return spot if spot >= 0 else len(text)
