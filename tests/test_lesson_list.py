"""The learning log's list: what a row says, the result count, the sort, and an empty log."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import update

from config.settings import Settings, SettingsError
from service.entry.app import create_app
from service.infra.runtime import Runtime
from service.store import followups
from service.store.schema import lessons
from tests.conftest import RULES_TOML
from tests.test_web_api import follow
from tests.web_data import keep


class Rows(HTMLParser):
    """The text of each cell of ``table.log``, row by row (what a reader sees, tags dropped)."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._in_log = False
        self._cell: list[str] | None = None
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and ("class", "log") in attrs:
            self._in_log = True
        elif self._in_log and tag == "tr":
            self.rows.append([])
        elif self._in_log and tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_log = False
        elif tag == "td" and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _set_dates(runtime: Runtime, review: str, closed: datetime | None, captured: datetime) -> None:
    with runtime.engine.begin() as connection:
        connection.execute(
            update(lessons)
            .where(lessons.c.review_ref == review)
            .values(incident_closed_at=closed, captured_at=captured, updated_at=captured)
        )


@pytest.fixture
def dated(runtime: Runtime) -> Runtime:
    """Three lessons whose incident order is not their capture order: #1 happened first but was
    written last; #3's incident has no close time (an import that did not know it)."""
    engine = runtime.engine
    first = keep(engine, 1, "Checkout 502s", labels=("sev1", "payments"), service="checkout")
    follow(engine, first, "k1", followups.DONE, due=5)
    follow(engine, first, "k2", followups.NOT_DOING, due=5)
    follow(engine, first, "k3", followups.OPEN, due=-2)
    follow(engine, first, "k4", followups.OPEN, due=None)
    second = keep(engine, 2, "Queue backed up", source="jira", tracker="jira", service="billing")
    third = keep(engine, 3, "Old runbook gap")
    _set_dates(runtime, first, datetime(2026, 1, 10, 9, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
    _set_dates(runtime, second, datetime(2026, 2, 20, 9, tzinfo=UTC), datetime(2026, 2, 21, tzinfo=UTC))
    _set_dates(runtime, third, None, datetime(2026, 2, 25, tzinfo=UTC))
    return runtime


def titles(page: str) -> list[str]:
    return [row[0].split(" github:")[0].split(" jira:")[0] for row in Rows(page).rows if row]


def test_a_row_says_when_where_how_bad_and_what_is_left_to_do(client, dated: Runtime) -> None:
    page = client.get("/lessons").get_data(as_text=True)
    rows = {row[0].split(" ")[0]: row for row in Rows(page).rows if row}
    checkout = rows["Checkout"]
    assert checkout[1:] == [
        "2026-01-10",
        "checkout",
        "P2",
        "payments sev1",
        "2 open · 1 overdue · 1 done · 1 not doing",
        "5h 00m",
    ]
    assert "github:acme/web#1 · review github:acme/postmortems#1" in checkout[0]
    assert "2026-03-01" not in page  # the capture day is not what the list dates a lesson by
    assert rows["Queue"][1:5] == ["2026-02-20", "billing", "P2", "–"] and rows["Queue"][5] == "–"
    assert rows["Old"][1] == "–"  # no incident close known: said, not made up
    assert 'href="/lessons?service=checkout"' in page and 'href="/lessons?label=sev1"' in page
    assert '<p class="count" role="status">3 lessons</p>' in page
    assert '<p class="count" role="status">1 lesson matches</p>' in client.get("/lessons?service=billing").get_data(
        as_text=True
    )


def test_sort_by_incident_or_capture_date_in_the_page_and_the_api(client, dated: Runtime) -> None:
    newest_captured = ["Checkout 502s", "Old runbook gap", "Queue backed up"]
    assert titles(client.get("/lessons").get_data(as_text=True)) == newest_captured
    assert titles(client.get("/lessons?sort=captured").get_data(as_text=True)) == newest_captured
    by_incident = titles(client.get("/lessons?sort=incident").get_data(as_text=True))
    assert by_incident == ["Queue backed up", "Checkout 502s", "Old runbook gap"]  # no close time: last
    api = client.get("/api/v1/lessons?sort=incident&per_page=1").get_json()
    assert [one["title"] for one in api["lessons"]] == ["Queue backed up"]
    assert "sort=incident" in api["next"]  # the sort is kept from page to page
    following = client.get(api["next"]).get_json()
    assert [one["title"] for one in following["lessons"]] == ["Checkout 502s"]
    searched = client.get("/lessons?q=filler&sort=incident").get_data(as_text=True)
    assert titles(searched) == by_incident and "3 lessons match" in searched
    page = client.get("/lessons?sort=incident&source=github").get_data(as_text=True)
    assert '<option value="incident" selected>' in page  # the form shows the sort it used


@pytest.mark.parametrize("value", ["relevance", "INCIDENT", "incident_closed_at desc", "<script>x</script>", "a" * 300])
def test_a_bad_sort_is_a_400_that_names_it(client, dated: Runtime, value: str) -> None:
    page = client.get("/lessons", query_string={"sort": value}, headers={"Accept": "text/html"})
    assert page.status_code == 400
    text = page.get_data(as_text=True)
    assert "sort: one of incident, captured" in text and "<script>x" not in text
    problem = client.get("/api/v1/lessons", query_string={"sort": value})
    assert problem.status_code == 400 and problem.get_json()["detail"] == "sort: one of incident, captured"


def test_an_empty_log_says_how_lessons_arrive(client, runtime: Runtime) -> None:
    page = client.get("/lessons").get_data(as_text=True)
    empty = page[page.index('<section class="empty"') :]
    assert (
        "No lessons yet" in empty
        and "webhooks" in empty
        and "<code>lessonloop import github:owner/repo</code>" in empty
    )
    assert "This log hears from github, jira, pagerduty." in empty
    assert "GitHub (<code>docs/setup-github.md</code>)" in empty and "<code>docs/commands.md</code>" in empty
    assert 'class="count"' not in page and "<table" not in page
    assert "No lesson matches." in client.get("/lessons?q=anything").get_data(as_text=True)


def test_an_empty_log_links_the_docs_where_they_are_read(
    make_settings: Callable[..., Settings], runtime: Runtime, tmp_path: Path
) -> None:
    config = tmp_path / "lessonloop.toml"
    config.write_text(RULES_TOML + '\n[web]\ndocs_url = "https://docs.example/lessonloop/docs/"\n')
    settings = make_settings(config)
    app = create_app(settings, Runtime(settings, runtime.engine, runtime.redis, runtime.queue))
    page = app.test_client().get("/lessons").get_data(as_text=True)
    assert '<a href="https://docs.example/lessonloop/docs/setup-jira.md">Jira</a>' in page
    assert '<a href="https://docs.example/lessonloop/docs/commands.md">the commands</a>' in page


def test_a_docs_url_must_be_a_web_address(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    config = tmp_path / "lessonloop.toml"
    config.write_text(RULES_TOML + '\n[web]\ndocs_url = "javascript:alert(1)"\n')
    with pytest.raises(SettingsError, match="docs_url.*must be an http"):
        make_settings(config)


class _Links(HTMLParser):
    def __init__(self, page: str) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs += [value for name, value in attrs if name == "href" and value]


def test_a_rows_label_and_service_link_to_the_log_filtered_by_exactly_that_value(client, runtime: Runtime) -> None:
    """The links are the log's URL and a query built from the value: characters that mean
    something in a URL or in HTML (``&``, ``#``, ``+``, a quote, a space) stay the value."""
    label, service = 'team a&b #1 "x"+y', "Check Out/é?"
    review = keep(runtime.engine, 1, "Odd names", labels=(label,), service=service)
    keep(runtime.engine, 2, "Plain", labels=("sev1",), service="web")
    links = [href for href in _Links(client.get("/lessons").get_data(as_text=True)).hrefs if "?" in href]
    for name, value in (("label", label), ("service", service)):
        found = [href for href in links if parse_qs(urlsplit(href).query).get(name) == [value]]
        assert len(found) == 1 and urlsplit(found[0]).path == "/lessons", (name, links)
        answer = client.get(found[0].replace("/lessons", "/api/v1/lessons", 1)).get_json()
        assert [one["ref"] for one in answer["lessons"]] == [review]
