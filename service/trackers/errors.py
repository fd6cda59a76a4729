"""lessonloop's own tracker errors: no vendor exception leaves a client.

Workers need to know two things about a failed call: wait and try again (transient, and for how
long), or stop this job and show the tracker's own words (permanent).
"""

from __future__ import annotations


class TrackerError(Exception):
    """A tracker call failed. ``tracker`` is the source name, ``operation`` what we were doing."""

    def __init__(self, tracker: str, operation: str, message: str, status: int | None = None) -> None:
        self.tracker = tracker
        self.operation = operation
        self.message = message
        self.status = status
        where = f"{tracker} {operation}"
        # status 0: refused before anything was sent, so there is no HTTP status to show
        super().__init__(f"{where}: {status} {message}" if status else f"{where}: {message}")


class TransientTrackerError(TrackerError):
    """Worth retrying: 429, 5xx, a timeout, a broken connection.

    ``retry_after`` is how long the tracker asked us to wait (seconds), or how long the client's
    backoff would have waited next, so a worker can reschedule the job instead of sleeping.
    ``may_have_applied`` is True when the request may have reached the tracker and taken effect
    (a 500 or a read timeout on a POST): blindly repeating such a write could duplicate it, so the
    client does not, and the worker looks for its marker first.
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
        self.retry_after = retry_after
        self.may_have_applied = may_have_applied


class PermanentTrackerError(TrackerError):
    """Retrying will not help (400, 401, 403 that is not a rate limit, 404, 410, 422).

    ``message`` is the tracker's own explanation, as it sent it. ``status`` is the HTTP status,
    or 0 when lessonloop refused the call before sending it (a ref of another tracker, say).
    """

    status: int

    def __init__(self, tracker: str, operation: str, message: str, status: int) -> None:
        super().__init__(tracker, operation, message, status)


class UnsupportedOperation(TrackerError):
    """The tracker has no such thing (PagerDuty has no tasks; its notes cannot be edited)."""

    def __init__(self, tracker: str, operation: str, message: str) -> None:
        super().__init__(tracker, operation, message, None)
