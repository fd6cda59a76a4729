"""Cut a vendor OpenAPI document down to the operations lessonloop calls.

Run from the project root (the vendor copies are read from wherever you keep them)::

    python -m tests.contracts.trim SRC_DIR [MORE_FILE ...]

A kept path the copy in ``SRC_DIR`` lacks is taken from a ``MORE_FILE``: another copy of the
same vendor document, of the same ``info.version`` (checked), with the components it reaches.

Each kept operation is copied byte-for-byte (as parsed JSON); only whole paths, whole methods
unreferenced components, and the top-level ``tags`` and ``x-atlassian-narrative`` (prose for
the vendors' documentation sites) are dropped. Every component a kept operation reaches through
``$ref`` (transitively) is kept, plus ``securitySchemes``. Nothing kept is edited.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent

# file name -> {path: [methods]}
KEEP: dict[str, dict[str, list[str]]] = {
    "github-rest.openapi.json": {
        "/repos/{owner}/{repo}/issues": ["get", "post"],
        "/repos/{owner}/{repo}/issues/{issue_number}": ["get", "patch"],
        "/repos/{owner}/{repo}/issues/{issue_number}/comments": ["get", "post"],
        "/repos/{owner}/{repo}/issues/comments/{comment_id}": ["get", "patch", "delete"],
        "/repos/{owner}/{repo}/issues/{issue_number}/timeline": ["get"],
        "/user": ["get"],
        "/repos/{owner}/{repo}": ["get"],
        "/app": ["get"],
        "/app/installations/{installation_id}/access_tokens": ["post"],
        "/repos/{owner}/{repo}/installation": ["get"],
        "/installation/repositories": ["get"],
    },
    "jira-cloud-v3.openapi.json": {
        "/rest/api/3/issue": ["post"],
        "/rest/api/3/issue/{issueIdOrKey}": ["get", "put"],
        "/rest/api/3/issue/{issueIdOrKey}/comment": ["get", "post"],
        "/rest/api/3/issue/{issueIdOrKey}/comment/{id}": ["get", "put", "delete"],
        "/rest/api/3/issue/{issueIdOrKey}/properties/{propertyKey}": ["get", "put"],
        "/rest/api/3/issue/{issueIdOrKey}/remotelink": ["get", "post"],
        "/rest/api/3/issueLink": ["post"],
        "/rest/api/3/search": ["get"],
        "/rest/api/3/search/jql": ["get"],
        "/rest/api/3/myself": ["get"],
        "/rest/api/3/project/{projectIdOrKey}": ["get"],
        "/rest/api/3/issue/createmeta/{projectIdOrKey}/issuetypes": ["get"],
        "/rest/api/3/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}": ["get"],
    },
    "pagerduty-rest.openapi.json": {
        "/incidents/{id}": ["get"],
        "/incidents/{id}/notes": ["get", "post"],
        "/incidents/{id}/log_entries": ["get"],
        "/users/me": ["get"],
        "/abilities": ["get"],
    },
}


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.add(value)
            else:
                found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def trim(doc: dict[str, Any], keep: dict[str, list[str]]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for path, methods in keep.items():
        item = doc["paths"][path]
        shared = {k: v for k, v in item.items() if k in ("parameters", "summary", "description", "servers")}
        paths[path] = shared | {m: item[m] for m in methods}
    out = {k: v for k, v in doc.items() if k not in ("paths", "components", "webhooks", "x-webhooks", "tags", "x-atlassian-narrative")}
    out["paths"] = paths
    components: dict[str, dict[str, Any]] = {}
    if "securitySchemes" in doc.get("components", {}):
        components["securitySchemes"] = doc["components"]["securitySchemes"]
    pending = _refs(paths)
    seen: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        _, _, section, name = ref.split("/", 3)
        name = name.split("/", 1)[0]  # a ref into a component's inside keeps the whole component
        value = doc["components"][section][name]
        components.setdefault(section, {})[name] = value
        pending |= _refs(value)
    out["components"] = {s: dict(sorted(v.items())) for s, v in sorted(components.items())}
    return out


def completed(doc: dict[str, Any], keep: dict[str, list[str]], more: list[dict[str, Any]]) -> dict[str, Any]:
    """``doc`` with each kept path it lacks taken from a document of the same version in ``more``."""
    for path in keep:
        if path in doc["paths"]:
            continue
        source = next(
            (m for m in more if path in m.get("paths", {}) and m["info"]["version"] == doc["info"]["version"]), None
        )
        if source is None:
            raise SystemExit(f"{path}: in no copy of version {doc['info']['version']}")
        doc = doc | {"paths": doc["paths"] | {path: source["paths"][path]}}
        components = {section: dict(values) for section, values in doc["components"].items()}
        for section, values in source["components"].items():
            for component, value in values.items():
                components.setdefault(section, {}).setdefault(component, value)
        doc["components"] = components
    return doc


def main(src_dir: str, *more_files: str) -> None:
    more = [json.loads(Path(f).read_text(encoding="utf-8")) for f in more_files]
    for name, keep in KEEP.items():
        doc = completed(json.loads((Path(src_dir) / name).read_text(encoding="utf-8")), keep, more)
        trimmed = trim(doc, keep)
        (HERE / name).write_text(json.dumps(trimmed, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(name, len(trimmed["paths"]), "paths,", sum(len(v) for v in trimmed["components"].values()), "components")


if __name__ == "__main__":
    main(sys.argv[1], *sys.argv[2:])
