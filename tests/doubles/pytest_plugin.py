"""Fixtures: the three doubles on loopback and clients wired to them.

Enable with ``pytest_plugins = ["tests.doubles.pytest_plugin"]`` in ``tests/conftest.py``. Every
double fixture fails the test at teardown if the double received a request the vendor's API
description refuses or that the double does not know.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

import pytest

from service.text.markers import MarkerKeys
from service.trackers.github.client import GitHubClient
from service.trackers.http.retry import RetryPolicy
from service.trackers.jira.client import JiraClient
from service.trackers.pagerduty.client import PagerDutyClient
from tests.doubles.base import DoubleHost, TrackerDouble
from tests.doubles.github import GitHubDouble
from tests.doubles.jira import JiraDouble
from tests.doubles.pagerduty import PagerDutyDouble

D = TypeVar("D", bound=TrackerDouble)

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


@pytest.fixture(scope="session")
def double_hosts() -> Iterator[dict[str, DoubleHost]]:
    """One server per double fixture for the whole test process; each test gets doubles of its
    own, built fresh, served on them (see :class:`~tests.doubles.base.DoubleHost`)."""
    hosts = {name: DoubleHost() for name in ("github", "jira", "jira_dc", "pagerduty")}
    yield hosts
    for host in hosts.values():
        host.close()


@contextmanager
def _hosted(double: D, host: DoubleHost) -> Iterator[D]:
    double.start(host)
    try:
        yield double
    finally:
        double.stop()
    double.assert_clean()


@pytest.fixture
def github_double(double_hosts: dict[str, DoubleHost]) -> Iterator[GitHubDouble]:
    with _hosted(GitHubDouble(), double_hosts["github"]) as double:
        yield double


@pytest.fixture
def jira_double(double_hosts: dict[str, DoubleHost]) -> Iterator[JiraDouble]:
    with _hosted(JiraDouble(deployment="cloud"), double_hosts["jira"]) as double:
        yield double


@pytest.fixture
def jira_dc_double(double_hosts: dict[str, DoubleHost]) -> Iterator[JiraDouble]:
    with _hosted(JiraDouble(deployment="datacenter", prefix="/jira"), double_hosts["jira_dc"]) as double:
        yield double


@pytest.fixture
def pagerduty_double(double_hosts: dict[str, DoubleHost]) -> Iterator[PagerDutyDouble]:
    with _hosted(PagerDutyDouble(), double_hosts["pagerduty"]) as double:
        yield double


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
