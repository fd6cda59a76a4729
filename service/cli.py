"""The ``lessonloop`` command: serve, web, worker, check, replay."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import SecretStr
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from config.settings import Settings, SettingsError, load_settings
from service import local_redis, logs
from service.runtime import Runtime, all_secrets
from service.store import deliveries, migrate

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from service.store.lessons import Lesson

EXIT_SETTINGS = 2
EXIT_UNAVAILABLE = 3


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(config_file=args.config)
    except SettingsError as error:
        print(f"lessonloop: {error}", file=sys.stderr)
        return EXIT_SETTINGS
    logs.configure(settings.server.log_level, settings.server.log_format, all_secrets(settings))
    try:
        return int(args.run(settings, args) or 0)
    except SettingsError as error:  # a setting that only the command's own options make wrong
        print(f"lessonloop: {error}", file=sys.stderr)
        return EXIT_SETTINGS
    except local_redis.RedisUnavailable as error:
        print(f"lessonloop: {error}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except (SQLAlchemyError, RedisError) as error:
        print(f"lessonloop: {type(error).__name__}: {_first_line(error)}", file=sys.stderr)
        return EXIT_UNAVAILABLE


def _parser() -> argparse.ArgumentParser:
    from service.wsgi import default_workers

    parser = argparse.ArgumentParser(prog="lessonloop", description=__doc__)
    parser.add_argument("--config", help="settings file (default: $LESSONLOOP_CONFIG or ./lessonloop.toml)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def web_options(command: argparse.ArgumentParser) -> None:
        command.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        command.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
        command.add_argument("--workers", type=int, default=default_workers(), help="web processes")
        command.add_argument("--threads", type=int, default=4, help="threads per web process")

    serve = commands.add_parser("serve", help="web and worker together: the single-machine way to run it")
    web_options(serve)
    serve.set_defaults(run=_serve)

    web = commands.add_parser("web", help="the webhook receiver alone (gunicorn)")
    web_options(web)
    web.set_defaults(run=_web)

    worker = commands.add_parser("worker", help="an RQ worker alone")
    worker.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    worker.set_defaults(run=_worker)

    check = commands.add_parser("check", help="validate the settings and print them, secrets masked")
    check.add_argument("--online", action="store_true", help="also ask each tracker who we are")
    check.set_defaults(run=_check)

    replay = commands.add_parser("replay", help="run a recorded delivery again, or every failed one")
    replay.add_argument("deliveries", nargs="*", help="delivery numbers, or SOURCE:DELIVERY-ID")
    replay.add_argument("--failed", action="store_true", help="every delivery whose job failed")
    replay.set_defaults(run=_replay)

    link = commands.add_parser("link", help="relate two items, so a lesson on one is posted on the other")
    link.add_argument("first", metavar="REF", help="github:owner/repo#N, jira:KEY-N or pagerduty:ID")
    link.add_argument("second", metavar="REF")
    link.set_defaults(run=_link)

    lessons_command = commands.add_parser("lessons", help="the learning log: list, show, search, export, stats")
    actions = lessons_command.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="newest lessons first")
    listing.add_argument("--limit", type=int, default=20)
    listing.set_defaults(run=_lessons_list)
    show = actions.add_parser("show", help="one lesson, by its review's or incident's ref")
    show.add_argument("ref")
    show.set_defaults(run=_lessons_show)
    search = actions.add_parser("search", help="lessons containing every word given (full text, best first)")
    search.add_argument("terms", nargs="+")
    search.add_argument("--limit", type=int, default=20)
    search.set_defaults(run=_lessons_search)
    export = actions.add_parser("export", help="the whole log as JSON or Markdown")
    export.add_argument("--format", choices=("json", "markdown"), default="json")
    export.add_argument("--output", "-o", help="file to write (default: standard output)")
    export.set_defaults(run=_lessons_export)
    stats = actions.add_parser("stats", help="how fast lessons are captured and how far they are shared")
    stats.add_argument("--days", type=int, default=90, help="reviews opened in the last DAYS days (default 90)")
    stats.add_argument("--format", choices=("text", "json"), default="text")
    stats.set_defaults(run=_lessons_stats)
    return parser


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    """Web and worker as two child processes of this one, which keeps the worker running and
    stops both on SIGINT or SIGTERM. Children get sessions of their own, so a Ctrl-C reaches
    only this process, which then stops them in order (a worker finishes its job first)."""
    _sign_in_mode(settings, args.host)
    redis_process = local_redis.ensure(settings.redis_url)
    migrate.upgrade(Runtime.build(settings).engine)
    base = [sys.executable, "-m", "service.cli", *_config_args(args)]
    web = subprocess.Popen([*base, "web", "--host", args.host, "--port", str(args.port),
                            "--workers", str(args.workers), "--threads", str(args.threads)], start_new_session=True)
    worker = _WorkerSupervisor([*base, "worker"])
    worker.start()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    print(f"lessonloop: listening on http://{args.host}:{args.port} (store {_safe_db(settings)}, "
          f"sources: {', '.join(settings.enabled_sources) or 'none enabled'})", file=sys.stderr)
    code = 0
    try:
        while not stop.wait(0.5):
            if web.poll() is not None:
                code = web.returncode or 1
                print(f"lessonloop: the web process exited ({web.returncode})", file=sys.stderr)
                break
    finally:
        _terminate(web)
        worker.stop()
        if redis_process is not None:
            _terminate(redis_process)
    return code


class _WorkerSupervisor(threading.Thread):
    """Keeps one worker process running beside the web, restarting it if it dies (with a
    growing pause, so a worker that cannot start does not spin)."""

    def __init__(self, command: list[str]) -> None:
        super().__init__(name="lessonloop-worker-supervisor", daemon=True)
        self.command = command
        self.stopping = threading.Event()
        self.process: subprocess.Popen[bytes] | None = None

    def run(self) -> None:
        pause = 1.0
        while not self.stopping.is_set():
            started = time.monotonic()
            self.process = subprocess.Popen(self.command, start_new_session=True)
            code = self.process.wait()
            _signal_group(self.process.pid, signal.SIGTERM)  # what it left behind (its scheduler)
            if self.stopping.is_set():
                return
            pause = 1.0 if time.monotonic() - started > 60 else min(pause * 2, 60)
            logs.get(__name__).error("worker exited; starting another", exit_code=code, pause_seconds=pause)
            self.stopping.wait(pause)

    def stop(self) -> None:
        self.stopping.set()
        if self.process is not None:
            _terminate(self.process)


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _web(settings: Settings, args: argparse.Namespace) -> int:
    from service.wsgi import serve

    _sign_in_mode(settings, args.host)
    migrate.upgrade(Runtime.build(settings).engine)
    serve(args.host, args.port, args.workers, args.threads)
    return 0


def _sign_in_mode(settings: Settings, host: str) -> str:
    """Who may read the learning log when listening on ``host``; a SettingsError when the log
    would be open to everyone beyond this machine."""
    from service.web.auth import resolve_mode

    return resolve_mode(settings, host)


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from workers.runner import run_worker

    run_worker(Runtime.build(settings).with_clients(), burst=args.burst)
    return 0


def _check(settings: Settings, args: argparse.Namespace) -> int:
    print(json.dumps(_masked(settings), indent=2, default=str))
    for note in settings.warnings():
        print(f"warning: {note}")
    problems = 0
    runtime = Runtime.build(settings)
    try:
        runtime.redis.ping()
        print(f"redis: ok ({_safe_redis(settings)})")
    except RedisError as error:
        problems += 1
        print(f"redis: unavailable at {_safe_redis(settings)}: {_first_line(error)}")
    try:
        if migrate.pending(runtime.engine):
            print(f"store: ok ({_safe_db(settings)}); migrations pending (applied on start)")
        else:
            counts = ", ".join(f"{count} {status}" for status, count in deliveries.counts(runtime.engine).items())
            print(f"store: ok ({_safe_db(settings)}); deliveries: {counts}")
    except SQLAlchemyError as error:
        problems += 1
        print(f"store: unavailable at {_safe_db(settings)}: {_first_line(error)}")
    if settings.marker_keys:
        print(f"markers: signed with LESSONLOOP_MARKER_KEY ({len(settings.marker_keys)} key(s); the first signs)")
    else:
        print("markers: signed with the key generated once and kept in the store (set LESSONLOOP_MARKER_KEY "
              "to manage it yourself)")
    if args.online:
        problems += _check_online(settings)
    return 1 if problems else 0


def _check_online(settings: Settings) -> int:
    from service.trackers.errors import TrackerError
    from service.trackers.registry import build_clients

    from service.markers import MarkerKeys

    problems = 0
    # only identities are asked for here and nothing is written, so no marker is ever signed
    clients = build_clients(settings, MarkerKeys([secrets.token_hex(32)]))
    if not clients:
        print("online: no tracker has API credentials set")
    for source, client in clients.items():
        try:
            identity = client.whoami()
            print(f"{source}: signed in as {identity.name} ({identity.id})")
        except TrackerError as error:
            problems += 1
            print(f"{source}: {error}")
    return problems


def _replay(settings: Settings, args: argparse.Namespace) -> int:
    from service.queue import requeue_delivery

    runtime = Runtime.build(settings)
    migrate.upgrade(runtime.engine)
    targets: list[deliveries.Delivery] = []
    if args.failed:
        targets.extend(deliveries.list_by_status(runtime.engine, [deliveries.FAILED], limit=10_000))
    for name in args.deliveries:
        found = _find_delivery(runtime, name)
        if found is None:
            print(f"lessonloop: no recorded delivery {name}", file=sys.stderr)
            return 1
        targets.append(found)
    if not targets:
        print("nothing to replay" if args.failed else "name deliveries to replay, or use --failed")
        return 0 if args.failed else 1
    for delivery in targets:
        deliveries.reopen(runtime.engine, delivery.id)
        requeue_delivery(runtime.queue, delivery.id, delivery.event_kind, deliveries.job_id_for(delivery.id),
                         settings.server.job_timeout_seconds, stale_job_ids=[delivery.job_id])
        print(f"queued delivery {delivery.id} ({delivery.source} {delivery.event_name}, {delivery.item_ref or '-'})"
              + (f"; it had failed: {delivery.last_error}" if delivery.last_error else ""))
    return 0


def _link(settings: Settings, args: argparse.Namespace) -> int:
    from service.events import ItemRef
    from service.store import lessons, links, reviews

    try:
        first, second = ItemRef.parse(args.first), ItemRef.parse(args.second)
    except ValueError as error:
        print(f"lessonloop: {error}", file=sys.stderr)
        return 2
    if first == second:
        print("lessonloop: an item cannot be linked to itself", file=sys.stderr)
        return 2
    runtime = Runtime.build(settings)
    migrate.upgrade(runtime.engine)
    new = links.add(runtime.engine, first, second, "manual")
    print(f"{'linked' if new else 'already linked'}: {first} <-> {second}")
    # a lesson already kept for either side goes to the newly related item now
    for ref in (first, second):
        record = reviews.review(runtime.engine, ref) or reviews.review_of(runtime.engine, ref)
        if record is not None and lessons.get(runtime.engine, record.ref) is not None:
            runtime.queue.enqueue("workers.sync_lesson.resync_review", record.ref,
                                  job_id="resync-" + hashlib.sha256(f"{record.ref} {first} {second}".encode()).hexdigest()[:24])
            print(f"queued: the lesson of {record.ref} will be posted on the newly related item")
            break
    return 0


def _lessons_list(settings: Settings, args: argparse.Namespace) -> int:
    from service.store import lessons

    return _print_lessons(lessons.listing(_migrated(settings).engine, limit=args.limit))


def _lessons_search(settings: Settings, args: argparse.Namespace) -> int:
    from service.store import lessons

    found, _ = lessons.search(_migrated(settings).engine, " ".join(args.terms), per_page=max(1, args.limit))
    return _print_lessons(found)


def _print_lessons(found: list) -> int:  # type: ignore[type-arg]
    if not found:
        print("no lessons")
        return 0
    for item in found:
        took = _duration(item.seconds_to_lesson)
        print(f"{item.captured_at:%Y-%m-%d}  {item.review_ref:<32}  {item.incident_ref:<32}  {took:>9}  "
              f"{item.incident_title}")
    return 0


def _lessons_show(settings: Settings, args: argparse.Namespace) -> int:
    from service.lesson_export import lesson_markdown
    from service.store import lessons

    engine = _migrated(settings).engine
    found = lessons.find(engine, args.ref)
    if found is None:
        print(f"lessonloop: no lesson for {args.ref}", file=sys.stderr)
        return 1
    print(lesson_markdown(found))
    print(_reach_text(settings, engine, found))
    return 0


def _reach_text(settings: Settings, engine: Engine, found: Lesson) -> str:
    """Where the lesson was posted, and what it names that was not posted on (over the cap)."""
    from service.events import ItemRef
    from service.reach import lesson_reach, posted_on

    lines = ["## Shared on", ""]
    lines += [f"- {ref}" for ref in posted_on(engine, found.review_ref)] or ["- nowhere yet"]
    reach = lesson_reach(engine, ItemRef.parse(found.incident_ref), ItemRef.parse(found.review_ref),
                         settings.lesson.max_related_items)
    if reach.beyond:
        lines += ["", f"## Not shared (over [lesson] max_related_items = {settings.lesson.max_related_items})", ""]
        lines += [f"- {ref}" for ref in reach.beyond]
    return "\n".join(lines) + "\n"


def _lessons_export(settings: Settings, args: argparse.Namespace) -> int:
    from service.lesson_export import export_json, export_markdown
    from service.store import lessons

    everything = lessons.listing(_migrated(settings).engine, limit=1_000_000)
    text = export_json(everything) if args.format == "json" else export_markdown(everything)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
        print(f"wrote {len(everything)} lessons to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _lessons_stats(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from service import progress as figures
    from service.store import progress

    if args.days < 1:
        print("lessonloop: --days must be at least 1", file=sys.stderr)
        return 2
    today = datetime.now(UTC).date()
    since = figures.window_start(today, args.days)
    rows = progress.load(_migrated(settings).engine, datetime.combine(since, datetime.min.time(), tzinfo=UTC))
    summary = figures.summarise(rows, since, today)
    if args.format == "json":
        print(json.dumps(figures.as_dict(summary), indent=2))
    else:
        sys.stdout.write(figures.render(summary))
    return 0


def _migrated(settings: Settings) -> Runtime:
    runtime = Runtime.build(settings)
    migrate.upgrade(runtime.engine)
    return runtime


def _duration(seconds: int | None) -> str:
    from service.progress import duration

    return "-" if seconds is None else duration(seconds)


def _find_delivery(runtime: Runtime, name: str) -> deliveries.Delivery | None:
    if name.isdigit():
        return deliveries.get(runtime.engine, int(name))
    source, _, delivery_id = name.partition(":")
    return deliveries.find(runtime.engine, source, delivery_id) if delivery_id else None


def _masked(settings: Settings) -> dict[str, object]:
    def mask(value: object) -> object:
        if isinstance(value, SecretStr):
            return "***"
        if isinstance(value, dict):
            return {key: mask(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [mask(item) for item in value]
        return value

    data = mask(settings.model_dump())
    assert isinstance(data, dict)
    data["database_url"] = _safe_db(settings)
    data["redis_url"] = _safe_redis(settings)
    data["enabled_sources"] = list(settings.enabled_sources)
    data["rules"] = [rule.model_dump(exclude_none=True, exclude_defaults=True) | {"source": rule.source}
                     for rule in settings.rules]
    return data


def _safe_db(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.database_url).render_as_string(hide_password=True)


def _safe_redis(settings: Settings) -> str:
    return local_redis.safe_url(settings.redis_url)


def _config_args(args: argparse.Namespace) -> list[str]:
    return ["--config", args.config] if args.config else []


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


if __name__ == "__main__":
    sys.exit(main())
