"""The store on SQLite and PostgreSQL: migrations match the tables, inserts deduplicate."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from service.runtime import Runtime
from service.store import deliveries, migrate
from service.store.schema import SEARCH_INDEX_NAMES, metadata


def _not_search_index(name: str | None, type_: str, _parents: object) -> bool:
    """The full-text index (an FTS5 table and its shadow tables on SQLite, a generated tsvector
    column and its GIN index on PostgreSQL) is made by migration 0004 in each dialect's own SQL:
    SQLAlchemy's metadata cannot describe it, so the comparison leaves exactly it out."""
    return not (name in SEARCH_INDEX_NAMES or (type_ == "table" and (name or "").startswith("lessons_fts_")))


def test_migrations_create_exactly_the_declared_tables(runtime: Runtime) -> None:
    with runtime.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_name": _not_search_index})
        differences = compare_metadata(context, metadata)
    assert differences == []
    assert not migrate.pending(runtime.engine)


def test_upgrading_twice_is_harmless(runtime: Runtime) -> None:
    migrate.upgrade(runtime.engine)
    migrate.upgrade(runtime.engine)
    assert not migrate.pending(runtime.engine)


def test_record_deduplicates_by_source_and_delivery_id(runtime: Runtime) -> None:
    fields = dict(event_name="issues.closed", event_kind="incident_closed", item_ref="github:a/b#1",
                  headers={"X-GitHub-Event": "issues"}, body=b"{}")
    first = deliveries.record(runtime.engine, source="github", delivery_id="d1", **fields)
    again = deliveries.record(runtime.engine, source="github", delivery_id="d1", **fields)
    other_source = deliveries.record(runtime.engine, source="jira", delivery_id="d1", **fields)
    assert first.new and not again.new and other_source.new
    assert again.delivery_pk == first.delivery_pk != other_source.delivery_pk
    stored = deliveries.get(runtime.engine, first.delivery_pk)
    assert stored is not None
    assert stored.headers == {"X-GitHub-Event": "issues"}
    assert stored.received_at.tzinfo is not None


def test_finish_happens_once(runtime: Runtime) -> None:
    recorded = deliveries.record(runtime.engine, source="github", delivery_id="d2", event_name="e",
                                 event_kind="k", item_ref=None, headers={}, body=b"{}")
    assert deliveries.finish(runtime.engine, recorded.delivery_pk, deliveries.DONE, "ok")
    assert not deliveries.finish(runtime.engine, recorded.delivery_pk, deliveries.FAILED, error="late")
    assert deliveries.get(runtime.engine, recorded.delivery_pk).status == deliveries.DONE  # type: ignore[union-attr]
    assert deliveries.reopen(runtime.engine, recorded.delivery_pk)
    assert deliveries.counts(runtime.engine)[deliveries.RECEIVED] == 1
