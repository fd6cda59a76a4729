"""``/insights`` and ``/insights.csv`` over the Flask test client, on SQLite and PostgreSQL: a
view's dates, services and labels; its figures agreeing with ``lessons stats``; bad values
refused before anything is computed; CSV files a spreadsheet opens safely; empty states."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, time, timedelta

import pytest

from service.infra.runtime import Runtime
from service.learning import insight_figures, stats
from service.learning.figures import as_dict
from service.store import followups, insight_followups, insight_reviews
from service.store.insight_scope import Scope
from service.web import cache
from tests.web_data import backdate, keep, share

BROWSER = {"Accept": "text/html"}


def today() -> date:
    return datetime.now(UTC).date()


def task(engine, review: str, key: str, state: str, *, due: int | None, done_after: int | None = None) -> None:
    """A listed follow-up of ``review`` with a task, in ``state``, due ``due`` days from today,
    done ``done_after`` days after it was recorded."""
    ref = f"github:acme/tasks#{abs(hash((review, key))) % 100_000}"
    followups.add(
        engine,
        review_ref=review,
        item_key=key,
        text=f"Do {key}",
        origin="opened",
        position=int(key[-1]),
        due_on=today() + timedelta(days=due) if due is not None else None,
        ref=ref,
    )
    if state != followups.OPEN:
        followups.set_state(engine, ref, state)
    if done_after is not None:
        recorded = datetime.now(UTC) - timedelta(days=30)
        followups.change(engine, review, key, created_at=recorded, done_at=recorded + timedelta(days=done_after))


@pytest.fixture
def year(runtime: Runtime) -> Runtime:
    """Reviews over four months, in two services and with labels; follow-ups in every state."""
    engine = runtime.engine
    edge = keep(engine, 1, "Resolver timeouts", labels=("Sev1", "dns"), service="edge")
    backdate(engine, edge, days=100, hours_to_lesson=30)
    billing = keep(engine, 2, "Invoices late", source="jira", tracker="jira", labels=("sev2",), service="Billing")
    backdate(engine, billing, days=70, hours_to_lesson=4)
    again = keep(engine, 3, "Resolver again", labels=("sev1",), service="edge")
    backdate(engine, again, days=40, hours_to_lesson=10)
    keep(engine, 4, "Still being written", captured=False, service="billing")
    share(engine, edge, "github:acme/web#1")
    share(engine, edge, "jira:OPS-9")
    share(engine, again, "github:acme/web#3")
    task(engine, edge, "k1", followups.DONE, due=-20, done_after=5)  # done 25 days ago: by its due day
    task(engine, edge, "k2", followups.DONE, due=-28, done_after=10)  # done 20 days ago: late
    task(engine, billing, "k1", followups.OPEN, due=-3)  # open past due
    task(engine, billing, "k2", followups.OPEN, due=9)
    task(engine, again, "k1", followups.NOT_DOING, due=None)
    return runtime


def _csv(client, args: str) -> list[dict[str, str]]:
    answer = client.get(f"/insights.csv?{args}")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))


def _month(days_ago: int) -> str:
    return f"{today() - timedelta(days=days_ago):%Y-%m}"


def test_months_span_the_view_and_the_current_one_is_partial(client, year: Runtime) -> None:
    rows = _csv(client, "table=months")
    assert rows[0]["month"] == f"{today() - timedelta(days=365):%Y-%m}" and rows[-1]["month"] == f"{today():%Y-%m}"
    assert rows[-1]["partial"] == "yes" and {row["partial"] for row in rows[1:-1]} == {"no"}
    opened: dict[str, int] = {}
    for days in (100, 70, 40, 0):
        opened[_month(days)] = opened.get(_month(days), 0) + 1
    assert {row["month"]: int(row["reviews_opened"]) for row in rows if row["reviews_opened"] != "0"} == opened
    assert sum(int(row["lessons_captured"]) for row in rows) == 3
    took: dict[str, list[int]] = {}
    for days, hours in ((100, 30), (70, 4), (40, 10)):
        captured = datetime.now(UTC) - timedelta(days=days) + timedelta(hours=hours)
        took.setdefault(f"{captured:%Y-%m}", []).append(hours)
    medians = {month: f"{sorted(hours)[(len(hours) - 1) // 2]:.2f}" for month, hours in took.items()}
    assert {
        row["month"]: row["close_to_lesson_median_hours"] for row in rows if row["lessons_captured"] != "0"
    } == medians


def test_the_view_counts_what_lessons_stats_counts(year: Runtime) -> None:
    """One truth: the view of the last 90 days and ``lessons stats --days 90`` give the same
    reviews, lessons, times, reach and follow-ups, though one is grouped in SQL."""
    engine, now = year.engine, today()
    progress = stats.last_days(engine, 90, now)
    first = progress.since
    scope = Scope(
        datetime.combine(first, time.min, tzinfo=UTC), datetime.combine(now + timedelta(days=1), time.min, tzinfo=UTC)
    )
    totals = insight_figures.build(
        insight_reviews.load(engine, scope, now), insight_followups.load(engine, scope, now), first, now, now
    ).totals
    expected = as_dict(progress)
    assert (totals.reviews_opened, totals.lessons_captured) == (
        expected["reviews_opened"],
        expected["lessons_captured"],
    )
    assert (totals.reviews_open, totals.reviews_overdue) == (expected["reviews_open"], expected["reviews_overdue"])
    assert totals.close_to_lesson == progress.close_to_lesson and totals.items_per_lesson == progress.items_per_lesson
    assert totals.comments_by_tracker == progress.comments_by_tracker
    assert totals.followups == progress.followups
    assert totals.followups.done_within_due == 0.5 and totals.followups.open_past_due == 1


def test_a_service_or_label_view_narrows_every_figure(client, year: Runtime) -> None:
    edge = _csv(client, "table=months&service=EDGE")  # any case, as the log's filter
    assert sum(int(row["reviews_opened"]) for row in edge) == 2
    labelled = _csv(client, "table=months&label=sev1")  # Sev1 and sev1 both
    assert sum(int(row["reviews_opened"]) for row in labelled) == 2
    assert sum(int(row["reviews_opened"]) for row in _csv(client, "table=months&label=dns&service=edge")) == 1
    either = _csv(client, "table=services&service=edge&service=billing")
    assert {row["service"]: row["reviews_opened"] for row in either} == {"edge": "2", "Billing": "1", "billing": "1"}
    followed = _csv(client, "table=followups&service=billing")
    assert sum(int(row["listed"]) for row in followed) == 2 and sum(int(row["open_past_due"]) for row in followed) == 1
    by_service = {row["service"]: row["followups_open_past_due"] for row in _csv(client, "table=services")}
    assert by_service["Billing"] == "1" and by_service["edge"] == "0"
    page = client.get("/insights?service=edge&service=search&label=dns", headers=BROWSER).get_data(as_text=True)
    assert "service edge or search, labelled dns" in page
    assert '<input type="hidden" name="service" value="search">' in page  # kept when the form is sent again
    assert "<strong>1</strong> reviews opened" in page


def test_a_date_range_keeps_the_reviews_opened_in_it(client, year: Runtime) -> None:
    start, end = today() - timedelta(days=80), today() - timedelta(days=50)
    rows = _csv(client, f"table=months&from={start}&to={end}")
    assert [row["month"] for row in rows] == insight_figures.month_names(start, end)
    assert rows[0]["partial"] == ("no" if start.day == 1 else "yes")
    assert sum(int(row["reviews_opened"]) for row in rows) == 1  # the one opened 70 days ago
    answer = client.get(f"/insights.csv?table=months&from={start}&to={end}")
    assert answer.headers["Content-Disposition"] == f'attachment; filename="lessonloop-months-{start}-to-{end}.csv"'
    future = client.get(f"/insights?to={today() + timedelta(days=30)}", headers=BROWSER).get_data(as_text=True)
    assert f'<time datetime="{today()}">' in future  # shown up to today, not into the future


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ("from=2026-13-01", "from"),
        ("to=yesterday", "to"),
        ("from=2026-02-01&to=2026-01-01", "from"),
        ("from=2090-01-01", "from"),
        ("from=2026-01-01&from=2026-02-01", "from"),
        ("from=2000-01-01&to=2020-01-01", "from"),
        ("service=" + "x" * 201, "service"),
        ("&".join(f"label=l{n}" for n in range(21)), "label"),
    ],
)
def test_a_bad_value_is_a_400_that_names_it_and_changes_nothing(
    client, app, year: Runtime, args: str, named: str
) -> None:
    client.get("/insights")
    cached = dict(app.extensions[cache.EXTENSION].entries)
    for path in (f"/insights?{args}", f"/insights.csv?table=months&{args}"):
        answer = client.get(path)
        assert answer.status_code == 400, path
        assert answer.get_json()["detail"].startswith(f"{named}:"), answer.get_json()
        page = client.get(path, headers=BROWSER)
        assert page.status_code == 400 and named in page.get_data(as_text=True)
    assert app.extensions[cache.EXTENSION].entries == cached  # nothing computed, nothing kept


def test_a_csv_names_its_table_or_is_a_400(client, year: Runtime) -> None:
    for args in ("", "table=everything", "table=months&table=reach"):
        answer = client.get(f"/insights.csv?{args}")
        assert answer.status_code == 400 and answer.get_json()["detail"].startswith("table:"), args


def test_every_table_downloads_as_csv_from_its_link(client, year: Runtime) -> None:
    page = client.get("/insights?service=edge&service=Billing", headers=BROWSER).get_data(as_text=True)
    links = re.findall(r'href="(/insights\.csv\?[^"]+)" download>', page)
    tables = set(re.findall(r"table=(\w+)", " ".join(links)))
    assert tables == {"months", "followups", "reach", "comments", "trackers", "services", "labels"}
    for link in links:
        answer = client.get(link.replace("&amp;", "&"))
        assert answer.status_code == 200
        assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert answer.headers["Content-Disposition"].startswith('attachment; filename="lessonloop-')
        assert "service=edge" in link and "service=Billing" in link  # the same view
        body = answer.get_data(as_text=True)
        assert body.endswith("\r\n") and len(body.splitlines()) >= 2


def test_names_a_spreadsheet_would_run_arrive_as_text(client, runtime: Runtime) -> None:
    keep(runtime.engine, 1, "One", labels=('=HYPERLINK("https://evil.example","x")', "+1", "-cmd", "@SUM(A1)"))
    keep(runtime.engine, 2, "Two", service="\tindent")
    labels = {row["label"] for row in _csv(client, "table=labels")}
    assert labels == {'\'=HYPERLINK("https://evil.example","x")', "'+1", "'-cmd", "'@SUM(A1)"}
    assert {row["service"] for row in _csv(client, "table=services")} == {"'\tindent"}
    page = client.get("/insights", headers=BROWSER).get_data(as_text=True)
    assert "=HYPERLINK(&#34;https://evil.example&#34;,&#34;x&#34;)" in page  # the page shows it as it is, escaped


def test_charts_have_whole_ticks_units_and_the_current_month_marked(client, year: Runtime) -> None:
    page = client.get("/insights", headers=BROWSER).get_data(as_text=True)
    assert page.count('<svg class="chart"') == 5  # volume, rate, speed, follow-ups, reach
    ticks = re.findall(r'<text class="axis" x="[\d.]+" y="[\d.]+" text-anchor="end">([^<]*)</text>', page)
    assert ticks and all(re.fullmatch(r"\d+", tick) for tick in ticks)
    for unit in ("reviews, lessons", "% of reviews", "hours", "follow-ups", "items per lesson", "month (UTC)"):
        assert f">{unit}</text>" in page, unit
    assert f"<title>{today():%Y-%m}: partial month</title>" in page
    assert f'<th scope="row">{today():%Y-%m} (partial)</th>' in page


def test_empty_views_say_why_and_where_to_look(client, runtime: Runtime) -> None:
    page = client.get("/insights", headers=BROWSER).get_data(as_text=True)
    assert "Nothing to show for this view" in page and "<svg" not in page.partition("<main")[2]
    keep(runtime.engine, 1, "Edge only", service="edge")
    page = client.get("/insights?service=nowhere", headers=BROWSER).get_data(as_text=True)
    assert "Nothing to show for this view" in page
    every = re.search(r'<a href="(/insights\?[^"]*)">The same dates, every service and label</a>', page)
    assert every and "service" not in every.group(1)
    page = client.get("/insights", headers=BROWSER).get_data(as_text=True)
    assert "No follow-up was recorded in these months." in page and 'id="chart-followups"' in page
    assert page.count('<svg class="chart"') == 4 and "None in this view." in page  # no label yet


def test_views_are_cached_apart_and_the_cache_stays_bounded(client, app, runtime: Runtime) -> None:
    keep(runtime.engine, 1, "One", service="edge")
    assert "<strong>1</strong> reviews opened" in client.get("/insights", headers=BROWSER).get_data(as_text=True)
    assert "Nothing to show" in client.get("/insights?service=api", headers=BROWSER).get_data(as_text=True)
    for days in range(cache.MAX_ENTRIES + 6):
        assert client.get(f"/insights.csv?table=months&from={today() - timedelta(days=days)}").status_code == 200
    assert len(app.extensions[cache.EXTENSION].entries) == cache.MAX_ENTRIES
    keep(runtime.engine, 2, "Two", service="edge")  # a lesson saved: every view is computed afresh
    assert "<strong>2</strong> reviews opened" in client.get("/insights", headers=BROWSER).get_data(as_text=True)
