"""Soak: N closed incidents at R a second through a real web and real workers while workers are
killed and Redis loses everything, then: how many were lost, how many doubled, and how long the
slowest took after the last fault before it.

    .venv/bin/python bench/soak.py [--incidents 10000] [--rate 50] [--workers 4] [--kill-every 4]
                                   [--redis-restart-at 0.5] [--sweep-seconds S] [--timeout 600]

What runs, all on 127.0.0.1 (``bench/loop.py``'s helpers):

- the tracker doubles in a child process of the bench (``bench/loop.py``), limits lifted;
- a ``redis-server`` of the soak's own on a free port in a temporary folder, with no
  persistence, so that it can be restarted empty;
- ``lessonloop web`` and K ``lessonloop worker`` processes, a SQLite store in the temporary
  folder (or ``--database-url``: PostgreSQL, a schema of its own).

While the deliveries are sent (paced at ``--rate``), one worker, in turn, is killed with SIGKILL
(with its RQ scheduler: the whole process group, as when a machine dies) every ``--kill-every``
seconds and started again at once; at ``--redis-restart-at`` of the sending time Redis is killed
and started again with nothing (the web records deliveries meanwhile; it answers 202 whether it
could queue them or not). Faults stop with the last send.

It prints, per incident:

- **lost**: a delivery answered 202 whose incident has no review when the run ends;
- **doubled**: an incident with more than one review in the trackers, or more than one
  "review opened" comment or note on it (read from the doubles, not from lessonloop's store);
- **after the last fault**: the time from the last fault before its review (or from its send,
  when that is later) to its review row (``reviews.opened_at``); the slowest is the figure to
  hold under 60 s. With a rate above what the machine handles, this is queueing, not recovery:
  compare with ``bench/loop.py``'s figures.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import loop  # noqa: E402  (bench/loop.py)

REVIEW_PREFIX = "Post-incident review"


# --- the doubles' census, answered from their child process -----------------------------------


def census_configure(connection: Any) -> Any:
    """A ``configure`` for ``loop.Doubles``: in the doubles' child, a thread that answers
    "census" on ``connection`` with what the trackers hold."""

    def configure(doubles: dict[str, Any]) -> None:
        def serve() -> None:
            while True:
                try:
                    connection.recv()
                except EOFError:
                    return
                connection.send(_census(doubles))

        threading.Thread(target=serve, name="census", daemon=True).start()

    return configure


def _census(doubles: dict[str, Any]) -> dict[str, Any]:
    """Reviews created, and "review opened" marks per incident ref, read from the doubles."""
    from service.text import markers
    from tests import loop as test_loop

    github, jira, pagerduty = doubles["github"], doubles["jira"], doubles["pagerduty"]
    with github.lock, jira.lock, pagerduty.lock:
        reviews = len(github.issues.get(loop.REVIEW_REPO, {})) + sum(
            1 for issue in jira.issues.values() if str(issue["fields"].get("summary") or "").startswith(REVIEW_PREFIX)
        )
        marks: dict[str, int] = {}
        for number in github.issues.get(loop.INCIDENT_REPO, {}):
            found = test_loop.marked(github.comments_on(loop.INCIDENT_REPO, number), markers.REVIEW_OPENED)
            marks[f"github:{loop.INCIDENT_REPO}#{number}"] = len(found)
        for key, issue in jira.issues.items():
            if key.startswith(loop.JIRA_INCIDENT_PROJECT + "-"):
                marks[f"jira:{key}"] = len(test_loop.marked(issue["_comments"], markers.REVIEW_OPENED))
        for incident_id, notes in pagerduty.notes.items():
            marks[f"pagerduty:{incident_id}"] = len(test_loop.marked(notes, markers.REVIEW_OPENED))
    return {"reviews": reviews, "marks": marks}


# --- Redis of our own -------------------------------------------------------------------------


class OwnRedis:
    """A ``redis-server`` on a free port in ``folder``, with no persistence: :meth:`restart`
    brings it back empty, as a Redis without a disk after a crash."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = loop.free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder)]
            + ["--save", "", "--appendonly", "no", "--maxclients", "1000"],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        from redis import Redis
        from redis.exceptions import ConnectionError as RedisConnectionError

        while time.monotonic() < deadline:
            try:
                Redis.from_url(self.url, socket_connect_timeout=0.5).ping()
                return process
            except RedisConnectionError:
                time.sleep(0.05)
        raise SystemExit("soak: redis-server did not start within 20 s")

    def restart(self) -> None:
        self.stop()
        self.process = self._start()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


# --- faults -----------------------------------------------------------------------------------


class Faults(threading.Thread):
    """Kills a worker (in turn) every ``every`` seconds and starts it again; restarts Redis empty
    once, ``redis_after`` seconds in. Notes the time of every fault."""

    def __init__(
        self,
        workers: list[subprocess.Popen[bytes]],
        start_worker: Any,
        redis: OwnRedis,
        every: float,
        redis_after: float,
    ) -> None:
        super().__init__(name="faults", daemon=True)
        self.workers = workers
        self.start_worker = start_worker
        self.redis = redis
        self.every = every
        self.redis_after = redis_after
        self.stopped = threading.Event()
        self.times: list[float] = []
        self.kills = 0
        self.redis_restarts = 0

    def run(self) -> None:
        began = time.monotonic()
        turn = 0
        while not self.stopped.wait(self.every):
            if not self.redis_restarts and time.monotonic() - began >= self.redis_after:
                self.redis.restart()
                self.redis_restarts += 1
                self.times.append(time.time())
            index = turn % len(self.workers)
            turn += 1
            victim = self.workers[index]
            _kill_group(victim)
            self.times.append(time.time())
            self.kills += 1
            self.workers[index] = self.start_worker()


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


# --- the run ----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=50.0, help="deliveries a second")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--kill-every", type=float, default=4.0, help="seconds between worker kills")
    parser.add_argument("--redis-restart-at", type=float, default=0.5, help="fraction of the sending time")
    parser.add_argument("--sweep-seconds", type=int, help="LESSONLOOP_SWEEP_SECONDS (default: lessonloop's)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds after the last send to give up")
    parser.add_argument("--mix", default=",".join(loop.SOURCES))
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--check-every", type=int, default=20)
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary folder")
    args = parser.parse_args()
    mix = [s.strip() for s in args.mix.split(",") if s.strip()]
    if not mix or any(s not in loop.SOURCES for s in mix) or args.incidents < 1 or args.rate <= 0:
        parser.error("--mix takes some of github, jira, pagerduty; --incidents and --rate above 0")
    signal.signal(signal.SIGTERM, _interrupt)

    from service.store.engine import make_engine

    folder = Path(tempfile.mkdtemp(prefix="lessonloop-soak-"))
    rules = folder / "lessonloop.toml"
    rules.write_text(loop.RULES_TOML + loop.UNLIMITED_TOML)
    census, census_child = multiprocessing.get_context("fork").Pipe()
    redis = OwnRedis(folder)
    doubles = None
    processes: list[subprocess.Popen[bytes]] = []
    workers: list[subprocess.Popen[bytes]] = []
    faults: Faults | None = None
    engine = admin = schema = None
    try:
        began = time.monotonic()
        doubles = loop.Doubles(
            args.incidents, mix, configure=census_configure(census_child), check_every=args.check_every
        )
        database_url = args.database_url or f"sqlite:///{folder}/soak.db"
        if database_url.startswith("postgresql"):
            database_url, admin, schema = loop.postgres_schema(database_url)
        env = loop.service_env(doubles.env, database_url, rules, redis_url=redis.url)
        if args.sweep_seconds:
            env["LESSONLOOP_SWEEP_SECONDS"] = str(args.sweep_seconds)
        command = [sys.executable, "-m", "service.entry.cli"]
        port = loop.free_port()
        web = subprocess.Popen([*command, "web", "--port", str(port)], env=env, cwd=loop.ROOT, start_new_session=True)
        processes.append(web)

        def start_worker() -> subprocess.Popen[bytes]:
            return subprocess.Popen([*command, "worker"], env=env, cwd=loop.ROOT, start_new_session=True)

        workers.extend(start_worker() for _ in range(args.workers))
        loop.wait_ready(port, web)
        from redis import Redis

        loop.wait_workers(Redis.from_url(redis.url), workers)
        engine = make_engine(database_url)
        print(
            f"soak: {args.incidents} incidents seeded, everything up in {time.monotonic() - began:.1f} s",
            file=sys.stderr,
        )
        send_seconds = args.incidents / args.rate
        faults = Faults(workers, start_worker, redis, args.kill_every, args.redis_restart_at * send_seconds)
        faults.start()
        first_send = time.time()
        sent_at, _answers, statuses = loop.send_all(port, doubles.deliveries, args.senders, args.rate)
        faults.stopped.set()
        faults.join()
        last_send = time.time()
        accepted = sum(count for status, count in statuses.items() if status.startswith("202"))
        print(
            f"soak: sent {len(sent_at)} in {last_send - first_send:.0f} s ({dict(statuses)}); "
            f"{faults.kills} worker kills, {faults.redis_restarts} Redis restart; waiting",
            file=sys.stderr,
        )
        finished = _wait(engine, accepted, last_send + args.timeout)
        opened_at, _done, failed, _retried = loop.outcomes(engine)
        found = doubles_census(census)
    except KeyboardInterrupt:
        print("soak: interrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        if faults is not None:
            faults.stopped.set()
        loop.clean_up([*processes, *workers], doubles, engine, admin, schema, _NoRedis(), folder)
        redis.stop()
        shutil.rmtree(folder, ignore_errors=True)

    return report(args, faults, sent_at, statuses, opened_at, failed, found, finished, first_send, last_send)


class _NoRedis:
    """``loop.clean_up`` empties the bench's Redis; ours is stopped instead."""

    def flushdb(self) -> None:
        pass


def doubles_census(connection: Any) -> dict[str, Any]:
    connection.send("census")
    return dict(connection.recv())


def _wait(engine: Any, accepted: int, deadline: float) -> bool:
    next_note = time.time() + 15
    while time.time() < deadline:
        opened, by_status = loop.progress(engine)
        final = by_status["done"] + by_status["ignored"] + by_status["failed"]
        if final >= accepted and opened >= by_status["done"]:
            return True
        if time.time() >= next_note:
            print(f"soak: {opened} reviews open, deliveries {dict(by_status)}", file=sys.stderr)
            next_note += 15
        time.sleep(0.5)
    return False


def report(
    args: argparse.Namespace,
    faults: Faults | None,
    sent_at: dict[str, float],
    statuses: Any,
    opened_at: dict[str, float],
    failed: list[str],
    found: dict[str, Any],
    finished: bool,
    first_send: float,
    last_send: float,
) -> int:
    fault_times = sorted(faults.times) if faults else []
    lost = [ref for ref in sent_at if ref not in opened_at]
    marks = found["marks"]
    doubled_marks = [ref for ref, count in marks.items() if count > 1]
    doubled_reviews = max(0, found["reviews"] - len(opened_at))
    after_fault = []
    for ref, reviewed in opened_at.items():
        before = [t for t in fault_times if t <= reviewed]
        start = max([sent_at.get(ref, first_send), *before[-1:]])
        after_fault.append((reviewed - start, ref))
    after_fault.sort()
    slowest = after_fault[-1] if after_fault else (float("nan"), "-")
    final_fault = fault_times[-1] if fault_times else first_send
    last_review = max(opened_at.values(), default=final_fault)
    print(
        f"soak: {args.incidents} incidents at {args.rate:g}/s over {last_send - first_send:.0f} s, "
        f"{args.workers} workers, a kill every {args.kill_every:g} s ({faults.kills if faults else 0} kills), "
        f"{faults.redis_restarts if faults else 0} Redis restart(s) empty; answers {dict(statuses)}"
    )
    print(f"lost: {len(lost)}{' ' + ', '.join(lost[:5]) if lost else ''}")
    print(
        f"doubled: {len(doubled_marks)} incidents with more than one 'review opened' mark, "
        f"{doubled_reviews} reviews more than incidents reviewed ({found['reviews']} reviews)"
    )
    print(f"failed deliveries: {len(failed)}{' ' + '; '.join(failed[:3]) if failed else ''}")
    if after_fault:
        values = [v for v, _ in after_fault]
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        print(
            f"review after the last fault before it (or its send): p50 {values[len(values) // 2]:.1f} s, "
            f"p99 {p99:.1f} s, slowest {slowest[0]:.1f} s ({slowest[1]}); "
            f"last review {last_review - final_fault:.1f} s after the last fault"
        )
    print(f"finished: {finished}")
    return 0 if finished and not lost and not doubled_marks and not doubled_reviews else 1


if __name__ == "__main__":
    sys.exit(main())
