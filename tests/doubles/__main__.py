"""Run the three doubles until interrupted, seeded with a little data, for a local lessonloop.

    python -m tests.doubles --github-port 8801 --jira-port 8802 --pagerduty-port 8803

(port 0: a free one), then point lessonloop at them (the printed environment, which names the
ports they got), e.g.::

    LESSONLOOP_GITHUB_API_URL=http://127.0.0.1:8801 LESSONLOOP_GITHUB_TOKEN=test-token ...

Requests the vendors' descriptions refuse are answered 400/404 and printed as they happen.

Each double also serves a small admin interface at ``<its API URL>/_double``, which is no part
of the vendor's API and is therefore neither validated nor logged: it plays the people who use
the tracker (``tests/walkthrough.py`` drives it). ``KEY`` is the item's key as lessonloop names
it after ``source:`` (``acme/web#1``, URL-encoded as ``acme/web%231``; ``OPS-1``; ``PGR0VU2``):

- ``GET  /_double/``                    which tracker this is, and its items (ref, title, status)
- ``GET  /_double/items/KEY``           the item, as the tracker's API shows it
- ``GET  /_double/items/KEY/comments``  its comments (GitHub, Jira) or notes (PagerDuty)
- ``PUT  /_double/items/KEY/body``      ``{"body": "..."}``: replace an issue's body / description
- ``POST /_double/items/KEY/close``     close it: GitHub ``closed``, Jira ``Done``, PagerDuty ``resolved``
- ``GET  /_double/limits``              the rate limits enforced, and how many requests came over them
- ``PUT  /_double/limits``              ``{"limits": [{"limit": 80, "window": 60, "methods": ["POST"]}]}``,
  or ``{"vendor": true, "scale": 0.1}`` for the tracker's documented limits with windows a tenth as long,
  or ``{"limits": []}`` to stop; counts start again

Seeded: GitHub ``acme/web#1`` (open, labelled ``incident``), ``acme/web#2`` to ``#7`` (``#7`` is
the follow-up a lesson can link to) and the empty ``acme/postmortems``; Jira project ``OPS`` with
the Incident ``OPS-1`` (in progress); PagerDuty incident ``PGR0VU2`` (triggered, high urgency).
"""

from __future__ import annotations

import argparse
import copy
import os
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, Response, jsonify, request

from tests.doubles.base import RateLimit, TrackerDouble
from tests.doubles.github import GitHubDouble, now_iso
from tests.doubles.jira import JiraDouble, jira_time
from tests.doubles.pagerduty import PagerDutyDouble

ADMIN_PATH = "/_double"

FOLLOW_UPS = (
    "Cache product images at the edge",
    "Checkout: retry the payment provider once on 502",
    "Alert on queue depth, not only on latency",
    "Runbook: rolling back a deploy",
    "Load test the checkout before the sales weekend",
    "Add error rate to canary checks",  # acme/web#7: the follow-up the example lesson links
)


def seed(github: GitHubDouble, jira: JiraDouble, pagerduty: PagerDutyDouble) -> None:
    github.add_issue(
        "acme/web",
        "Checkout returns 502",
        labels=("incident",),
        state="open",
        body="Checkout answers 502 for a share of requests since the 14:05 deploy.",
    )
    for title in FOLLOW_UPS:
        github.add_issue("acme/web", title, labels=("follow-up",))
    github.add_repo("acme/postmortems")
    incident = jira.add_issue(
        "OPS",
        "Payments queue backed up",
        issue_type="Incident",
        status="In Progress",
        description="Payment confirmations are delayed by up to 25 minutes.",
    )
    incident["fields"]["status"]["statusCategory"] = {"key": "indeterminate", "name": "In Progress"}
    started = (datetime.now(UTC) - timedelta(minutes=50)).replace(microsecond=0)
    pagerduty.add_incident(
        "PGR0VU2",
        "Checkout latency above SLO",
        status="triggered",
        resolved_at=None,
        created_at=started.isoformat().replace("+00:00", "Z"),
    )


# --- the admin interface ----------------------------------------------------------------------


class _Admin:
    """What people do in a tracker's UI, for one double. Subclasses know its shapes."""

    comments_name = "comments"

    def __init__(self, double: Any) -> None:
        self.double = double

    def refs(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def item(self, key: str) -> dict[str, Any] | None:
        raise NotImplementedError

    def comments(self, key: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    def set_body(self, key: str, body: str) -> str | None:
        """None when done, else why not."""
        raise NotImplementedError

    def close(self, key: str) -> None:
        raise NotImplementedError


class _GitHubAdmin(_Admin):
    double: GitHubDouble

    def _issue(self, key: str) -> dict[str, Any] | None:
        repo, _, number = key.partition("#")
        return self.double.issues.get(repo, {}).get(int(number)) if number.isdigit() else None

    def refs(self) -> list[dict[str, Any]]:
        return [
            {
                "ref": f"github:{repo}#{number}",
                "title": issue["title"],
                "status": issue["state"],
                "labels": [label["name"] for label in issue["labels"]],
            }
            for repo, issues in sorted(self.double.issues.items())
            for number, issue in sorted(issues.items())
        ]

    def item(self, key: str) -> dict[str, Any] | None:
        issue = self._issue(key)
        return None if issue is None else {k: copy.deepcopy(v) for k, v in issue.items() if not k.startswith("_")}

    def comments(self, key: str) -> list[dict[str, Any]]:
        repo, _, number = key.partition("#")
        found = sorted(self.double.comments_on(repo, int(number)), key=lambda c: c["id"])
        return [{k: v for k, v in c.items() if not k.startswith("_")} for c in found]

    def set_body(self, key: str, body: str) -> str | None:
        issue = self._issue(key)
        assert issue is not None
        issue["body"] = body
        issue["updated_at"] = now_iso()
        return None

    def close(self, key: str) -> None:
        issue = self._issue(key)
        assert issue is not None
        stamp = now_iso()
        issue.update(state="closed", state_reason="completed", closed_at=stamp, updated_at=stamp)


class _JiraAdmin(_Admin):
    double: JiraDouble

    def refs(self) -> list[dict[str, Any]]:
        return [
            {
                "ref": f"jira:{key}",
                "title": issue["fields"]["summary"],
                "status": issue["fields"]["status"]["name"],
                "type": issue["fields"]["issuetype"]["name"],
            }
            for key, issue in self.double.issues.items()
        ]

    def item(self, key: str) -> dict[str, Any] | None:
        issue = self.double.issues.get(key)
        return None if issue is None else {k: copy.deepcopy(v) for k, v in issue.items() if not k.startswith("_")}

    def comments(self, key: str) -> list[dict[str, Any]]:
        return copy.deepcopy(self.double.issues[key]["_comments"])

    def set_body(self, key: str, body: str) -> str | None:
        fields = self.double.issues[key]["fields"]
        fields["description"] = body
        fields["updated"] = jira_time()
        return None

    def close(self, key: str) -> None:
        fields = self.double.issues[key]["fields"]
        stamp = jira_time()
        fields["status"] = {"name": "Done", "statusCategory": {"key": "done", "name": "Done"}}
        fields["resolution"] = {"name": "Done"}
        fields["resolutiondate"] = stamp
        fields["updated"] = stamp


class _PagerDutyAdmin(_Admin):
    double: PagerDutyDouble
    comments_name = "notes"

    def refs(self) -> list[dict[str, Any]]:
        return [
            {
                "ref": f"pagerduty:{key}",
                "title": incident["title"],
                "status": incident["status"],
                "urgency": incident["urgency"],
            }
            for key, incident in self.double.incidents.items()
        ]

    def item(self, key: str) -> dict[str, Any] | None:
        incident = self.double.incidents.get(key)
        return None if incident is None else copy.deepcopy(incident)

    def comments(self, key: str) -> list[dict[str, Any]]:
        return copy.deepcopy(self.double.notes.get(key, []))

    def set_body(self, key: str, body: str) -> str | None:
        return "a PagerDuty incident has no body; its notes are append-only"

    def close(self, key: str) -> None:
        incident = self.double.incidents[key]
        stamp = now_iso()
        incident.update(status="resolved", resolved_at=stamp, updated_at=stamp, last_status_change_at=stamp)
        responder = {"id": "PUSER02", "type": "user_reference", "summary": "Ada Responder"}
        self.double.add_log_entry(key, "resolve", stamp, responder)  # as PagerDuty logs it


def admin_app(double: TrackerDouble) -> Flask:
    """The admin interface of one double, a WSGI app to mount at ``ADMIN_PATH``."""
    admin: _Admin = {"github": _GitHubAdmin, "jira": _JiraAdmin, "pagerduty": _PagerDutyAdmin}[double.name](double)
    app = Flask(f"{double.name}-double-admin")

    def missing(key: str) -> Response:
        answer = jsonify({"error": f"{double.name} double: no item {key!r}"})
        answer.status_code = 404
        return answer

    @app.get("/")
    def index() -> Response:
        with double.lock:
            return jsonify(
                {
                    "tracker": double.name,
                    "api_url": double.base_url,
                    "html_url": getattr(double, "html_url", None),
                    "items": admin.refs(),
                }
            )

    @app.get("/items/<path:key>")
    def get_item(key: str) -> Response:
        with double.lock:
            found = admin.item(key)
        return missing(key) if found is None else jsonify(found)

    @app.get("/items/<path:key>/comments")
    def get_comments(key: str) -> Response:
        with double.lock:
            if admin.item(key) is None:
                return missing(key)
            return jsonify({admin.comments_name: admin.comments(key)})

    @app.put("/items/<path:key>/body")
    def put_body(key: str) -> Response:
        data = request.get_json(force=True, silent=True) or {}
        if not isinstance(data.get("body"), str):
            answer = jsonify({"error": 'send {"body": "..."}'})
            answer.status_code = 400
            return answer
        with double.lock:
            if admin.item(key) is None:
                return missing(key)
            refused = admin.set_body(key, data["body"])
            if refused is not None:
                answer = jsonify({"error": refused})
                answer.status_code = 400
                return answer
            return jsonify(admin.item(key))

    @app.get("/limits")
    def get_limits() -> Response:
        return jsonify(double.limit_report())

    @app.put("/limits")
    def put_limits() -> Response:
        data = request.get_json(force=True, silent=True)
        try:
            if not isinstance(data, dict):
                raise TypeError('send {"limits": [...]} or {"vendor": true, "scale": S}')
            if data.get("vendor") is True:
                scale = data.get("scale", 1.0)
                if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale <= 1:
                    raise ValueError("scale: a number above 0, at most 1")
                limits = double.vendor_limits(float(scale))
            elif isinstance(data.get("limits"), list):
                limits = tuple(RateLimit.from_dict(item) for item in data["limits"] if isinstance(item, dict))
                if len(limits) != len(data["limits"]):
                    raise ValueError("limits: a list of objects")
            else:
                raise ValueError('send {"limits": [...]} or {"vendor": true, "scale": S}')
        except (TypeError, ValueError) as problem:
            answer = jsonify({"error": str(problem)})
            answer.status_code = 400
            return answer
        double.enforce_limits(*limits)
        return jsonify(double.limit_report())

    @app.post("/items/<path:key>/close")
    def close(key: str) -> Response:
        with double.lock:
            if admin.item(key) is None:
                return missing(key)
            admin.close(key)
            return jsonify(admin.item(key))

    return app


def _play_app(github: GitHubDouble, key_file: str) -> str:
    """Make the GitHub double a GitHub App installed on every repository it holds, with a key
    pair made now (the private key goes to ``key_file``, readable by its owner only)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    github.enable_app(1, public, "lessonloop", {1: sorted(github.issues)})
    return f"LESSONLOOP_GITHUB_APP_ID=1 LESSONLOOP_GITHUB_APP_PRIVATE_KEY_FILE={os.path.abspath(key_file)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.doubles", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--github-port", type=int, default=8801)
    parser.add_argument("--jira-port", type=int, default=8802)
    parser.add_argument("--pagerduty-port", type=int, default=8803)
    parser.add_argument("--jira-deployment", choices=("cloud", "datacenter"), default="cloud")
    parser.add_argument(
        "--vendor-limits",
        type=float,
        metavar="SCALE",
        help="enforce each tracker's documented rate limits, windows multiplied by SCALE "
        "(1: as documented; see also PUT /_double/limits)",
    )
    parser.add_argument(
        "--github-app",
        metavar="KEY_FILE",
        help="play a GitHub App instead of taking a token: write a new private key to KEY_FILE "
        "and print the App settings (LESSONLOOP_GITHUB_APP_ID, ..._PRIVATE_KEY_FILE)",
    )
    parser.add_argument(
        "--env-file",
        metavar="PATH",
        help="also write the LESSONLOOP_* settings there, one KEY=VALUE a line (for `set -a; . PATH`)",
    )
    args = parser.parse_args(argv)

    github = GitHubDouble(args.host, args.github_port)
    jira = JiraDouble(args.host, args.jira_port, deployment=args.jira_deployment)
    pagerduty = PagerDutyDouble(args.host, args.pagerduty_port)
    seed(github, jira, pagerduty)
    doubles = (github, jira, pagerduty)
    if args.vendor_limits is not None:
        if not 0 < args.vendor_limits <= 1:
            parser.error("--vendor-limits takes a number above 0, at most 1")
        for double in doubles:
            double.enforce_limits(*double.vendor_limits(args.vendor_limits))
    for double in doubles:
        double.mount(ADMIN_PATH, admin_app(double))
        double.start()

    jira_auth = (
        f"LESSONLOOP_JIRA_EMAIL={jira.email} LESSONLOOP_JIRA_API_TOKEN={jira.api_token}"
        if jira.deployment == "cloud"
        else f"LESSONLOOP_JIRA_PAT={jira.pat}"
    )
    github_auth = "LESSONLOOP_GITHUB_TOKEN=test-token"
    if args.github_app:
        github_auth = _play_app(github, args.github_app)
    settings = (
        f"LESSONLOOP_GITHUB_API_URL={github.base_url} {github_auth} "
        f"LESSONLOOP_GITHUB_WEB_URL={github.html_url}\n"
        f"LESSONLOOP_JIRA_URL={jira.base_url} {jira_auth}\n"
        f"LESSONLOOP_PAGERDUTY_API_URL={pagerduty.base_url} LESSONLOOP_PAGERDUTY_API_TOKEN=user-token "
        f"LESSONLOOP_PAGERDUTY_FROM=lessonloop@example.com"
    )
    if args.env_file:
        partial = f"{args.env_file}.partial"
        with open(partial, "w", encoding="utf-8") as handle:
            handle.write("\n".join(pair for line in settings.splitlines() for pair in line.split()) + "\n")
        os.replace(partial, args.env_file)  # whoever waits for the file never reads half of it
    print(settings, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    seen = {d.name: 0 for d in doubles}
    over_limit = {d.name: 0 for d in doubles}
    try:
        while not stop.is_set():
            time.sleep(0.2)
            for double in doubles:
                for violation in double.violations[seen[double.name] :]:
                    print(f"[{double.name}] VIOLATION {violation}", flush=True)
                seen[double.name] = len(double.violations)
                if len(double.limit_violations) < over_limit[double.name]:  # limits set again: counts restarted
                    over_limit[double.name] = 0
                for over in double.limit_violations[over_limit[double.name] :]:
                    print(f"[{double.name}] OVER LIMIT {over}", flush=True)
                over_limit[double.name] = len(double.limit_violations)
    except KeyboardInterrupt:
        pass
    finally:
        for double in doubles:
            double.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
