"""Compressed answers (zstd, brotli or gzip, as the client accepts) for the pages, the API,
the stylesheet and ``/metrics``, by flask-compress: a page of the log is mostly repeated
markup and compresses about tenfold.

The pages carry no secret beside text a request can choose (no CSRF token, the session is a
cookie header), so compressing them leaks nothing a BREACH-style attack could read.
Answers under ``COMPRESS_MIN_SIZE`` bytes (webhook acknowledgements, health) stay as they are.
"""

from __future__ import annotations

from flask import Flask
from flask_compress import Compress

MIMETYPES = [
    "text/html",
    "text/css",
    "text/plain",
    "image/svg+xml",
    "application/json",
    "application/problem+json",
    "text/csv",
]


def install(app: Flask) -> None:
    app.config.setdefault("COMPRESS_MIMETYPES", MIMETYPES)
    app.config.setdefault("COMPRESS_MIN_SIZE", 500)
    app.config.setdefault("COMPRESS_STREAMING_ENDPOINT_CONDITIONAL", ["web.static"])
    Compress(app)
