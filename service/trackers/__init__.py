"""Tracker clients behind one interface: GitHub, Jira and PagerDuty.

Import the interface and errors from here; build clients with :func:`build_clients`.
"""

from service.trackers.base import Capabilities, Comment, Identity, Review, ReviewDraft, TrackerClient
from service.trackers.errors import (
    NotSent,
    PermanentTrackerError,
    TrackerError,
    TransientTrackerError,
    UnsupportedOperation,
)
from service.trackers.registry import build_clients
from service.trackers.retry import NO_RETRY, RetryPolicy

__all__ = [
    "NO_RETRY",
    "NotSent",
    "Capabilities",
    "Comment",
    "Identity",
    "PermanentTrackerError",
    "RetryPolicy",
    "Review",
    "ReviewDraft",
    "TrackerClient",
    "TrackerError",
    "TransientTrackerError",
    "UnsupportedOperation",
    "build_clients",
]
