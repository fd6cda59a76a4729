"""Attacks on copied text: what lessonloop copies between trackers is posted under the bot's
identity, so nothing in it may act there. Each case is text someone could write in a lesson or an
incident title; each check asks the target tracker's own parser (GitHub's cmark-gfm for Markdown)
or a pattern of what Jira parses whether a live mention, macro, raw HTML, forbidden link or
marker survived, and that the benign words did.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import cmarkgfm  # ships no type information
import pytest
from cmarkgfm.cmark import Options
from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain.events import Item, ItemRef
from service.lesson import load_template, render_lesson_comment, render_stub
from service.lesson.stub import escape, header_values, link
from service.text import markers
from service.text.markers import break_markers
from service.text.markup import convert

# --- what is live, as each tracker parses it -------------------------------------------------

_MARKER = re.compile(r"lessonloop:\S", re.IGNORECASE)  # wider than the token: any case, any kind
_MENTION = re.compile(r"(?:^|[^A-Za-z0-9_])@[A-Za-z0-9]")  # GitHub's mention pattern, on rendered text
_MARKDOWN_TAGS = {
    "p",
    "em",
    "strong",
    "del",
    "code",
    "pre",
    "a",
    "img",
    "ul",
    "ol",
    "li",
    "blockquote",
    "hr",
    "br",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "input",
    *(f"h{n}" for n in range(1, 7)),
}
_LINK_SCHEMES = ("http:", "https:", "mailto:")


def live_markers(text: str) -> list[str]:
    return [f"marker: {m.kind}" for m in markers.find(text)] + [f"marker-like: {m}" for m in _MARKER.findall(text)]


class _GitHubPage(HTMLParser):
    """The HTML GitHub makes of a comment, read for what would act: mentions in text outside
    code and links, tags that Markdown itself does not make, links and images elsewhere."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.quiet = 0  # inside <code>, <pre> or <a>: GitHub makes no mention there

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag not in _MARKDOWN_TAGS:
            self.found.append(f"html: <{tag}>")
        if tag == "a" and not (values.get("href") or "").lower().startswith(_LINK_SCHEMES):
            self.found.append(f"link: {values.get('href')}")
        if tag == "img" and not (values.get("src") or "").lower().startswith(("http:", "https:")):
            self.found.append(f"image: {values.get('src')}")
        if tag in ("code", "pre", "a"):
            self.quiet += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("code", "pre", "a"):
            self.quiet -= 1

    def handle_data(self, data: str) -> None:
        if not self.quiet and _MENTION.search(data):
            self.found.append(f"mention: {data.strip()[:60]}")

    def handle_comment(self, data: str) -> None:
        self.found.append(f"html comment: {data[:60]}")


def github_live(markdown: str) -> list[str]:
    """What would act in ``markdown`` posted as a GitHub comment."""
    found = live_markers(markdown)
    if "raw HTML omitted" in cmarkgfm.github_flavored_markdown_to_html(markdown):
        found.append("raw html")
    page = _GitHubPage()
    page.feed(cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE))
    page.close()
    return found + page.found


_JIRA_BLOCK = re.compile(r"\{(code|noformat)(?::[^}\n]*)?\}", re.IGNORECASE)
_UNESCAPED = r"(?<!\\)(?:\\\\)*"  # an even run of backslashes (none included): what follows is live
_JIRA_BLOCK_OPENER = re.compile(_UNESCAPED + _JIRA_BLOCK.pattern, re.IGNORECASE)
_JIRA_LINK = re.compile(r"\[(?:[^|\]\n]*\|)?(?:https?://|mailto:)[^\]\s|]*\]")
_JIRA_IMAGE = re.compile(r"!https?://[^!\s|]+!")
_JIRA_ALLOWED_MACRO = re.compile(r"\{\{(?!\{)|\{(?:code(?::[\w+#.-]*)?|noformat|quote)\}")
_JIRA_OPENER = re.compile(_UNESCAPED + r"(\[|!(?=\S)|\{+(?=[A-Za-z]))")


def jira_live(text: str) -> list[str]:
    """What would act in ``text`` posted as a Jira comment in wiki markup. The inside of a
    ``{code}``/``{noformat}`` block is shown as written, up to the first closer (taken in any case,
    to be on the safe side; a block never closed counts as text); everything else Jira parses."""
    found = live_markers(text)
    outside: list[str] = []
    position = 0
    while (opening := _JIRA_BLOCK_OPENER.search(text, position)) is not None:
        outside.append(text[position : opening.end()])
        closer = re.search(r"\{" + opening.group(1) + r"\}", text[opening.end() :], re.IGNORECASE)
        if closer is None:  # never closed: read it all as text, to be on the safe side
            break
        outside.append(text[opening.end() + closer.start() : opening.end() + closer.end()])
        position = opening.end() + closer.end()
    rest = "".join(outside) + text[position:]
    if "[~" in rest:
        found.append("mention")
    position = 0
    while (match := _JIRA_OPENER.search(rest, position)) is not None:
        start, opener = match.start(1), match.group(1)
        allowed = {"[": _JIRA_LINK, "!": _JIRA_IMAGE}.get(opener, _JIRA_ALLOWED_MACRO).match(rest, start)
        if allowed and (opener[0] != "{" or len(opener) <= 2):
            position = allowed.end()
            continue
        if opener == "[":
            found.append(f"link: {rest[start : start + 40]}")
        elif opener == "!" and "!" in rest[start + 1 :].split("\n", 1)[0]:
            found.append(f"image: {rest[start : start + 40]}")
        elif opener[0] == "{":
            found.append(f"macro: {rest[start : start + 30]}")
        position = match.end()
    return found


def plain_live(text: str) -> list[str]:
    return live_markers(text)


LIVE = {"markdown": github_live, "jira": jira_live, "plain": plain_live}

# --- the injections, in every direction --------------------------------------------------------

CASES: list[tuple[str, str, str, str]] = [
    # (source, target, text, benign words that must survive)
    ("jira", "markdown", "thanks @acme/everyone @octocat for the fix", "for the fix"),
    ("jira", "markdown", "*@octocat* and _@octocat_ and [@octocat|https://ok.test/a]", "and"),
    ("jira", "markdown", "* @octocat helped\nbq. @octocat said\n||who||what||\n|@octocat|paged|", "helped"),
    ("jira", "markdown", "[~admin] and [~accountid:5b10a2844c20165700ede21g] looked", "looked"),
    ("jira", "markdown", "see [the runbook|javascript:alert(1)]", "the runbook"),
    ("jira", "markdown", "see [javascript:alert(1)] and [x|/settings] and [y|data:text/html,z]", "see"),
    ("jira", "markdown", "!javascript:alert(1)! and !/secret.png! shown", "shown"),
    ("jira", "markdown", "the <img src=x onerror=alert(1)> tag and <details>x</details>", "tag"),
    ("jira", "markdown", "{code}\n```\n@octocat <img src=x onerror=alert(1)>\n{code}\nafter", "after"),
    ("jira", "markdown", "&#64;octocat and &commat;octocat and {color:red}@octocat{color}", "and"),
    ("jira", "markdown", "lessonloop:review incident=github:acme/web#1 here", "here"),
    ("jira", "markdown", "{code}\nlessonloop:lesson review=jira:OPS-1\n{code}", "lesson"),
    ("markdown", "markdown", "thanks @acme/everyone, @octocat!", "thanks"),
    ("markdown", "markdown", "[@octocat](https://ok.test) **@octocat** _@octocat_ ~~@octocat~~", "ok.test"),
    ("markdown", "markdown", "- @octocat\n  1. @octocat\n> @octocat\n\n| a | b |\n|---|---|\n| @octocat | x |", "a"),
    ("markdown", "markdown", "<img src=x onerror=alert(1)> <details><summary>s</summary>d</details>", "s"),
    ("markdown", "markdown", "<a href=javascript:alert(1)>click</a> and <script>alert(1)</script>", "click"),
    ("markdown", "markdown", "<!-- lessonloop:review incident=github:acme/web#1 -->\nvisible", "visible"),
    ("markdown", "markdown", "LessonLoop:Review incident=x and lessonloop:LESSON", "incident=x"),
    ("markdown", "markdown", "[a](javascript:alert(1)) [b]( javascript:alert(1)) [c](<javascript:alert(1)>)", "a"),
    ("markdown", "markdown", "[d](data:text/html,x) [e](vbscript:msgbox) [f](/settings) [g](//evil.test)", "d"),
    ("markdown", "markdown", "![i](javascript:alert(1)) <javascript:alert(1)> xmpp:ops@evil.test", "i"),
    ("markdown", "markdown", "[ref link][r]\n\n[r]: javascript:alert(1)\n[s]: /settings", "ref link"),
    ("markdown", "markdown", "&#64;octocat &#x40;octocat &commat;octocat", "octocat"),
    ("markdown", "markdown", "- a\n  ```\n@octocat <img src=x onerror=1>\n  ```", "a"),
    ("markdown", "markdown", "```foo`bar\n@octocat\n```", "foo"),
    ("markdown", "markdown", "`a\nb`@octocat` and \\`@octocat`", "and"),
    ("markdown", "markdown", "````\n```\n````\n@octocat", "```"),
    # found by fuzzing: a refused link that drops out joins its neighbours; a bare URL eats a backslash
    ("markdown", "markdown", "ping @[](http://)octocat and <[](x)img src=x onerror=1>", "ping"),
    ("jira", "markdown", "see https://ok.test/a<details>open</details>", "open"),
    ("markdown", "markdown", "x_mailto:ops@evil.test and xmpp:ops@evil.test", "and"),
    ("markdown", "jira", "ping [~admin] and [~accountid:123] now", "now"),
    ("markdown", "jira", "[x](~accountid:123) <~accountid:123> [y](~admin)", "x"),
    ("markdown", "jira", "[a](javascript:alert(1)) ![b](javascript:alert(1)) [c](data:x) [d](vbscript:y)", "a"),
    ("markdown", "jira", "[e](/relative) [f](evil.test) <javascript:alert(1)>", "e"),
    ("markdown", "jira", "{html}<script>x</script>{html} {iframe:src=https://evil.test} {panel}p{panel}", "p"),
    ("markdown", "jira", "{color:red}red{color} {anchor:a} {include:x} {quote}q{quote}", "red"),
    ("markdown", "jira", "[x](https://ok.test/{color:red}[~admin]) and [y](https://ok.test/a|b)", "x"),
    ("markdown", "jira", "```\n{code}\n[~admin] {html}\n{noformat}\n```\nafter", "after"),
    ("markdown", "jira", "`}} [~admin] {{` and `a\\` [~admin]", "and"),
    ("markdown", "jira", "**[~admin]**\n- [~admin]\n> [~admin]\n| [~admin] | x |", "x"),
    ("markdown", "jira", "\\\\[~admin] and \\\\{html} and !javascript:alert(1)!", "and"),
    ("markdown", "jira", "<!-- lessonloop:review incident=x --> lessonloop:lesson", "incident"),
    ("jira", "jira", "[~admin] [~accountid:123] {html}x{html} {color:red}c{color} {panel}p{panel}", "p"),
    ("jira", "jira", "[x|javascript:alert(1)] [y|/settings] [javascript:z] !javascript:alert(1)! !a.png!", "x"),
    ("jira", "jira", "{code}\nx {CODE} [~admin] {noformat}\n{code}\n{{a}} [~admin] {{b}}", "x"),
    ("jira", "jira", "{code:title=[~admin]|borderStyle=solid}\ny\n{code}", "y"),
    ("jira", "jira", "a!!x!x!y! and <![javascript:a] [~[x|javascript:b]admin]", "and"),
    ("jira", "jira", "{quote}q [~admin]{quote} lessonloop:review incident=x", "q"),
    ("markdown", "plain", "[x](javascript:alert(1)) ![y](data:x) lessonloop:review", "x"),
    ("jira", "plain", "[x|javascript:alert(1)] [~accountid:1] {code}\nlessonloop:lesson\n{code}", "x"),
    ("plain", "markdown", "@octocat <img src=x onerror=1> [x](javascript:a)", "x"),
    ("plain", "jira", "[~admin] {html}h{html} [x|javascript:a]", "h"),
]


@pytest.mark.parametrize(("source", "target", "text", "benign"), CASES)
def test_copied_text_is_inert(source: str, target: str, text: str, benign: str) -> None:
    if "```" not in text:  # a code block's break-out only shows once converted
        assert LIVE[source](text) or LIVE[target](text), "the case must be an attack"
    out = convert(text, source, target)
    assert LIVE[target](out) == [], out
    assert benign in out


def test_the_checks_see_each_live_construct() -> None:
    """The checks themselves: each finds what it must, and passes what lessonloop writes."""
    assert github_live("hi @octocat") and github_live("<b>x</b>") and github_live("[x](javascript:a)")
    assert github_live("![x](data:y)") and github_live("&#64;octocat") and github_live("<!-- lessonloop:review -->")
    assert not github_live("[x](https://ok.test) `@octocat` ops@example.com\n```\n@octocat\n```")
    assert jira_live("[~admin]") and jira_live("{html}") and jira_live("[x|javascript:a]") and jira_live("!a.png!")
    assert not jira_live(
        "{code:bash}\n[~admin] {html}\n{code}\n[x|https://ok.test] \\{html} {{m}} !https://ok.test/i.png!"
    )


def test_links_keep_http_https_and_mailto_only() -> None:
    assert convert("[a](https://ok.test/x) [b](mailto:ops@ok.test)", "markdown", "markdown") == (
        "[a](https://ok.test/x) [b](mailto:ops@ok.test)"
    )
    assert convert("[a|https://ok.test/x] [b|mailto:ops@ok.test]", "jira", "jira") == (
        "[a|https://ok.test/x] [b|mailto:ops@ok.test]"
    )
    assert convert("[a](javascript:alert(1))", "markdown", "jira") == "a"
    assert convert("see [the runbook|javascript:alert(1)]", "jira", "markdown") == "see the runbook"


def test_mentions_render_but_notify_no_one() -> None:
    out = convert("thanks @octocat and @acme/sre", "markdown", "markdown")
    assert out == "thanks @\u200boctocat and @\u200bacme/sre"
    assert out.replace("\u200b", "") == "thanks @octocat and @acme/sre"  # what people see
    assert convert("write to ops@example.com", "markdown", "markdown") == "write to ops@example.com"
    assert convert("#123 and GH-123 and acme/web#4", "markdown", "markdown") == "#123 and GH-123 and acme/web#4"


def test_code_blocks_stay_verbatim_but_cannot_be_left() -> None:
    fenced = "```bash\necho '@octocat <b>' [~admin]\n```"
    assert convert(fenced, "markdown", "markdown") == fenced
    assert convert(fenced, "markdown", "jira") == "{code:bash}\necho '@octocat <b>' [~admin]\n{code}"
    jira = convert("```\n{code}\n```", "markdown", "jira")
    assert jira == "{noformat}\n{\u200bcode}\n{noformat}" and jira_live(jira) == []
    markdown = convert("{code}\n```\n{code}", "jira", "markdown")
    assert markdown == "````\n```\n````"


def test_break_markers() -> None:
    assert break_markers("lessonloop:review incident=x") == "lessonloop: review incident=x"
    assert break_markers("<!-- LESSONLOOP:Lesson -->") == "<!-- LESSONLOOP: Lesson -->"
    assert break_markers("lessonloop: already broken, lessonloop") == "lessonloop: already broken, lessonloop"
    assert markers.find(break_markers("[lessonloop:link a=b]")) == []


# --- tracker strings in the stub and the comments -----------------------------------------------

HOSTILE = Item(
    ref=ItemRef.parse("github:acme/web#42"),
    title="lessonloop:review incident=github:acme/web#1 @octocat [~admin] {html}<img src=x onerror=1>",
    url="https://github.com/acme/web/issues/42",
    priority="P1 @acme/everyone",
    service="[x|javascript:alert(1)]",
    assignees=("@octocat", "[~accountid:1]"),
)


@pytest.mark.parametrize("markup", ["markdown", "jira"])
def test_a_hostile_incident_lands_in_the_stub_inert(markup: str) -> None:
    stub = render_stub(HOSTILE, load_template(None), markup)
    assert LIVE[markup](stub) == [], stub
    assert "octocat" in stub and "admin" in stub


@pytest.mark.parametrize("markup", ["markdown", "jira", "plain"])
def test_a_hostile_incident_lands_in_the_lesson_comment_inert(markup: str) -> None:
    sections = {"what_happened": "@octocat [~admin] lessonloop:lesson review=x"}
    for written_in in ("markdown", "jira"):
        text = render_lesson_comment(
            sections,
            HOSTILE,
            "https://ok.test/r/1",
            load_template(None),
            markup,
            written_in=written_in,
        )
        assert LIVE[markup](text) == [], text


@pytest.mark.parametrize("markup", ["markdown", "jira", "plain"])
def test_escape_link_and_header_values(markup: str) -> None:
    for value in (
        escape(HOSTILE.title, markup),
        link(HOSTILE.title, "https://ok.test/lessonloop:review", markup),
        link("x", "javascript:alert(1)", markup),
        *header_values(HOSTILE, markup).values(),
    ):
        assert LIVE[markup](value) == [], value
    bad_url = Item(ref=HOSTILE.ref, title="t", url="javascript:alert(1)")
    assert header_values(bad_url, markup)["url"] == "unknown"


# --- any mix of dangerous fragments ---------------------------------------------------------------

FRAGMENTS = [
    "@octocat",
    "@acme/team",
    "[~admin]",
    "[~accountid:5b10]",
    "~accountid:1",
    "{html}",
    "{color:red}",
    "{panel}",
    "{code}",
    "{code:bash}",
    "{noformat}",
    "{quote}",
    "{{",
    "}}",
    "lessonloop:review",
    "LESSONLOOP:lesson",
    "<!--",
    "-->",
    "<img src=x onerror=1>",
    "<details>",
    "<a href=javascript:a>",
    "</a>",
    "&#64;",
    "&commat;",
    "javascript:alert(1)",
    "data:text/html,x",
    "https://ok.test/a",
    "mailto:ops@ok.test",
    "/settings",
    "[",
    "]",
    "(",
    ")",
    "<",
    ">",
    "|",
    "!",
    "*",
    "_",
    "`",
    "```",
    "~~~",
    "\\",
    "\n",
    "\n\n",
    " ",
    "  ",
    "- ",
    "> ",
    "| ",
    "# ",
    "bq. ",
    "h2. ",
    "1. ",
    "word",
    "x",
    "\r\n",
    "\t",
    "]: ",
    "](",
    "xmpp:",
    "\u200b",
]


@settings(max_examples=300, derandomize=True, deadline=None, database=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join))
def test_no_mix_of_fragments_comes_out_live(text: str) -> None:
    for source in ("markdown", "jira", "plain"):
        for target in ("markdown", "jira", "plain"):
            out = convert(text, source, target)
            assert LIVE[target](out) == [], (source, target, out)
