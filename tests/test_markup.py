"""Lesson text converted between Markdown, Jira wiki markup and plain text (service.text.markup)."""

from __future__ import annotations

import pytest

from service.domain.events import review_markup
from service.text.markup import convert
from service.trackers.registry import markup_of


@pytest.mark.parametrize(
    ("markdown", "jira"),
    [
        ("## What happened", "h2. What happened"),
        ("###### deep ###", "h6. deep"),
        ("the **deploy** went *wrong*", "the *deploy* went _wrong_"),
        ("__bold__ and _em_", "*bold* and _em_"),
        ("ran `kubectl rollout undo`", "ran {{kubectl rollout undo}}"),
        ("see [the runbook](https://wiki.example.com/rb)", "see [the runbook|https://wiki.example.com/rb]"),
        ('see [**the** runbook](https://x.test/a "title")', "see [*the* runbook|https://x.test/a]"),
        ("<https://status.example.com>", "[https://status.example.com]"),
        # an image becomes a plain link: no reader's browser loads a remote image from a Jira comment
        ("![graph](https://x.test/g.png)", "[graph|https://x.test/g.png]"),
        ("~~wrong~~", "-wrong-"),
        ("- one\n  - two\n    - three", "* one\n** two\n*** three"),
        ("* one\n+ two", "* one\n* two"),
        ("1. first\n2) second", "# first\n# second"),
        ("> a quote", "bq. a quote"),
        ("---", "----"),
        ("```bash\nx = **1**\n```", "{code:bash}\nx = **1**\n{code}"),
        ("```\nraw `text`\n```", "{noformat}\nraw `text`\n{noformat}"),
        ("```python\nnever closed", "{code:python}\nnever closed\n{code}"),
        ("snake_case_name and 2 * 3 * 4", "snake_case_name and 2 * 3 * 4"),
        # Jira parses emphasis inside {{monospace}} too: escaped, the stars show as typed
        ("`**not bold**` in code", "{{\\*\\*not bold\\*\\*}} in code"),
        ("plain text, nothing to do", "plain text, nothing to do"),
        # what is only text in Markdown but a macro or a link in Jira is escaped
        ("set {timeout} in [brackets]", "set \\{timeout} in \\[brackets]"),
        ("already \\[escaped] and \\*not em\\*", "already \\[escaped] and \\*not em\\*"),
        # Jira parses the inside of {{monospace}}: a brace there would be a macro (was "{{{code}}}")
        ("`{code}` stays", "{{\\{code\\}}} stays"),
    ],
)
def test_markdown_to_jira(markdown: str, jira: str) -> None:
    assert convert(markdown, "markdown", "jira") == jira


@pytest.mark.parametrize(
    ("jira", "markdown"),
    [
        ("h3. Why it made sense", "### Why it made sense"),
        ("the *alert* was _muted_", "the **alert** was *muted*"),
        ("ran {{kubectl rollout undo}}", "ran `kubectl rollout undo`"),
        ("see [runbook|https://wiki/x]", "see [runbook](https://wiki/x)"),
        ("see [https://a.test/c]", "see <https://a.test/c>"),
        ("!https://x.test/g.png|thumbnail!", "![](https://x.test/g.png)"),
        ("-wrong- was struck", "~~wrong~~ was struck"),
        # a list nested in "1. " is indented by three, or GitHub does not nest it
        ("* one\n** two\n# first\n## sub", "- one\n  - two\n1. first\n   1. sub"),
        ("bq. quoted", "> quoted"),
        ("----", "---"),
        ("{code:bash}\nkubectl *x*\n{code}", "```bash\nkubectl *x*\n```"),
        ("{code:title=fix.sh|borderStyle=solid}\nexit 1\n{code}", "```\nexit 1\n```"),
        ("{code:language=sql|title=q}\nselect 1\n{code}", "```sql\nselect 1\n```"),
        ("{noformat}\n*raw*\n{noformat}", "```\n*raw*\n```"),
        ("{code}x = 1{code} inline", "`x = 1` inline"),
        ("{quote}\nquoted *bold*\n{quote}", "> quoted **bold**"),
        # a blank line ends the quote: "then prose" right after "> " would continue it on GitHub
        ("{quote}said in one line{quote}\nthen prose", "> said in one line\n\nthen prose"),
        ("||h1||h2||\n|a|b|", "| h1 | h2 |\n|---|---|\n| a | b |"),
        ("|a|b|", "| | |\n|---|---|\n| a | b |"),
        ("[~accountid:5b10a2844c20165700ede21g] and [~jsmith] helped", "a Jira user and jsmith helped"),
        # hyphens, dates, snake_case and flags are not markup
        ("well-known -v flag and a - b - c on 2024-01-02", "well-known -v flag and a - b - c on 2024-01-02"),
        ("snake_case_name stays", "snake_case_name stays"),
        ("line\r\nends", "line\nends"),
        # what is only text in Jira but markup (or a vanishing HTML tag) on GitHub is escaped
        # (a zero-width space breaks the tag; "\\<" was not enough after a bare URL, which swallows the backslash)
        ("the <service> tag, 2*3*4 and a `tick`", "the <\u200bservice> tag, 2\\*3\\*4 and a \\`tick\\`"),
        ("kept \\*as typed\\*", "kept \\*as typed\\*"),
        ("{color:red}alert{color} fired", "alert fired"),
    ],
)
def test_jira_to_markdown(jira: str, markdown: str) -> None:
    assert convert(jira, "jira", "markdown") == markdown


@pytest.mark.parametrize(
    ("source", "text", "plain"),
    [
        ("markdown", "## Heading\nthe **deploy** and `api`", "Heading\nthe deploy and api"),
        ("markdown", "see [the runbook](https://wiki/rb)", "see the runbook (https://wiki/rb)"),
        ("markdown", "see [https://wiki/rb](https://wiki/rb)", "see https://wiki/rb"),
        ("markdown", "```\ncode *kept*\n```\nafter", "code *kept*\nafter"),
        (
            "jira",
            "h2. Heading\nthe *alert* and [runbook|https://wiki/x]",
            "Heading\nthe alert and runbook (https://wiki/x)",
        ),
        ("plain", "already **plain**", "already **plain**"),
    ],
)
def test_to_plain_text(source: str, text: str, plain: str) -> None:
    assert convert(text, source, "plain") == plain


def test_a_round_trip_keeps_what_a_lesson_is_made_of() -> None:
    """Text is parsed and written out again, so the round trip keeps what the lesson renders to
    (the same HTML on GitHub), not its spacing: the first trip writes it in canonical form, and
    from there on it comes back as it went."""
    import cmarkgfm

    markdown = (
        "## Lesson\nThe **canary** read `latency` only; see [runbook](https://wiki/c).\n\n"
        "- first\n  - nested\n1. step\n\n> quoted\n```sh\nexit 1\n```"
    )
    once = convert(convert(markdown, "markdown", "jira"), "jira", "markdown")
    html = cmarkgfm.github_flavored_markdown_to_html
    assert html(once) == html(markdown)
    assert convert(convert(once, "markdown", "jira"), "jira", "markdown") == once


def test_a_review_is_written_in_its_trackers_markup_and_never_in_plain_text() -> None:
    assert review_markup(markup_of("github")) == "markdown"
    assert review_markup(markup_of("jira")) == "jira"
    with pytest.raises(ValueError, match="PagerDuty has no tasks"):
        review_markup(markup_of("pagerduty"))


def test_any_text_converts_without_error_and_plain_words_pass_through() -> None:
    """Whatever people type, including half-written markup, converts without an exception,
    and text with no markup in it comes out as it went in."""
    import random

    rng = random.Random(7)
    pieces = [
        "*",
        "**",
        "_",
        "__",
        "`",
        "```",
        "{code}",
        "{code:x}",
        "{noformat}",
        "{quote}",
        "{{",
        "}}",
        "[",
        "]",
        "(",
        ")",
        "|",
        "||",
        "!",
        "-",
        "~~",
        "#",
        "h2. ",
        "bq. ",
        "> ",
        "\n",
        "  ",
        "word",
        "http://x.test/a",
        "[~jsmith]",
        "<",
        ">",
        "1. ",
        "\r\n",
    ]
    for _ in range(2000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 30)))
        for source in ("markdown", "jira", "plain"):
            for target in ("markdown", "jira", "plain"):
                assert isinstance(convert(text, source, target), str)
    words = "The canary read latency only, so the rollout went on: 40 minutes of 502s.\nNext: error rate."
    for source, target in [("markdown", "jira"), ("jira", "markdown"), ("markdown", "plain"), ("jira", "plain")]:
        assert convert(words, source, target) == words


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "line",
    [
        "*a " * 40000,
        "**a " * 40000,
        "_a " * 40000,
        "~~a " * 40000,
        "[a " * 40000,
        "[a|b " * 30000,
        "-a " * 40000,
        "{{a " * 40000,
    ],
)
def test_a_long_line_of_unclosed_markup_converts_in_linear_time(line: str) -> None:
    """Unbounded lazy patterns took seconds per 60 kB line and minutes at this size (each opener
    scanned to the end of the line); bounded spans take well under a second. The timeout is
    a guard against that regression, tens of times the time it takes, not a benchmark."""
    for source, target in [("markdown", "jira"), ("jira", "markdown"), ("markdown", "plain"), ("jira", "plain")]:
        assert convert(line, source, target)


def test_emphasis_of_any_length_is_kept() -> None:
    """The parsers are linear without a bound on how far a construct may reach (the regexes they
    replaced needed one), so long emphasis is emphasis, as GitHub and Jira show it."""
    long = "x" * 250
    assert convert(f"**{long}**", "markdown", "jira") == f"*{long}*"
    assert convert(f"*{long}*", "jira", "markdown") == f"**{long}**"
