"""Lesson text to safe HTML. Anyone who can edit a review writes lesson text, so it is hostile:
it is parsed as Markdown with raw HTML off (Jira wiki markup is first converted to Markdown by
``service.markup``), and what comes out is cleaned again by nh3 against an allow-list, links
limited to http, https and mailto, each with ``rel="noopener nofollow"``.

markdown-it-py: a CommonMark parser kept by the executable-books project; with ``html`` off it
prints any tag in the text as text. nh3 (Rust's ammonia) is the second wall: whatever a parser
bug lets through, only the listed tags and attributes survive.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

from service.events import Markup as MarkupName
from service.markup import convert

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
    ["table", "strikethrough"]
)

ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "strong",
    "em",
    "del",
    "s",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}
URL_SCHEMES = {"http", "https", "mailto"}


def lesson_html(text: str, written_in: MarkupName) -> Markup:
    """One section of a lesson, written in its review tracker's markup, as safe HTML."""
    markdown = convert(text, written_in, "markdown") if written_in != "markdown" else text
    return Markup(clean(_MARKDOWN.render(markdown)))  # cleaned by nh3 just above


def clean(html: str) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener nofollow",
        strip_comments=True,
    )
