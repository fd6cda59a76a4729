"""Full-text search of the learning log, on SQLite (FTS5) and PostgreSQL (tsvector + GIN)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import Connection, Engine, event, insert, text

from service.domain.events import Item, ItemRef
from service.store import lessons, migrate, ranking, reviews, search
from service.store.engine import make_engine
from service.store.lessons import Filters
from service.store.schema import incidents
from service.store.schema import lessons as lessons_table
from tests.web_data import SECTIONS, keep


@pytest.fixture
def engine(database_url: str):
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def refs(found: list[lessons.Lesson]) -> list[str]:
    return [lesson.review_ref for lesson in found]


def test_finds_by_any_sections_words_and_ranks_title_matches_first(engine: Engine) -> None:
    body_only = keep(engine, 1, "Checkout slow", what_we_learned="The resolver timeouts hid behind retries.")
    in_title = keep(engine, 2, "Resolver timeouts during deploy")
    keep(engine, 3, "Unrelated", what_happened="Nothing about names.")
    for index, section in enumerate(SECTIONS, start=10):
        keep(engine, index, f"Lesson {index}", **{section: f"The zebracorn{index} appeared."})
        assert refs(lessons.search(engine, f"zebracorn{index}")[0]) == [f"github:acme/postmortems#{index}"]
    custom = keep(engine, 20, "Custom template", timeline="At 10:02 the flamingo alarm went off.")
    assert refs(lessons.search(engine, "flamingo")[0]) == [custom]

    found, following = lessons.search(engine, "resolver TIMEOUT")  # any case; stemmed
    assert refs(found) == [in_title, body_only] and following is None
    assert refs(lessons.search(engine, "resolver unicorn")[0]) == []  # every word must be there


def test_hostile_queries_are_only_words(engine: Engine) -> None:
    keep(engine, 1, "Queue backlog", what_happened='A "quoted" NEAR(x y) title:thing * and 100% load.')
    for query in ('"', "title:", "NEAR(", "*", "a OR", "(((", "-x", "'; DROP TABLE lessons; --", "\\", "%", "_"):
        lessons.search(engine, query)  # never an error
    assert len(lessons.search(engine, "quoted NEAR")[0]) == 1
    assert lessons.search(engine, "!!!")[0] == []


def test_filters_and_pages(engine: Engine) -> None:
    jira = keep(
        engine, 1, "Payments delayed", source="jira", tracker="jira", labels=("sev1", "payments"), service="billing"
    )
    github = keep(engine, 2, "Payments page down", labels=("incident",), service="web")
    page_duty = keep(engine, 3, "Payments pager storm", source="pagerduty", tracker="jira", service="billing")
    assert refs(lessons.search(engine, "", Filters(source=("jira",)))[0]) == [jira]
    assert sorted(refs(lessons.search(engine, "payments", Filters(tracker=("jira",)))[0])) == [jira, page_duty]
    assert refs(lessons.search(engine, "", Filters(label=("sev1",)))[0]) == [jira]
    assert refs(lessons.search(engine, "", Filters(service=("billing",)))[0]) == [page_duty, jira]
    today = datetime.now(UTC).date()
    assert len(lessons.search(engine, "", Filters(date_from=today, date_to=today))[0]) == 3
    assert lessons.search(engine, "", Filters(date_to=today - timedelta(days=1)))[0] == []
    assert lessons.search(engine, "", Filters(date_from=date(2999, 1, 1)))[0] == []

    first, following = lessons.search(engine, "", per_page=2)
    assert refs(first) == [page_duty, github] and following == 2
    second, following = lessons.search(engine, "", page=2, per_page=2)
    assert refs(second) == [jira] and following is None


def test_filters_ignore_case_and_take_any_of_several_values(engine: Engine) -> None:
    sev1 = keep(engine, 1, "Payments delayed", labels=("sev1",), service="Checkout")
    sev2 = keep(engine, 2, "Search slow", labels=("SEV2",), service="search")
    keep(engine, 3, "Docs typo", labels=("sev3",), service="docs")
    assert refs(lessons.search(engine, "", Filters(label=("SEV1",)))[0]) == [sev1]
    assert refs(lessons.search(engine, "", Filters(service=("checkout",)))[0]) == [sev1]
    assert refs(lessons.search(engine, "", Filters(label=("sev1", "sev2")))[0]) == [sev2, sev1]
    assert refs(lessons.search(engine, "", Filters(service=("CHECKOUT", "Search")))[0]) == [sev2, sev1]
    assert lessons.count(engine, "", Filters(label=("sev1", "sev2"), service=("search",))) == 1
    assert refs(lessons.search(engine, "", Filters(source=("jira", "github")))[0])[:1] == ["github:acme/postmortems#3"]
    values = lessons.filter_values(engine)
    assert sorted(values.labels) == ["SEV2", "sev1", "sev3"] and sorted(values.services) == [
        "Checkout",
        "docs",
        "search",
    ]


def test_a_lists_count_is_the_lessons_its_pages_list_under_every_filter(engine: Engine) -> None:
    """The count reads the incidents a label or service selects (``correlated=False``), the
    pages check each lesson's incident: both must agree, a lesson whose incident carries two
    of the labels asked for counted once."""
    keep(engine, 1, "One", source="jira", tracker="jira", labels=("sev1", "SEV2"), service="Checkout")
    keep(engine, 2, "Two", labels=("sev2",), service="checkout")
    keep(engine, 3, "Three", source="pagerduty", tracker="jira", labels=("Sev1",), service="billing")
    keep(engine, 4, "Four", source="jira", labels=(), service="")
    keep(engine, 5, "Five", labels=("sev3",), service="search")
    today = datetime.now(UTC).date()
    cases = [
        Filters(),
        Filters(label=("sev1",)),
        Filters(label=("sev1", "sev2")),
        Filters(label=("SEV1",), source=("jira",)),
        Filters(service=("CHECKOUT",)),
        Filters(service=("checkout", "billing"), label=("sev1",)),
        Filters(source=("jira", "pagerduty"), tracker=("jira",)),
        Filters(label=("nothing",)),
        Filters(service=("checkout",), date_from=today, date_to=today),
        Filters(label=("sev2",), date_to=today - timedelta(days=1)),
    ]
    for filters in cases:
        listed = [one for page in range(1, 7) for one in lessons.search(engine, "", filters, page=page, per_page=1)[0]]
        assert search.listed_count(engine, filters) == len(listed) == lessons.count(engine, "", filters), filters
    assert [search.listed_count(engine, filters) for filters in cases] == [5, 2, 3, 1, 2, 2, 2, 0, 2, 0]


def test_a_lists_count_is_asked_of_what_the_caller_remembers(engine: Engine) -> None:
    keep(engine, 1, "One", labels=("sev1",))
    asked: list[Filters] = []

    def remember(filters: Filters, count) -> int:
        asked.append(filters)
        return 41 if len(asked) > 1 else count()

    assert search.find(engine, "", Filters(label=("sev1",)), remember=remember).total == 1
    assert search.find(engine, "", Filters(label=("sev1",)), remember=remember).total == 41  # kept, not counted
    assert search.find(engine, "one", Filters(label=("sev1",)), remember=remember).total == 1  # words: ranked
    assert asked == [Filters(label=("sev1",))] * 2


def test_a_typed_ref_or_key_finds_its_lesson(engine: Engine) -> None:
    jira = keep(engine, 3, "Payments delayed", source="jira", tracker="jira")
    github = keep(engine, 1, "Checkout down", what_happened="See OPS-3 for the same cause.")
    keep(engine, 2, "Unrelated")
    for typed in ("OPS-3", "ops-3", "jira:OPS-3", " jira:ops-3 ", "PIR-3", "jira:PIR-3"):
        assert refs(lessons.search(engine, typed)[0]) == [jira], typed
        assert lessons.count(engine, typed) == 1
    for typed in ("github:acme/web#1", "acme/web#1", "ACME/Web#1", "github:acme/postmortems#1", "acme/postmortems#1"):
        assert refs(lessons.search(engine, typed)[0]) == [github], typed
    assert jira not in refs(lessons.search(engine, "OPS-3", Filters(source=("github",)))[0])  # filters still apply
    assert lessons.search(engine, "OPS-99")[0] == []
    assert lessons.search(engine, "github:acme/web#99")[0] == []


def test_the_last_word_is_the_start_of_a_word_when_no_lesson_holds_it_whole(engine: Engine) -> None:
    canary = keep(engine, 1, "Bad canary", what_happened="The canary release went to every region.")
    keep(engine, 2, "Disk full", what_happened="Nothing about birds.")
    keep(engine, 3, "Canal", what_happened="A canal.")
    stamp = keep(engine, 4, "Clock skew", what_happened="The timestamp drifted.")
    slow = keep(engine, 5, "Slow deploy", what_happened="It took a long time.")
    assert refs(lessons.search(engine, "time")[0]) == [slow]  # held whole: searched as typed
    assert refs(lessons.search(engine, "timest")[0]) == [stamp]  # held by none: the start of a word
    assert refs(lessons.search(engine, "drifted timest")[0]) == [stamp]
    assert refs(lessons.search(engine, "canar")[0]) == [canary]
    assert lessons.count(engine, "canar") == 1
    assert refs(lessons.search(engine, "release canar")[0]) == [canary]
    assert refs(lessons.search(engine, "canaries")[0]) == [canary]  # still stemmed when whole
    assert lessons.search(engine, "canar release")[0] == []  # only the last word is a prefix
    assert len(lessons.search(engine, "ca")[0]) == 0  # too short to be a prefix
    assert refs(lessons.search(engine, "bad canar")[0]) == [canary]


def test_a_search_ranks_the_most_recently_added_matches_and_says_more_match(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ranking, "MAX_RANKED", 3)
    oldest = keep(engine, 1, "Zebra in the title", service="edge")  # best match, but added first
    older = keep(engine, 2, "Second", what_happened="A zebra crossed.", service="edge")
    newer = [keep(engine, number, f"Lesson {number}", what_happened="One zebra.") for number in (3, 4, 5)]
    keep(engine, 6, "No stripes here")
    found = search.find(engine, "zebra", per_page=2)
    assert (found.total, found.more, found.next_page) == (3, True, 2)
    listed = search.find(engine, "zebra", page=2, per_page=2)
    assert (len(listed.ids), listed.next_page) == (1, None)
    assert sorted(refs(lessons.by_ids(engine, found.ids + listed.ids))) == sorted(newer)  # not the two oldest
    assert lessons.count(engine, "zebra") == 3
    by_date = search.find(engine, "zebra", order="captured")
    assert refs(lessons.by_ids(engine, by_date.ids)) == newer[::-1] and by_date.more
    # filters narrow before the bound, so they reach older lessons: all of these are listed
    narrowed = search.find(engine, "zebra", Filters(service=("edge",)))
    assert refs(lessons.by_ids(engine, narrowed.ids)) == [oldest, older] and not narrowed.more
    whole_log = search.find(engine, "", per_page=2)  # no words: nothing ranked, everything counted
    assert (whole_log.total, whole_log.more) == (6, False)


def test_a_search_under_the_bound_is_counted_exactly(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ranking, "MAX_RANKED", 3)
    title = keep(engine, 1, "Zebra in the title")
    body = keep(engine, 2, "Second", what_happened="A zebra crossed.")
    found = search.find(engine, "zebra")
    assert refs(lessons.by_ids(engine, found.ids)) == [title, body] and (found.total, found.more) == (2, False)


def test_similar_ranks_among_the_most_recently_added(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ranking, "MAX_RANKED", 2)
    alike = keep(engine, 1, "Resolver timeouts", what_happened="The resolver cache timed out under load.")
    newer = [keep(engine, number, f"Lesson {number}", what_happened="A resolver.") for number in (2, 3)]
    text = "Resolver timeouts again: the resolver cache timed out under load"
    assert sorted(refs(lessons.similar(engine, text, limit=3))) == sorted(newer)  # the best is older than both
    monkeypatch.setattr(ranking, "MAX_RANKED", 3)
    assert refs(lessons.similar(engine, text, limit=1)) == [alike]


@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_a_search_on_postgresql_is_planned_without_parallel_workers_and_leaves_the_pool_as_it_was(
    engine: Engine,
) -> None:
    """Parallel workers are PostgreSQL's: SQLite has none to turn off."""
    assert engine.dialect.name == "postgresql"
    keep(engine, 1, "Zebra crossing", what_happened="A zebra.")
    during: list[str] = []

    def setting(connection, _cursor, statement: str, *_: object) -> None:
        if "candidates" in statement:
            raw = connection.connection.driver_connection
            during.append(raw.execute("SHOW max_parallel_workers_per_gather").fetchone()[0])

    event.listen(engine, "after_cursor_execute", setting)
    try:
        assert search.find(engine, "zebra").total == 1 and len(lessons.similar(engine, "zebra crossing")) == 1
    finally:
        event.remove(engine, "after_cursor_execute", setting)
    assert during == ["0", "0"]
    with engine.connect() as connection:  # the pooled connection is as it was
        assert connection.execute(text("SHOW max_parallel_workers_per_gather")).scalar() != "0"


def test_edits_replace_the_index_entry(engine: Engine) -> None:
    review = keep(engine, 1, "Disk full", what_happened="The ocelot filled the disk.")
    keep(engine, 1, "Disk full", what_happened="The logs filled the disk.")
    assert lessons.search(engine, "ocelot")[0] == []
    assert refs(lessons.search(engine, "logs")[0]) == [review]


def test_similar_finds_lessons_like_a_free_text(engine: Engine) -> None:
    dns = keep(engine, 1, "DNS resolver timeouts", what_happened="Resolver cache expired under load.")
    keep(engine, 2, "Disk full on the database host", what_happened="Logs grew without rotation.")
    found = lessons.similar(engine, "Checkout failing: resolver timeouts again, DNS cache?")
    assert refs(found)[0] == dns
    assert lessons.similar(engine, "Checkout failing: resolver", exclude=[dns]) == []
    assert lessons.similar(engine, "the and of") == []


def _lesson_kept_before(connection: Connection, number: int, incident: str, title: str, text: str) -> None:
    """A lesson row as a migration older than the head left it: written with SQL, every section
    holding ``text``, no search entry."""
    moment = datetime.now(UTC)
    connection.execute(
        insert(lessons_table).values(
            review_ref=f"jira:PIR-{number}",
            incident_ref=incident,
            incident_title=title,
            incident_url="u",
            priority="",
            review_url="u",
            other_sections={},
            digest="d",
            captured_at=moment,
            updated_at=moment,
            **dict.fromkeys(SECTIONS, text),
        )
    )


def test_the_migration_indexes_lessons_kept_before_it(database_url: str) -> None:
    engine = make_engine(database_url)
    config = migrate.alembic_config(engine)
    command.upgrade(config, "0003")
    with engine.begin() as connection:
        _lesson_kept_before(connection, 7, "jira:OPS-7", "Old lesson about pelicans", "kept before search existed")
    migrate.upgrade(engine)
    assert refs(lessons.search(engine, "pelicans")[0]) == ["jira:PIR-7"]
    assert refs(lessons.search(engine, "existed")[0]) == ["jira:PIR-7"]
    engine.dispose()


def test_a_lessons_service_is_its_incidents_kept_in_step(engine: Engine) -> None:
    """The service filter reads the lesson's own copy of its incident's service: a later close
    of the incident with another service (or none) moves the lesson with it."""
    review = keep(engine, 1, "Queue backlog", service="Checkout")
    assert refs(lessons.search(engine, "", Filters(service=("checkout",)))[0]) == [review]
    assert refs(lessons.search(engine, "backlog", Filters(service=("CHECKOUT",)))[0]) == [review]
    for service, found in (("payments", "payments"), ("", "checkout")):
        reviews.save_incident(
            engine, Item(ref=ItemRef.parse("github:acme/web#1"), title="Queue backlog", url="u", service=service)
        )
        assert refs(lessons.search(engine, "backlog", Filters(service=(found,)))[0]) == ([review] if service else [])
        assert search.listed_count(engine, Filters(service=(found,))) == (1 if service else 0)
    assert lessons.search(engine, "", Filters(service=("checkout",)))[0] == []


def test_the_migration_gives_lessons_kept_before_it_their_incidents_service(database_url: str) -> None:
    engine = make_engine(database_url)
    command.upgrade(migrate.alembic_config(engine), "0010")
    moment = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(
            insert(incidents).values(
                ref="jira:OPS-7",
                title="t",
                url="u",
                body="",
                priority="",
                urgency="",
                service="Billing",
                responders=[],
                recorded_at=moment,
            )
        )
        for number, incident in ((7, "jira:OPS-7"), (8, "jira:OPS-8")):  # OPS-8: no incident recorded
            _lesson_kept_before(connection, number, incident, "Old lesson", "kept before")
    migrate.upgrade(engine)
    assert refs(lessons.search(engine, "", Filters(service=("billing",)))[0]) == ["jira:PIR-7"]
    with engine.connect() as connection:
        assert dict(connection.execute(text("SELECT review_ref, service FROM lessons")).all()) == {
            "jira:PIR-7": "Billing",
            "jira:PIR-8": "",
        }
    engine.dispose()


def test_the_migration_goes_down_and_up_again(engine: Engine) -> None:
    keep(engine, 1, "Heron sighting")
    command.downgrade(migrate.alembic_config(engine), "0003")
    migrate.upgrade(engine)
    assert refs(lessons.search(engine, "heron")[0]) == ["github:acme/postmortems#1"]
