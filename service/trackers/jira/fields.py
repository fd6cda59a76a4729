"""Reading Jira issue fields the same way whether they came in a webhook or an API answer."""

from __future__ import annotations

from typing import Any


def fields_done(fields: dict[str, Any]) -> bool:
    """The status is in the done category. Fields that leave the category out (an Automation
    rule's custom body, an older Data Center) are judged by the resolution instead: Jira sets it
    when an issue is done and clears it when it is reopened."""
    status = _obj(fields.get("status"))
    category = _obj(status.get("statusCategory"))
    if "key" in category:
        return category.get("key") == "done"
    resolution = fields.get("resolution")
    return isinstance(resolution, (dict, str)) and bool(resolution)


def description_text(value: Any) -> str:
    """Wiki markup as REST v2 sends it; an Atlassian Document (v3, Automation) flattened to text."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "\n".join(_adf_text(value)).strip()
    return ""


def _adf_text(node: dict[str, Any]) -> list[str]:
    if node.get("type") == "text":
        value = node.get("text")
        return [value if isinstance(value, str) else ""]
    lines: list[str] = []
    content = node.get("content")
    for child in content if isinstance(content, list) else ():
        if isinstance(child, dict):
            parts = _adf_text(child)
            if child.get("type") in ("paragraph", "heading", "listItem", "codeBlock"):
                lines.append("".join(parts))
            else:
                lines.extend(parts)
    return lines


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
