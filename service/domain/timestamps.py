"""Reading the trackers' timestamps: one parser for webhooks and API answers alike."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def parse_timestamp(value: Any) -> datetime | None:
    """ISO 8601 as the trackers write it (``Z``, ``+0100``, ``+00:00``, milliseconds); None when
    absent or unreadable, so an odd timestamp in a payload or an answer never fails a job."""
    if not isinstance(value, str) or not value:
        return None
    if len(value) > 5 and value[-5] in "+-" and value[-3] != ":":  # Jira: "…+0100"
        value = value[:-2] + ":" + value[-2:]
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
