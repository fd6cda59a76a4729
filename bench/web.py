"""Learning log benchmark: the list, search, a lesson's page, the API, /insights and /metrics
over HTTP, for one user and for several at once, on SQLite and on PostgreSQL.

    .venv/bin/python bench/web.py [--lessons 10000] [--requests 40] [--users 1,8]
                                  [--store sqlite|postgresql|both] [--keep] [--database-url URL]

The store is filled in bulk (``bench/log_fill.py``: lessons with five sections of prose, labels,
services, follow-ups, lesson comments, the full-text index), then served by ``lessonloop web
--port 0``, the command the README and the Dockerfile run, at its defaults (granian, its
default number of processes, one thread each), in processes of its own. The users are
keep-alive connections driven by one asyncio loop in another process, so neither the clients'
work nor the server's waits on the other's GIL. For each path, every user sends its requests
one after the other, all users at once (closed loop); a path's first requests warm the
processes' caches and are not counted. ``--requests`` is the number of timed requests per
path and per user count, shared among the users.

It prints the load average at the start and the end (the machine is shared: the figures move
with it), the fill time, how many lessons each search word matches, then p50 / p95 per path
for each user count; ``/insights`` and ``/api/v1/stats`` computed afresh (the log's generation
bumped before each, as a saved lesson does, so the next view computes) with the web
processes' CPU time; and, without HTTP, what finding related lessons for a new incident costs.

PostgreSQL runs in a schema of its own in $LESSONLOOP_TEST_POSTGRES_URL (default the test
database), dropped at the end unless ``--keep``; ``--database-url`` benchmarks a store filled
before (by ``--keep``) without filling it again. Redis database 13 is emptied before and
after.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import queue
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from redis import Redis  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402

from bench.log_fill import RARE, fill, sentence  # noqa: E402
from bench.web_process import start_web  # noqa: E402
from service.store import generation, migrate  # noqa: E402
from service.store.engine import make_engine, sqlalchemy_url  # noqa: E402
from service.store.schema import lessons  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/13"
POSTGRES_URL = os.environ.get("LESSONLOOP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
FRESH_RUNS = 5
"""Times a figure is computed afresh: the machine is shared, so one run says little."""
WARM_UP = 2
"""Untimed requests per user before a path's timed ones: caches warm, connections open."""
DISTINCT_LESSONS = 200
"""Lessons the "a different lesson each request" row cycles through, so a cache of one
lesson's page cannot hide what a page costs the first time it is viewed."""
SEARCHES = ("deploy", "resolver", RARE, "resolver timeout")


def paths(count: int) -> list[tuple[str, list[str]]]:
    """What the users ask, as (row name, the URLs its requests cycle through)."""
    half_year = (datetime.now(UTC) - timedelta(days=182)).date().isoformat()
    rng = random.Random(3)
    numbers = [number for number in rng.sample(range(1, count + 1), min(count, DISTINCT_LESSONS * 2)) if number % 10]
    refs = [f"github:acme/postmortems#{n}" if n % 2 else f"jira:PIR-{n}" for n in numbers[:DISTINCT_LESSONS]]
    named = [
        "/lessons",
        "/lessons?page=300",
        "/lessons?sort=incident",
        "/lessons?sort=incident&page=300",
        "/lessons?source=jira&label=sev1",
        f"/lessons?q={RARE}",
        "/lessons?q=resolver",
        "/lessons?q=deploy",
        "/lessons?q=resolver+timeout",
        f"/lessons?q=deploy&service=checkout&from={half_year}",
        "/lessons?q=deploy&sort=incident",
        "/lessons?q=nomatchword",
        "/lessons?page=10000",
        "/lessons/jira%3APIR-4",
    ]
    rows = [(path, [path]) for path in named]
    rows.append(
        ("/lessons/<ref> (a different lesson each request)", [f"/lessons/{quote(ref, safe='')}" for ref in refs])
    )
    rows += [
        (path, [path])
        for path in (
            "/api/v1/lessons",
            "/api/v1/lessons?q=deploy",
            "/api/v1/lessons?q=resolver+timeout",
            "/api/v1/lessons/jira%3APIR-4",
            "/api/v1/stats",
            "/insights",
            f"/insights?service=checkout&from={half_year}",
            "/insights.csv?table=months",
            "/metrics",
        )
    ]
    return rows


# --- the server ------------------------------------------------------------------------------


def start_server(database_url: str) -> tuple[subprocess.Popen[bytes], int]:
    """``lessonloop web`` at its defaults on ``database_url``."""
    return start_web({"REDIS_URL": REDIS_URL, "DATABASE_URL": database_url, "LESSONLOOP_LOG_LEVEL": "warning"})


def stop_server(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def tree_cpu_seconds(pid: int) -> float:
    """User and system CPU of ``pid`` and every process below it (the granian workers), from
    /proc: the server's own cost of what was asked between two readings."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, pending = 0.0, [pid]
    while pending:
        one = pending.pop()
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            for task in Path(f"/proc/{one}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


# --- the users -------------------------------------------------------------------------------


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> float:
    """One GET on a keep-alive connection, read whole; milliseconds from sending to the last byte."""
    started = time.perf_counter()
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    status = await reader.readline()
    length, chunked = 0, False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
        elif name.strip().lower() == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
    if chunked:
        while size := int((await reader.readline()).split(b";")[0], 16):
            await reader.readexactly(size + 2)
        await reader.readline()
    else:
        await reader.readexactly(length)
    if b" 200 " not in status:
        raise RuntimeError(f"{path}: {status.decode().strip() or 'connection closed'}")
    return (time.perf_counter() - started) * 1000


async def _users(
    port: int, rows: list[tuple[str, list[str]]], users: int, requests: int, warm: int = WARM_UP
) -> dict[str, list[float]]:
    """Each row's requests from ``users`` keep-alive connections at once, opened for that row
    (the server closes a connection left idle past its read timeout, as one waiting for the
    slowest user of the row before would be)."""
    each = max(1, -(-requests // users))
    counter = 0

    async def user(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, urls: list[str], times: int):
        nonlocal counter
        spent = []
        for _ in range(times):
            counter += 1
            spent.append(await _get(reader, writer, urls[counter % len(urls)]))
        return spent

    timings: dict[str, list[float]] = {}
    for name, urls in rows:
        connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(users)]
        await asyncio.gather(*(user(reader, writer, urls, warm) for reader, writer in connections))
        done = await asyncio.gather(*(user(reader, writer, urls, each) for reader, writer in connections))
        timings[name] = [one for spent in done for one in spent]
        for _, writer in connections:
            writer.close()
    return timings


def _users_process(port: int, rows: list[tuple[str, list[str]]], users: int, requests: int, out) -> None:
    try:
        out.put(asyncio.run(_users(port, rows, users, requests)))
    except (
        OSError,
        EOFError,
        RuntimeError,
        ValueError,
    ) as error:  # said in the bench's own process, which would otherwise wait forever
        out.put(f"{type(error).__name__}: {error}")


def measure(port: int, rows: list[tuple[str, list[str]]], users: int, requests: int) -> dict[str, list[float]]:
    """The users, in a process of their own (spawned: nothing of this one's state is shared)."""
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    process = context.Process(target=_users_process, args=(port, rows, users, requests, out))
    process.start()
    while True:
        try:
            timings = out.get(timeout=5)
            break
        except queue.Empty:
            if not process.is_alive():
                raise SystemExit(f"the users' process exited ({process.exitcode})") from None
    process.join()
    if isinstance(timings, str):
        raise SystemExit(f"{users} users: {timings}")
    return timings


def fresh(port: int, server: int, engine, path: str) -> tuple[list[float], list[float]]:
    """``path`` computed afresh :data:`FRESH_RUNS` times: wall milliseconds and the server's CPU."""
    walls, cpus = [], []
    for _ in range(FRESH_RUNS):
        with engine.begin() as connection:
            generation.bump(connection)  # what a saved lesson does: every process computes anew
        cpu = tree_cpu_seconds(server)
        walls += asyncio.run(_users(port, [(path, [path])], 1, 1, warm=0))[path]
        cpus.append((tree_cpu_seconds(server) - cpu) * 1000)
    return walls, cpus


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def load() -> str:
    return " ".join(f"{one:.2f}" for one in os.getloadavg())


# --- a run -----------------------------------------------------------------------------------


def prepare(store: str, database_url: str | None, keep: bool):
    """The store's URL and what removes it afterwards (nothing when kept or given)."""
    if database_url:
        return database_url, lambda: None
    if store == "sqlite":
        directory = tempfile.mkdtemp(prefix="lessonloop-webbench-")
        return f"sqlite:///{directory}/bench.db", (lambda: None) if keep else (
            lambda: shutil.rmtree(directory, ignore_errors=True)
        )
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(sqlalchemy_url(POSTGRES_URL))
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        if not keep:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return f"{POSTGRES_URL}?options=-csearch_path%3D{schema}", drop


def run(store: str, count: int, requests: int, user_counts: list[int], database_url: str | None, keep: bool) -> None:
    print(f"{store}: load average at the start {load()}")
    url, cleanup = prepare(store, database_url, keep)
    redis = Redis.from_url(REDIS_URL)
    redis.flushdb()
    server = None
    try:
        engine = make_engine(url)
        migrate.upgrade(engine)
        with engine.connect() as connection:
            stored = connection.execute(select(func.count()).select_from(lessons)).scalar_one()
        if stored:
            print(f"{store}: {url} already holds {stored} lessons; not filled")
            count = round(stored / 0.9)
        else:
            started = time.perf_counter()
            matches = fill(engine, count, SEARCHES)
            print(
                f"{store}: filled {count} reviews ({count - count // 10} lessons) in {time.perf_counter() - started:.1f} s"
            )
            lessons_kept = count - count // 10
            for query, found in matches.items():
                print(f"  {query!r} is in {found} lessons ({100 * found / lessons_kept:.0f} %)")
            if keep:
                print(f"{store}: kept at {url}")
        server, port = start_server(url)
        for path in ("/insights", "/api/v1/stats"):
            walls, cpus = fresh(port, server.pid, engine, path)
            print(
                f"{store}: {path} computed afresh, {FRESH_RUNS} runs: median {statistics.median(walls):.0f} ms, "
                f"fastest {min(walls):.0f} ms; the web processes' CPU median {statistics.median(cpus):.0f} ms"
            )
        rows = paths(count)
        figures = {users: measure(port, rows, users, requests) for users in user_counts}
        heads = "".join(f" {f'{users} user' + ('s' if users > 1 else '') + ' p50 / p95':>24}" for users in user_counts)
        print(f"{'path (' + store + ', ms)':<58}{heads}")
        for name, _ in rows:
            cells = "".join(
                f" {statistics.median(figures[users][name]):>11.1f} / {p95(figures[users][name]):>8.1f}"
                for users in user_counts
            )
            print(f"{name:<58}{cells}")
        for label, reviewed_in in (
            ("for a new incident", None),
            ("  from one review target", ("github:acme/postmortems",)),
        ):
            related = related_lessons_timings(engine, requests, reviewed_in)
            print(
                f"{'related lessons ' + label + ' (no HTTP)':<58} {statistics.median(related):>11.1f} / "
                f"{p95(related):>8.1f}"
            )
        engine.dispose()
    finally:
        if server is not None:
            stop_server(server)
        redis.flushdb()
        cleanup()
        print(f"{store}: load average at the end {load()}")


def related_lessons_timings(engine, requests: int, reviewed_in: tuple[str, ...] | None = None) -> list[float]:
    """What a review's opening spends finding past lessons like its incident (issue: < 50 ms);
    ``reviewed_in``: only those reviewed there, as a review's header asks."""
    from service.learning.similar import telling
    from service.store import lessons as stored

    rng = random.Random(7)
    timings = []
    for _ in range(requests):
        about = f"{sentence(rng, 8)} {sentence(rng, 40)}"
        started = time.perf_counter()
        telling(stored.similar(engine, about, limit=6, reviewed_in=reviewed_in), about)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lessons", type=int, default=10_000, help="reviews to make (9 in 10 get a lesson)")
    parser.add_argument("--requests", type=int, default=40, help="timed requests per path and user count")
    parser.add_argument("--users", default="1", help="concurrent users, comma-separated; 1 is always measured")
    parser.add_argument("--store", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--keep", action="store_true", help="leave the filled store in place and print its URL")
    parser.add_argument("--database-url", help="a store filled before (by --keep): benchmark it as it is")
    args = parser.parse_args()
    user_counts = sorted({1, *(int(one) for one in args.users.split(","))})
    if args.database_url and args.store == "both":
        parser.error("--database-url names one store: give --store too")
    for store in ("sqlite", "postgresql") if args.store == "both" else (args.store,):
        run(store, args.lessons, args.requests, user_counts, args.database_url, args.keep)


if __name__ == "__main__":
    main()
