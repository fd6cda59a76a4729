"""Inert by construction (service.text.inert): a differential test against cmark-gfm, GitHub's own
Markdown parser, and a property test over the characters that make constructs.

markdown-it-py reads the text and our writers write it out; cmark-gfm then reads what we wrote,
as GitHub would. Whatever the input, the HTML it makes may hold no mention, link, image or raw
HTML that is not one of ours, and the words of the input must still be there.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import cmarkgfm  # ships no type information
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.text.markup import convert
from tests.test_copied_text import CASES, github_live, jira_live, live_markers

LIVE = {"markdown": github_live, "jira": jira_live, "plain": live_markers}
DIRECTIONS = [("markdown", "markdown"), ("jira", "markdown"), ("markdown", "jira"), ("jira", "jira")]


class _Words(HTMLParser):
    """The words a reader sees in cmark-gfm's HTML (raw HTML is omitted in its safe mode)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def shown(markdown: str) -> str:
    """The letters and digits a reader sees, in order. A character reference is taken as the
    character it names even where GitHub shows it as typed (it does inside a bare URL it links,
    where markdown-it-py, which links no bare URL, decodes it): the same text either way."""
    page = _Words()
    page.feed(cmarkgfm.github_flavored_markdown_to_html(markdown))
    page.close()
    return "".join(re.findall(r"[A-Za-z0-9]+", html.unescape("".join(page.text))))


def survives(source: str, out: str) -> bool:
    """True when every letter and digit GitHub showed of ``source`` is shown, in the same order,
    of ``out`` (which may show more: raw HTML, or a refused link's target, as text)."""
    letters = iter(shown(out))
    return all(char in letters for char in shown(source))


LESSONS = [
    "## What happened\n\nThe **canary** read `latency` only; see [runbook](https://wiki.example/c).",
    "- first\n  - nested *one*\n1. step\n\n> quoted ~~old~~ text\n\n```sh\nexit 1\n```",
    "| who | what |\n|---|---|\n| ada | paged |\n| bob | rolled back |",
    "Write to ops@example.com or see https://status.example/a_b?x=1&y=2 now.",
    "snake_case_name, 2 * 3 * 4, a - b, #123 and GH-123, 10:30 UTC.",
    "![graph](https://grafana.example/g.png) and <https://status.example>",
    "Line one  \nline two\\\nline three",
]


@pytest.mark.parametrize("text", LESSONS + [case[2] for case in CASES if case[0] == "markdown"])
def test_cmark_gfm_sees_nothing_live_and_every_word_in_what_we_write(text: str) -> None:
    out = convert(text, "markdown", "markdown")
    assert github_live(out) == [], out
    assert survives(text, out), out  # what GitHub showed of the input, ours still shows


@pytest.mark.parametrize("text", LESSONS)
def test_a_lesson_keeps_its_markup(text: str) -> None:
    """The allowlist keeps what lessons are made of: the same HTML, once written by us."""
    html = cmarkgfm.github_flavored_markdown_to_html
    assert html(convert(text, "markdown", "markdown")).replace("\u200b", "") == html(text)


DANGEROUS = "@&#;[]()<>!{}~|\\`*_:/-. \n" + "0123456789" + "abcxyzAX"
TOKENS = [
    "@",
    "&#97;",
    "&#x6F;",
    "&#64;",
    "&commat;",
    "&amp;",
    "ftp://",
    "http://",
    "https://x.test",
    "www.",
    "mailto:",
    "xmpp:",
    "javascript:",
    "lessonloop:",
    "review",
    "<!--",
    "-->",
    "<img",
    "[~",
    "{code}",
    "{html}",
    "{quote}",
    "```",
    "\\\\",
    "h1. ",
    "bq. ",
    "| ",
    "octocat",
]

texts = st.one_of(
    st.text(alphabet=DANGEROUS, max_size=60),
    st.lists(st.one_of(st.sampled_from(TOKENS), st.text(alphabet=DANGEROUS, max_size=3)), max_size=25).map("".join),
)


@settings(max_examples=400, derandomize=True, deadline=None, database=None)
@given(texts)
def test_no_text_from_the_dangerous_alphabet_comes_out_live(text: str) -> None:
    for source, target in DIRECTIONS:
        out = convert(text, source, target)
        assert LIVE[target](out) == [], (source, target, text, out)


@settings(max_examples=200, derandomize=True, deadline=None, database=None)
@given(texts)
def test_the_words_cmark_gfm_shows_survive(text: str) -> None:
    out = convert(text, "markdown", "markdown")
    assert survives(text, out), (text, out)


BLOCK_TAGS = re.compile(r"<(h[1-6]|li|blockquote|hr|pre|table)\b")


def blocks_shown(markdown: str) -> list[str]:
    """The block elements GitHub draws for ``markdown``: headings, list items, quotes, rules,
    code blocks and tables, in order."""
    return BLOCK_TAGS.findall(cmarkgfm.github_flavored_markdown_to_html(markdown))


@pytest.mark.parametrize(
    ("source", "text"),
    [
        ("markdown", "` `# x"),
        ("markdown", "` `- y"),
        ("markdown", "` `1. z"),
        ("markdown", "` `> q"),
        ("markdown", "Fine.\n\n`  `## What we learned\n\nNothing, says the bot."),
        ("jira", "{{ }}# x"),
        ("jira", "{{ }}- y"),
        ("jira", "{{ }}h2. What we learned"),
    ],
)
def test_a_blank_code_span_does_not_turn_the_rest_of_its_line_into_a_block(source: str, text: str) -> None:
    """A code span that writes nothing leaves what follows at the start of its line, where ``#``,
    ``-``, ``1.`` or ``>`` would start a heading, a list or a quote: a smuggled "What we learned"
    heading would be read as a lesson's section."""
    out = convert(text, source, "markdown")
    assert blocks_shown(out) == [], (text, out)


@settings(max_examples=400, derandomize=True, deadline=None, database=None)
@given(
    st.lists(
        st.sampled_from(["` `", "`", "``", "# ", "#", "- ", "1. ", "> ", "---", "\n", "\n\n", "a", " ", "*"]),
        max_size=12,
    ).map("".join)
)
def test_what_we_write_draws_no_block_github_did_not_draw(text: str) -> None:
    out = convert(text, "markdown", "markdown")
    assert len(blocks_shown(out)) <= len(blocks_shown(text)), (text, out)
