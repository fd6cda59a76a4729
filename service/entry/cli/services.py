"""``serve``, ``web`` and ``worker``: the commands that start lessonloop's long-running processes.

``serve`` starts the other two as child processes of its own; keeping its workers running and
stopping them all in bounded time is :mod:`service.entry.supervisor`'s job."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading

from config.settings import Settings, SettingsError
from service.entry import server, supervisor
from service.entry.cli.shared import Commands, migrated, safe_db
from service.infra import local_redis, logs
from workers.runner import run_worker


def add_parsers(commands: Commands) -> None:
    serve_command = commands.add_parser("serve", help="web and worker together: the single-machine way to run it")
    _web_options(serve_command)
    serve_command.add_argument(
        "--worker-processes",
        type=int,
        default=None,
        metavar="N",
        help="worker processes beside the web (default: [server] worker_processes, 2)",
    )
    serve_command.set_defaults(run=serve)

    web_command = commands.add_parser("web", help="the webhook receiver alone (granian)")
    _web_options(web_command)
    web_command.set_defaults(run=web)

    worker_command = commands.add_parser("worker", help="an RQ worker alone")
    worker_command.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    worker_command.set_defaults(run=worker)


def _web_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    command.add_argument(
        "--port", type=int, default=8000, help="port to listen on (default 8000; 0: a free one, printed)"
    )
    command.add_argument(
        "--processes",
        "--workers",  # gunicorn's name for the same thing, kept so older scripts keep working
        dest="processes",
        type=int,
        default=None,
        metavar="N",
        help="web processes sharing the port (default: [server] web_processes; 0 or unset: 2 per core, at most 4)",
    )
    command.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads running the app in each web process (default 1; requests are read whole before a thread "
        "sees them)",
    )


def serve(settings: Settings, args: argparse.Namespace) -> int:
    """Web and worker as child processes of this one; :mod:`service.entry.supervisor` keeps the
    workers running and stops them all on SIGINT or SIGTERM. Children get sessions of their own,
    so a Ctrl-C reaches only this process, which then stops them together."""
    _sign_in_mode(settings, args.host)
    if args.port:  # before saying "listening": the web child would fail on it, after
        server.reserve_port(args.host, args.port).close()
    # before any child exists: a Ctrl-C from then on stops every child, however soon it comes
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    redis_process = local_redis.ensure(settings.redis_url)
    migrated(settings).engine.dispose()
    base = [sys.executable, "-m", "service.entry.cli", *(["--config", args.config] if args.config else [])]
    web_process = subprocess.Popen(
        [*base, "web", "--host", args.host, "--port", str(args.port), "--threads", str(args.threads)]
        + (["--processes", str(args.processes)] if args.processes else []),
        start_new_session=True,
    )
    count = args.worker_processes or settings.server.worker_processes
    workers = [supervisor.WorkerSupervisor([*base, "worker"]) for _ in range(max(1, count))]
    for one in workers:
        one.start()
    logs.say(f"lessonloop: listening on {_serve_where(settings, args)}")
    try:
        return supervisor.watch(web_process, stop)
    finally:
        supervisor.stop_all(web_process, workers, redis_process)


def _serve_where(settings: Settings, args: argparse.Namespace) -> str:
    sources = ", ".join(settings.enabled_sources) or (
        "none enabled: set LESSONLOOP_GITHUB_WEBHOOK_SECRET, LESSONLOOP_JIRA_WEBHOOK_SECRET or "
        "LESSONLOOP_PAGERDUTY_WEBHOOK_SECRET to enable a source"
    )
    shown = f"[{args.host}]" if ":" in args.host else args.host
    # with --port 0 only the web knows its port: its own line ("web listening on") says it
    where = f"http://{shown}:{args.port}" if args.port else f"a free port of {shown} (the web's line says which)"
    return f"{where} (store {safe_db(settings)}, sources: {sources})"


def web(settings: Settings, args: argparse.Namespace) -> int:
    """The receiver: granian's worker processes, each building the app on the settings this
    command loaded (:func:`service.entry.server.app_for_worker`). The store is migrated here, once,
    before the workers start."""
    _sign_in_mode(settings, args.host)
    processes = args.processes or settings.server.web_processes or server.default_count()
    if processes < 1 or args.threads < 1:
        raise SettingsError("--processes and --threads take a number of at least 1")
    migrated(settings).engine.dispose()  # no store connection crosses into the workers forked next
    return server.serve(settings, args.host, args.port, args.threads, processes)


def _sign_in_mode(settings: Settings, host: str) -> str:
    """Who may read the learning log when listening on ``host``; a SettingsError when the log
    would be open to everyone beyond this machine."""
    # imported here, deliberately: service.web brings Flask, about a sixth of the start-up CPU of
    # every other command (each `worker`, each `lessons lint`), and only web and serve check this
    from service.web.auth import resolve_mode

    return resolve_mode(settings, host)


def worker(settings: Settings, args: argparse.Namespace) -> int:
    """Migrates the store (or waits while another process does) before anything reads it: the
    tracker clients read the instance's marker keys, so a worker started before the web on a
    fresh store would otherwise stop at a missing table."""
    run_worker(migrated(settings).with_clients(), burst=args.burst)
    return 0
