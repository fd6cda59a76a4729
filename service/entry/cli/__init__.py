"""lessonloop: turns every closed incident into a blameless lesson the whole organisation keeps.

Commands: serve, web, worker, init, check, replay, link, import, lessons, followups."""

# The docstring above is also ``lessonloop --help``'s description. Each command module adds its
# commands to the parser and names their handlers; this module loads the settings they run on
# and turns what commonly goes wrong (settings, Redis, the store) into one line and an exit code.

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from config.settings import SettingsError, load_settings
from service.entry.cli import check, followups, importing, init, lessons, link, replay, services
from service.entry.cli.shared import EXIT_SETTINGS, EXIT_UNAVAILABLE, first_line, safe_db, safe_redis
from service.entry.server import PortInUse
from service.infra import local_redis, logs
from service.infra.runtime import all_secrets
from service.store.engine import StoreUnavailable

__all__ = ["EXIT_CLOSED_PIPE", "EXIT_SETTINGS", "EXIT_UNAVAILABLE", "main"]

EXIT_CLOSED_PIPE = 128 + signal.SIGPIPE


def main(argv: Sequence[str] | None = None) -> int:
    """The command's exit code. Output to a pipe closed early (``lessonloop lessons list |
    head -1``) ends it quietly, as Python's documentation on SIGPIPE recommends: the rest of
    its output goes to /dev/null, and the code is the shell's for a closed pipe."""
    try:
        code = _run(argv)
        sys.stdout.flush()  # a closed pipe shows here, not at the interpreter's exit
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_CLOSED_PIPE
    return code


def _run(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    if not args.reads_settings:
        return int(args.run(args))
    try:
        settings = load_settings(config_file=args.config)
    except SettingsError as error:
        print(f"lessonloop: {error}", file=sys.stderr)
        return EXIT_SETTINGS
    logs.configure(settings.server.log_level, settings.server.log_format, all_secrets(settings))
    if args.logs_environment_notes:
        for note in settings.environment_notes:
            logs.get(__name__).warning(note)
    try:
        return int(args.run(settings, args) or 0)
    except SettingsError as error:  # a setting that only the command's own options make wrong
        print(f"lessonloop: {error}", file=sys.stderr)
        return EXIT_SETTINGS
    except (local_redis.RedisUnavailable, StoreUnavailable, PortInUse) as error:
        print(f"lessonloop: {error}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except RedisError as error:
        print(
            f"lessonloop: Redis at {safe_redis(settings)} (REDIS_URL) did not answer: "
            f"{type(error).__name__}: {first_line(error)}",
            file=sys.stderr,
        )
        return EXIT_UNAVAILABLE
    except SQLAlchemyError as error:
        print(
            f"lessonloop: the store at {safe_db(settings)} (DATABASE_URL) did not answer: "
            f"{type(error).__name__}: {first_line(error)}",
            file=sys.stderr,
        )
        return EXIT_UNAVAILABLE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lessonloop", description=__doc__)
    parser.add_argument("--config", help="settings file (default: $LESSONLOOP_CONFIG or ./lessonloop.toml)")
    # a command's own set_defaults overrides these: init and lessons lint read no settings, and
    # check prints the environment's notes among its warnings instead of logging them first
    parser.set_defaults(reads_settings=True, logs_environment_notes=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    services.add_parsers(commands)  # serve, web, worker
    check.add_parser(commands)
    replay.add_parser(commands)
    link.add_parser(commands)
    importing.add_parser(commands)
    lessons.add_parser(commands)
    init.add_parser(commands)
    followups.add_parser(commands)
    return parser
