"""Structured logs: one JSON object a line when not on a terminal, readable lines when on one.

A last processor replaces any configured secret that found its way into an event with ``***``:
the code never logs secrets or bodies on purpose, and this catches the accident, in whatever form
the accident took: as written, quoted by ``repr`` or JSON, percent-encoded, or in base64 (an
``Authorization: Basic`` header is base64 of ``email:token``; ``all_secrets`` lists that pair too).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import sys
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def configure(level: str = "info", fmt: str = "auto", secrets: Iterable[str] = ()) -> None:
    as_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    redact = Redactor(secrets)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info if as_json else structlog.processors.StackInfoRenderer(),
        redact,
    ]
    renderer: Any = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = CurrentStderr()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS.get(level, logging.INFO))
    # RQ logs through the standard library: same format, same redaction
    for name in ("rq.worker", "rq.scheduler"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # alembic narrates every start at INFO; only its warnings matter to an operator
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))


class CurrentStderr(logging.StreamHandler):
    """Writes each record to ``sys.stderr`` as it is when the record is written, not as it was
    when logging was configured: a thread that logs after ``sys.stderr`` was replaced (a test
    runner capturing output, then closing what it captured into) writes to the live stream
    instead of failing on a closed file."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> Any:
        return sys.stderr


def say(line: str) -> None:
    """``line`` to stderr in one write: ``print`` writes the text and its newline apart, and
    with unbuffered output (``PYTHONUNBUFFERED``, a container's usual setting) a web worker's log
    line could land between them, gluing itself to what scripts read ("web listening on URL").
    A write of under 4 KiB to a pipe is not interleaved."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def get(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)


MIN_SECRET = 4
"""Shorter values are not redacted: ``***`` in place of every ``a`` would hide the log, not a secret."""


def secret_forms(secret: str) -> set[str]:
    """Every form in which ``secret`` may appear in a log event: as written and stripped, escaped
    as ``repr`` and JSON do (once and twice), percent-encoded (either case of hex digits), and
    base64 (standard and URL-safe, without padding, so it is found inside a longer encoding too)."""
    forms: set[str] = set()
    for value in {secret, secret.strip()}:
        if len(value) < MIN_SECRET:
            continue
        escaped = value.encode("unicode_escape").decode("ascii")
        forms |= {value, escaped, escaped.replace("'", "\\'"), escaped.replace('"', '\\"'), repr(value)[1:-1]}
        for once in (json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]):
            forms |= {once, json.dumps(once)[1:-1]}
        for encoded in (quote(value, safe=""), quote_plus(value, safe=""), quote(value)):
            forms |= {encoded, re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), encoded)}
        raw = value.encode("utf-8")
        forms |= {
            base64.b64encode(raw).decode("ascii").rstrip("="),
            base64.urlsafe_b64encode(raw).decode("ascii").rstrip("="),
        }
    return {form for form in forms if len(form) >= MIN_SECRET}


class Redactor:
    """The structlog processor that puts ``***`` in place of any form of any configured secret,
    in every string of an event, nested lists and dicts included."""

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            forms |= secret_forms(secret)
        ordered = sorted(forms, key=len, reverse=True)  # a longer form before its own substrings
        self.pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __call__(self, _logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
        if self.pattern is None:
            return event
        return {key: self.clean(value) for key, value in event.items()}

    def clean(self, value: Any) -> Any:
        if self.pattern is None:
            return value
        if isinstance(value, str):
            return self.pattern.sub("***", value)
        if isinstance(value, dict):
            return {key: self.clean(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.clean(item) for item in value)
        return value
