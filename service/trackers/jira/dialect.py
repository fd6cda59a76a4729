"""Jira wiki markup as a :class:`~service.trackers.dialect.Dialect`: read by our tokenizer,
written inert, the marker as a small grey footer line (Jira has no hidden markup in comments)."""

from __future__ import annotations

import re

from service.trackers.dialect import Dialect
from service.trackers.jira.wiki_read import read_jira
from service.trackers.jira.wiki_write import jira_text, write_jira

_BLOCKS = {name: re.compile(r"\{" + name + r"(?::[^}\n]{0,200})?\}") for name in ("code", "noformat")}


def _close_block(text: str) -> str:
    for name, opener in _BLOCKS.items():
        if len(opener.findall(text)) % 2:
            return "\n{" + name + "}"
    return ""


def _link_text(text: str) -> str:
    """No bracket or bar can be escaped inside a link's text, so they become ``(``, ``)`` and ``/``."""
    return text.replace("[", "(").replace("]", ")").replace("|", "/")


_ITEM = re.compile(r"^[ \t]*(?:[*#-])(?:[ \t]+)")
_NESTED_ITEM = re.compile(r"^[ \t]*(?:\*\*|##|--)")


def _nested_item(line: str) -> bool:
    """Jira nests a list by repeating its bullet (``**``, ``##``, ``--``), indented or not."""
    return _NESTED_ITEM.match(line) is not None


def _item_start(line: str) -> int | None:
    """A bullet (``*``, ``#``, ``-``) at any indentation starts a top-level item; a doubled one nests."""
    start = _ITEM.match(line)
    return start.end() if start and not _nested_item(line) else None


def _macro_free(text: str) -> str:
    """Jira reads ``{name}`` as a macro even in a summary, where no escape reaches: braces become parentheses."""
    return text.replace("{", "(").replace("}", ")")


def _mention(account: str, by_name: bool) -> str:
    """Cloud mentions an accountId; Data Center a user name."""
    return f"[~{account}]" if by_name else f"[~accountid:{account}]"


WIKI = Dialect(
    markup="jira",
    read=read_jira,
    write=write_jira,
    text=jira_text,
    link_to=lambda text, url: f"[{text}|{url}]",
    link_text=_link_text,
    strong_mark="*",
    heading=lambda level, text: f"h{level}. {text}",
    after_heading="\n\n",
    bullet="* ",
    quote_prefix="bq. ",
    after_quote="\n",
    list_item=lambda indent: "*" * (1 + len(indent.expandtabs(2)) // 2) + " ",
    item_start=_item_start,
    nested_item=_nested_item,
    mention=_mention,
    marker_line=lambda token: "{color:#97a0af}" + token + "{color}",
    marker_first=False,
    comment_limit=32_767,
    close_open_block=_close_block,
    macro_free=_macro_free,
    reads_as_markdown=False,
)
