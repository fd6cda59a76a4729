"""A Jira REST v2 double (Cloud or Data Center): issues, comments, links, remote links,
entity properties, JQL search over a small JQL subset, and identity.

Jira publishes its description for ``/rest/api/3``; v2 has the same paths and shapes except that
rich-text fields are wiki-markup strings instead of Atlassian Document Format. In the kept
operations those fields (``description`` inside ``fields``, comment ``body``) are described
without a schema, so a v2 request is validated unchanged against the v3 path of the same name.
"""

from __future__ import annotations

import base64
import itertools
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from flask import Response, request
from werkzeug.wrappers import Request

from tests.doubles.base import RateLimit, TrackerDouble

Deployment = Literal["cloud", "datacenter"]
V2 = "/rest/api/2"

CLOUD_USER = {
    "accountId": "5b10ac8d82e05b22cc7d4ef5",
    "accountType": "atlassian",
    "displayName": "Lessonloop Bot",
    "emailAddress": "lessonloop@example.com",
    "active": True,
    "timeZone": "UTC",
}
DC_USER = {
    "name": "lessonloop",
    "key": "JIRAUSER10100",
    "displayName": "Lessonloop Bot",
    "emailAddress": "lessonloop@example.com",
    "active": True,
    "timeZone": "UTC",
}
LINK_TYPES = {
    "Relates": ("relates to", "relates to"),
    "Blocks": ("is blocked by", "blocks"),
    "Cloners": ("is cloned by", "clones"),
}

_CLAUSE = re.compile(r'^(?P<field>[a-z]+)\s*(?P<op>=|>=|<=|~)\s*"(?P<value>[^"]*)"$')


def jira_time(moment: datetime | None = None) -> str:
    moment = moment or datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


class JiraDouble(TrackerDouble):
    name = "jira"
    spec_file = "jira-cloud-v3.openapi.json"
    spec_server = "https://your-domain.atlassian.net"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        prefix: str = "",
        deployment: Deployment = "cloud",
        email: str = "lessonloop@example.com",
        api_token: str = "cloud-token",
        pat: str = "dc-pat",
        projects: tuple[str, ...] = ("OPS", "SRE"),
        issue_types: tuple[str, ...] = ("Task", "Incident", "Bug"),
    ) -> None:
        self.deployment = deployment
        self.email = email
        self.api_token = api_token
        self.pat = pat
        self.me = dict(CLOUD_USER if deployment == "cloud" else DC_USER)
        self.projects = set(projects)
        self.issue_types = set(issue_types)
        self.issues: dict[str, dict[str, Any]] = {}
        self.required_fields: dict[str, list[dict[str, Any]]] = {}
        """Issue type name -> fields its create screen requires beyond the ones every type has."""
        self.no_create: set[str] = set()  # projects where our account may create no issue
        self.comments_as_list = False
        """Answer ``fields.comment`` as a plain list of comments, the shape of Atlassian's own
        example issue in its description, instead of the page object Jira sends."""
        self.deleted_comments: list[dict[str, Any]] = []  # as they were when deleted, oldest first
        self._ids = itertools.count(10001)
        self._numbers: dict[str, itertools.count[int]] = {}
        super().__init__(host, port, prefix)

    # --- seeding ------------------------------------------------------------------------------

    def add_issue(
        self,
        project: str,
        summary: str,
        description: str = "",
        issue_type: str = "Incident",
        status: str = "Done",
        labels: tuple[str, ...] = (),
        priority: str = "High",
        assignee: dict[str, Any] | None = None,
        created: datetime | None = None,
        resolved: datetime | None = None,
        reporter: dict[str, Any] | None = None,
        creator: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            self.projects.add(project)
            number = next(self._numbers.setdefault(project, itertools.count(1)))
            issue_id = str(next(self._ids))
            key = f"{project}-{number}"
            created_at = jira_time(created)
            issue = {
                "id": issue_id,
                "key": key,
                "self": f"{self.base_url}{V2}/issue/{issue_id}",
                "fields": {
                    "summary": summary,
                    "description": description or None,
                    "issuetype": {"name": issue_type, "subtask": False},
                    "project": {"key": project, "name": project.title()},
                    "status": {"name": status, "statusCategory": {"key": "done" if status == "Done" else "new"}},
                    "labels": list(labels),
                    "priority": {"name": priority},
                    "assignee": assignee,
                    "reporter": reporter or {"displayName": "Ada Responder", "accountId": "557058:ada"},
                    # who created it: unlike the reporter, no one can change it afterwards
                    "creator": creator or reporter or {"displayName": "Ada Responder", "accountId": "557058:ada"},
                    "created": created_at,
                    "updated": created_at,
                    "resolutiondate": jira_time(resolved) if resolved else (created_at if status == "Done" else None),
                    "duedate": None,
                    "issuelinks": [],
                },
                "_properties": {},
                "_comments": [],
                "_remotelinks": [],
            }
            self.issues[key] = issue
            return issue

    def add_history(
        self, key: str, created: datetime, items: list[dict[str, Any]], author: dict[str, Any] | None = None
    ) -> None:
        """A changelog entry: ``items`` as Jira lists them (``field``, ``fromString``, ``toString``...)."""
        with self.lock:
            issue = self.issues[key]
            history = issue.setdefault("_history", [])
            history.append(
                {
                    "id": str(10000 + len(history)),
                    "created": jira_time(created),
                    "items": items,
                    "author": author or {"displayName": "Ada Responder", "accountId": "557058:ada"},
                }
            )

    def issue(self, key: str) -> dict[str, Any]:
        with self.lock:
            return self.issues[key]

    # --- HTTP ---------------------------------------------------------------------------------

    def spec_path(self, path: str) -> str:
        path = super().spec_path(path)
        return "/rest/api/3" + path[len(V2) :] if path.startswith(V2 + "/") else path

    def error_body(self, status: int, message: str) -> Any:
        return {"errorMessages": [message], "errors": {}}

    def over_limit(self, limit: RateLimit, wait: float) -> Response:
        """Jira Cloud: 429 with ``Retry-After`` (seconds) and ``X-RateLimit-Reset`` (the request's
        time plus that wait, ``yyyy-MM-ddTHH:mmZ``)."""
        seconds = max(1, math.ceil(wait))
        reset = (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%MZ")
        return self.error(
            429,
            "Rate limit exceeded.",
            {
                "Retry-After": str(seconds),
                "X-RateLimit-Limit": str(limit.limit),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": reset,
                "RateLimit-Reason": "jira-burst-based",
            },
        )

    def near_limit_headers(self) -> dict[str, str]:
        """Jira sets ``X-RateLimit-NearLimit: true`` when under 20% of a budget is left."""
        return {"X-RateLimit-NearLimit": "true"}

    def authenticate(self, req: Request) -> str | None:
        header = req.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if self.deployment == "cloud" and scheme == "Basic":
            try:
                email, _, token = base64.b64decode(value).decode().partition(":")
            except ValueError:
                return "Client must be authenticated to access this resource."
            if (email, token) == (self.email, self.api_token):
                return None
        if self.deployment == "datacenter" and scheme == "Bearer" and value == self.pat:
            return None
        return "Client must be authenticated to access this resource."

    def _routes(self) -> None:
        self.route(f"{V2}/myself", ["GET"], self.get_current_user)
        self.route(f"{V2}/issue", ["POST"], self.create_issue)
        self.route(f"{V2}/issue/<key>", ["GET"], self.get_issue)
        self.route(f"{V2}/issue/<key>", ["PUT"], self.edit_issue)
        self.route(f"{V2}/issue/<key>/comment", ["GET"], self.get_comments)
        self.route(f"{V2}/issue/<key>/comment", ["POST"], self.add_comment)
        self.route(f"{V2}/issue/<key>/comment/<comment_id>", ["PUT"], self.update_comment)
        self.route(f"{V2}/issue/<key>/comment/<comment_id>", ["DELETE"], self.delete_comment)
        self.route(f"{V2}/issue/<key>/properties/<prop>", ["GET"], self.get_issue_property)
        self.route(f"{V2}/issue/<key>/properties/<prop>", ["PUT"], self.set_issue_property)
        self.route(f"{V2}/issue/<key>/remotelink", ["GET"], self.get_remote_issue_links)
        self.route(f"{V2}/issue/<key>/remotelink", ["POST"], self.create_or_update_remote_issue_link)
        self.route(f"{V2}/issueLink", ["POST"], self.link_issues)
        self.route(f"{V2}/project/<key>", ["GET"], self.get_project)
        self.route(f"{V2}/issue/createmeta/<key>/issuetypes", ["GET"], self.get_create_issue_meta_issue_types)
        self.route(f"{V2}/issue/createmeta/<key>/issuetypes/<type_id>", ["GET"], self.get_create_issue_meta_fields)
        self.route(f"{V2}/search", ["GET"], self.search)
        self.route(f"{V2}/search/jql", ["GET"], self.search_jql)

    def _find(self, key: str) -> dict[str, Any] | None:
        with self.lock:
            found = self.issues.get(key)
            if found is None:
                found = next((i for i in self.issues.values() if i["id"] == key), None)
            return found

    def _missing(self) -> Response:
        return self.error(404, "Issue does not exist or you do not have permission to see it.")

    def _public_issue(self, issue: dict[str, Any], fields: list[str] | None, props: list[str]) -> dict[str, Any]:
        shown = (
            issue["fields"]
            if not fields or "*all" in fields
            else {k: v for k, v in issue["fields"].items() if k in fields}
        )
        out = {"id": issue["id"], "key": issue["key"], "self": issue["self"], "fields": dict(shown)}
        if fields and "comment" in fields:
            comments = [self._comment_json(issue, c) for c in issue["_comments"]]
            out["fields"]["comment"] = (
                comments
                if self.comments_as_list
                else {
                    "comments": comments,
                    "total": len(comments),
                    "startAt": 0,
                    "maxResults": len(comments),
                }
            )
        if "changelog" in self._list_arg("expand"):
            histories = issue.get("_history", [])
            out["changelog"] = {
                "startAt": 0,
                "maxResults": len(histories),
                "total": len(histories),
                "histories": histories,
            }
        if props:
            out["properties"] = {p: issue["_properties"][p] for p in props if p in issue["_properties"]}
        return out

    @staticmethod
    def _list_arg(name: str) -> list[str]:
        return [part for value in request.args.getlist(name) for part in value.split(",") if part]

    def get_current_user(self) -> Response:
        return self.reply(200, self.me | {"self": f"{self.base_url}{V2}/myself"})

    def create_issue(self) -> Response:
        data = self.json_body() or {}
        fields = data.get("fields") or {}
        errors: dict[str, str] = {}
        project = (fields.get("project") or {}).get("key")
        if project not in self.projects:
            errors["project"] = "valid project is required"
        if (fields.get("issuetype") or {}).get("name") not in self.issue_types:
            errors["issuetype"] = "Specify a valid issue type"
        if not fields.get("summary"):
            errors["summary"] = "You must specify a summary of the issue."
        assignee = fields.get("assignee")
        if assignee is not None:
            wanted = "accountId" if self.deployment == "cloud" else "name"
            if wanted not in assignee:
                errors["assignee"] = f"Specify the user by {wanted}"
        spaced = [label for label in fields.get("labels") or () if not isinstance(label, str) or " " in label]
        if spaced:
            errors["labels"] = f"The label '{spaced[0]}' contains spaces which is invalid."
        due = fields.get("duedate")
        if due is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(due)):
            errors["duedate"] = "Error parsing date string: " + str(due)
        links = []
        for operation in (data.get("update") or {}).get("issuelinks") or ():
            add = operation.get("add") or {}
            type_name = (add.get("type") or {}).get("name")
            other = (add.get("outwardIssue") or add.get("inwardIssue") or {}).get("key")
            if type_name not in LINK_TYPES:
                errors["issuelinks"] = f"No issue link type with name '{type_name}' found."
            elif other is None or self._find(other) is None:
                errors["issuelinks"] = f"Issue '{other}' does not exist."
            else:
                links.append((type_name, "outward" if "outwardIssue" in add else "inward", other))
        if errors:
            return self.reply(400, {"errorMessages": [], "errors": errors})
        issue = self.add_issue(
            project,
            fields["summary"],
            fields.get("description") or "",
            fields["issuetype"]["name"],
            status="To Do",
            labels=tuple(fields.get("labels") or ()),
            assignee=assignee,
            reporter=dict(self.me),
            creator=dict(self.me),
        )
        with self.lock:
            issue["fields"]["resolutiondate"] = None
            issue["fields"]["duedate"] = due
            for prop in data.get("properties") or ():
                issue["_properties"][prop["key"]] = prop["value"]
            for type_name, direction, other in links:
                self._add_link(issue["key"], other, type_name, direction)
        return self.reply(201, {"id": issue["id"], "key": issue["key"], "self": issue["self"]})

    def _add_link(self, key: str, other: str, type_name: str, direction: str) -> bool:
        """``key`` gets ``other`` as its outward (or inward) issue; the other end mirrors it.
        Returns False when the same link is already there (Jira adds no duplicate)."""
        inward, outward = LINK_TYPES[type_name]
        kind = {"name": type_name, "inward": inward, "outward": outward}
        here = self.issues[key]["fields"]["issuelinks"]
        side = "outwardIssue" if direction == "outward" else "inwardIssue"
        if any(link["type"]["name"] == type_name and link.get(side, {}).get("key") == other for link in here):
            return False
        mirror = "inwardIssue" if side == "outwardIssue" else "outwardIssue"
        link_id = str(next(self._ids))
        here.append({"id": link_id, "type": kind, side: {"key": other}})
        self.issues[other]["fields"]["issuelinks"].append({"id": link_id, "type": kind, mirror: {"key": key}})
        return True

    def get_issue(self, key: str) -> Response:
        issue = self._find(key)
        if issue is None:
            return self._missing()
        with self.lock:
            return self.reply(200, self._public_issue(issue, self._list_arg("fields"), self._list_arg("properties")))

    # comments

    def _comment_json(self, issue: dict[str, Any], comment: dict[str, Any]) -> dict[str, Any]:
        return comment | {"self": f"{self.base_url}{V2}/issue/{issue['id']}/comment/{comment['id']}"}

    def get_comments(self, key: str) -> Response:
        issue = self._find(key)
        if issue is None:
            return self._missing()
        start = int(request.args.get("startAt", 0))
        size = int(request.args.get("maxResults", 50))
        with self.lock:
            rows = issue["_comments"]
            chunk = [self._comment_json(issue, c) for c in rows[start : start + size]]
            return self.reply(200, {"startAt": start, "maxResults": size, "total": len(rows), "comments": chunk})

    def add_comment(self, key: str) -> Response:
        issue = self._find(key)
        if issue is None:
            return self._missing()
        body = (self.json_body() or {}).get("body")
        if not isinstance(body, str) or not body.strip():
            return self.reply(400, {"errorMessages": [], "errors": {"comment": "Comment body can not be empty!"}})
        return self.reply(201, self._comment_json(issue, self.seed_comment(key, body, dict(self.me))))

    def seed_comment(self, key: str, body: str, author: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.lock:
            issue = self.issues[key]
            stamp = jira_time()
            author = author or {"displayName": "Ada Responder", "accountId": "557058:ada", "name": "ada"}
            comment = {
                "id": str(next(self._ids)),
                "author": author,
                "updateAuthor": author,
                "body": body,
                "created": stamp,
                "updated": stamp,
            }
            issue["_comments"].append(comment)
            return comment

    def update_comment(self, key: str, comment_id: str) -> Response:
        issue = self._find(key)
        if issue is None:
            return self._missing()
        body = (self.json_body() or {}).get("body")
        with self.lock:
            comment = next((c for c in issue["_comments"] if c["id"] == comment_id), None)
            if comment is None:
                return self.error(404, f"Can not find a comment for the id: {comment_id}.")
            if comment["author"] != self.me:
                return self.error(403, "You do not have the permission to edit this comment.")
            if not isinstance(body, str) or not body.strip():
                return self.reply(400, {"errorMessages": [], "errors": {"comment": "Comment body can not be empty!"}})
            comment["body"] = body
            comment["updated"] = jira_time()
            return self.reply(200, self._comment_json(issue, comment))

    def delete_comment(self, key: str, comment_id: str) -> Response:
        """204, or 404 when there is no such comment. Another user's comment is refused (403)
        here, although a Jira admin may delete it: lessonloop must only ever delete its own."""
        issue = self._find(key)
        if issue is None:
            return self._missing()
        with self.lock:
            comment = next((c for c in issue["_comments"] if c["id"] == comment_id), None)
            if comment is None:
                return self.error(404, f"Can not find a comment for the id: {comment_id}.")
            if comment["author"] != self.me:
                return self.error(403, "You do not have the permission to delete this comment.")
            issue["_comments"].remove(comment)
            self.deleted_comments.append(comment | {"_issue": issue["key"]})
        return self.reply(204)

    def edit_issue(self, key: str) -> Response:
        """Summary, description and labels, set (``fields``) or changed (``update``: ``add``,
        ``remove``, ``set``), as Jira edits them; 204."""
        issue = self._find(key)
        if issue is None:
            return self._missing()
        data = self.json_body() or {}
        fields, update = data.get("fields") or {}, data.get("update") or {}
        with self.lock:
            for name in ("summary", "description", "labels"):
                if name in fields:
                    issue["fields"][name] = fields[name]
            labels = issue["fields"]["labels"]
            for change in update.get("labels") or ():
                if "set" in change:
                    labels[:] = list(change["set"])
                if "add" in change and change["add"] not in labels:
                    labels.append(change["add"])
                if "remove" in change and change["remove"] in labels:
                    labels.remove(change["remove"])
            issue["fields"]["updated"] = jira_time()
        return self.reply(204)

    # properties, links

    def get_issue_property(self, key: str, prop: str) -> Response:
        issue = self._find(key)
        if issue is None or prop not in issue["_properties"]:
            return self.error(404, f"The property with key '{prop}' does not exist.")
        return self.reply(200, {"key": prop, "value": issue["_properties"][prop]})

    def set_issue_property(self, key: str, prop: str) -> Response:
        issue = self._find(key)
        if issue is None:
            return self._missing()
        with self.lock:
            existed = prop in issue["_properties"]
            issue["_properties"][prop] = self.json_body()
        return self.reply(200 if existed else 201)

    def get_remote_issue_links(self, key: str) -> Response:
        issue = self._find(key)
        if issue is None:
            return self._missing()
        return self.reply(200, list(issue["_remotelinks"]))

    def create_or_update_remote_issue_link(self, key: str) -> Response:
        issue = self._find(key)
        if issue is None:
            return self._missing()
        data = self.json_body() or {}
        obj = data.get("object") or {}
        if not obj.get("url") or not obj.get("title"):
            return self.reply(400, {"errorMessages": [], "errors": {"object": "title and url are required"}})
        with self.lock:
            existing = next(
                (
                    link
                    for link in issue["_remotelinks"]
                    if data.get("globalId") and link.get("globalId") == data["globalId"]
                ),
                None,
            )
            if existing is not None:
                existing.update(data)
                return self.reply(200, {"id": existing["id"], "self": existing["self"]})
            link_id = next(self._ids)
            link = data | {"id": link_id, "self": f"{self.base_url}{V2}/issue/{key}/remotelink/{link_id}"}
            issue["_remotelinks"].append(link)
            return self.reply(201, {"id": link_id, "self": link["self"]})

    def link_issues(self) -> Response:
        data = self.json_body() or {}
        type_name = (data.get("type") or {}).get("name")
        inward = (data.get("inwardIssue") or {}).get("key")
        outward = (data.get("outwardIssue") or {}).get("key")
        if type_name not in LINK_TYPES:
            return self.error(404, f"No issue link type with name '{type_name}' found.")
        if self._find(inward or "") is None or self._find(outward or "") is None:
            return self._missing()
        with self.lock:
            self._add_link(inward, outward, type_name, "outward")
        return self.reply(201)

    # projects and what can be created in them

    def _type_ids(self) -> dict[str, str]:
        return {name: str(10001 + n) for n, name in enumerate(sorted(self.issue_types))}

    def _meta_page(self, rows: list[dict[str, Any]], cloud_key: str) -> Response:
        """Cloud lists under ``issueTypes`` / ``fields``; Data Center under ``values``."""
        start = int(request.args.get("startAt", 0))
        size = int(request.args.get("maxResults", 50))
        chunk = rows[start : start + size]
        key = cloud_key if self.deployment == "cloud" else "values"
        return self.reply(200, {key: chunk, "startAt": start, "maxResults": size, "total": len(rows)})

    def get_project(self, key: str) -> Response:
        if key not in self.projects:
            return self.error(404, f"No project could be found with key '{key}'.")
        return self.reply(200, {"id": str(abs(hash(key)) % 10**5), "key": key, "name": key.title()})

    def get_create_issue_meta_issue_types(self, key: str) -> Response:
        if key not in self.projects:
            return self.error(400, f"No project could be found with key '{key}'.")
        types = [] if key in self.no_create else sorted(self._type_ids().items())
        rows = [{"id": type_id, "name": name, "subtask": False} for name, type_id in types]
        return self._meta_page(rows, "issueTypes")

    def get_create_issue_meta_fields(self, key: str, type_id: str) -> Response:
        names = {type_id: name for name, type_id in self._type_ids().items()}
        if key not in self.projects or key in self.no_create or type_id not in names:
            return self.error(400, "Issue type with id '" + type_id + "' does not exist or is not in the project.")

        def field(field_id: str, name: str, required: bool = False) -> dict[str, Any]:
            return {
                "fieldId": field_id,
                "key": field_id,
                "name": name,
                "required": required,
                "hasDefaultValue": False,
                "operations": ["set"],
                "schema": {"type": "string", "system": field_id},
            }

        rows = [
            field("project", "Project", True),
            field("issuetype", "Issue Type", True),
            field("summary", "Summary", True),
            field("description", "Description"),
            field("labels", "Labels"),
            field("duedate", "Due date"),
            field("assignee", "Assignee"),
            field("reporter", "Reporter", True),
            *self.required_fields.get(names[type_id], []),
        ]
        return self._meta_page(rows, "fields")

    # search

    def _matching(self, jql: str) -> list[dict[str, Any]] | str:
        """Issues matching the JQL subset lessonloop writes, or an error message."""
        where, _, order = jql.partition(" ORDER BY ")
        if order and order.strip() not in ("created DESC", "created ASC"):
            return f"unsupported ORDER BY in this double: {order}"
        rows = list(self.issues.values())
        for clause in where.split(" AND "):
            match = _CLAUSE.match(clause.strip())
            if match is None:
                return f"this double does not understand the JQL clause: {clause!r}"
            field, op, value = match["field"], match["op"], match["value"]
            if field == "project" and op == "=":
                rows = [i for i in rows if i["fields"]["project"]["key"] == value]
            elif field == "labels" and op == "=":
                rows = [i for i in rows if value in i["fields"]["labels"]]
            elif field == "issuetype" and op == "=":
                rows = [i for i in rows if i["fields"]["issuetype"]["name"] == value]
            elif field == "created" and op == ">=":
                since = datetime.strptime(value, "%Y/%m/%d %H:%M").strftime("%Y-%m-%dT%H:%M")
                rows = [i for i in rows if i["fields"]["created"][:16] >= since]
            else:
                return f"this double does not understand the JQL clause: {clause!r}"
        rows.sort(key=lambda i: (i["fields"]["created"], int(i["id"])), reverse=order.strip() != "created ASC")
        return rows

    def _search_rows(self) -> tuple[list[dict[str, Any]], None] | tuple[None, Response]:
        found = self._matching(request.args.get("jql", ""))
        if isinstance(found, str):
            self.violation(f"GET {request.full_path}: {found}")
            return None, self.reply(400, {"errorMessages": [found], "errors": {}})
        return found, None

    def search(self) -> Response:
        if self.deployment == "cloud":
            return self.error(
                410, "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API."
            )
        with self.lock:
            rows, problem = self._search_rows()
            if problem is not None:
                return problem
            start = int(request.args.get("startAt", 0))
            size = int(request.args.get("maxResults", 50))
            fields, props = self._list_arg("fields") or ["*navigable"], self._list_arg("properties")
            chunk = [self._public_issue(i, fields, props) for i in rows[start : start + size]]
            return self.reply(200, {"startAt": start, "maxResults": size, "total": len(rows), "issues": chunk})

    def search_jql(self) -> Response:
        if self.deployment != "cloud":
            return self.error(404, "null for uri: /rest/api/2/search/jql")
        with self.lock:
            rows, problem = self._search_rows()
            if problem is not None:
                return problem
            start = int(request.args.get("nextPageToken") or 0)
            size = int(request.args.get("maxResults", 50))
            fields, props = self._list_arg("fields") or ["id"], self._list_arg("properties")
            chunk = [self._public_issue(i, fields, props) for i in rows[start : start + size]]
            out: dict[str, Any] = {"issues": chunk, "isLast": start + size >= len(rows)}
            if not out["isLast"]:
                out["nextPageToken"] = str(start + size)
            return self.reply(200, out)
