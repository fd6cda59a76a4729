"""What several commands share: their exit codes, the runtime on a migrated store, and the
store's and Redis's addresses as they may be printed (without passwords).

Its own module so that the command modules and the package that assembles them both import
it, and nothing imports the package from inside it."""

from __future__ import annotations

import argparse
from typing import TypeAlias

from sqlalchemy.engine import make_url

from config.settings import Settings
from service.infra import local_redis
from service.infra.runtime import Runtime
from service.store import migrate

EXIT_SETTINGS = 2
EXIT_UNAVAILABLE = 3

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What ``add_subparsers`` returns: each command module adds its commands to it."""


def migrated(settings: Settings) -> Runtime:
    runtime = Runtime.build(settings)
    migrate.upgrade(runtime.engine)
    return runtime


def safe_db(settings: Settings) -> str:
    return make_url(settings.database_url).render_as_string(hide_password=True)


def safe_redis(settings: Settings) -> str:
    return local_redis.safe_url(settings.redis_url)


def first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
