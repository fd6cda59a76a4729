"""Every answer under ``/api/`` that a test gets through the Flask test client is checked
against the API's own OpenAPI description (``service/web/openapi.json``) with openapi-core: a
status, header or field the description does not promise fails the test that got it.

The conftest's ``client`` fixture uses :class:`CheckingClient`, so any test that calls the API
checks it, not only the API's own tests.
"""

from __future__ import annotations

import gzip
import json
from functools import cache
from typing import Any

from flask.testing import FlaskClient
from openapi_core import Config, OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_schema_validator import OAS31Validator, validate
from werkzeug.datastructures import Headers
from werkzeug.test import TestResponse

from service.web.api import description_text
from service.web.errors import PROBLEM


@cache
def spec() -> OpenAPI:
    """openapi-core reads ``application/json`` bodies as JSON; problem details are JSON too."""
    config = Config(extra_media_type_deserializers={PROBLEM: json.loads})
    return OpenAPI.from_dict(json.loads(description_text()), config=config)


class _AsSent(WerkzeugOpenAPIRequest):
    """The request at the path as the client sent it: a ref is percent-encoded there (one path
    segment, as the description says), and decoded in ``request.path``."""

    @property
    def path(self) -> str:
        raw = str(self.request.environ.get("RAW_URI") or self.request.path)
        return raw.partition("?")[0]


def check(response: TestResponse) -> None:
    """Raise openapi-core's error when ``response`` is not what the description promises. A
    path or method the API does not have is answered 404 or 405 as problem details."""
    try:
        spec().validate_response(_AsSent(response.request), WerkzeugOpenAPIResponse(response))
    except (PathNotFound, OperationNotFound):
        assert response.status_code in (404, 405) and response.mimetype == PROBLEM, response
        problem = json.loads(description_text())["components"]["schemas"]["Problem"]
        validate(response.get_json(), problem, cls=OAS31Validator)


class CheckingClient(FlaskClient):
    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        response = super().open(*args, **kwargs)
        if response.request.path.startswith("/api/"):
            check(_decoded(response))
        return response


def _decoded(response: TestResponse) -> TestResponse:
    """The answer as its client reads it: a gzip transfer of it is checked as the body it
    carries (the description is about that body, not about its compression)."""
    if response.headers.get("Content-Encoding") != "gzip":
        return response
    headers = Headers(response.headers)
    del headers["Content-Encoding"]
    del headers["Content-Length"]
    return TestResponse(gzip.decompress(response.get_data()), response.status, headers, request=response.request)
