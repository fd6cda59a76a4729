"""Which items a text refers to: the links and keys people put in incidents, reviews and comments.

A lesson is shared on every related item, so a reference lessonloop misses is a team that never
sees the lesson, and a reference it invents is a comment on a stranger's ticket. Hence the care:
only the configured hosts, only configured Jira project keys when a key stands alone, never a
key inside somebody else's URL, and pull requests are not items. Nothing found here is fetched.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from urllib.parse import urlsplit

from service.domain.events import ItemRef

# The end of a reference: not followed by more of the same token ("42abc", "OPS-1-2").
_END = r"(?![\w-])"

_URL = re.compile(r"https?://[^\s<>\"'`\]\[(){}|]+", re.IGNORECASE)
_GITHUB_ISSUE = re.compile(
    r"^https?://(?P<host>[^/?#\s]+)/(?P<owner>[A-Za-z0-9_.-]+)/(?P<repo>[A-Za-z0-9_.-]+)/issues/(?P<number>[0-9]+)"
    r"(?=$|[/?#.,;:!])",
    re.IGNORECASE,
)
_JIRA_ISSUE = re.compile(
    r"^https?://(?P<host>[^/?#\s]+)(?:/[^?#\s]*)?/(?:browse|issues)/(?P<key>[A-Za-z][A-Za-z0-9_]*-[0-9]+)"
    r"(?=$|[/?#.,;:!])",
    re.IGNORECASE,
)
_JIRA_SELECTED = re.compile(
    r"^https?://(?P<host>[^/?#\s]+)/[^\s]*[?&]selectedIssue=(?P<key>[A-Za-z][A-Za-z0-9_]*-[0-9]+)" + _END,
    re.IGNORECASE,
)
_PAGERDUTY_INCIDENT = re.compile(
    r"^https?://(?P<host>(?:[a-z0-9-]+\.)+pagerduty\.com)/incidents/(?P<id>[A-Z0-9]+)(?=$|[/?#.,;:!])",
    re.IGNORECASE,
)
_JIRA_KEY = re.compile(r"(?<![\w/.@-])(?P<project>[A-Z][A-Z0-9_]*)-(?P<number>[0-9]+)(?![\w@-])")


def find_refs(
    text: str,
    *,
    jira_projects: Collection[str],
    github_web_hosts: Collection[str] = ("github.com",),
    jira_web_hosts: Collection[str] = (),
) -> set[ItemRef]:
    """Every item ``text`` refers to.

    - GitHub issue URLs on ``github_web_hosts`` (``…/owner/repo/issues/42``, with or without an
      anchor or query); pull request URLs are not items.
    - Jira issue URLs on ``jira_web_hosts`` (``…/browse/OPS-42``, ``…/projects/OPS/issues/OPS-42``,
      ``?selectedIssue=OPS-42``), for any project: the host makes them unambiguous.
    - Bare Jira keys (``OPS-42``) only for ``jira_projects``, as a word of their own: not in a URL,
      a path (``feature/OPS-42``) or a longer token (``XOPS-42``, ``OPS-42-b``).
    - PagerDuty incident URLs (``https://<sub>.pagerduty.com/incidents/<ID>``).
    """
    if not text:
        return set()
    github_hosts = {_host(h) for h in github_web_hosts if h}
    jira_hosts = {_host(h) for h in jira_web_hosts if h}
    projects = {p.strip().upper() for p in jira_projects if p and p.strip()}
    refs: set[ItemRef] = set()
    for match in _URL.finditer(text):
        ref = _url_ref(match.group(0), github_hosts, jira_hosts)
        if ref is not None:
            refs.add(ref)
    without_urls = _URL.sub(" ", text)
    for match in _JIRA_KEY.finditer(without_urls):
        if match.group("project") in projects:
            refs.add(ItemRef("jira", f"{match.group('project')}-{int(match.group('number'))}"))
    return refs


def _url_ref(url: str, github_hosts: set[str], jira_hosts: set[str]) -> ItemRef | None:
    """The item one URL names, if it is on a host we know."""
    pagerduty = _PAGERDUTY_INCIDENT.match(url)
    if pagerduty and re.fullmatch(r"[A-Z0-9]+", pagerduty.group("id")):
        return ItemRef("pagerduty", pagerduty.group("id"))
    for pattern in (_JIRA_ISSUE, _JIRA_SELECTED):
        jira = pattern.match(url)
        if jira and _host(jira.group("host")) in jira_hosts:
            project, number = jira.group("key").upper().rsplit("-", 1)
            return ItemRef("jira", f"{project}-{int(number)}")
    github = _GITHUB_ISSUE.match(url)
    if github and _host(github.group("host")) in github_hosts and int(github.group("number")) > 0:
        return ItemRef.github(f"{github.group('owner')}/{github.group('repo')}", int(github.group("number")))
    return None


def _host(host: str) -> str:
    """A host as compared: lower case, no ``www.``, no default port, no user info."""
    host = host.strip().lower().rsplit("@", 1)[-1]
    if "://" in host:
        host = urlsplit(host).netloc
    for default in (":443", ":80"):
        if host.endswith(default):
            host = host[: -len(default)]
    return host.removeprefix("www.").rstrip("/")


def github_web_host(api_url: str) -> str:
    """The host issue URLs are on, from the API base: ``https://api.github.com`` -> ``github.com``,
    GitHub Enterprise Server ``https://ghe.acme.test/api/v3`` -> ``ghe.acme.test``, GHE.com
    ``https://api.acme.ghe.com`` -> ``acme.ghe.com``."""
    parts = urlsplit(api_url.strip())
    host = _host(parts.netloc)
    if not host:
        raise ValueError(f"not a GitHub API URL: {api_url!r}")
    if host == "api.github.com" or (host.startswith("api.") and host.endswith(".ghe.com")):
        return host.removeprefix("api.")
    return host


def jira_web_host(url: str | None) -> str | None:
    """The host Jira's browse URLs are on (Jira serves its API and its pages from one base);
    None when Jira is not configured."""
    if not url or not url.strip():
        return None
    return _host(urlsplit(url.strip()).netloc) or None
