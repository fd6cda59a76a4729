"""The trackers' sample payloads (``tests/fixtures/webhooks``), and deliveries signed as each
tracker signs them."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures" / "webhooks"

# the secrets the tests' lessonloop is configured with (``tests.conftest.base_env``); kept here, in
# a module that imports nothing heavy, so the walkthrough driver (a process started ~20 times a
# run) signs deliveries without loading the app
GITHUB_SECRET = "It's a Secret to Everybody"
JIRA_SECRET = "jira-webhook-secret-1"
JIRA_TOKEN = "jira-automation-token-1"
PAGERDUTY_SECRET = "pagerduty-signing-secret-1"


def load(name: str) -> dict[str, Any]:
    """``load("github/issues.closed")``: a fresh, mutable copy of a sample."""
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def raw(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def hmac_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class Delivery:
    """One HTTP delivery as a tracker would send it."""

    source: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return f"/webhooks/{self.source}"


def body_of(payload: dict[str, Any] | bytes) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


def github(
    payload: dict[str, Any] | bytes, secret: str, *, event: str = "issues", delivery_id: str | None = None
) -> Delivery:
    body = body_of(payload)
    return Delivery(
        "github",
        body,
        {
            "Content-Type": "application/json",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
            "X-Hub-Signature-256": f"sha256={hmac_hex(secret, body)}",
            "User-Agent": "GitHub-Hookshot/test",
        },
    )


def pagerduty(payload: dict[str, Any] | bytes, *secrets: str, webhook_id: str | None = None) -> Delivery:
    body = body_of(payload)
    return Delivery(
        "pagerduty",
        body,
        {
            "Content-Type": "application/json",
            "X-Webhook-Id": webhook_id or str(uuid.uuid4()),
            "X-PagerDuty-Signature": ",".join(f"v1={hmac_hex(secret, body)}" for secret in secrets),
        },
    )


def jira(payload: dict[str, Any] | bytes, secret: str, *, identifier: str | None = None) -> Delivery:
    body = body_of(payload)
    return Delivery(
        "jira",
        body,
        {
            "Content-Type": "application/json",
            "X-Atlassian-Webhook-Identifier": identifier or str(uuid.uuid4()),
            "X-Hub-Signature": f"sha256={hmac_hex(secret, body)}",
        },
    )


def jira_automation(payload: dict[str, Any] | bytes, token: str) -> Delivery:
    return Delivery("jira", body_of(payload), {"Content-Type": "application/json", "X-Lessonloop-Token": token})


# --- shapes derived from the samples -----------------------------------------------------------

REVIEW_MARKER_MD = "<!-- lessonloop:review incident=github:acme/web#42 -->"
REVIEW_MARKER_JIRA = "{color:#97a0af}lessonloop:review incident=jira:OPS-42{color}"


def github_closed(
    number: int = 1, labels: tuple[str, ...] = ("incident",), state_reason: str = "completed", body: str | None = None
) -> dict[str, Any]:
    payload = load("github/issues.closed")
    payload["issue"]["number"] = number
    payload["issue"]["state_reason"] = state_reason
    payload["issue"]["labels"] = [{"name": label} for label in labels]
    if body is not None:
        payload["issue"]["body"] = body
    return payload


def github_review_edited(repo: str = "acme/postmortems") -> dict[str, Any]:
    """GitHub's sample of an edit, made a review's: in ``repo`` (where the tests' rules open
    reviews), its body holding a review marker."""
    payload = load("github/issues.edited")
    payload["issue"]["body"] = "## What happened\nThe queue filled up.\n\n" + REVIEW_MARKER_MD
    payload["repository"]["full_name"] = repo
    payload["repository"]["name"] = repo.split("/")[1]
    return payload


def jira_done(key: str = "OPS-42", issue_type: str = "Incident") -> dict[str, Any]:
    payload = load("jira/issue_updated.incident_done")
    payload["issue"]["key"] = key
    payload["issue"]["fields"]["issuetype"]["name"] = issue_type
    return payload


def jira_review_edited() -> dict[str, Any]:
    payload = jira_done("OPS-43", "Task")
    payload["issue"]["fields"]["description"] = "h2. What happened\nIt broke.\n\n" + REVIEW_MARKER_JIRA
    payload["issue"]["fields"]["status"]["statusCategory"]["key"] = "indeterminate"
    payload["changelog"]["items"] = [
        {
            "field": "description",
            "fieldtype": "jira",
            "from": None,
            "fromString": "",
            "to": None,
            "toString": "It broke.",
        }
    ]
    return payload


def pagerduty_resolved(incident_id: str = "PGR0VU2", urgency: str = "high") -> dict[str, Any]:
    payload = load("pagerduty/incident.resolved")
    payload["event"]["data"]["id"] = incident_id
    payload["event"]["data"]["urgency"] = urgency
    payload["event"]["id"] = str(uuid.uuid4())
    return payload


def deep(payload: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(payload)
