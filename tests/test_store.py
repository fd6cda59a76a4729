"""The store on SQLite and PostgreSQL: migrations match the tables, inserts deduplicate."""

from __future__ import annotations

import gc
import os
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Engine, inspect, text

from service.infra.runtime import Runtime
from service.store import deliveries, migrate
from service.store.engine import WriteLockUnavailable, begin_write, make_engine
from service.store.schema import POSTGRESQL_ONLY_INDEXES, SEARCH_INDEX_NAMES, metadata
from tests import stores
from tests.conftest import POSTGRES_URL


def _not_search_index(name: str | None, type_: str, _parents: object) -> bool:
    """The full-text index (an FTS5 table and its shadow tables on SQLite, a generated tsvector
    column and its GIN index on PostgreSQL) is made by migration 0004 in each dialect's own SQL:
    SQLAlchemy's metadata cannot describe it, so the comparison leaves exactly it out."""
    return not (name in SEARCH_INDEX_NAMES or (type_ == "table" and (name or "").startswith("lessons_fts_")))


def _made_here(dialect: str) -> Callable[[Any, str | None, str, bool, Any], bool]:
    """Leaves out, on SQLite, the indexes the schema declares for PostgreSQL only."""

    def include(_object: Any, name: str | None, type_: str, _reflected: bool, _compare_to: Any) -> bool:
        return not (dialect != "postgresql" and type_ == "index" and name in POSTGRESQL_ONLY_INDEXES)

    return include


def _expression_indexes() -> set[str]:
    """The indexes the schema declares on an expression (``lower(label)``) for both engines."""
    return {
        str(index.name)
        for table in metadata.tables.values()
        for index in table.indexes
        if index.name not in POSTGRESQL_ONLY_INDEXES and any(not isinstance(one, Column) for one in index.expressions)
    }


# Neither Alembic nor SQLAlchemy reflects an expression index on SQLite, and both warn before any
# filter runs: the test reads SQLite's own catalogue for those instead, and PostgreSQL compares them
EXPRESSION_INDEX_WARNINGS = (
    pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index:UserWarning"),
    pytest.mark.filterwarnings(
        "ignore:Skipped unsupported reflection of expression-based index:sqlalchemy.exc.SAWarning"
    ),
)


@pytest.mark.migrated_from_scratch
@EXPRESSION_INDEX_WARNINGS[0]
@EXPRESSION_INDEX_WARNINGS[1]
def test_migrations_create_exactly_the_declared_tables(runtime: Runtime) -> None:
    with runtime.engine.connect() as connection:
        options = {"include_name": _not_search_index, "include_object": _made_here(connection.dialect.name)}
        context = MigrationContext.configure(connection, opts=options)
        differences = compare_metadata(context, metadata)
        if connection.dialect.name == "sqlite":
            made = set(connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'")).scalars())
            assert _expression_indexes() <= made
    assert differences == []
    assert _expression_indexes() >= {"ix_incident_labels_lower_label_ref", "ix_incidents_lower_service_ref"}
    assert not migrate.pending(runtime.engine)


@pytest.mark.migrated_from_scratch
def test_upgrading_twice_is_harmless(runtime: Runtime) -> None:
    migrate.upgrade(runtime.engine)
    migrate.upgrade(runtime.engine)
    assert not migrate.pending(runtime.engine)


def test_record_deduplicates_by_source_and_delivery_id(runtime: Runtime) -> None:
    fields = dict(
        event_name="issues.closed",
        event_kind="incident_closed",
        item_ref="github:a/b#1",
        headers={"X-GitHub-Event": "issues"},
        body=b"{}",
    )
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
    recorded = deliveries.record(
        runtime.engine,
        source="github",
        delivery_id="d2",
        event_name="e",
        event_kind="k",
        item_ref=None,
        headers={},
        body=b"{}",
    )
    assert deliveries.finish(runtime.engine, recorded.delivery_pk, deliveries.DONE, "ok")
    assert not deliveries.finish(runtime.engine, recorded.delivery_pk, deliveries.FAILED, error="late")
    assert deliveries.get(runtime.engine, recorded.delivery_pk).status == deliveries.DONE
    assert deliveries.reopen(runtime.engine, recorded.delivery_pk)
    assert deliveries.counts(runtime.engine)[deliveries.RECEIVED] == 1


def test_a_write_lock_file_that_cannot_be_opened_fails_one_write_not_every_later_one(tmp_path: Path) -> None:
    """Opening the SQLite write-lock file fails once (its path is a folder): that write raises a
    store error, and the thread lock taken before the open is free again for the next one."""
    database = tmp_path / "locked.db"
    engine = make_engine(f"sqlite:///{database}")
    migrate.upgrade(engine)
    lock_path = Path(f"{database}-writelock")
    lock_path.unlink(missing_ok=True)
    lock_path.mkdir()
    fields: dict[str, Any] = {"event_name": "e", "event_kind": "k", "item_ref": None, "headers": {}, "body": b"{}"}
    with pytest.raises(WriteLockUnavailable, match="cannot lock"):
        deliveries.record(engine, source="github", delivery_id="first", **fields)
    lock_path.rmdir()
    with ThreadPoolExecutor(max_workers=1) as pool:  # a hang fails the test instead of stopping it
        assert (
            pool.submit(deliveries.record, engine, source="github", delivery_id="second", **fields)
            .result(timeout=30)
            .new
        )
    with begin_write(engine):
        pass
    engine.dispose()


def test_the_write_lock_file_is_closed_with_its_engine(tmp_path: Path) -> None:
    """The SQLite write-lock file stays open while its engine writes, and is closed when the
    engine is collected, not left to the garbage collector (which warns: unclosed file)."""
    database = tmp_path / "closing.db"
    engine = make_engine(f"sqlite:///{database}")
    with begin_write(engine) as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    lock_file = str(Path(f"{database}-writelock").resolve())
    assert _open_descriptors(lock_file) == 1
    engine.dispose()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del engine, connection
        gc.collect()
    assert _open_descriptors(lock_file) == 0
    assert [str(one.message) for one in caught if issubclass(one.category, ResourceWarning)] == []


def _open_descriptors(path: str) -> int:
    """How many of this process's file descriptors are open on ``path``."""
    count = 0
    for descriptor in Path("/proc/self/fd").iterdir():
        try:
            count += os.readlink(descriptor) == path
        except FileNotFoundError:  # the one iterdir itself used, closed since
            continue
    return count


def _described(engine: Engine) -> dict[str, Any]:
    """Everything the store's schema is made of, as the database describes it, with the
    PostgreSQL schema's own name left out (it differs between two stores)."""
    with engine.connect() as connection:
        found = inspect(connection)
        schema = found.default_schema_name
        tables = {
            name: (
                [{k: str(v) for k, v in column.items()} for column in found.get_columns(name)],
                found.get_pk_constraint(name),
                sorted(found.get_indexes(name), key=lambda index: str(index["name"])),
                found.get_unique_constraints(name),
                found.get_foreign_keys(name),
                found.get_check_constraints(name),
            )
            for name in found.get_table_names()
        }
        version = MigrationContext.configure(connection).get_current_revision()
        if engine.dialect.name == "sqlite":
            rows = connection.execute(text("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name"))
        else:
            rows = connection.execute(
                text("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = :s ORDER BY indexname"),
                {"s": schema},
            )
        objects = [tuple(str(v).replace(f"{schema}.", "") for v in row) for row in rows]
    return {"tables": tables, "version": version, "objects": objects}


@EXPRESSION_INDEX_WARNINGS[1]  # the catalogue's own rows ("objects") hold them
def test_a_store_copied_from_the_template_is_the_store_the_migrations_make(
    make_runtime, make_settings, tmp_path: Path
) -> None:
    """The tests' stores are copied from a template (tests/stores.py); what a test sees must be
    exactly what the migrations make on an empty store."""
    copied = make_runtime(make_settings())
    if copied.engine.dialect.name == "sqlite":
        scratch = make_engine(f"sqlite:///{tmp_path / 'scratch.db'}")
        migrate.upgrade(scratch)
        assert _described(copied.engine) == _described(scratch)
        scratch.dispose()
        return
    with stores.postgres_schema(POSTGRES_URL) as schema:
        scratch = make_engine(stores.schema_url(POSTGRES_URL, schema))
        migrate.upgrade(scratch)
        assert _described(copied.engine) == _described(scratch)
        scratch.dispose()
