"""Storm benchmark: N incidents closed at once across the three trackers, against doubles that
enforce the trackers' rate limits, through the real loop; how close lessonloop gets to the pace
the limits allow, and whether it ever goes over.

    .venv/bin/python bench/storm.py [--incidents 500] [--scale 0.1667] [--workers 4]
                                    [--jira-per-minute 300] [--max-wait S] [--timeout 300]

What runs is ``bench/loop.py``'s loop, reused (its doubles child, web, RQ workers via
``lessonloop worker``, senders and store readers), with two changes:

- the doubles enforce the limits, windows multiplied by ``--scale`` (default 10/60: "a minute"
  is 10 s, "an hour" 600 s) so a storm takes about a minute: GitHub 80 content-generating
  requests a minute and 500 an hour (per token), PagerDuty 900 requests a minute, and Jira
  ``--jira-per-minute`` (Jira publishes no number; 0: Jira unlimited; ``--jira-unpaced``: the
  double enforces it but lessonloop is not told, and paces Jira only by its 429s, whose every
  answer is then a violation). A request over a limit is
  answered the tracker's way (403/429 and its wait) and counted as a violation;
- its own Redis database (``--redis-url``, default 14; emptied before and after), so that a
  ``bench/loop.py`` run at the same time (database 12) does not empty its queue;
- lessonloop runs with the same numbers in its settings (``[github] writes_per_minute``, ...,
  ``[rate_limits] time_scale`` = ``--scale``, ``max_wait_seconds`` = ``--max-wait``).

The floor is the least time the limits allow for the limited requests the run made: for a
limit of L per window W that let n requests through, the last of them cannot go before
``(ceil(n / L) - 1) * W`` after the first; the floor is the largest over all limits. Reported:
time from the first delivery sent to the last review opened and to the last job done, against
the floor; violations per tracker (goal 0); deliveries retried (rescheduled jobs) and failed
(goal 0); the trackers' 403/429 answers.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import loop  # bench/loop.py: the loop this bench reuses

from tests.conftest import RULES_TOML

SOURCES = loop.SOURCES
REDIS_URL = "redis://127.0.0.1:6379/14"


def limits_toml(args: argparse.Namespace) -> str:
    lines = [
        "[rate_limits]",
        f"time_scale = {args.scale!r}",
        f"max_wait_seconds = {args.max_wait!r}",
        "[github]",
        f"writes_per_minute = {args.github_per_minute}",
        f"writes_per_hour = {args.github_per_hour}",
        "[pagerduty]",
        f"requests_per_minute = {args.pagerduty_per_minute}",
    ]
    if args.jira_per_minute and not args.jira_unpaced:
        lines += ["[jira]", f"requests_per_minute = {args.jira_per_minute}"]
    return RULES_TOML + "\n" + "\n".join(lines) + "\n"


def enforce(args: argparse.Namespace) -> Any:
    """What the doubles child runs on the seeded doubles: the scaled limits."""
    minute, hour = 60 * args.scale, 3600 * args.scale

    def configure(doubles: dict[str, Any]) -> None:
        from tests.doubles.base import RateLimit
        from tests.doubles.github import CONTENT_METHODS

        doubles["github"].enforce_limits(
            RateLimit(args.github_per_minute, minute, CONTENT_METHODS, "content-generating requests a minute"),
            RateLimit(args.github_per_hour, hour, CONTENT_METHODS, "content-generating requests an hour"),
        )
        doubles["pagerduty"].enforce_limits(RateLimit(args.pagerduty_per_minute, minute, None, "requests a minute"))
        if args.jira_per_minute:
            doubles["jira"].enforce_limits(RateLimit(args.jira_per_minute, minute, None, "requests a minute"))

    return configure


def floor_seconds(trackers: dict[str, Any]) -> tuple[float, str]:
    """The least time the enforced limits allow for the requests they let through, and which limit sets it."""
    best, which = 0.0, "none"
    for name, report in trackers.items():
        for limit in report["limits"]["limits"]:
            if not limit["accepted"]:
                continue
            seconds = (math.ceil(limit["accepted"] / limit["limit"]) - 1) * limit["window"]
            if seconds > best:
                best = seconds
                which = f"{name}: {limit['accepted']} requests at {limit['limit']} per {limit['window']:g} s"
    return best, which


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=500)
    parser.add_argument("--mix", default=",".join(SOURCES))
    parser.add_argument("--workers", type=int, default=4, help="`lessonloop worker` processes")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--scale", type=float, default=10 / 60, help="window multiplier (10/60: a minute is 10 s)")
    parser.add_argument("--github-per-minute", type=int, default=80)
    parser.add_argument("--github-per-hour", type=int, default=500)
    parser.add_argument("--pagerduty-per-minute", type=int, default=900)
    parser.add_argument("--jira-per-minute", type=int, default=300, help="0: the Jira double enforces no limit")
    parser.add_argument(
        "--jira-unpaced",
        action="store_true",
        help="leave [jira] requests_per_minute unset: lessonloop learns Jira's limit from its 429s",
    )
    parser.add_argument(
        "--max-wait",
        type=float,
        default=5.0,
        help="[rate_limits] max_wait_seconds (default 5, as in production: not scaled)",
    )
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--database-url")
    parser.add_argument(
        "--redis-url",
        default=REDIS_URL,
        help="a Redis database of its own: emptied before and after (bench/loop.py uses 12)",
    )
    args = parser.parse_args()
    mix = [s.strip() for s in args.mix.split(",") if s.strip()]
    if not mix or any(s not in SOURCES for s in mix) or args.incidents < 1 or not 0 < args.scale <= 1:
        parser.error(f"--mix takes some of {', '.join(SOURCES)}; --incidents at least 1; 0 < --scale <= 1")

    def stop_on_term(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    from redis import Redis

    from service.store.engine import make_engine

    redis = Redis.from_url(args.redis_url)
    redis.ping()
    redis.flushdb()
    folder = Path(tempfile.mkdtemp(prefix="lessonloop-bench-storm-"))
    settings_file = folder / "lessonloop.toml"
    settings_file.write_text(limits_toml(args))
    doubles: loop.Doubles | None = None
    processes: list[subprocess.Popen[bytes]] = []
    engine = None
    admin = schema = None
    result: dict[str, Any] = {}
    try:
        began = time.monotonic()
        doubles = loop.Doubles(args.incidents, mix, configure=enforce(args))
        database_url = args.database_url or f"sqlite:///{folder}/bench.db"
        if database_url.startswith("postgresql"):
            database_url, admin, schema = loop.postgres_schema(database_url)
        env = loop.service_env(doubles.env, database_url, settings_file, args.redis_url)
        port = loop.free_port()
        command = [sys.executable, "-m", "service.entry.cli"]
        web = subprocess.Popen(
            [*command, "web", "--port", str(port), "--threads", str(args.threads)],
            env=env,
            cwd=loop.ROOT,
            start_new_session=True,
        )
        processes.append(web)
        loop.wait_ready(port, web)
        workers = [
            subprocess.Popen([*command, "worker"], env=env, cwd=loop.ROOT, start_new_session=True)
            for _ in range(args.workers)
        ]
        processes.extend(workers)
        loop.wait_workers(redis, workers)
        engine = make_engine(database_url)
        print(
            f"storm: {args.incidents} incidents ({'/'.join(mix)}) seeded, everything up in "
            f"{time.monotonic() - began:.1f} s; closing them all at once",
            file=sys.stderr,
        )

        first_send = time.time()
        _sent_at, _answers, statuses = loop.send_all(port, doubles.deliveries, args.senders, None)
        accepted = sum(count for status, count in statuses.items() if status.startswith("202"))
        deadline = first_send + args.timeout
        finished = False
        next_note = time.time() + 10
        while time.time() < deadline:
            opened, by_status = loop.progress(engine)
            final = by_status["done"] + by_status["ignored"] + by_status["failed"]
            if final >= accepted and opened >= by_status["done"]:
                finished = True
                break
            if time.time() >= next_note:
                print(
                    f"storm: {time.time() - first_send:5.0f} s: {opened} reviews open, deliveries {dict(by_status)}",
                    file=sys.stderr,
                )
                next_note += 10
            time.sleep(0.5)
        trackers = doubles.ask("report")
        opened_at, done_at, failed, retried = loop.outcomes(engine)
        refs = [ref for ref, *_ in doubles.deliveries]
        last_review = max((opened_at[r] for r in refs if r in opened_at), default=first_send)
        last_done = max((done_at[r] for r in refs if r in done_at), default=first_send)
        floor, floor_by = floor_seconds(trackers)
        result = {
            "incidents": args.incidents,
            "mix": mix,
            "workers": args.workers,
            "scale": args.scale,
            "max_wait": args.max_wait,
            "finished": finished,
            "answers": dict(statuses),
            "reviews_opened": sum(1 for r in refs if r in opened_at),
            "to_last_review_s": last_review - first_send,
            "to_last_done_s": last_done - first_send,
            "floor_s": floor,
            "floor_set_by": floor_by,
            "review_vs_floor": (last_review - first_send) / floor if floor else float("nan"),
            "done_vs_floor": (last_done - first_send) / floor if floor else float("nan"),
            "violations": {name: t["limits"]["violations"] for name, t in trackers.items()},
            "violation_examples": [v for t in trackers.values() for v in t["limits"]["recent"]][:5],
            "limited_requests": {
                name: [(lim["name"], lim["accepted"]) for lim in t["limits"]["limits"]] for name, t in trackers.items()
            },
            "tracker_statuses": {name: t["statuses"] for name, t in trackers.items()},
            "calls": {name: sum(t["counts"].values()) for name, t in trackers.items()},
            "deliveries_retried": retried,
            "deliveries_failed": len(failed),
            "failures": failed[:5],
            "contract_violations": {name: t["violation_count"] for name, t in trackers.items()},
        }
    except KeyboardInterrupt:
        print("storm: interrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        loop.clean_up(processes, doubles, engine, admin, schema, redis, folder)

    report(result)
    ok = result["finished"] and not result["deliveries_failed"] and not any(result["violations"].values())
    return 0 if ok else 1


def report(r: dict[str, Any]) -> None:
    print(
        f"storm: {r['incidents']} incidents ({'/'.join(r['mix'])}) closed at once, {r['workers']} workers, "
        f"windows x{r['scale']:.4g} (a minute = {60 * r['scale']:.3g} s), max wait in a worker {r['max_wait']:g} s"
    )
    if not r["finished"]:
        print(f"TIMED OUT: {r['reviews_opened']} of {r['incidents']} reviews opened")
    print(
        f"time to last review opened: {r['to_last_review_s']:.1f} s; to last job done: {r['to_last_done_s']:.1f} s; "
        f"floor set by the limits: {r['floor_s']:.1f} s ({r['floor_set_by']})"
    )
    print(
        f"against the floor: last review {100 * r['review_vs_floor']:.0f}%, last job {100 * r['done_vs_floor']:.0f}% "
        f"(goal: within 110%)"
    )
    print(f"violations (requests over a limit): {r['violations']} (goal: 0)")
    print(
        f"retried deliveries (rescheduled jobs): {r['deliveries_retried']}; failed: {r['deliveries_failed']} "
        f"(goal: 0); tracker answers: {r['tracker_statuses']}"
    )
    print(f"limited requests let through: {r['limited_requests']}; all requests: {r['calls']}")
    for line in r["failures"] + r["violation_examples"]:
        print(f"  {line[:300]}")
    print(json.dumps(r))


if __name__ == "__main__":
    sys.exit(main())
