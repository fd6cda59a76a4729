"""Shared HTTP plumbing: one ``requests`` session per client (:mod:`service.trackers.http.transport`),
errors turned into ours.

The GitHub, Jira and PagerDuty clients all call through :class:`HttpApi`: one retry rule, the
shared rate limiter, the request counters, a timeout, and the same mapping of answers and
failures to lessonloop's errors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

from service.trackers.errors import (
    PermanentTrackerError,
    TrackerError,
    TransientTrackerError,
)
from service.trackers.http.ratelimit import RateLimited, RateLimiter
from service.trackers.http.retry import RetryPolicy, call_with_retry, wait_from_headers
from service.trackers.http.transport import Answer, NoAnswer, Transport

DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 30.0)  # connect, read
_IDEMPOTENT = {"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"}

MessageOf = Callable[[Answer], str]


def response_message(response: Answer, from_json: Callable[[Any], str]) -> str:
    """The tracker's own message from an error response, or its text when it sent no JSON."""
    try:
        data = response.json()
    except ValueError:
        data = None
    message = ""
    if data is not None:
        try:
            message = from_json(data)
        except (AttributeError, KeyError, TypeError, IndexError):
            message = ""
    return message or (response.text or response.reason or "").strip()[:500]


def is_rate_limit(response: Answer, message: str) -> bool:
    """A 403 that is really a rate limit (GitHub's primary and secondary limits)."""
    headers = response.headers
    return headers.get("x-ratelimit-remaining") == "0" or "retry-after" in headers or "rate limit" in message.lower()


def rate_limited(response: Answer, message: str) -> bool:
    return response.status_code == 429 or (response.status_code == 403 and is_rate_limit(response, message))


def observe_limits(limiter: RateLimiter | None, response: Answer, error: TrackerError | None) -> None:
    """Tell the shared limiter what the tracker said: a rate-limit answer (and its wait) or a
    warning in the headers of any answer."""
    if limiter is None:
        return
    limited = error is not None and rate_limited(response, error.message)
    wait = error.retry_after if isinstance(error, TransientTrackerError) else None
    limiter.observe(limited, response.headers, wait)


def error_from_response(tracker: str, operation: str, response: Answer, message: str) -> TrackerError:
    status = response.status_code
    wait = wait_from_headers(response.headers)
    if rate_limited(response, message):
        return TransientTrackerError(tracker, operation, message, status, wait, may_have_applied=False)
    if status >= 500 or status == 408:
        return TransientTrackerError(tracker, operation, message, status, wait, may_have_applied=True)
    return PermanentTrackerError(tracker, operation, message, status)


def error_from_exception(tracker: str, operation: str, error: Exception, url: str | None = None) -> TrackerError:
    """A request that got no answer (:class:`NoAnswer`), or one refused before it was sent (a
    header value or URL that cannot be sent: a ``ValueError``). Only a failed connect is known
    not to have reached the tracker.

    The message names the failure's type and the URL's host and path, never the failure's own
    text: ``http.client`` quotes header values in it (``... 'Bearer ghp_...\\n'``), and the
    message reaches ``check --online``, the log and the store's ``last_error``."""
    where = where_of(url or "")
    if isinstance(error, NoAnswer):
        return TransientTrackerError(
            tracker, operation, f"{error.kind}: {error.cause_name}{where}", None, None, not error.never_connected
        )
    return PermanentTrackerError(tracker, operation, f"request failed: {type(error).__name__}{where}")


def where_of(url: str) -> str:
    """`` (host/path)`` of ``url``, without its scheme, credentials, query or fragment; empty when
    there is no host to name."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return ""
    return f" ({host}{port}{parts.path})" if host else ""


class Credentials(Protocol):
    """Credentials that change (GitHub App installation tokens): asked for on every request."""

    def headers_for(self, path: str) -> Mapping[str, str]: ...

    def refused(self, path: str, sent: Mapping[str, str]) -> None:
        """The tracker answered 401 to the request ``sent`` with these headers: forget them."""


class HttpApi:
    """A base URL with its headers, a transport built once, a timeout, a retry policy and an
    error vocabulary."""

    def __init__(
        self,
        tracker: str,
        base_url: str,
        headers: Mapping[str, str],
        message_of: MessageOf,
        retry: RetryPolicy,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        credentials: Credentials | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.tracker = tracker
        self.message_of = message_of
        self.transport = Transport(base_url, headers, timeout, tracker, observe=self.observe)
        self.base_url = self.transport.base_url
        self.limiter = limiter
        self.retry = retry
        self.credentials = credentials

    @property
    def limiter(self) -> RateLimiter | None:
        """The shared rate limiter, kept by the session's adapter so that it paces every request."""
        return self.transport.adapter.limiter

    @limiter.setter
    def limiter(self, limiter: RateLimiter | None) -> None:
        self.transport.adapter.limiter = limiter

    def observe(self, response: Answer) -> None:
        """Tell the limiter what an answer said of the tracker's limits (the adapter calls this)."""
        limiter = self.limiter
        if limiter is None:
            return
        failure = None
        if response.status_code >= 300:
            failure = error_from_response(self.tracker, "", response, self.message_of(response))
        observe_limits(limiter, response, failure)

    def request(
        self,
        operation: str,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """One logical call: retried within the policy, then a response with a 2xx status or our error.

        Each attempt first takes a slot from the shared rate limiter, in the session's adapter
        (waiting briefly, or raising a transient error that was never sent so the worker
        reschedules the job)."""
        url = self.base_url + path
        renewed = False

        def once() -> Answer:
            nonlocal renewed
            sent = dict(headers or {})
            if self.credentials is not None:
                sent.update(self.credentials.headers_for(path))
            try:
                response = self.transport.send(method, path, params=params, json_body=json, headers=sent)
            except (NoAnswer, ValueError) as error:
                raise error_from_exception(self.tracker, operation, error, url) from None
            if response.status_code == 401 and self.credentials is not None and not renewed:
                renewed = True  # an expired or revoked token: renew it once, at once
                self.credentials.refused(path, sent)
                return once()
            if response.status_code >= 300:
                raise error_from_response(self.tracker, operation, response, self.message_of(response))
            return response

        try:
            return call_with_retry(self.retry, once, idempotent=method.upper() in _IDEMPOTENT)
        except RateLimited as limited:
            raise limited.as_tracker_error(operation) from None

    def delete(self, operation: str, path: str) -> None:
        """``DELETE path``, where a 404 counts as done: what was to go is gone (a run before this
        one deleted it)."""
        try:
            self.request(operation, "DELETE", path)
        except PermanentTrackerError as error:
            if error.status != 404:
                raise

    def json(
        self,
        operation: str,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        response = self.request(operation, method, path, params=params, json=json, headers=headers)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise PermanentTrackerError(
                self.tracker, operation, f"answer is not JSON: {response.text[:200]!r}", response.status_code
            ) from None
