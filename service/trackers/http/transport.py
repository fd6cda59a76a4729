"""Sending one HTTP request to a tracker: a ``requests.Session`` per client, with an adapter
that paces, counts and watches every request it sends.

``requests`` does what a tracker client needs of HTTP: redirects (GitHub answers 301 for a
renamed repository's reads and 307 for its writes; a 307 keeps the method and body), the
``Authorization`` header dropped when one leads to another host, a header value that would split
the request refused before anything is sent, proxies (with their sign-in) and the CA bundle
from the environment, and the answer's charset.

Three settings differ from a bare session, each for a reason:

- The environment is read once, when the session is built (``HTTPS_PROXY``, ``NO_PROXY``,
  ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``, through ``requests`` itself so that they mean what
  they mean to any ``requests`` program), and ``trust_env`` is then turned off. Reading it on
  every request would add CPU to each one (docs/trackers.md, "What a request costs"), and a
  ``~/.netrc`` entry for the tracker's host would replace the client's own ``Authorization``
  header.
- No cookie is kept: a tracker's session cookie would go on signing requests in after the
  client's credentials were refused or replaced, and every request stands on its own header.
- The adapter's urllib3 :class:`~urllib3.util.Retry` retries only a connect that failed: such a
  request never reached the tracker, so it counts against no rate limit and is safe to send
  again whatever its method. Answers (429, 5xx) and read failures are left to
  :mod:`service.trackers.http.retry`, attempt by attempt: each attempt must take its own rate-limit
  slot and share a 429's wait with every worker, a wait in a hostile header must be capped, and a
  write that may have been applied must not be sent again blindly. urllib3's status retries would
  re-send inside one adapter call, past all of that.

:class:`TrackerAdapter` is where the shared rate limiter sits: it takes a slot before each
request leaves (each redirect hop included), settles it when the answer is in, counts the
answer, and tells the limiter what the tracker said about its limits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from http.cookiejar import DefaultCookiePolicy
from typing import Any, Literal

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import check_header_validity
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError, ProxyError, ReadTimeoutError
from urllib3.util import Retry

from service.infra import counters
from service.trackers.http.ratelimit import RateLimiter

Answer = requests.Response
"""A tracker's answer, read whole (tracker answers are small JSON documents)."""

MAX_REDIRECTS = 5
POOL_SIZE = 10
"""Connections kept per host: a client is shared by a process's threads."""
CONNECT_RETRIES = 2
"""Connects tried again within one attempt (after no wait, then 0.2 s): the connect timeout
bounds each, so an unreachable tracker costs at most three connect timeouts an attempt."""
CONNECT_BACKOFF = 0.1

Timeout = float | tuple[float, float]
Observer = Callable[[Answer], None]


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


def connect_retries() -> Retry:
    """urllib3's retry for connects that failed, and for nothing else (see the module's text)."""
    return Retry(
        total=None,
        connect=CONNECT_RETRIES,
        read=False,
        redirect=False,
        status=0,
        other=0,
        backoff_factor=CONNECT_BACKOFF,
        raise_on_status=False,
    )


class TrackerAdapter(HTTPAdapter):
    """``requests``' adapter with the shared rate limiter around each send.

    ``limiter`` may be set after the adapter is built (the registry gives workers theirs); with
    none, requests go unpaced (``check --online``). ``observe`` hears every answer that is not a
    redirect, so the limiter learns of a 429 whoever sent the request."""

    def __init__(self, tracker: str, observe: Observer | None = None) -> None:
        super().__init__(pool_connections=4, pool_maxsize=POOL_SIZE, max_retries=connect_retries())
        self.tracker = tracker
        self.limiter: RateLimiter | None = None
        self.observe = observe

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Answer:
        """Take a slot (or raise :class:`~service.trackers.http.ratelimit.RateLimited` unsent), send,
        settle the slot, count the answer and pass it to ``observe``."""
        limiter = self.limiter
        reservation = None if limiter is None else limiter.acquire(request.method or "GET")
        try:
            response: Answer = counters.counted_request(self.tracker, super().send, request, *args, **kwargs)
        finally:
            if limiter is not None:
                limiter.settle(reservation)
        if self.observe is not None and not response.is_redirect:
            self.observe(response)
        return response


def build_session(base_url: str, headers: Mapping[str, str], adapter: HTTPAdapter) -> requests.Session:
    """A session for one tracker: its default headers, ``adapter`` for every URL, no cookies, and
    the proxy and CA bundle the environment gives for ``base_url``, read now and not again."""
    session = requests.Session()
    found = session.merge_environment_settings(base_url, {}, None, None, None)
    session.proxies = dict(found.get("proxies") or {})
    session.verify = found.get("verify", True)
    session.trust_env = False
    session.max_redirects = MAX_REDIRECTS
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    session.headers.update(headers)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class Transport:
    """One tracker's base URL, timeout and session."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        timeout: Timeout,
        tracker: str = "",
        observe: Observer | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.adapter = TrackerAdapter(tracker, observe)
        self.session = build_session(self.base_url, headers, self.adapter)

    def send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """Send one request and read its whole answer, whatever its status.

        Raises :class:`InvalidHeader` or another ``ValueError`` (a URL or body that cannot be
        sent) before sending, or :class:`NoAnswer`."""
        refused = False
        try:
            return self.session.request(
                method, self.base_url + path, params=params, json=json_body, headers=headers, timeout=self.timeout
            )
        except requests.exceptions.InvalidHeader:
            refused = True  # raised below, outside this block: the library's text quotes the value
        except requests.exceptions.InvalidJSONError:
            raise ValueError("the body cannot be sent as JSON") from None
        except requests.exceptions.TooManyRedirects as error:
            if error.response is None:
                raise NoAnswer("connection failed", error, never_connected=False) from None
            return error.response  # the last redirect, answered as the tracker's own
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as error:
            raise no_answer(error) from None
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as error:
            raise NoAnswer("connection failed", error, never_connected=False) from None
        assert refused
        raise InvalidHeader(f"the {self.refused_header(headers)} header has a value that cannot be sent")

    def refused_header(self, headers: Mapping[str, str] | None) -> str:
        """The name of the first header ``requests`` refuses, per-call headers replacing defaults."""
        merged: CaseInsensitiveDict[str | bytes] = CaseInsensitiveDict(self.session.headers)
        merged.update(headers or {})
        for name, value in merged.items():
            try:
                check_header_validity((name, value))
            except requests.exceptions.InvalidHeader:
                return str(name)
        return "a"


def cause_of(error: requests.RequestException) -> BaseException:
    """urllib3's own failure inside a ``requests`` exception (unwrapped from the retry that gave
    up and from a proxy's wrapper), or the exception itself."""
    cause: BaseException = error
    first = error.args[0] if error.args else None
    if isinstance(first, BaseException):
        cause = first
    if isinstance(cause, MaxRetryError) and cause.reason is not None:
        cause = cause.reason
    if isinstance(cause, ProxyError) and isinstance(cause.original_error, ConnectTimeoutError):
        cause = cause.original_error
    return cause


def no_answer(error: requests.RequestException) -> NoAnswer:
    """Told by urllib3's type: a failed connect (refused, a name that does not resolve, no answer
    within the connect timeout, the same through a proxy) never reached the tracker, so even a
    write may be sent again; anything later may have reached it."""
    cause = cause_of(error)
    if isinstance(cause, NewConnectionError):  # NameResolutionError is one
        return NoAnswer("connection failed", cause, never_connected=True)
    if isinstance(cause, ConnectTimeoutError):
        return NoAnswer("timed out", cause, never_connected=True)
    if isinstance(cause, ReadTimeoutError) or isinstance(error, requests.exceptions.ReadTimeout):
        return NoAnswer("timed out", cause, never_connected=False)
    return NoAnswer("connection failed", cause, never_connected=False)
