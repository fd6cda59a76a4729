"""PagerDuty's plain text as a :class:`~service.trackers.dialect.Dialect`: notes render no
markup, so nothing is read from it, a link is its text and its URL, and the marker is a short
bracketed prefix."""

from __future__ import annotations

from service.trackers.dialect import Dialect, as_is, bulleted_item_start, no_block, no_nesting
from service.trackers.pagerduty.plain_write import write_plain

PLAIN = Dialect(
    markup="plain",
    read=None,
    write=write_plain,
    text=as_is,
    link_to=lambda text, url: f"{text} ({url})",
    link_text=as_is,
    strong_mark="",
    heading=lambda _level, text: text,
    after_heading="\n",
    bullet="- ",
    quote_prefix="  ",
    after_quote="\n",
    list_item=lambda indent: indent + "- ",
    item_start=bulleted_item_start,
    nested_item=no_nesting,
    mention=lambda _account, _by_name: None,
    marker_line=lambda token: f"[{token}]",
    marker_first=True,
    comment_limit=65_535,
    close_open_block=no_block,
    bare_links=True,
)
