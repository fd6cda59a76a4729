"""Serving the app with gunicorn (a production WSGI server), configured from our command line.

``gunicorn 'service.wsgi:app'`` also works: the module-level ``app`` is built lazily from the
environment, so the Dockerfile and other process managers can use gunicorn directly.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication

from config.settings import load_settings
from service import logs
from service.app import create_app
from service.runtime import all_secrets


def build_app():  # type: ignore[no-untyped-def]
    settings = load_settings()
    logs.configure(settings.server.log_level, settings.server.log_format, all_secrets(settings))
    return create_app(settings)


class _Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any], loader: Callable[[], Any]) -> None:
        self.options = options
        self.loader = loader
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):  # type: ignore[no-untyped-def]
        return self.loader()


def default_workers() -> int:
    return min(4, (os.cpu_count() or 1) + 1)


def serve(host: str, port: int, workers: int, threads: int, loader: Callable[[], Any] = build_app) -> None:
    """Run gunicorn in the foreground; ``loader`` builds the app in each worker process."""
    _Server(
        {
            "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            # trackers wait 5-10 s for an answer; a request that takes 30 s is stuck
            "timeout": 30,
            "graceful_timeout": 20,
            "keepalive": 5,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "warning",
        },
        loader,
    ).run()


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    if name == "app":
        return build_app()
    raise AttributeError(name)
