"""Webhook deliveries made from the tracker doubles' own state, as each tracker would send them
when an item changes: the incident the double holds closes, the review it holds is edited. And
the steps the loop tests share: send a delivery through the app, run a worker, go round the
loop on GitHub, find lessonloop's comments.

It imports the app, the store and the doubles only where a step needs them: the walkthrough
driver (``tests/walkthrough.py``), a process of its own started for every step of the
walkthrough test, builds its deliveries here and starts in a tenth of the time without them."""

from __future__ import annotations

import copy
import uuid
from typing import TYPE_CHECKING, Any

from service.text import markers
from tests import payloads
from tests.payloads import GITHUB_SECRET, JIRA_SECRET, PAGERDUTY_SECRET

if TYPE_CHECKING:
    from service.infra.runtime import Runtime
    from tests.doubles.github import GitHubDouble
    from tests.doubles.jira import JiraDouble
    from tests.doubles.pagerduty import PagerDutyDouble


def _public(data: dict[str, Any]) -> dict[str, Any]:
    """The double's record without its private bookkeeping (keys starting with ``_``)."""
    return {key: copy.deepcopy(value) for key, value in data.items() if not key.startswith("_")}


def github_issue_event(
    double: GitHubDouble, repo: str, number: int, action: str, delivery_id: str | None = None
) -> payloads.Delivery:
    issue = _public(double.issues[repo][number])
    owner, name = repo.split("/")
    payload = {
        "action": action,
        "issue": issue,
        "repository": {
            "id": 1,
            "name": name,
            "full_name": repo,
            "private": False,
            "owner": {"login": owner},
            "html_url": f"{double.html_url}/{repo}",
        },
        "sender": {"login": "octocat", "type": "User"},
    }
    if action == "edited":
        payload["changes"] = {"body": {"from": ""}}
    return payloads.github(payload, GITHUB_SECRET, delivery_id=delivery_id)


def github_comment_event(
    double: GitHubDouble, repo: str, number: int, comment: dict[str, Any], action: str = "created"
) -> payloads.Delivery:
    delivery = github_issue_event(double, repo, number, "closed")
    payload = payloads.json.loads(delivery.body)
    payload["action"] = action
    payload["comment"] = _public(comment)
    return payloads.github(payload, GITHUB_SECRET, event="issue_comment")


def jira_issue_event(
    double: JiraDouble, key: str, changed: str = "status", identifier: str | None = None
) -> payloads.Delivery:
    issue = _public(double.issue(key))
    payload = {
        "timestamp": 1763626471138,
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic",
        "user": {"accountId": "557058:ada", "displayName": "Ada Responder"},
        "issue": issue,
        "changelog": {
            "id": "1",
            "items": [
                {
                    "field": changed,
                    "fieldtype": "jira",
                    "from": None,
                    "fromString": None,
                    "to": None,
                    "toString": "changed",
                }
            ],
        },
    }
    return payloads.jira(payload, JIRA_SECRET, identifier=identifier)


def jira_comment_event(double: JiraDouble, key: str, comment: dict[str, Any]) -> payloads.Delivery:
    payload = {"webhookEvent": "comment_created", "issue": _public(double.issue(key)), "comment": comment}
    return payloads.jira(payload, JIRA_SECRET)


def pagerduty_resolved(double: PagerDutyDouble, incident_id: str, webhook_id: str | None = None) -> payloads.Delivery:
    incident = double.incidents[incident_id]
    data = {
        "id": incident_id,
        "type": "incident",
        "self": incident["self"],
        "html_url": incident["html_url"],
        "number": incident["incident_number"],
        "status": "resolved",
        "title": incident["title"],
        "created_at": incident["created_at"],
        "urgency": incident["urgency"],
        "service": {"id": incident["service"]["id"], "summary": incident["service"]["summary"]},
        "assignees": [assignment["assignee"] for assignment in incident["assignments"]],
        "priority": {"id": "PPRI001", "summary": (incident.get("priority") or {}).get("summary")},
    }
    payload = {
        "event": {
            "id": str(uuid.uuid4()),
            "event_type": "incident.resolved",
            "resource_type": "incident",
            "occurred_at": incident.get("resolved_at") or incident["created_at"],
            "agent": {"summary": "Ada Responder"},
            "data": data,
        }
    }
    return payloads.pagerduty(payload, PAGERDUTY_SECRET, webhook_id=webhook_id)


def pagerduty_annotated(double: PagerDutyDouble, incident_id: str, note: dict[str, Any]) -> payloads.Delivery:
    payload = {
        "event": {
            "id": str(uuid.uuid4()),
            "event_type": "incident.annotated",
            "resource_type": "incident",
            "occurred_at": note["created_at"],
            "data": {"incident": {"id": incident_id}, "content": note["content"], "type": "incident_note"},
        }
    }
    return payloads.pagerduty(payload, PAGERDUTY_SECRET)


FILLED_MARKDOWN = {
    "What happened": "Checkout returned 502s for 40 minutes after the 14:05 deploy.",
    "What we expected": "The canary to stop the rollout when errors rose.",
    "Why it turned out differently": "The canary watched latency only; the error-rate signal was never wired in.",
    "What we learned": "A canary is only as good as the signals it reads.",
    "What we'll change": "Add error rate to canary checks (https://github.com/acme/web/issues/7).",
}


def fill_lesson_markdown(body: str, sections: dict[str, str] = FILLED_MARKDOWN) -> str:
    """The review's body as a team leaves it: each section's prompt replaced by their text."""
    return _fill(body, sections, heading="## ")


def fill_lesson_jira(body: str, sections: dict[str, str] = FILLED_MARKDOWN) -> str:
    return _fill(body, sections, heading="h2. ")


def _fill(body: str, sections: dict[str, str], heading: str) -> str:
    lines = body.replace("\r\n", "\n").split("\n")
    out: list[str] = []
    skipping = False
    for line in lines:
        stripped = line.strip()
        title = next((t for t in sections if stripped.startswith(heading) and t.lower() in stripped.lower()), None)
        if title is not None:
            out += [line, sections[title], ""]
            skipping = True
            continue
        if skipping and (stripped.startswith(heading) or "lessonloop:" in stripped or stripped.startswith("----")):
            skipping = False
        if not skipping:
            out.append(line)
    return "\n".join(out)


INCIDENT_REPO = "Codertocat/Hello-World"
"""Where the GitHub incident of the ``trackers`` fixture is (#1, labelled ``incident``)."""
REVIEW_REPO = "acme/postmortems"
"""Where the test rules open the reviews of GitHub incidents."""


def web_client(runtime: Runtime):
    """A test client of the web app on ``runtime``."""
    from service.entry.app import create_app

    return create_app(runtime.settings, runtime).test_client()


def send(client, delivery: payloads.Delivery) -> dict[str, Any]:
    """Post a delivery through the app; it must be accepted (2xx). Returns the JSON answer."""
    response = client.post(delivery.path, data=delivery.body, headers=delivery.headers)
    assert response.status_code in (200, 202), response.get_json()
    return response.get_json()


def accept(client, delivery: payloads.Delivery) -> int:
    """Post a delivery through the app; it must be recorded (202). Returns its number."""
    response = client.post(delivery.path, data=delivery.body, headers=delivery.headers)
    assert response.status_code == 202, response.get_json()
    return int(response.get_json()["delivery"])


def work(runtime: Runtime) -> None:
    """Run a real RQ worker in this process until the queue is empty."""
    from workers.runner import run_worker

    run_worker(runtime, burst=True, forking=False)


def marked(comments: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The comments (or notes) whose text carries a marker of ``kind``, verified or not."""
    return [c for c in comments if markers.find_kind(c.get("body") or c.get("content") or "", kind)]


def jira_comments(double: JiraDouble, key: str) -> list[dict[str, Any]]:
    return double.issue(key)["_comments"]


def open_github_review(client, runtime: Runtime, github_double: GitHubDouble, incident: int = 1) -> dict[str, Any]:
    """The GitHub incident ``INCIDENT_REPO#incident`` closes and a worker opens its review:
    the review's issue, as the double holds it."""
    send(client, github_issue_event(github_double, INCIDENT_REPO, incident, "closed"))
    work(runtime)
    from service.store import reviews

    record = reviews.review_of(runtime.engine, f"github:{INCIDENT_REPO}#{incident}")
    assert record is not None, f"no review opened for github:{INCIDENT_REPO}#{incident}"
    return github_double.issues[REVIEW_REPO][int(record.ref.rsplit("#", 1)[1])]


def close_github_review(
    client, github_double: GitHubDouble, review: dict[str, Any], sections: dict[str, str] = FILLED_MARKDOWN
) -> dict[str, Any]:
    """The team writes the lesson (``sections``) in ``review`` and closes it, and lessonloop is
    told; no worker has run yet. Returns lessonloop's answer."""
    review["body"] = fill_lesson_markdown(review["body"], sections)
    review["state"] = "closed"
    return send(client, github_issue_event(github_double, REVIEW_REPO, review["number"], "closed"))


def learn_on_github(
    client, runtime: Runtime, github_double: GitHubDouble, sections: dict[str, str] = FILLED_MARKDOWN, incident: int = 1
) -> dict[str, Any]:
    """Once round the loop on GitHub: the incident closes, its review opens, the team writes the
    lesson and closes the review, and a worker keeps and shares it. Returns the review."""
    review = open_github_review(client, runtime, github_double, incident)
    close_github_review(client, github_double, review, sections)
    work(runtime)
    return review
