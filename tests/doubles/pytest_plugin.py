"""Fixtures: the three doubles on loopback and clients wired to them.

Enable with ``pytest_plugins = ["tests.doubles.pytest_plugin"]`` in ``tests/conftest.py``. Every
double fixture fails the test at teardown if the double received a request the vendor's API
description refuses or that the double does not know.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from service.markers import MarkerKeys
from service.trackers.github import GitHubClient
from service.trackers.jira import JiraClient
from service.trackers.pagerduty import PagerDutyClient
from service.trackers.retry import RetryPolicy
from tests.doubles.github import GitHubDouble
from tests.doubles.jira import JiraDouble
from tests.doubles.pagerduty import PagerDutyDouble

MARKER_KEYS = MarkerKeys(["test-marker-key-0123456789abcdef"])
"""The key the tracker clients of these tests sign and verify markers with."""


class SleepRecorder:
    """An injectable sleep: records the waits a client asked for and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def retry_policy(sleeps: SleepRecorder) -> RetryPolicy:
    """Real retry decisions, no real waiting: tests assert on ``sleeps.waits``."""
    return RetryPolicy(attempts=4, max_total_wait=30.0, base_delay=0.5, max_delay=10.0, sleep=sleeps)


@pytest.fixture
def github_double() -> Iterator[GitHubDouble]:
    with GitHubDouble() as double:
        yield double
    double.assert_clean()


@pytest.fixture
def jira_double() -> Iterator[JiraDouble]:
    with JiraDouble(deployment="cloud") as double:
        yield double
    double.assert_clean()


@pytest.fixture
def jira_dc_double() -> Iterator[JiraDouble]:
    with JiraDouble(deployment="datacenter", prefix="/jira") as double:
        yield double
    double.assert_clean()


@pytest.fixture
def pagerduty_double() -> Iterator[PagerDutyDouble]:
    with PagerDutyDouble() as double:
        yield double
    double.assert_clean()


@pytest.fixture
def github_client(github_double: GitHubDouble, retry_policy: RetryPolicy) -> GitHubClient:
    return GitHubClient("test-token", github_double.base_url, retry=retry_policy, timeout=(2.0, 2.0), keys=MARKER_KEYS)


@pytest.fixture
def jira_client(jira_double: JiraDouble, retry_policy: RetryPolicy) -> JiraClient:
    return JiraClient(
        jira_double.base_url,
        email=jira_double.email,
        api_token=jira_double.api_token,
        retry=retry_policy,
        timeout=(2.0, 2.0),
        keys=MARKER_KEYS,
    )


@pytest.fixture
def jira_dc_client(jira_dc_double: JiraDouble, retry_policy: RetryPolicy) -> JiraClient:
    return JiraClient(
        jira_dc_double.base_url, pat=jira_dc_double.pat, retry=retry_policy, timeout=(2.0, 2.0), keys=MARKER_KEYS
    )


@pytest.fixture
def pagerduty_client(pagerduty_double: PagerDutyDouble, retry_policy: RetryPolicy) -> PagerDutyClient:
    return PagerDutyClient(
        "user-token",
        "lessonloop@example.com",
        pagerduty_double.base_url,
        retry=retry_policy,
        timeout=(2.0, 2.0),
        keys=MARKER_KEYS,
    )
