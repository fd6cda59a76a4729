"""One lesson, one truth, and HTTP done properly: the API, the pages, the exports, ``lessons
stats`` and ``/metrics`` tell the same follow-ups and figures; errors answer browsers with a page
and programs with problem details, both with the security headers; lists page with ``Link``
headers and a total; the API matches its own OpenAPI description (the ``client`` fixture checks
every ``/api/`` answer against it, see ``tests/openapi_check.py``)."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote

import pytest
from openapi_spec_validator import validate
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from service.entry import cli
from service.infra.runtime import Runtime
from service.learning import figures as progress
from service.learning import stats
from service.store import followups, ranking
from service.web import api
from service.web.blueprint import CONTENT_SECURITY_POLICY
from tests.conftest import base_env
from tests.web_data import keep, share

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
JSON = {"Accept": "application/json"}
PROBLEM = "application/problem+json"


def api_path(ref: str) -> str:
    return "/api/v1/lessons/" + quote(ref, safe="")


def follow(engine, review: str, key: str, state: str, *, due: int | None, origin: str = "opened") -> None:
    """A listed follow-up of ``review`` with a task (``ref``) in ``state``, due in ``due`` days."""
    number = abs(hash((review, key))) % 10_000
    ref = f"github:acme/tasks#{number}"
    due_on = date.today() + timedelta(days=due) if due is not None else None
    followups.add(
        engine,
        review_ref=review,
        item_key=key,
        text=f"Do {key}",
        origin=origin,
        position=int(key[-1]),
        due_on=due_on,
        ref=ref,
        url=f"https://github.example/acme/tasks/issues/{number}",
    )
    if state != followups.OPEN:
        followups.set_state(engine, ref, state)


@pytest.fixture
def followed(runtime: Runtime) -> Runtime:
    """Lesson 1: four listed follow-ups (done in time, not doing, open past due, open) and one
    no longer listed; shared on two items. Lesson 2: one follow-up done after its due date."""
    engine = runtime.engine
    first = keep(engine, 1, "Checkout 502s", labels=("sev1", "payments"), service="checkout")
    follow(engine, first, "k1", followups.DONE, due=5)
    follow(engine, first, "k2", followups.NOT_DOING, due=5)
    follow(engine, first, "k3", followups.OPEN, due=-2)
    follow(engine, first, "k4", followups.OPEN, due=None, origin="adopted")
    follow(engine, first, "k5", followups.OPEN, due=3)
    followups.change(engine, first, "k5", position=followups.UNLISTED)
    share(engine, first, "github:acme/web#1")
    share(engine, first, "jira:OPS-77")
    second = keep(engine, 2, "Queue backed up", source="jira", tracker="jira", service="billing")
    follow(engine, second, "k1", followups.DONE, due=-10)
    return runtime


def test_a_lesson_and_the_list_show_the_follow_ups_the_page_shows(client, followed: Runtime) -> None:
    page = client.get("/lessons/github:acme/postmortems%231").get_data(as_text=True)
    assert "1 of 4 done, 1 not doing" in page
    one = client.get(api_path("github:acme/postmortems#1")).get_json()
    assert one["followup_counts"] == {
        "listed": 4,
        "done": 1,
        "not_doing": 1,
        "open": 2,
        "overdue": 1,
        "text": "1 of 4 done, 1 not doing",
    }
    assert [(f["text"], f["state"], f["overdue"]) for f in one["followups"]] == [
        ("Do k1", "done", False),
        ("Do k2", "not doing", False),
        ("Do k3", "open", True),
        ("Do k4", "open", False),
    ]
    assert one["service"] == "checkout" and one["labels"] == ["payments", "sev1"]
    assert one["posted_on"] == ["github:acme/web#1", "jira:OPS-77"]
    listed = client.get("/api/v1/lessons").get_json()
    assert listed["total"] == 2
    item = next(lesson for lesson in listed["lessons"] if lesson["ref"] == "github:acme/postmortems#1")
    assert item == one  # one shape: a list item is the whole lesson
    assert client.get(item["url"]).get_json() == one  # ``url`` is the API's
    assert client.get(item["html_url"], headers=BROWSER).status_code == 200  # ``html_url`` the page
    assert client.get(api_path("jira:OPS-2")).get_json()["followup_counts"]["text"] == "1 of 1 done"  # by incident


def _cli(runtime: Runtime, monkeypatch, capsys, *args: str) -> str:
    for key, value in (base_env() | {"DATABASE_URL": runtime.settings.database_url}).items():
        monkeypatch.setenv(key, value)
    capsys.readouterr()
    assert cli.main(["--config", str(runtime.settings.config_file), *args]) == 0
    return capsys.readouterr().out


def test_the_api_and_the_exports_and_stats_agree(client, followed: Runtime, monkeypatch, capsys) -> None:
    exported = {one["review"]: one for one in json.loads(_cli(followed, monkeypatch, capsys, "lessons", "export"))}
    for lesson in client.get("/api/v1/lessons").get_json()["lessons"]:
        assert {key: lesson[key] for key in exported[lesson["ref"]]} == exported[lesson["ref"]]
    printed = json.loads(_cli(followed, monkeypatch, capsys, "lessons", "stats", "--format", "json", "--days", "30"))
    answered = client.get("/api/v1/stats?days=30").get_json()
    assert answered == printed
    assert answered["followups"] | {"median_days_to_done": 0} == {
        "opened": 4,
        "adopted": 1,
        "not_opened": 0,
        "done": 2,
        "not_doing": 1,
        "open": 2,
        "open_past_due": 1,
        "done_within_due": 0.5,
        "median_days_to_done": 0,
    }
    assert answered["items_per_lesson"]["count"] == 2 and answered["comments_by_tracker"] == {"github": 1, "jira": 1}


def test_insights_and_metrics_show_follow_ups(client, followed: Runtime) -> None:
    page = client.get("/insights").get_data(as_text=True)
    tiles = page[page.index('id="followups"') :]
    for figure in (
        "<strong>2</strong> follow-ups open",
        "<strong>1</strong> open past their due date",
        "<strong>50%</strong> done within their due date",
        "<strong>0 / 2</strong> items reached per lesson",  # lesson 2 was posted nowhere
    ):
        assert figure in tiles
    found = {
        sample.name: sample.value
        for family in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True))
        for sample in family.samples
    }
    assert found["lessonloop_followups_open"] == 2
    assert found["lessonloop_followups_overdue"] == 1
    assert found["lessonloop_followups_done"] == 2
    assert found["lessonloop_followups_done_within_due_ratio"] == 0.5


def test_a_follow_up_done_on_its_due_day_is_within_it(client, runtime: Runtime) -> None:
    review = keep(runtime.engine, 1, "One")
    follow(runtime.engine, review, "k1", followups.DONE, due=0)
    late_in_the_day = datetime.combine(date.today(), datetime.max.time().replace(microsecond=0), tzinfo=UTC)
    followups.change(runtime.engine, review, "k1", done_at=late_in_the_day)
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "lessonloop_followups_done_within_due_ratio 1.0" in metrics
    assert client.get("/api/v1/stats").get_json()["followups"]["done_within_due"] == 1.0


def test_an_empty_log_has_no_ratio_rather_than_zero(client, runtime: Runtime) -> None:
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "lessonloop_followups_open 0.0" in metrics and "lessonloop_followups_done_within_due_ratio NaN" in metrics
    assert client.get("/api/v1/stats").get_json()["followups"]["done_within_due"] is None


# --- errors ---------------------------------------------------------------------------------------


def _secured(response) -> None:
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "no-store" in response.headers["Cache-Control"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nowhere", 404),
        ("GET", "/lessons/jira:NOPE-1", 404),
        ("GET", "/lessons?source=gitlab", 400),
        ("GET", "/lessons?page=0", 400),
        ("POST", "/lessons", 405),
        ("DELETE", "/insights", 405),
        ("GET", "/static/../../etc/passwd", 404),
    ],
)
def test_errors_are_pages_for_browsers_and_problems_for_programs(
    client, runtime: Runtime, method: str, path: str, status: int
) -> None:
    page = client.open(path, method=method, headers=BROWSER)
    assert page.status_code == status and page.mimetype == "text/html"
    _secured(page)
    body = page.get_data(as_text=True)
    assert "<h1>" in body and 'href="/lessons"' in body and "{" not in body.partition("<main>")[2]
    for accept in (JSON, {"Accept": PROBLEM}, {"Accept": "*/*"}, {}, {"Accept": "text/html;q=0.1, application/json"}):
        answer = client.open(path, method=method, headers=accept)
        assert answer.status_code == status and answer.mimetype == PROBLEM, accept
        _secured(answer)
        problem = answer.get_json()
        assert problem["status"] == status and problem["type"] == "about:blank" and problem["detail"], accept
    if status == 405:
        assert page.headers["Allow"] == answer.headers["Allow"] and "GET" in page.headers["Allow"]


def test_api_errors_are_problems_even_for_a_browser(client, runtime: Runtime) -> None:
    for path, status in (
        ("/api/v1/lessons?page=x", 400),
        ("/api/v1/stats?days=0", 400),
        (api_path("jira:NOPE-9"), 404),
        ("/api/v1/nothing", 404),
    ):
        answer = client.get(path, headers=BROWSER)
        assert answer.status_code == status and answer.mimetype == PROBLEM, path
        assert answer.get_json()["title"] == {400: "Bad Request", 404: "Not Found"}[status]
        _secured(answer)
    refused = client.post("/api/v1/lessons", headers=BROWSER)
    assert refused.status_code == 405 and refused.mimetype == PROBLEM and "GET" in refused.headers["Allow"]
    _secured(refused)


def test_api_without_a_user_is_a_401_problem(client, runtime: Runtime) -> None:
    answer = client.get("/api/v1/lessons", environ_base={"REMOTE_ADDR": "192.0.2.1"})
    assert answer.status_code == 401 and answer.mimetype == PROBLEM and answer.get_json()["status"] == 401
    _secured(answer)


def test_webhook_and_health_errors_keep_their_shape(client, runtime: Runtime) -> None:
    refused = client.get("/webhooks/github", headers=BROWSER)
    assert refused.status_code == 405 and refused.get_json()["status"] == "error" and refused.headers["Allow"]
    unknown = client.post("/webhooks/gitlab", data=b"{}", headers=BROWSER)
    assert unknown.status_code == 404 and "unknown source" in unknown.get_json()["reason"]
    assert client.post("/healthz").get_json()["status"] == "error"


def test_hostile_paths_in_an_error_stay_text(client, runtime: Runtime) -> None:
    page = client.get("/lessons/%3Cscript%3Ealert(1)%3C/script%3E", headers=BROWSER)
    assert page.status_code == 404 and "<script" not in page.get_data(as_text=True)
    assert "&lt;script&gt;" in page.get_data(as_text=True)
    answer = client.get("/lessons/%3Cscript%3E", headers=JSON)
    assert answer.get_json()["detail"] == "No lesson for <script>." and answer.mimetype == PROBLEM
    too_long = client.get("/lessons/" + "a" * 5000, headers=BROWSER)
    assert too_long.status_code == 404 and len(too_long.get_data()) < 12_000


def test_a_trailing_slash_leads_to_the_log(client, runtime: Runtime) -> None:
    answer = client.get("/lessons/", headers=BROWSER)
    assert answer.status_code in (301, 302, 308) and answer.headers["Location"].endswith("/lessons")


# --- lists ----------------------------------------------------------------------------------------


@pytest.fixture
def seven(runtime: Runtime) -> Runtime:
    for number in range(1, 8):
        keep(runtime.engine, number, f"Lesson {number} about resolver timeouts")
    return runtime


def _links(header: str) -> dict[str, str]:
    """RFC 8288 ``Link`` values by relation (our own header: no commas inside the URLs)."""
    found = {}
    for part in header.split(", "):
        url, _, rel = part.partition("; ")
        assert url.startswith("<") and url.endswith(">") and rel.startswith('rel="'), part
        found[rel[5:-1]] = url[1:-1]
    return found


def test_a_search_past_its_bound_lists_the_newest_and_says_more_match(
    client, seven: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ranking, "MAX_RANKED", 3)
    answer = client.get("/api/v1/lessons?q=resolver&per_page=2")
    body = answer.get_json()
    assert (body["total"], body["total_is_lower_bound"], len(body["lessons"])) == (3, True, 2)
    assert _links(answer.headers["Link"])["last"].endswith("page=2&per_page=2")  # the last page it lists
    listed = body["lessons"] + client.get(body["next"]).get_json()["lessons"]
    assert sorted(lesson["ref"] for lesson in listed) == [f"github:acme/postmortems#{n}" for n in (5, 6, 7)]
    whole = client.get("/api/v1/lessons?per_page=2").get_json()
    assert (whole["total"], whole["total_is_lower_bound"]) == (7, False)
    page = client.get("/lessons?q=resolver", headers=BROWSER).get_data(as_text=True)
    assert "3+ lessons match" in page and "ranks the 3 lessons most recently added" in page
    assert "7 lessons" in client.get("/lessons", headers=BROWSER).get_data(as_text=True)


def test_the_description_names_the_search_bound() -> None:
    schema = api.description()["components"]["schemas"]["LessonList"]["properties"]
    assert f"{ranking.MAX_RANKED:,}" in schema["total_is_lower_bound"]["description"]
    assert f"{ranking.MAX_RANKED:,}" in api.description()["paths"]["/api/v1/lessons"]["get"]["description"]


def test_api_pages_link_and_count(client, seven: Runtime) -> None:
    first = client.get("/api/v1/lessons?q=resolver&per_page=3")
    body = first.get_json()
    assert (body["total"], body["page"], body["per_page"], len(body["lessons"])) == (7, 1, 3, 3)
    links = _links(first.headers["Link"])
    assert set(links) == {"first", "next", "last"} and body["prev"] is None
    assert links["next"] == body["next"] == "http://localhost/api/v1/lessons?q=resolver&page=2&per_page=3"
    assert links["last"].endswith("page=3&per_page=3")
    last = client.get(links["last"])
    assert len(last.get_json()["lessons"]) == 1 and last.get_json()["next"] is None
    assert set(_links(last.headers["Link"])) == {"first", "prev", "last"}
    beyond = client.get("/api/v1/lessons?q=resolver&per_page=3&page=10000")
    body = beyond.get_json()
    assert body["lessons"] == [] and body["total"] == 7 and body["next"] is None
    assert body["prev"] == links["last"] == _links(beyond.headers["Link"])["prev"]  # not page 9999
    nothing = client.get("/api/v1/lessons?q=nomatchword&page=3")
    assert nothing.get_json()["total"] == 0 and nothing.get_json()["prev"] is None and "Link" not in nothing.headers
    seen = set()
    url: str | None = "/api/v1/lessons?per_page=2"
    while url:
        page = client.get(url).get_json()
        seen |= {lesson["ref"] for lesson in page["lessons"]}
        url = page["next"]
    assert len(seen) == 7


def test_the_pages_never_link_newer_to_an_empty_page(client, seven: Runtime) -> None:
    page = client.get("/lessons?page=10000", headers=BROWSER).get_data(as_text=True)
    assert 'rel="prev" href="/lessons"' in page and "past the end: 7 lessons match" in page  # page 1 is the last
    assert 'rel="next"' not in page
    empty = client.get("/lessons?q=nomatchword&page=4", headers=BROWSER).get_data(as_text=True)
    assert 'rel="prev"' not in empty and "No lesson matches" in empty
    second = client.get("/lessons?page=2", headers=BROWSER).get_data(as_text=True)
    assert 'rel="prev" href="/lessons"' in second


def test_the_description_is_served_and_valid(client, runtime: Runtime) -> None:
    answer = client.get("/api/v1/openapi.json")
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    description = answer.get_json()
    validate(description)  # a valid OpenAPI 3.1 document
    assert description["openapi"].startswith("3.1")
    assert set(description["paths"]) == {
        "/api/v1/lessons",
        "/api/v1/lessons/{ref}",
        "/api/v1/stats",
        "/api/v1/openapi.json",
    }
    routes = {rule.rule for rule in client.application.url_map.iter_rules() if rule.rule.startswith("/api/")}
    assert {route.replace("<path:ref>", "{ref}") for route in routes} == set(description["paths"])


def test_an_answer_the_description_does_not_promise_fails_the_check(client, seven: Runtime) -> None:
    """The check is real: an extra field, or a field of the wrong type, is caught."""
    from openapi_core.exceptions import OpenAPIError

    from tests.openapi_check import check

    answer = client.get("/api/v1/lessons?per_page=1")
    body = answer.get_json()
    body["lessons"][0]["who"] = "someone"  # a field the description does not have
    answer.set_data(json.dumps(body))
    with pytest.raises(OpenAPIError):
        check(answer)
    body["lessons"][0].pop("who")
    body["total"] = "seven"
    answer.set_data(json.dumps(body))
    with pytest.raises(OpenAPIError):
        check(answer)


def test_search_parameters_take_refs_prefixes_any_case_and_repeated_values(client, runtime: Runtime) -> None:
    sev1 = keep(runtime.engine, 1, "Canary went wide", labels=("sev1",), service="Checkout")
    sev2 = keep(runtime.engine, 2, "Disk full", source="jira", tracker="jira", labels=("sev2",), service="search")
    keep(runtime.engine, 3, "Docs typo", labels=("sev3",), service="docs")

    def found(args: str) -> list[str]:
        answer = client.get(f"/api/v1/lessons?{args}").get_json()
        assert answer["total"] == len(answer["lessons"])
        return [one["ref"] for one in answer["lessons"]]

    assert found("label=sev1&label=SEV2") == [sev2, sev1]
    assert found("service=CHECKOUT&service=Search&label=sev2") == [sev2]
    assert found("q=canar") == [sev1]
    assert found("q=OPS-2") == found("q=jira%3AOPS-2") == found("q=pir-2") == [sev2]
    assert found("q=acme/web%231") == [sev1]
    page = client.get("/lessons?label=sev1&label=sev2").get_data(as_text=True)
    assert '<input type="hidden" name="label" value="sev2">' in page  # kept when the form is sent again
    assert '<datalist id="log-labels">' in page and '<option value="sev3">' in page
    assert '<datalist id="log-services">' in page and '<option value="Checkout">' in page
    for args in ("q=a&q=b", "page=1&page=2", "&".join(f"label=l{n}" for n in range(21)), "label=" + "x" * 201):
        answer = client.get(f"/api/v1/lessons?{args}")
        assert answer.status_code == 400, args
        assert client.get(f"/lessons?{args}").status_code == 400


def test_stats_and_insights_are_cached_until_a_lesson_or_follow_up_is_saved(client, runtime: Runtime) -> None:
    review = keep(runtime.engine, 1, "One")
    before = client.get("/api/v1/stats").get_json()
    assert client.get("/api/v1/stats").get_json() == before
    follow(runtime.engine, review, "k1", followups.OPEN, due=-1)
    after = client.get("/api/v1/stats").get_json()
    assert after["followups"]["open_past_due"] == before["followups"]["open_past_due"] + 1
    assert "<strong>1</strong> open past their due date" in client.get("/insights").get_data(as_text=True)
    keep(runtime.engine, 2, "Two")
    assert client.get("/api/v1/stats").get_json()["lessons_captured"] == after["lessons_captured"] + 1


def test_a_filtered_lists_count_is_kept_until_a_lesson_is_saved(client, runtime: Runtime) -> None:
    """The count under some filters is computed once per process until the log's generation
    changes: a label added to an incident behind the log's back (no lesson saved) shows in the
    page's lessons at once but not in the kept count; saving a lesson counts afresh."""
    keep(runtime.engine, 1, "One", labels=("sev1",))
    keep(runtime.engine, 2, "Two", labels=("sev2",))
    assert client.get("/api/v1/lessons?label=SEV1").get_json()["total"] == 1
    with runtime.engine.begin() as connection:
        connection.execute(
            text("INSERT INTO incident_labels (incident_ref, label) VALUES ('github:acme/web#2', 'sev1')")
        )
    answer = client.get("/api/v1/lessons?label=SEV1").get_json()
    assert len(answer["lessons"]) == 2 and answer["total"] == 1  # the count was kept
    assert client.get("/api/v1/lessons?label=sev1&source=github").get_json()["total"] == 2  # other filters: counted
    keep(runtime.engine, 3, "Three", labels=("sev1",))
    assert client.get("/api/v1/lessons?label=SEV1").get_json()["total"] == 3
    assert "3 lessons" in client.get("/lessons?label=SEV1").get_data(as_text=True)


def test_static_files_have_their_content_hash_in_the_url_and_a_long_cache(client, runtime: Runtime) -> None:
    page = client.get("/lessons").get_data(as_text=True)
    start = page.index("/assets/style.css?v=")
    url = page[start : page.index('"', start)]
    answer = client.get(url)
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    stale = client.get("/assets/style.css?v=0000000000000000")
    assert stale.status_code == 200 and "immutable" not in stale.headers["Cache-Control"]


def test_pages_the_api_and_static_files_are_compressed_when_asked(client, runtime: Runtime) -> None:
    for number in range(1, 6):
        keep(runtime.engine, number, f"Lesson {number}")
    for path in ("/lessons", "/api/v1/lessons", "/insights", "/api/v1/openapi.json"):
        plain = client.get(path)
        packed = client.get(path, headers={"Accept-Encoding": "gzip"})
        assert "Content-Encoding" not in plain.headers, path
        assert packed.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in packed.headers["Vary"], path
        assert gzip.decompress(packed.get_data()) == plain.get_data(), path
        assert len(packed.get_data()) * 3 < len(plain.get_data()), path
        assert packed.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    page = client.get("/lessons").get_data(as_text=True)
    start = page.index("/assets/style.css?v=")
    css = client.get(page[start : page.index('"', start)], headers={"Accept-Encoding": "br"})
    assert css.headers["Content-Encoding"] == "br" and "immutable" in css.headers["Cache-Control"]


def test_follow_up_figures_counted_in_sql_are_those_counted_in_python(followed: Runtime) -> None:
    engine = followed.engine
    third = keep(engine, 3, "Three")
    follow(engine, third, "k1", followups.DONE, due=None)
    follow(engine, third, "k2", followups.UNKNOWN, due=-1)
    follow(engine, third, "k3", followups.OPEN, due=-1, origin="not opened")
    moment = datetime.now(UTC) - timedelta(days=30)
    today = date.today()
    loaded = progress.summarise_followups(followups.since(engine, moment), today)
    assert stats.followup_figures_since(engine, moment, today) == loaded
    assert loaded.open_past_due == 1 and loaded.not_opened == 1 and loaded.done == 3
    future = datetime.now(UTC) + timedelta(days=1)
    assert stats.followup_figures_since(engine, future, today) == progress.FollowupFigures()
