"""Whether lessonloop can open reviews in a GitHub repository (``lessonloop check --online``)."""

from __future__ import annotations

from service.trackers.errors import PermanentTrackerError
from service.trackers.github.app import AppTokens
from service.trackers.http.api import HttpApi


def repository_problems(api: HttpApi, app: AppTokens | None, container: str) -> list[str]:
    """What would stop lessonloop opening reviews in the repository ``container``, one
    sentence each (none: it can). ``GET /repos/{owner}/{repo}``: it exists and has issues;
    with a token, the account's ``permissions`` allow triage or write (labels on a new
    issue, closing a duplicate); with an App, its installation there has ``issues: write``."""
    owner, _, repo = container.partition("/")
    try:
        data = api.json("check", "GET", f"/repos/{owner}/{repo}")
    except PermanentTrackerError as error:
        if error.status != 404:
            raise
        if app is None:
            return [f"repository {container} does not exist, or the token's account cannot see it"]
        if error.operation == "installation":  # the installation token was asked for first
            return [error.message]
        return [f"repository {container} does not exist, or the GitHub App's installation cannot see it"]
    problems = []
    if data.get("archived"):
        problems.append(f"repository {container} is archived: no issue can be opened in it")
    if data.get("has_issues") is False:
        problems.append(f"repository {container} has issues turned off (Settings → Features → Issues)")
    if app is not None:
        issues = app.installation_permissions(container).get("issues", "none")
        if issues != "write":
            problems.append(
                f"the GitHub App's installation on {container} has issues: {issues}; reviews need "
                "issues: write (the App's settings → Permissions, then accept it on the installation)"
            )
    else:
        allowed = data.get("permissions") or {}
        if not any(allowed.get(role) for role in ("admin", "maintain", "push", "triage")):
            problems.append(
                f"the token's account can only read {container}: reviews need triage or write access "
                "(labels on a new issue, closing a duplicate)"
            )
    return problems
