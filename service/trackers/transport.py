"""Sending one HTTP request to a tracker: a urllib3 connection pool, and the answer as bytes.

The clients used a ``requests`` session. Its own layer (building a ``PreparedRequest``, merging
cookies, hooks and settings, wrapping the answer) cost about 0.25 ms of CPU a request on top
of urllib3's, a sixth of a worker's CPU in the review loop, and bought nothing the trackers
need: no cookies, no auth hooks, one base URL per client. So the pool is urllib3's, used
directly, and what ``requests`` would read from the environment (proxies with ``NO_PROXY``, a
CA bundle named by ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE``) is read once when the
transport is built, by ``requests`` itself so that the environment means what it always meant.

Redirects are followed as ``requests`` followed them (GitHub answers 301 for a renamed
repository's reads, 307 for its writes), at most :data:`MAX_REDIRECTS`, with the
``Authorization`` header dropped when one leads to another host. Nothing is retried here:
:mod:`service.trackers.retry` decides that.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode

import certifi
import requests
import urllib3
from urllib3 import HTTPHeaderDict
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    LocationValueError,
    MaxRetryError,
    NewConnectionError,
    ProxyError,
    ReadTimeoutError,
)

MAX_REDIRECTS = 5
POOL_SIZE = 10
"""Connections kept per host, as ``requests`` kept: a client is shared by a process's threads."""

Timeout = float | tuple[float, float]


@dataclass(frozen=True)
class Answer:
    """A tracker's answer, read whole (tracker answers are small JSON documents)."""

    status_code: int
    reason: str
    headers: Mapping[str, str]
    """Case-insensitive, as HTTP headers are."""
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode(_charset(self.headers.get("Content-Type", "")), errors="replace")

    def json(self) -> Any:
        """The body as JSON; ``ValueError`` when it is not."""
        return json.loads(self.content)


class InvalidHeader(ValueError):
    """A header value that would split the request (a newline, say, from a token file): refused
    before anything is sent. Its text names the header, never the value."""


class NoAnswer(Exception):
    """The request got no answer. ``kind`` says how; ``never_connected`` is True only when the
    connection itself failed, so the tracker cannot have seen the request. The text names the
    failure's type, never its message: ``http.client`` quotes header values in some."""

    def __init__(self, kind: Literal["timed out", "connection failed"], cause: BaseException, never_connected: bool):
        super().__init__(f"{kind}: {type(cause).__name__}")
        self.kind = kind
        self.cause_name = type(cause).__name__
        self.never_connected = never_connected


def _charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            charset = value.strip("\"' ")
            try:
                "".encode(charset)
            except LookupError:
                break
            return charset
    return "utf-8"


def check_headers(headers: Mapping[str, str]) -> None:
    """Refuse a value with a line break or leading whitespace (as ``requests`` did)."""
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\0" in value or value[:1].isspace():
            raise InvalidHeader(f"the {name} header has a value that cannot be sent")


class Transport:
    """One tracker's base URL, default headers, timeout, proxy and CA settings, and its pool."""

    def __init__(self, base_url: str, headers: Mapping[str, str], timeout: Timeout) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers)
        connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        self.timeout = urllib3.Timeout(connect=connect, read=read)
        self.retries = urllib3.Retry(
            total=None, connect=0, read=0, other=0, status=0, redirect=MAX_REDIRECTS, raise_on_redirect=False
        )
        self.proxy, self.verify = read_environment(self.base_url)
        tls: dict[str, Any]
        if self.verify is False:
            tls = {"cert_reqs": "CERT_NONE"}
        elif isinstance(self.verify, str) and os.path.isdir(self.verify):
            tls = {"cert_reqs": "CERT_REQUIRED", "ca_cert_dir": self.verify}
        elif isinstance(self.verify, str):
            tls = {"cert_reqs": "CERT_REQUIRED", "ca_certs": self.verify}
        else:
            tls = {"cert_reqs": "CERT_REQUIRED", "ca_certs": certifi.where()}
        self.pool: urllib3.PoolManager
        if self.proxy:
            self.pool = urllib3.ProxyManager(
                self.proxy, num_pools=4, maxsize=POOL_SIZE, proxy_headers=_proxy_headers(self.proxy), **tls
            )
        else:
            self.pool = urllib3.PoolManager(num_pools=4, maxsize=POOL_SIZE, **tls)

    def send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """Send one request and read its whole answer, whatever its status.

        Raises :class:`InvalidHeader` before sending, or :class:`NoAnswer`."""
        url = self.base_url + path
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params, doseq=True)
        sent = HTTPHeaderDict(self.headers)  # a per-call header replaces a default whatever its case
        for name, value in (headers or {}).items():
            sent[name] = value
        check_headers(sent)
        body = None
        if json_body is not None:
            body = json.dumps(json_body, allow_nan=False).encode()
            sent.setdefault("Content-Type", "application/json")
        try:
            response = self.pool.urlopen(
                method,
                url,
                body=body,
                headers=sent,
                timeout=self.timeout,
                retries=self.retries,
                redirect=True,
                preload_content=True,
            )
        except LocationValueError:  # a URL that cannot be sent: no fault of the network
            raise
        except MaxRetryError as error:  # a retry count of 0 wraps the failure itself
            raise _no_answer(error.reason or error) from None
        except HTTPError as error:
            raise _no_answer(error) from None
        return Answer(
            status_code=response.status,
            reason=response.reason or "",
            headers=response.headers,
            content=response.data or b"",
        )


def _no_answer(error: BaseException) -> NoAnswer:
    """Told by type, as ``requests`` told it: a failed connect (refused, a name that does not
    resolve, no answer within the connect timeout, the same through a proxy) never reached the
    tracker, so even a write may be sent again; anything later may have."""
    if isinstance(error, ProxyError) and isinstance(error.original_error, ConnectTimeoutError):
        error = error.original_error
    if isinstance(error, NewConnectionError):  # NameResolutionError is one
        return NoAnswer("connection failed", error, never_connected=True)
    if isinstance(error, ConnectTimeoutError):
        return NoAnswer("timed out", error, never_connected=True)
    if isinstance(error, ReadTimeoutError):
        return NoAnswer("timed out", error, never_connected=False)
    return NoAnswer("connection failed", error, never_connected=False)


def _proxy_headers(proxy: str) -> dict[str, str] | None:
    username, password = requests.utils.get_auth_from_url(proxy)
    if not username:
        return None
    return urllib3.make_headers(proxy_basic_auth=f"{username}:{password}")


def read_environment(base_url: str) -> tuple[str | None, bool | str]:
    """The proxy for ``base_url`` (honouring ``NO_PROXY``) and the CA bundle to verify with
    (True: certifi's), as ``requests`` reads them from the environment. Read once: ``requests``
    did it on every request, about a third of a millisecond each."""
    found = requests.Session().merge_environment_settings(base_url, {}, None, None, None)
    proxy = requests.utils.select_proxy(base_url, found.get("proxies") or {})
    return proxy, found.get("verify", True)
