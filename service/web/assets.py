"""Static files under a URL that names their content (``/assets/style.css?v=<sha256 prefix>``),
cached by browsers for a year: a new release changes the hash, so the page asks for the new
file, and no view revalidates the stylesheet. A request without the current hash (an old
page, a hand-typed URL) is served too, and revalidated."""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.resources import files
from typing import Any

from flask import request
from werkzeug.wrappers import Response

from service.web.blueprint import blueprint

LONG_CACHE = "public, max-age=31536000, immutable"
ENDPOINT = "web.static"


@cache
def digest(filename: str) -> str | None:
    """The first 16 hex digits of the file's SHA-256; ``None`` when there is no such file."""
    found = files("service.web").joinpath("static", *filename.split("/"))
    if not found.is_file():
        return None
    return hashlib.sha256(found.read_bytes()).hexdigest()[:16]


@blueprint.url_defaults
def versioned(endpoint: str, values: dict[str, Any]) -> None:
    if endpoint == ENDPOINT and "filename" in values and "v" not in values:
        version = digest(values["filename"])
        if version:
            values["v"] = version


@blueprint.after_request
def long_cache(response: Response) -> Response:
    if request.endpoint == ENDPOINT and response.status_code == 200:
        filename = (request.view_args or {}).get("filename", "")
        if request.args.get("v") and request.args.get("v") == digest(filename):
            response.headers["Cache-Control"] = LONG_CACHE
    return response
