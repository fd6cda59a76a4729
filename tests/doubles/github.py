"""A GitHub REST double: issues and issue comments in memory, identity, GitHub Enterprise prefix."""

from __future__ import annotations

import itertools
import math
import re
import time
from datetime import UTC, datetime
from typing import Any

from flask import Response, request
from werkzeug.wrappers import Request

from tests.doubles.base import RateLimit, TrackerDouble

CONTENT_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class GitHubDouble(TrackerDouble):
    """github.com by default; ``prefix="/api/v3"`` plays a GitHub Enterprise Server."""

    name = "github"
    spec_file = "github-rest.openapi.json"
    spec_server = "https://api.github.com"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        prefix: str = "",
        html_url: str = "https://github.com",
        tokens: dict[str, str] | None = None,
    ) -> None:
        self.html_url = html_url.rstrip("/")
        self.tokens: dict[str, str] = dict(tokens or {"test-token": "lessonloop-bot"})  # token -> login
        self.issues: dict[str, dict[int, dict[str, Any]]] = {}  # "owner/repo" -> number -> issue
        self.comments: dict[int, dict[str, Any]] = {}  # id -> comment (with "_repo", "_number")
        self.deleted_comments: list[dict[str, Any]] = []  # as they were when deleted, oldest first
        self.read_only: set[str] = set()  # "owner/repo" where tokens' accounts may only read
        self.issues_off: set[str] = set()  # "owner/repo" with issues turned off
        self._ids = itertools.count(1000)
        super().__init__(host, port, prefix)

    # --- seeding ------------------------------------------------------------------------------

    def add_repo(self, repo: str) -> None:
        with self.lock:
            self.issues.setdefault(repo, {})

    def add_issue(
        self,
        repo: str,
        title: str,
        body: str = "",
        labels: tuple[str, ...] = (),
        state: str = "open",
        assignees: tuple[str, ...] = (),
        author: str = "octocat",
        closed_at: str | None = None,
        created_at: str | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            numbers = self.issues.setdefault(repo, {})
            number = max(numbers, default=0) + 1
            stamp = created_at or now_iso()
            issue = {
                "id": next(self._ids),
                "node_id": f"I_{number}",
                "url": f"{self.base_url}/repos/{repo}/issues/{number}",
                "repository_url": f"{self.base_url}/repos/{repo}",
                "labels_url": f"{self.base_url}/repos/{repo}/issues/{number}/labels{{/name}}",
                "comments_url": f"{self.base_url}/repos/{repo}/issues/{number}/comments",
                "events_url": f"{self.base_url}/repos/{repo}/issues/{number}/events",
                "html_url": f"{self.html_url}/{repo}/issues/{number}",
                "number": number,
                "state": state,
                "state_reason": "completed" if state == "closed" else None,
                "title": title,
                "body": body,
                "user": self._user(author),
                "labels": [self._label(name) for name in labels],
                "assignee": self._user(assignees[0]) if assignees else None,
                "assignees": [self._user(a) for a in assignees],
                "locked": False,
                "comments": 0,
                "created_at": stamp,
                "updated_at": stamp,
                "closed_at": closed_at or (now_iso() if state == "closed" else None),
                "author_association": "MEMBER",
            }
            numbers[number] = issue
            return issue

    def add_comment(self, repo: str, number: int, body: str, author: str = "octocat") -> dict[str, Any]:
        with self.lock:
            issue = self.issues[repo][number]
            comment_id = next(self._ids)
            stamp = now_iso()
            comment = {
                "id": comment_id,
                "node_id": f"IC_{comment_id}",
                "url": f"{self.base_url}/repos/{repo}/issues/comments/{comment_id}",
                "html_url": f"{issue['html_url']}#issuecomment-{comment_id}",
                "issue_url": issue["url"],
                "body": body,
                "user": self._user(author),
                "created_at": stamp,
                "updated_at": stamp,
                "author_association": "MEMBER",
                "_repo": repo,
                "_number": number,
            }
            self.comments[comment_id] = comment
            issue["comments"] += 1
            return comment

    def comments_on(self, repo: str, number: int) -> list[dict[str, Any]]:
        with self.lock:
            return [c for c in self.comments.values() if c["_repo"] == repo and c["_number"] == number]

    def _user(self, login: str) -> dict[str, Any]:
        return {
            "login": login,
            "id": abs(hash(login)) % 10**7,
            "node_id": f"U_{login}",
            "type": "User",
            "html_url": f"{self.html_url}/{login}",
            "url": f"{self.base_url}/users/{login}",
            "site_admin": False,
        }

    @staticmethod
    def _label(name: str) -> dict[str, Any]:
        return {"id": abs(hash(name)) % 10**7, "name": name, "color": "ededed", "default": False, "description": None}

    # --- HTTP ---------------------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> Any:
        return {"message": message, "documentation_url": "https://docs.github.com/rest", "status": str(status)}

    limit_status = 403
    """GitHub answers a secondary rate limit with 403 or 429; tests may switch."""

    def vendor_limits(self, scale: float = 1.0) -> tuple[RateLimit, ...]:
        """Secondary rate limits: 80 content-generating requests a minute and 500 an hour."""
        return (
            RateLimit(80, 60 * scale, CONTENT_METHODS, "content-generating requests"),
            RateLimit(500, 3600 * scale, CONTENT_METHODS, "content-generating requests"),
        )

    def over_limit(self, limit: RateLimit, wait: float) -> Response:
        seconds = max(1, math.ceil(wait))
        return self.error(
            self.limit_status,
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            {
                "retry-after": str(seconds),
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": str(math.ceil(time.time() + seconds)),
            },
        )

    # --- App mode -----------------------------------------------------------------------------

    def enable_app(
        self,
        app_id: int,
        public_key_pem: str,
        slug: str,
        installations: dict[int, list[str]],
        token_seconds: float = 3600,
    ) -> None:
        """Play a GitHub App: JWTs signed with its key open ``/app…`` paths; installation tokens
        (``ghs_…``) expire after ``token_seconds`` and see only their installation's repositories."""
        self.app = {
            "id": app_id,
            "key": public_key_pem,
            "slug": slug,
            "installations": installations,
            "token_seconds": token_seconds,
        }
        self.installation_tokens: dict[str, tuple[int, float]] = {}
        self.tokens_issued = 0

    def _app_jwt_problem(self, token: str) -> str | None:
        import jwt

        try:
            jwt.decode(
                token,
                self.app["key"],
                algorithms=["RS256"],
                issuer=str(self.app["id"]),
                options={"require": ["exp", "iat", "iss"]},
            )
        except jwt.PyJWTError as error:
            return f"A JSON web token could not be decoded ({error})"
        return None

    def _installation(self, token: str) -> int | None:
        found = getattr(self, "installation_tokens", {}).get(token)
        if found is None or found[1] <= time.time():
            return None
        return found[0]

    def authenticate(self, req: Request) -> str | None:
        header = req.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in ("bearer", "token"):
            return "Bad credentials"
        app = getattr(self, "app", None)
        app_path = re.match(r"^/app(/|$)|^/repos/[^/]+/[^/]+/installation$", self.spec_path(req.path))
        if app is not None and token.count(".") == 2:
            if not app_path:
                return "A JSON web token cannot be used on this path"
            return self._app_jwt_problem(token)
        if app is not None and token.startswith("ghs_"):
            return None if self._installation(token) is not None and not app_path else "Bad credentials"
        if token not in self.tokens:
            return "Bad credentials"
        return None

    def _login(self) -> str:
        token = request.headers["Authorization"].partition(" ")[2]
        if token.startswith("ghs_"):
            return f"{self.app['slug']}[bot]"
        return self.tokens[token]

    def _integration_cannot(self, owner: str, repo: str) -> Response | None:
        """An installation token sees only its installation's repositories (404 elsewhere, as GitHub)."""
        token = request.headers.get("Authorization", "").partition(" ")[2]
        if not token.startswith("ghs_"):
            return None
        installation = self._installation(token)
        if f"{owner}/{repo}" not in self.app["installations"].get(installation, []):
            return self.error(404, "Not Found")
        return None

    def get_app(self) -> Response:
        slug = self.app["slug"]
        return self.reply(
            200,
            {
                "id": self.app["id"],
                "slug": slug,
                "node_id": "A_1",
                "name": slug.title(),
                "owner": self._user("acme"),
                "description": "",
                "external_url": self.html_url,
                "html_url": f"{self.html_url}/apps/{slug}",
                "created_at": now_iso(),
                "updated_at": now_iso(),
                "permissions": {"issues": "write", "metadata": "read"},
                "events": ["issues", "issue_comment"],
            },
        )

    def create_installation_token(self, installation_id: int) -> Response:
        if installation_id not in self.app["installations"]:
            return self.error(404, "Not Found")
        with self.lock:
            self.tokens_issued += 1
            token = f"ghs_{self.tokens_issued:036d}"
            expires = time.time() + self.app["token_seconds"]
            self.installation_tokens[token] = (installation_id, expires)
        stamp = datetime.fromtimestamp(expires, UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        return self.reply(
            201,
            {
                "token": token,
                "expires_at": stamp,
                "permissions": {"issues": "write", "metadata": "read"},
                "repository_selection": "selected",
            },
        )

    def get_repo_installation(self, owner: str, repo: str) -> Response:
        for installation, repos in self.app["installations"].items():
            if f"{owner}/{repo}" in repos:
                return self.reply(
                    200,
                    {
                        "id": installation,
                        "account": self._user(owner),
                        "app_id": self.app["id"],
                        "app_slug": self.app["slug"],
                        "target_type": "Organization",
                        "permissions": {"issues": self.app.get("issues", "write"), "metadata": "read"},
                        "events": ["issues"],
                        "repository_selection": "selected",
                    },
                )
        return self.error(404, "Not Found")

    def get_repo(self, owner: str, repo: str) -> Response:
        """The repository, with ``permissions`` for a token's account (GitHub leaves them out
        for an installation token, which sees its installation's repositories only)."""
        if (refused := self._integration_cannot(owner, repo)) is not None:
            return refused
        name = f"{owner}/{repo}"
        if self._repo_or_404(owner, repo) is None:
            return self.error(404, "Not Found")
        body: dict[str, Any] = {
            "id": abs(hash(name)) % 10**7,
            "node_id": f"R_{name}",
            "name": repo,
            "full_name": name,
            "owner": self._user(owner),
            "private": True,
            "html_url": f"{self.html_url}/{name}",
            "url": f"{self.base_url}/repos/{name}",
            "archived": False,
            "disabled": False,
            "has_issues": name not in self.issues_off,
            "default_branch": "main",
        }
        if not request.headers.get("Authorization", "").partition(" ")[2].startswith("ghs_"):
            write = name not in self.read_only
            body["permissions"] = {"admin": False, "maintain": False, "push": write, "triage": write, "pull": True}
        return self.reply(200, body)

    def list_installation_repositories(self) -> Response:
        installation = self._installation(request.headers["Authorization"].partition(" ")[2])
        if installation is None:
            return self.error(403, "Resource not accessible by personal access token")
        repos = self.app["installations"].get(installation, [])
        return self.reply(
            200,
            {
                "total_count": len(repos),
                "repositories": [
                    {
                        "id": n,
                        "node_id": f"R_{n}",
                        "name": r.split("/")[1],
                        "full_name": r,
                        "private": False,
                        "owner": self._user(r.split("/")[0]),
                        "html_url": f"{self.html_url}/{r}",
                    }
                    for n, r in enumerate(repos)
                ],
            },
        )

    def _routes(self) -> None:
        self.route("/user", ["GET"], self.get_user)
        self.route("/app", ["GET"], self.get_app)
        self.route("/app/installations/<int:installation_id>/access_tokens", ["POST"], self.create_installation_token)
        self.route("/repos/<owner>/<repo>", ["GET"], self.get_repo)
        self.route("/repos/<owner>/<repo>/installation", ["GET"], self.get_repo_installation)
        self.route("/installation/repositories", ["GET"], self.list_installation_repositories)
        self.route("/repos/<owner>/<repo>/issues", ["GET"], self.list_issues)
        self.route("/repos/<owner>/<repo>/issues", ["POST"], self.create_issue)
        self.route("/repos/<owner>/<repo>/issues/<int:number>", ["GET"], self.get_issue)
        self.route("/repos/<owner>/<repo>/issues/<int:number>", ["PATCH"], self.update_issue)
        self.route("/repos/<owner>/<repo>/issues/<int:number>/comments", ["GET"], self.list_comments)
        self.route("/repos/<owner>/<repo>/issues/<int:number>/comments", ["POST"], self.create_comment)
        self.route("/repos/<owner>/<repo>/issues/comments/<int:comment_id>", ["PATCH"], self.update_comment)
        self.route("/repos/<owner>/<repo>/issues/comments/<int:comment_id>", ["DELETE"], self.delete_comment)
        self.route("/repos/<owner>/<repo>/issues/<int:number>/timeline", ["GET"], self.list_timeline)

    def get_user(self) -> Response:
        if request.headers.get("Authorization", "").partition(" ")[2].startswith("ghs_"):
            return self.error(403, "Resource not accessible by integration")
        login = self._login()
        return self.reply(200, self._user(login) | {"name": login.replace("-", " ").title(), "email": None})

    def _repo_or_404(self, owner: str, repo: str) -> dict[int, dict[str, Any]] | None:
        return self.issues.get(f"{owner}/{repo}")

    def list_issues(self, owner: str, repo: str) -> Response:
        if (refused := self._integration_cannot(owner, repo)) is not None:
            return refused
        with self.lock:
            issues = self._repo_or_404(owner, repo)
            if issues is None:
                return self.error(404, "Not Found")
            rows = list(issues.values())
        state = request.args.get("state", "open")
        if state != "all":
            rows = [i for i in rows if i["state"] == state]
        if "creator" in request.args:
            rows = [i for i in rows if i["user"]["login"] == request.args["creator"]]
        if "labels" in request.args:
            wanted = set(request.args["labels"].split(","))
            rows = [i for i in rows if wanted <= {label["name"] for label in i["labels"]}]
        if "since" in request.args:
            rows = [i for i in rows if i["updated_at"] >= request.args["since"]]
        key = "updated_at" if request.args.get("sort") == "updated" else "created_at"
        rows.sort(key=lambda i: (i[key], i["number"]), reverse=request.args.get("direction", "desc") == "desc")
        return self._page(rows)

    def _page(self, rows: list[dict[str, Any]]) -> Response:
        per_page = int(request.args.get("per_page", 30))
        page = int(request.args.get("page", 1))
        chunk = rows[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(rows):
            last = (len(rows) + per_page - 1) // per_page
            headers["Link"] = (
                f'<{request.base_url}?page={page + 1}&per_page={per_page}>; rel="next", '
                f'<{request.base_url}?page={last}&per_page={per_page}>; rel="last"'
            )
        return self.reply(200, [self._public(r) for r in chunk], headers)

    def add_timeline_event(self, repo: str, number: int, event: dict[str, Any]) -> None:
        """An event as GitHub's timeline lists it (``event``, ``actor``, ``created_at``, ...)."""
        with self.lock:
            self.issues[repo][number].setdefault("_timeline", []).append(event)

    def list_timeline(self, owner: str, repo: str, number: int) -> Response:
        """The events GitHub would list: what was seeded, then each comment as ``commented``."""
        if (refused := self._integration_cannot(owner, repo)) is not None:
            return refused
        with self.lock:
            issue = (self._repo_or_404(owner, repo) or {}).get(number)
            if issue is None:
                return self.error(404, "Not Found")
            events = list(issue.get("_timeline", []))
            for comment in self.comments_on(f"{owner}/{repo}", number):
                events.append(
                    {
                        "event": "commented",
                        "id": comment["id"],
                        "node_id": comment["node_id"],
                        "url": comment["url"],
                        "html_url": comment["html_url"],
                        "body": comment["body"],
                        "user": comment["user"],
                        "actor": comment["user"],
                        "created_at": comment["created_at"],
                        "updated_at": comment["updated_at"],
                        "issue_url": comment["issue_url"],
                        "author_association": "MEMBER",
                    }
                )
        events.sort(key=lambda e: e.get("created_at") or "")
        return self._page(events)

    @staticmethod
    def _public(row: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in row.items() if not k.startswith("_")}

    def create_issue(self, owner: str, repo: str) -> Response:
        if (refused := self._integration_cannot(owner, repo)) is not None:
            return refused
        data = self.json_body()
        with self.lock:
            if self._repo_or_404(owner, repo) is None:
                return self.error(404, "Not Found")
        assignees = tuple(data.get("assignees") or ([data["assignee"]] if data.get("assignee") else []))
        issue = self.add_issue(
            f"{owner}/{repo}",
            str(data["title"]),
            data.get("body") or "",
            labels=tuple(label if isinstance(label, str) else label["name"] for label in data.get("labels") or ()),
            assignees=assignees,
            author=self._login(),
        )
        return self.reply(201, issue, {"Location": issue["url"]})

    def get_issue(self, owner: str, repo: str, number: int) -> Response:
        if (refused := self._integration_cannot(owner, repo)) is not None:
            return refused
        with self.lock:
            issue = (self._repo_or_404(owner, repo) or {}).get(number)
        if issue is None:
            return self.error(404, "Not Found")
        return self.reply(200, issue)

    def list_comments(self, owner: str, repo: str, number: int) -> Response:
        if (refused := self._integration_cannot(owner, repo)) is not None:
            return refused
        with self.lock:
            if number not in (self._repo_or_404(owner, repo) or {}):
                return self.error(404, "Not Found")
        return self._page(sorted(self.comments_on(f"{owner}/{repo}", number), key=lambda c: c["id"]))

    def create_comment(self, owner: str, repo: str, number: int) -> Response:
        if (refused := self._integration_cannot(owner, repo)) is not None:
            return refused
        with self.lock:
            if number not in (self._repo_or_404(owner, repo) or {}):
                return self.error(404, "Not Found")
        comment = self.add_comment(f"{owner}/{repo}", number, self.json_body()["body"], self._login())
        return self.reply(201, self._public(comment), {"Location": comment["url"]})

    def _own_comment(self, owner: str, repo: str, comment_id: int) -> dict[str, Any] | Response:
        """The comment the caller may change (call under ``self.lock``), or GitHub's refusal:
        404 when the repository has no such comment, 403 when another account wrote it."""
        if (refused := self._integration_cannot(owner, repo)) is not None:
            return refused
        comment = self.comments.get(comment_id)
        if comment is None or comment["_repo"] != f"{owner}/{repo}":
            return self.error(404, "Not Found")
        if comment["user"]["login"] != self._login():
            return self.error(403, "Must have admin rights to Repository.")
        return comment

    def update_comment(self, owner: str, repo: str, comment_id: int) -> Response:
        with self.lock:
            comment = self._own_comment(owner, repo, comment_id)
            if isinstance(comment, Response):
                return comment
            comment["body"] = self.json_body()["body"]
            comment["updated_at"] = now_iso()
            return self.reply(200, self._public(comment))

    def update_issue(self, owner: str, repo: str, number: int) -> Response:
        """Title, body, state (with ``state_reason``) and labels, as GitHub changes them; closing
        sets ``closed_at``, reopening clears it."""
        if (refused := self._integration_cannot(owner, repo)) is not None:
            return refused
        data = self.json_body() or {}
        with self.lock:
            issue = (self._repo_or_404(owner, repo) or {}).get(number)
            if issue is None:
                return self.error(404, "Not Found")
            for name in ("title", "body"):
                if name in data:
                    issue[name] = data[name]
            if "labels" in data:
                issue["labels"] = [self._label(x if isinstance(x, str) else x["name"]) for x in data["labels"] or ()]
            if data.get("state") in ("open", "closed") and data["state"] != issue["state"]:
                closing = data["state"] == "closed"
                issue["state"] = data["state"]
                issue["closed_at"] = now_iso() if closing else None
                issue["state_reason"] = data.get("state_reason") or ("completed" if closing else "reopened")
            issue["updated_at"] = now_iso()
            return self.reply(200, self._public(issue))

    def delete_comment(self, owner: str, repo: str, comment_id: int) -> Response:
        """204, or 404 when there is no such comment. Deleting someone else's comment is refused
        (403) here, although a repository admin may: lessonloop must only ever delete its own."""
        with self.lock:
            comment = self._own_comment(owner, repo, comment_id)
            if isinstance(comment, Response):
                return comment
            self.deleted_comments.append(self.comments.pop(comment_id))
            self.issues[comment["_repo"]][comment["_number"]]["comments"] -= 1
        return self.reply(204)
