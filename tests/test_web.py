"""The learning log's pages and API over the Flask test client: filters, errors, safety."""

from __future__ import annotations

import re

import pytest

from service.infra.runtime import Runtime
from tests.web_data import keep


@pytest.fixture
def filled(runtime: Runtime) -> Runtime:
    keep(
        runtime.engine,
        1,
        "DNS resolver timeouts",
        labels=("sev1",),
        service="edge",
        what_learned="x",
        what_we_learned="Caches hide resolver **timeouts** until they expire.",
    )
    keep(
        runtime.engine,
        2,
        "Payments delayed",
        source="jira",
        tracker="jira",
        service="billing",
        what_happened="The queue *backed up*; see [runbook|https://wiki.example/runbook].",
    )
    keep(runtime.engine, 3, "Still open", captured=False)
    return runtime


def test_root_redirects_to_the_log(client) -> None:
    response = client.get("/")
    assert response.status_code in (301, 302) and response.headers["Location"].endswith("/lessons")


def test_list_search_filter_and_lesson_page(client, filled: Runtime) -> None:
    page = client.get("/lessons").get_data(as_text=True)
    assert "DNS resolver timeouts" in page and "Payments delayed" in page
    page = client.get("/lessons?q=timeout").get_data(as_text=True)
    assert "DNS resolver timeouts" in page and "Payments delayed" not in page
    page = client.get("/lessons?source=jira").get_data(as_text=True)
    assert "Payments delayed" in page and "DNS resolver" not in page
    page = client.get("/lessons?service=edge&label=sev1").get_data(as_text=True)
    assert "DNS resolver timeouts" in page and "Payments delayed" not in page
    link = re.search(r'href="(/lessons/jira:PIR-2)"', client.get("/lessons").get_data(as_text=True))
    assert link
    lesson = client.get(link.group(1)).get_data(as_text=True)
    assert "<strong>backed up</strong>" in lesson  # Jira wiki markup rendered
    assert '<a href="https://wiki.example/runbook" rel="noopener nofollow">runbook</a>' in lesson
    assert client.get("/lessons/github:acme/postmortems%231").status_code == 200
    assert client.get("/lessons/jira:NOPE-1").status_code == 404


def test_bad_filters_are_400(client, filled: Runtime) -> None:
    for query in (
        "source=gitlab",
        "tracker=pagerduty",
        "from=2026-13-01",
        "from=2026-02-01&to=2026-01-01",
        "page=0",
        "page=x",
        "q=" + "a" * 501,
    ):
        assert client.get(f"/lessons?{query}").status_code == 400, query
        response = client.get(f"/api/v1/lessons?{query}")
        assert response.status_code == 400 and response.mimetype == "application/problem+json", query
        assert response.get_json()["status"] == 400 and response.get_json()["detail"], query
    assert client.get("/api/v1/stats?days=0").status_code == 400


def test_api(client, filled: Runtime) -> None:
    body = client.get("/api/v1/lessons?per_page=1").get_json()
    assert [lesson["ref"] for lesson in body["lessons"]] == ["jira:PIR-2"]
    first = body["lessons"][0]
    assert {"ref", "incident", "title", "url", "captured_at", "sections"} <= set(first)
    assert first["incident"] == "jira:OPS-2" and first["html_url"] == "http://localhost/lessons/jira:PIR-2"
    assert first["url"] == "http://localhost/api/v1/lessons/jira%3APIR-2"
    assert body["next"].endswith("/api/v1/lessons?page=2&per_page=1")
    second = client.get(body["next"]).get_json()
    assert [lesson["ref"] for lesson in second["lessons"]] == ["github:acme/postmortems#1"] and second["next"] is None
    assert client.get("/api/v1/lessons?q=resolver").get_json()["lessons"][0]["ref"] == "github:acme/postmortems#1"
    one = client.get("/api/v1/lessons/jira:OPS-2").get_json()  # by the incident's ref too
    assert one["ref"] == "jira:PIR-2" and one["service"] == "billing"
    assert client.get("/api/v1/lessons/jira:NOPE-9").status_code == 404
    stats = client.get("/api/v1/stats").get_json()
    assert stats["reviews_opened"] == 3 and stats["lessons_captured"] == 2 and stats["reviews_open"] == 3


def test_insights_draws_charts(client, filled: Runtime) -> None:
    page = client.get("/insights").get_data(as_text=True)
    assert page.count('<svg class="chart"') == 4  # volume, rate, speed, reach; no follow-up yet to chart
    assert page.count('<ul class="legend">') == 4  # each chart names its series, each beside its own hatch or marker
    assert "billing" in page and "sev1" in page and "jira" in page


def test_security_headers_and_no_scripts(client, filled: Runtime) -> None:
    for path in ("/lessons", "/insights", "/lessons/jira:PIR-2", "/api/v1/lessons"):
        response = client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src" not in csp and "default-src 'none'" in csp, path
        assert "<script" not in response.get_data(as_text=True)
    assert "Content-Security-Policy" not in client.get("/healthz").headers


HOSTILE = {
    "what_happened": '<script>alert("md")</script> and <img src=x onerror="alert(1)"> and '
    '<a href="https://ok.example" onclick="alert(2)">click</a>',
    "what_we_expected": "[a link](javascript:alert(3)) and [b](JAVASCRIPT:alert(4)) and <javascript:alert(5)>",
    "why_different": "![img](https://evil.example/x.png) <iframe src=https://evil.example></iframe>",
    "what_we_learned": "<svg onload=alert(6)></svg> [data](data:text/html;base64,PHNjcmlwdD4=)",
}
HOSTILE_JIRA = {
    "what_happened": "{html}<script>alert('jira')</script>{html} and <b onmouseover=alert(7)>x</b>",
    "what_we_expected": "[click|javascript:alert(8)] and [ok|https://ok.example/jira]",
    "why_different": "{noformat}<script>alert(9)</script>{noformat}",
}


def _dangerous(page: str) -> list[str]:
    found = re.findall(r"<(?:script|iframe|img|svg(?! class=\"(?:chart|key)\"))\b", page, re.IGNORECASE)
    found += re.findall(r"<[^>]*\son\w+\s*=", page, re.IGNORECASE)
    found += re.findall(r"""href\s*=\s*["']?\s*(?!https?:|mailto:|/|\?|#)[a-z]+:""", page, re.IGNORECASE)
    return found


def test_hostile_lesson_text_renders_as_text(client, runtime: Runtime) -> None:
    keep(runtime.engine, 1, '<script>alert("title")</script>', incident_url="javascript:alert(10)", **HOSTILE)
    keep(runtime.engine, 2, "Jira lesson", source="jira", tracker="jira", **HOSTILE_JIRA)
    for path in (
        "/lessons",
        "/lessons/github:acme/postmortems%231",
        "/lessons/jira:PIR-2",
        "/insights",
        "/lessons?q=%3Cscript%3E",
    ):
        page = client.get(path).get_data(as_text=True)
        assert _dangerous(page) == [], path
    page = client.get("/lessons/github:acme/postmortems%231").get_data(as_text=True)
    assert "&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt;" in page  # the title, as text
    assert "&lt;script&gt;" in page and "onerror" in page  # the section's tags, as text
    assert '<a href="https://ok.example" rel="noopener nofollow">click</a>' not in page  # raw HTML is never a link
    jira = client.get("/lessons/jira:PIR-2").get_data(as_text=True)
    assert "alert(&#39;jira&#39;)" in jira or "alert('jira')" in jira
    assert '<a href="https://ok.example/jira" rel="noopener nofollow">ok</a>' in jira


def test_a_lessons_related_lessons_are_found_once_until_the_log_changes(
    client, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.web import pages

    engine = runtime.engine
    first = keep(engine, 1, "Resolver timeouts at the edge", what_happened="The resolver cache expired under load.")
    keep(engine, 2, "Resolver timeouts in checkout", what_happened="The resolver cache expired under load again.")
    computed: list[str] = []
    find_related = pages.related_to

    def counted(engine, lesson):
        computed.append(lesson.review_ref)
        return find_related(engine, lesson)

    monkeypatch.setattr(pages, "related_to", counted)
    path = "/lessons/" + first.replace("#", "%23")
    for _ in range(3):
        assert "Resolver timeouts in checkout" in client.get(path).get_data(as_text=True)
    assert computed == [first]  # read three times, ranked once
    keep(engine, 3, "Resolver timeouts in search", what_happened="The resolver cache expired under load once more.")
    assert "Resolver timeouts in search" in client.get(path).get_data(as_text=True)  # a saved lesson shows at once
    assert computed == [first, first]
