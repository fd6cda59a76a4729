"""Lesson text to safe HTML, shown as its tracker shows it. Anyone who can edit a review writes
lesson text, so it is hostile: it is parsed as Markdown with raw HTML off (Jira wiki markup is
first converted to Markdown by ``service.text.markup``), and what comes out is cleaned again by nh3
against an allow-list, links limited to http, https and mailto, each with
``rel="noopener nofollow"``.

markdown-it-py: a CommonMark parser kept by the executable-books project; with ``html`` off it
prints any tag in the text as text. nh3 (Rust's ammonia) is the second wall: whatever a parser
bug lets through, only the listed tags and attributes survive.

What GitHub issues and Jira show, the page shows too: a single newline is a line break
(``breaks``), ``- [ ]`` items are disabled checkboxes (markdown-it-py's ``tasklists``), bare URLs
are links (mdit-py-plugins' GFM autolink, the same executable-books project), refs are links
(``service.web.refs``). Three things differ on purpose: a heading inside a section sits below
the section's own ``<h2>``, so a ``# Summary`` is not a second page title; an image is a link
named by its alt text, since the page loads nothing from elsewhere (its CSP allows no remote
image); task checkboxes carry their state as a name, for screen readers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import nh3
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererProtocol
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from markupsafe import Markup, escape
from mdit_py_plugins.gfm_autolink import gfm_autolink_plugin

from service.domain.events import Markup as MarkupName
from service.text.markup import convert
from service.web import refs
from service.web.links import safe_url
from service.web.refs import Mention

SECTION_LEVEL = 2
"""Each section's title is an ``<h2>``: headings in its text start one level below."""

Resolve = Callable[[set[Mention]], Mapping[str, str]]
"""Given the refs a lesson mentions, the URL of each that should be a link."""

ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
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
    "input",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "ol": {"start"},
    "th": {"align"},
    "td": {"align"},
    "input": {"checked", "disabled"},
}
ATTRIBUTE_VALUES = {"input": {"type": {"checkbox"}, "aria-label": {"done", "to do"}}}
FORCED_VALUES = {"input": {"type": "checkbox", "disabled": ""}}
ALLOWED_CLASSES = {"ul": {"contains-task-list"}, "ol": {"contains-task-list"}, "li": {"task-list-item"}}
URL_SCHEMES = {"http", "https", "mailto"}


def _nest_headings(state: StateCore) -> None:
    for token in state.tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(6, int(token.tag[1:]) + SECTION_LEVEL)}"


def _image(self: RendererProtocol, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    """An image as a link to it, named by its alt text: nothing is loaded from elsewhere."""
    token = tokens[idx]
    alt = "".join(child.content for child in token.children or () if child.type in ("text", "code_inline"))
    name = f"Image: {alt}" if alt.strip() else "Image"
    src = token.attrGet("src")
    url = safe_url(src if isinstance(src, str) else None)
    if url is None:
        return str(escape(name))
    return f'<a href="{escape(url)}">{escape(name)}</a>'


def _list_item_open(
    self: RendererProtocol, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """markdown-it's task item, with its state as the checkbox's name (a checkbox has no label)."""
    token = tokens[idx]
    opened = "<li" + "".join(f' {escape(name)}="{escape(value)}"' for name, value in token.attrs.items()) + ">"
    if not token.meta or "checked" not in token.meta:
        return opened
    done = bool(token.meta["checked"])
    state = 'checked="" aria-label="done"' if done else 'aria-label="to do"'
    return f'{opened}<input type="checkbox" disabled="" {state}> '


_MARKDOWN = (
    MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False, "breaks": True, "tasklists": True})
    .enable(["table", "strikethrough"])
    .use(gfm_autolink_plugin)
)
_MARKDOWN.core.ruler.push("nest_headings", _nest_headings)
_MARKDOWN.add_render_rule("image", _image)
_MARKDOWN.add_render_rule("list_item_open", _list_item_open)


def lesson_html(text: str, written_in: MarkupName, resolve: Resolve | None = None) -> Markup:
    """One text written in a review tracker's markup, as safe HTML."""
    return sections_html({"": text}, written_in, resolve)[""]


def sections_html(
    texts: Mapping[str, str], written_in: MarkupName, resolve: Resolve | None = None
) -> dict[str, Markup]:
    """Each section of a lesson as safe HTML; the refs of all of them resolved in one call."""
    parsed = {name: _MARKDOWN.parse(_markdown(text, written_in)) for name, text in texts.items()}
    found: set[Mention] = set()
    for tokens in parsed.values():
        found |= refs.collect(tokens)
    urls = resolve(set(sorted(found, key=lambda one: one.ref)[: refs.MOST])) if resolve and found else {}
    html = {}
    for name, tokens in parsed.items():
        refs.link(tokens, urls)
        html[name] = Markup(clean(_MARKDOWN.renderer.render(tokens, _MARKDOWN.options, {})))  # cleaned by nh3
    return html


def _markdown(text: str, written_in: MarkupName) -> str:
    return convert(text, written_in, "markdown") if written_in != "markdown" else text


def clean(html: str) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        tag_attribute_values=ATTRIBUTE_VALUES,
        set_tag_attribute_values=FORCED_VALUES,
        allowed_classes=ALLOWED_CLASSES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener nofollow",
        strip_comments=True,
    )
