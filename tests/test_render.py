"""Lesson text as its tracker shows it, checked against the HTML: line breaks, task lists, bare
URLs and refs as links, headings below the section's level, images as links, and every case
still inside the allow-list. The page-level cases go through the app and a real store."""

from __future__ import annotations

import re
from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.domain.events import Markup
from service.infra.runtime import Runtime
from service.web import refs
from service.web.refs import Mention
from service.web.render import lesson_html
from tests.web_data import keep


def render(text: str, urls: Mapping[str, str] | None = None, markup: Markup = "markdown") -> str:
    def resolve(found: set[Mention]) -> dict[str, str]:
        return {one.ref: (urls or {})[one.ref] for one in found if one.ref in (urls or {})}

    return str(lesson_html(text, markup, resolve if urls else None))


def test_a_single_newline_is_a_line_break_as_in_github_and_jira() -> None:
    timeline = "10:02 alert fired\n10:05 paged\n10:20 rolled back"
    assert render(timeline) == "<p>10:02 alert fired<br>\n10:05 paged<br>\n10:20 rolled back</p>\n"
    assert "<br>" in render("h2. Timeline\n10:02 alert\n10:05 paged", markup="jira")
    assert render("one\n\ntwo") == "<p>one</p>\n<p>two</p>\n"


def test_task_lists_are_disabled_checkboxes_named_by_their_state() -> None:
    html = render("- [ ] add the alert\n- [x] roll back\n- plain item")
    assert (
        '<li class="task-list-item"><input type="checkbox" disabled="" aria-label="to do"> add the alert</li>' in html
    )
    assert '<input type="checkbox" disabled="" checked="" aria-label="done"> roll back' in html
    assert "<li>plain item</li>" in html and "[ ]" not in html and "[x]" not in html


def test_bare_urls_become_links_and_trailing_punctuation_stays_text() -> None:
    html = render("Dashboards: https://grafana.example/d/abc?x=1. Also www.status.example, or ops@acme.example")
    assert (
        '<a href="https://grafana.example/d/abc?x=1" rel="noopener nofollow">https://grafana.example/d/abc?x=1</a>.'
        in html
    )
    assert '<a href="http://www.status.example" rel="noopener nofollow">www.status.example</a>,' in html
    assert '<a href="mailto:ops@acme.example" rel="noopener nofollow">ops@acme.example</a>' in html
    assert "<a" not in render("`https://in.code.example` and\n\n    https://in.block.example")


def test_refs_link_where_the_resolver_says_and_stay_text_otherwise() -> None:
    urls = {"jira:OPS-12": "/lessons/jira:OPS-12", "github:acme/web#12": "https://github.example/acme/web/issues/12"}
    html = render("Like OPS-12 (and github:acme/web#12). Not OPS-13, nor UTF-8.", urls)
    assert '<a href="/lessons/jira:OPS-12" rel="noopener nofollow">OPS-12</a> (and ' in html
    assert (
        '<a href="https://github.example/acme/web/issues/12" rel="noopener nofollow">github:acme/web#12</a>).' in html
    )
    assert "Not OPS-13, nor UTF-8." in html
    # a ref in a link's text, in code or in a URL is not linked again
    html = render("[see OPS-12](https://x.example/OPS-12) `OPS-12` https://x.example/browse/OPS-12", urls)
    assert html.count("<a ") == 2 and "/lessons/" not in html


def test_refs_are_found_as_whole_words_only() -> None:
    found = [
        (text[s:e], m.ref, m.bare)
        for text in ["OPS-12, jira:OPS-3: pagerduty:PX1Z. x-OPS-1 aOPS-2 ops-4 OPS-"]
        for s, e, m in refs.mentions(text)
    ]
    assert found == [
        ("OPS-12", "jira:OPS-12", True),
        ("jira:OPS-3", "jira:OPS-3", False),
        ("pagerduty:PX1Z", "pagerduty:PX1Z", False),
    ]


def test_headings_sit_below_the_sections_own_h2() -> None:
    html = render("# Summary\n## Detail\n###### Deepest\n\nSummary\n===")
    assert re.findall(r"<(h\d)>", html) == ["h3", "h4", "h6", "h3"]
    assert "<h1" not in render("h1. Summary", markup="jira") and "<h3>Summary</h3>" in render(
        "h1. Summary", markup="jira"
    )


def test_images_are_links_named_by_their_alt_text_and_nothing_loads() -> None:
    assert render("![the dashboard](https://img.example/a.png)") == (
        '<p><a href="https://img.example/a.png" rel="noopener nofollow">Image: the dashboard</a></p>\n'
    )
    assert render("![](https://img.example/a.png)").startswith('<p><a href="https://img.example/a.png"')
    assert (
        render("![local](screenshot.png) ![x](javascript:alert(1))")
        == "<p>Image: local ![x](javascript:alert(1))</p>\n"
    )
    assert "Image" in render("!https://img.example/b.png|width=300!", markup="jira")
    assert "<img" not in render('![a](https://img.example/a.png "t") <img src=x>')


def test_hostile_text_stays_inside_the_allow_list() -> None:
    html = render('<input type="text" onfocus="alert(1)"> [ ] <label>x</label>\n\n- [x] <b onclick=x>y</b>')
    tags = re.findall(r"<[^>]*>", html)  # the tags the browser will read; the rest is text
    assert not [tag for tag in tags if "onfocus" in tag or "onclick" in tag or 'type="text"' in tag or "<label" in tag]
    assert html.count("<input") == 1 and "&lt;input" in html


@given(st.text(alphabet="OPS-12 :#/.ajirgthubcme[]()!*\n`<>x", max_size=200))
def test_any_text_renders_without_raw_tags(text: str) -> None:
    html = render(text, {"jira:OPS-12": "/lessons/jira:OPS-12"})
    assert "<script" not in html and "<img" not in html and "javascript:" not in re.sub(r">[^<]*<", "><", html)


def test_every_ref_in_a_long_text_is_found() -> None:
    """A megabyte of refs and ref-like runs is read in one pass (bench/render.py prints the
    cost per kilobyte at three sizes)."""
    text = "OPS-1 x-OPS-2 " * 85_000 + "a-" * 100_000
    assert sum(1 for _ in refs.mentions(text)) == 85_000


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_lesson_page_links_refs_to_the_log_then_the_tracker(client, runtime: Runtime) -> None:
    keep(runtime.engine, 12, "Earlier outage", source="jira", tracker="jira")
    review = keep(
        runtime.engine,
        40,
        "Long URL outage",
        what_happened=(
            "Like OPS-12 and jira:PIR-12, not OPS-99 nor github:acme/web#7 nor SHA-256 nor pagerduty:PQ1."
            "\n\nhttps://logs.example/" + "x" * 400
        ),
        what_we_learned="# Summary\nline one\nline two\n\n- [ ] follow up\n\n![graph](https://img.example/g.png)",
    )
    html = client.get(f"/lessons/{review.replace('#', '%23')}").get_data(as_text=True)
    assert '<a href="/lessons/jira:OPS-12" rel="noopener nofollow">OPS-12</a>' in html  # the log has it
    assert '<a href="/lessons/jira:PIR-12" rel="noopener nofollow">jira:PIR-12</a>' in html
    assert ">OPS-99</a>" in html  # OPS is a project the rules name: its Jira page
    assert re.search(r'<a href="https?://[^"]+/acme/web/issues/7" rel="noopener nofollow">github:acme/web#7</a>', html)
    assert "nor SHA-256 nor pagerduty:PQ1." in html  # no such project, no PagerDuty page: text
    assert html.count("<h1") == 1 and "<h3>Summary</h3>" in html
    assert "line one<br>" in html and 'aria-label="to do"' in html
    assert ">Image: graph</a>" in html and "<img" not in html
