"""GitHub Markdown as a :class:`~service.trackers.dialect.Dialect`: read by markdown-it-py,
written inert, the marker in an HTML comment (invisible when rendered)."""

from __future__ import annotations

import re

from service.trackers.dialect import Dialect, as_is, bulleted_item_start, no_nesting
from service.trackers.github.markdown_read import read_markdown
from service.trackers.github.markdown_write import markdown_text, write_markdown

_FENCE = re.compile(r"^ {0,3}```", re.MULTILINE)


_LOGIN = re.compile(r"[A-Za-z0-9-]{1,39}")


def _mention(account: str, _by_name: bool) -> str | None:
    return f"@{account}" if _LOGIN.fullmatch(account) else None


def _close_fence(text: str) -> str:
    return "\n```" if len(_FENCE.findall(text)) % 2 else ""


MARKDOWN = Dialect(
    markup="markdown",
    read=read_markdown,
    write=write_markdown,
    text=markdown_text,
    link_to=lambda text, url: f"[{text}]({url})",
    link_text=as_is,
    strong_mark="**",
    heading=lambda level, text: f"{'#' * level} {text}",
    after_heading="\n\n",
    bullet="- ",
    quote_prefix="> ",
    after_quote="\n\n",
    list_item=lambda indent: indent + "- ",
    item_start=bulleted_item_start,
    nested_item=no_nesting,
    mention=_mention,
    marker_line=lambda token: f"<!-- {token} -->",
    marker_first=False,
    comment_limit=65_536,
    close_open_block=_close_fence,
    code_mark="`",
)
