"""lessonloop's own tracker errors: no vendor exception leaves a client.

Each is one of the two kinds in :mod:`service.infra.failures`: :class:`TransientTrackerError` is a
:class:`~service.infra.failures.RetryLater` (wait and try again, for how long), and
:class:`PermanentTrackerError` a :class:`~service.infra.failures.Permanent` (stop this job and show the
tracker's own words). ``status`` is the tracker's HTTP status, or None when no answer came.
"""

from __future__ import annotations

from service.infra.failures import Permanent, RetryLater


class TrackerError(Exception):
    """A tracker call failed. ``tracker`` is the source name, ``operation`` what we were doing,
    ``status`` the HTTP status of the tracker's answer (None: there was no answer)."""

    def __init__(self, tracker: str, operation: str, message: str, status: int | None = None) -> None:
        self.tracker = tracker
        self.operation = operation
        self.message = message
        self.status = status
        where = f"{tracker} {operation}"
        super().__init__(f"{where}: {status} {message}" if status is not None else f"{where}: {message}")


class TransientTrackerError(TrackerError, RetryLater):
    """Worth retrying: 429, 5xx, a timeout, a broken connection.

    ``retry_after`` (the same number as :attr:`~service.infra.failures.RetryLater.wait`) is how long the
    tracker asked us to wait (seconds), or how long the client's backoff would have waited next,
    so a worker can reschedule the job instead of sleeping. ``may_have_applied`` is True when
    the request may have reached the tracker and taken effect (a 500 or a read timeout on a
    POST): blindly repeating such a write could duplicate it, so the client does not, and the
    worker looks for its marker first.
    """

    def __init__(
        self,
        tracker: str,
        operation: str,
        message: str,
        status: int | None = None,
        retry_after: float | None = None,
        may_have_applied: bool = True,
    ) -> None:
        super().__init__(tracker, operation, message, status)
        self.wait = retry_after
        self.may_have_applied = may_have_applied

    @property
    def retry_after(self) -> float | None:
        return self.wait

    @retry_after.setter
    def retry_after(self, seconds: float | None) -> None:
        self.wait = seconds


class PermanentTrackerError(TrackerError, Permanent):
    """Retrying will not help (400, 401, 403 that is not a rate limit, 404, 410, 422; a request
    that could not be sent (a header value with a line break); an answer that is not what the API describes).

    ``message`` is the tracker's own explanation, as it sent it."""


class NotSent(PermanentTrackerError):
    """lessonloop refused the call before sending anything: an argument this tracker cannot
    take (a ref of another tracker, a container that is no project key or repository). There is
    no HTTP status, and nothing reached the tracker."""

    def __init__(self, tracker: str, operation: str, message: str) -> None:
        super().__init__(tracker, operation, message, None)


class UnsupportedOperation(PermanentTrackerError):
    """The tracker has no such thing (PagerDuty has no tasks; its notes cannot be edited)."""

    def __init__(self, tracker: str, operation: str, message: str) -> None:
        super().__init__(tracker, operation, message, None)
