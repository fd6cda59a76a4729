"""References found in the texts people write: URLs and keys, and the look-alikes that are not."""

from __future__ import annotations

import pytest

from service.domain.events import ItemRef
from service.domain.references import find_refs, github_web_host, jira_web_host

JIRA_HOSTS = ("acme.atlassian.net", "jira.acme.test")
GITHUB_HOSTS = ("github.com", "ghe.acme.test")


def refs(text: str, projects: tuple[str, ...] = ("OPS", "WEB")) -> set[str]:
    found = find_refs(text, jira_projects=projects, github_web_hosts=GITHUB_HOSTS, jira_web_hosts=JIRA_HOSTS)
    return {str(ref) for ref in found}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # GitHub issues, on github.com and on GitHub Enterprise, with anchors and queries
        ("see https://github.com/acme/web/issues/42", {"github:acme/web#42"}),
        ("https://github.com/acme/web/issues/42#issuecomment-1712345", {"github:acme/web#42"}),
        ("(https://github.com/acme/web.js/issues/7?utm_source=slack).", {"github:acme/web.js#7"}),
        ("[the bug](https://ghe.acme.test/platform/api-gw/issues/3/)", {"github:platform/api-gw#3"}),
        ("https://WWW.GitHub.com/acme/web/issues/5", {"github:acme/web#5"}),
        # not issues: pull requests, lists, other hosts, new-issue forms, longer numbers
        ("https://github.com/acme/web/pull/42", set()),
        ("https://github.com/acme/web/issues?q=is%3Aopen and https://github.com/acme/web/issues/new", set()),
        ("https://gitlab.com/acme/web/issues/42", set()),
        ("https://github.com/acme/web/issues/42abc", set()),
        ("https://github.com/acme/web/issues/0", set()),
        # Jira URLs on the configured hosts, any project, any URL shape Jira uses
        ("https://acme.atlassian.net/browse/OPS-42", {"jira:OPS-42"}),
        ("https://acme.atlassian.net/browse/ZED-9?focusedCommentId=1#comment-1", {"jira:ZED-9"}),
        ("https://jira.acme.test/jira/browse/ops-12", {"jira:OPS-12"}),
        ("https://acme.atlassian.net/jira/software/projects/OPS/issues/OPS-77", {"jira:OPS-77"}),
        ("https://acme.atlassian.net/jira/software/projects/OPS/boards/1?selectedIssue=OPS-78", {"jira:OPS-78"}),
        ("[OPS-5|https://acme.atlassian.net/browse/OPS-5]", {"jira:OPS-5"}),
        # Jira URLs on other hosts are not ours, not even for a configured project key
        ("https://jira.example.org/browse/OPS-42", set()),
        ("https://github.com/acme/web/blob/main/docs/OPS-42.md", set()),
        ("https://wiki.example.org/search?q=OPS-42&p=WEB-1", set()),
        # bare keys: configured projects only, as words of their own
        ("Caused OPS-42 and WEB-7; see also ABC-1", {"jira:OPS-42", "jira:WEB-7"}),
        ("(OPS-42), OPS-43. OPS-44: and 'OPS-45'", {"jira:OPS-42", "jira:OPS-43", "jira:OPS-44", "jira:OPS-45"}),
        ("XOPS-42 OPS-42-b OPS-42x ops-42 OPS_42 feature/OPS-9-fix OPS-", set()),
        ("mail OPS-42@acme.test is not an issue; v1.OPS-3 neither", set()),
        ("OPS-007", {"jira:OPS-7"}),
        # PagerDuty incidents, EU service region too, with sub-pages
        ("https://acme.pagerduty.com/incidents/PGR0VU2", {"pagerduty:PGR0VU2"}),
        ("https://acme.eu.pagerduty.com/incidents/Q2KMN5C9ZJ6ZVS/timeline", {"pagerduty:Q2KMN5C9ZJ6ZVS"}),
        ("https://acme.pagerduty.com/incidents/pgr0vu2", set()),
        ("https://acme.pagerduty.com/services/PSVC123", set()),
        ("https://pagerduty.com.evil.test/incidents/PGR0VU2", set()),
        # duplicates collapse
        (
            "OPS-1 https://acme.atlassian.net/browse/OPS-1 OPS-1 https://github.com/acme/web/issues/2 "
            "https://github.com/acme/web/issues/2#top",
            {"jira:OPS-1", "github:acme/web#2"},
        ),
        ("", set()),
    ],
)
def test_find_refs(text: str, expected: set[str]) -> None:
    assert refs(text) == expected


def test_a_mixed_incident_body() -> None:
    body = (
        "Checkout returned 502s from 14:03.\r\n"
        "PagerDuty: https://acme.pagerduty.com/incidents/PGR0VU2\r\n"
        "Tracking in OPS-42 (and the old SRE-3), fix in https://github.com/acme/web/pull/99,\r\n"
        "bug https://github.com/acme/web/issues/98.\r\n"
        "```\r\ncurl https://acme.atlassian.net/browse/OPS-43\r\n```\r\n"
    )
    assert refs(body) == {"pagerduty:PGR0VU2", "jira:OPS-42", "github:acme/web#98", "jira:OPS-43"}


def test_refs_are_item_refs() -> None:
    found = find_refs("OPS-1", jira_projects=["ops"])
    assert found == {ItemRef("jira", "OPS-1")}
    assert ItemRef.parse(str(next(iter(found)))) == ItemRef("jira", "OPS-1")


def test_without_configured_hosts_or_projects_only_pagerduty_and_github_com() -> None:
    text = "OPS-1 https://acme.atlassian.net/browse/OPS-2 https://github.com/a/b/issues/3 https://x.pagerduty.com/incidents/P1"
    assert find_refs(text, jira_projects=()) == {ItemRef("github", "a/b#3"), ItemRef("pagerduty", "P1")}


@pytest.mark.parametrize(
    ("api_url", "host"),
    [
        ("https://api.github.com", "github.com"),
        ("https://api.github.com/", "github.com"),
        ("https://ghe.acme.test/api/v3", "ghe.acme.test"),
        ("https://GHE.acme.test:443/api/v3/", "ghe.acme.test"),
        ("http://127.0.0.1:8123", "127.0.0.1:8123"),
        ("https://api.acme.ghe.com", "acme.ghe.com"),
    ],
)
def test_github_web_host(api_url: str, host: str) -> None:
    assert github_web_host(api_url) == host


def test_github_web_host_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        github_web_host("not a url")


@pytest.mark.parametrize(
    ("url", "host"),
    [
        (None, None),
        ("", None),
        ("https://acme.atlassian.net", "acme.atlassian.net"),
        ("https://jira.acme.test/jira/", "jira.acme.test"),
        ("http://127.0.0.1:8080", "127.0.0.1:8080"),
    ],
)
def test_jira_web_host(url: str | None, host: str | None) -> None:
    assert jira_web_host(url) == host


def test_hosts_from_settings_feed_find_refs() -> None:
    text = "https://ghe.acme.test/a/b/issues/1 https://jira.acme.test/browse/OPS-2 https://github.com/a/b/issues/3"
    found = find_refs(
        text,
        jira_projects=(),
        github_web_hosts=[github_web_host("https://ghe.acme.test/api/v3")],
        jira_web_hosts=[jira_web_host("https://jira.acme.test") or ""],
    )
    assert {str(r) for r in found} == {"github:a/b#1", "jira:OPS-2"}


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("A" * 65_000, set()),
        ("OPS-" * 16_000, set()),
        ("https://" + "a" * 65_000, set()),
        ("https://github.com/" + "a/" * 30_000, set()),
        ("https://acme.atlassian.net/" + "x/" * 30_000 + "?selectedIssue", set()),
        (" " * 65_000 + "OPS-1", {"jira:OPS-1"}),
    ],
)
def test_hostile_texts_are_scanned_in_linear_time(text: str, found: set[str]) -> None:
    """Each takes milliseconds; a pattern that backtracks would take minutes on them. The timeout is
    a guard against that regression, not a benchmark (speed is measured in bench/)."""
    assert refs(text) == found
