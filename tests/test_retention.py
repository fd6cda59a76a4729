"""Old deliveries lose their bodies, not their rows: done and ignored after ``keep_bodies_days``,
failed after 90 days unless replayed. On SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update

from config.settings import Settings
from service.infra.runtime import Runtime
from service.store import deliveries
from service.store.schema import deliveries as deliveries_table
from tests import loop, payloads
from tests.conftest import GITHUB_SECRET, base_env
from workers import retention
from workers.sweep import sweep

BODY = payloads.raw("github/issues.closed")
_SPACES = itertools.count(1)  # one body recorded twice is one delivery: each gets its own trailing spaces


@pytest.fixture
def settings(make_settings, trackers: dict[str, str]) -> Settings:
    return make_settings(**trackers, LESSONLOOP_KEEP_BODIES_DAYS="30")


def recorded(runtime: Runtime, name: str, status: str, days_ago: float) -> int:
    """A delivery in ``status``, last touched ``days_ago`` days ago."""
    delivery_pk = deliveries.record(
        runtime.engine,
        source="github",
        delivery_id=name,
        event_name="issues",
        event_kind="incident_closed",
        item_ref="github:acme/web#1",
        headers={"X-GitHub-Event": "issues"},
        body=BODY + b" " * next(_SPACES),
    ).delivery_pk
    with runtime.engine.begin() as connection:
        connection.execute(
            update(deliveries_table)
            .where(deliveries_table.c.id == delivery_pk)
            .values(status=status, updated_at=deliveries.now() - timedelta(days=days_ago))
        )
    return delivery_pk


def body(runtime: Runtime, delivery_pk: int) -> bytes:
    found = deliveries.get(runtime.engine, delivery_pk)
    assert found is not None  # the row is always kept
    return found.body.rstrip(b" ")


def test_the_sweep_drops_old_bodies_and_keeps_every_row(runtime: Runtime) -> None:
    old_done = recorded(runtime, "old-done", deliveries.DONE, 31)
    young_done = recorded(runtime, "young-done", deliveries.DONE, 29)
    old_ignored = recorded(runtime, "old-ignored", deliveries.IGNORED, 45)
    failed_a_while = recorded(runtime, "failed-31", deliveries.FAILED, 31)
    failed_long_ago = recorded(runtime, "failed-91", deliveries.FAILED, 91)
    waiting = recorded(runtime, "waiting", deliveries.RECEIVED, 100)
    before = deliveries.counts(runtime.engine)

    report = sweep(runtime, older_than_seconds=0)
    assert report.bodies_dropped == 3
    for dropped in (old_done, old_ignored, failed_long_ago):
        assert body(runtime, dropped) == b""
    for kept in (young_done, failed_a_while, waiting):
        assert body(runtime, kept) == BODY
    assert deliveries.counts(runtime.engine) == before
    assert sweep(runtime, older_than_seconds=0).bodies_dropped == 0


def test_each_run_looks_only_at_rows_that_crossed_the_cutoff_since_the_last(runtime: Runtime) -> None:
    now = deliveries.now()
    first = recorded(runtime, "first", deliveries.DONE, 31)
    assert retention.prune(runtime, now=now) == 1
    # a row finished a day after the last cutoff crosses it two days later
    later = recorded(runtime, "later", deliveries.DONE, 29)
    assert retention.prune(runtime, now=now + timedelta(days=1)) == 0
    assert retention.prune(runtime, now=now + timedelta(days=2)) == 1
    assert body(runtime, first) == body(runtime, later) == b""
    # the mark is only a shortcut: without it (a new Redis) one run looks at everything again
    runtime.redis.delete(retention.MARK)
    recorded(runtime, "third", deliveries.IGNORED, 40)
    assert retention.prune(runtime, now=now) == 1
    mark = runtime.redis.hget(retention.MARK, "handled")
    assert mark is not None and datetime.fromisoformat(mark.decode()) == now - timedelta(days=30)


def test_bodies_are_dropped_in_batches(runtime: Runtime) -> None:
    rows = [recorded(runtime, f"d{n}", deliveries.DONE, 40) for n in range(7)]
    cutoff = deliveries.now() - timedelta(days=30)
    assert deliveries.drop_bodies(runtime.engine, [deliveries.DONE], cutoff, batch=3) == 7
    assert all(body(runtime, row) == b"" for row in rows)
    assert deliveries.drop_bodies(runtime.engine, [deliveries.DONE], cutoff, batch=3) == 0


def test_replay_of_a_dropped_body_says_so(runtime: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    from service.entry import cli

    done = recorded(runtime, "old-done", deliveries.DONE, 31)
    failed = recorded(runtime, "failed-91", deliveries.FAILED, 91)
    sweep(runtime, older_than_seconds=0)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in (base_env() | {"DATABASE_URL": runtime.settings.database_url}).items():
            patch.setenv(key, value)
        config = ["--config", str(runtime.settings.config_file)]
        assert cli.main([*config, "replay", str(done)]) == 1
        assert f"delivery {done} cannot be replayed: its body was dropped" in capsys.readouterr().err
        assert cli.main([*config, "replay", "--failed"]) == 0
        said = capsys.readouterr()
        assert f"skipping delivery {failed}: its body was dropped" in said.err
        assert "nothing to replay" in said.out
    assert deliveries.get(runtime.engine, done).status == deliveries.DONE
    assert deliveries.get(runtime.engine, failed).status == deliveries.FAILED
    assert runtime.queue.count == 0


def test_a_delivery_handled_through_the_web_keeps_its_body_until_due(client, runtime: Runtime) -> None:
    delivery_pk = loop.accept(client, payloads.github(BODY, GITHUB_SECRET))
    loop.work(runtime)
    assert deliveries.get(runtime.engine, delivery_pk).status == deliveries.DONE
    assert body(runtime, delivery_pk) == BODY
    assert retention.prune(runtime, now=deliveries.now() + timedelta(days=31)) == 1
    assert body(runtime, delivery_pk) == b""
