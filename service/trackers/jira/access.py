"""Whether lessonloop can open reviews in a Jira project (``lessonloop check --online``)."""

from __future__ import annotations

from typing import Any

from service.trackers.errors import PermanentTrackerError
from service.trackers.http.api import HttpApi
from service.trackers.jira.shapes import PAGE_SIZE


def project_problems(api: HttpApi, key: str, issue_type: str, assignee: bool = True) -> list[str]:
    """What would stop lessonloop opening reviews of ``issue_type`` in ``project``, one
    sentence each (none: it can): the project exists (``GET /project/{key}``), the account
    may create that issue type there (createmeta lists only the types it may create), the
    type's create screen has every field a review sets, and no required field lacks a
    default that lessonloop does not fill."""
    try:
        api.json("check", "GET", f"/project/{key}")
    except PermanentTrackerError as error:
        if error.status != 404:
            raise
        return [f"project {key} does not exist, or lessonloop's Jira account cannot browse it"]
    types = _createmeta(api, f"/issue/createmeta/{key}/issuetypes", "issueTypes")
    if not types:
        return [f"lessonloop's Jira account may create no issue in {key} (the project's Create issues permission)"]
    wanted = next((t for t in types if str(t.get("name", "")).casefold() == issue_type.casefold()), None)
    if wanted is None:
        offered = ", ".join(sorted(str(t.get("name", "")) for t in types))
        return [f"issue type {issue_type!r} cannot be created in {key}; it offers: {offered}"]
    fields = _createmeta(api, f"/issue/createmeta/{key}/issuetypes/{wanted.get('id')}", "fields")
    on_screen = {str(f.get("fieldId") or f.get("key") or "") for f in fields}
    sets = ["summary", "description", "labels", "duedate"] + (["assignee"] if assignee else [])
    problems = [
        f"the create screen of {issue_type} in {key} has no {field} field, which every review sets"
        for field in sets
        if field not in on_screen
    ]
    filled = {*sets, "project", "issuetype", "reporter"}
    problems += [
        f"{issue_type} in {key} requires {field.get('name') or field.get('fieldId')} "
        f"({field.get('fieldId') or field.get('key')}), which lessonloop does not fill: make it optional "
        "or give it a default"
        for field in fields
        if field.get("required")
        and not field.get("hasDefaultValue")
        and str(field.get("fieldId") or field.get("key") or "") not in filled
    ]
    return problems


def _createmeta(api: HttpApi, path: str, cloud_key: str) -> list[dict[str, Any]]:
    """Every entry of a createmeta page list: Cloud names the list ``issueTypes`` or
    ``fields``, Data Center ``values``."""
    found: list[dict[str, Any]] = []
    while True:
        data = api.json("check", "GET", path, params={"startAt": len(found), "maxResults": PAGE_SIZE})
        batch = data.get(cloud_key) if isinstance(data.get(cloud_key), list) else data.get("values")
        rows = [row for row in batch or () if isinstance(row, dict)]
        found.extend(rows)
        total = data.get("total")
        if not rows or not isinstance(total, int) or len(found) >= total:
            return found
