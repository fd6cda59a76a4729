"""Test doubles of GitHub, Jira and PagerDuty, served over real HTTP on loopback.

Each checks every request against the vendor's OpenAPI description in ``tests/contracts`` and
keeps its items in memory. Used by the tracker-client tests, the review-loop tests (through
``tests.doubles.pytest_plugin``) and the benchmarks (``python -m tests.doubles``).
"""

from tests.doubles.base import LoggedRequest, TrackerDouble, load_spec
from tests.doubles.github import GitHubDouble
from tests.doubles.jira import JiraDouble
from tests.doubles.pagerduty import PagerDutyDouble

__all__ = ["GitHubDouble", "JiraDouble", "LoggedRequest", "PagerDutyDouble", "TrackerDouble", "load_spec"]
