"""The runtime a job uses, built once per worker process (jobs take only ids as arguments)."""

from __future__ import annotations

from config.settings import load_settings
from service.infra import counters
from service.infra.runtime import Runtime

_runtime: Runtime | None = None


def install(runtime: Runtime) -> None:
    """Set the runtime jobs use: the worker command does this at start, tests do it with theirs."""
    global _runtime
    _runtime = runtime
    counters.install(runtime.redis)


def runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        _runtime = Runtime.build(load_settings())
    return _runtime
