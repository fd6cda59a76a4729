"""The trackers lessonloop speaks to, by name: the lowest layer's own words, so that the rules,
the settings and everything above them spell a tracker the same way."""

from __future__ import annotations

from typing import Literal, get_args

Source = Literal["github", "jira", "pagerduty"]
"""The trackers lessonloop speaks to (the prefix of every ``ItemRef``)."""

SOURCES: tuple[Source, ...] = get_args(Source)
"""Every tracker, in the order the settings and the pages list them."""
