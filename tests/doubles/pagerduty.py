"""A PagerDuty REST v2 double: incidents and their (append-only) notes, identity."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Response, request
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.wrappers import Request

from tests.doubles.base import RateLimit, TrackerDouble


def _minutes_after(stamp: str, minutes: int) -> str:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00")) + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class PagerDutyDouble(TrackerDouble):
    """Tokens map to a user (a user-level token) or to None (an account-level token)."""

    name = "pagerduty"
    spec_file = "pagerduty-rest.openapi.json"
    spec_server = "https://api.pagerduty.com"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        prefix: str = "",
        tokens: dict[str, str | None] | None = None,
        users: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.users: dict[str, dict[str, Any]] = dict(
            users
            or {
                "PUSER01": {"id": "PUSER01", "name": "Lessonloop Bot", "email": "lessonloop@example.com"},
                "PUSER02": {"id": "PUSER02", "name": "Ada Responder", "email": "ada@example.com"},
            }
        )
        self.tokens: dict[str, str | None] = dict(tokens or {"user-token": "PUSER01", "account-token": None})
        self.incidents: dict[str, dict[str, Any]] = {}
        self.notes: dict[str, list[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        super().__init__(host, port, prefix)

    def vendor_limits(self, scale: float = 1.0) -> tuple[RateLimit, ...]:
        """REST API: 900 requests a minute."""
        return (RateLimit(900, 60 * scale, None, "REST requests"),)

    def over_limit(self, limit: RateLimit, wait: float) -> Response:
        return self.error(
            429,
            "Rate Limit Exceeded",
            {
                "ratelimit-limit": str(limit.limit),
                "ratelimit-remaining": "0",
                "ratelimit-reset": str(max(1, math.ceil(wait))),
            },
        )

    # --- seeding ------------------------------------------------------------------------------

    def add_incident(
        self,
        incident_id: str,
        title: str,
        status: str = "resolved",
        urgency: str = "high",
        service: str = "Checkout API",
        priority: str | None = "P1",
        created_at: str = "2026-11-20T10:00:00Z",
        resolved_at: str | None = "2026-11-20T11:30:00Z",
        details: Any = None,
        resolved_at_shown: bool = True,
    ) -> dict[str, Any]:
        """An incident and the log PagerDuty keeps for it. ``details``: its body's details (text,
        as the REST API's create takes them, or an object, an event's custom details), served
        only to a request with ``include[]=body``. ``resolved_at_shown=False``: the incident
        answer leaves ``resolved_at`` out while its log has the resolve entry."""
        number = next(self._ids)
        incident = {
            "id": incident_id,
            "type": "incident",
            "summary": f"[#{number}] {title}",
            "self": f"{self.base_url}/incidents/{incident_id}",
            "html_url": f"https://acme.pagerduty.com/incidents/{incident_id}",
            "incident_number": number,
            "title": title,
            "created_at": created_at,
            "updated_at": resolved_at or created_at,
            "status": status,
            "incident_key": f"key-{incident_id}",
            "service": {"id": "PSVC001", "type": "service_reference", "summary": service},
            "assignments": [
                {"at": created_at, "assignee": {"id": "PUSER02", "type": "user_reference", "summary": "Ada Responder"}}
            ],
            "last_status_change_at": resolved_at or created_at,
            "urgency": urgency,
            "priority": {"id": "PPRI001", "type": "priority", "summary": priority, "name": priority}
            if priority
            else None,
            "escalation_policy": {"id": "PEP001", "type": "escalation_policy_reference", "summary": "Default"},
        }
        if resolved_at and status == "resolved" and resolved_at_shown:
            incident["resolved_at"] = resolved_at
        if details is not None:
            incident["_body"] = {"type": "incident_body", "details": details}
        with self.lock:
            self.incidents[incident_id] = incident
            self.notes.setdefault(incident_id, [])
        # the log PagerDuty keeps for such an incident: triggered, assigned, acknowledged, resolved
        service_ref = {"id": "PSVC001", "type": "service_reference", "summary": service}
        ada = {"id": "PUSER02", "type": "user_reference", "summary": "Ada Responder"}
        self.add_log_entry(incident_id, "trigger", created_at, service_ref)
        self.add_log_entry(incident_id, "assign", created_at, service_ref, assignees=[ada])
        self.add_log_entry(incident_id, "acknowledge", _minutes_after(created_at, 4), ada)
        if resolved_at and status == "resolved":
            self.add_log_entry(incident_id, "resolve", resolved_at, ada)
        return incident

    def add_note(
        self, incident_id: str, content: str, user_id: str = "PUSER02", created_at: str | None = None
    ) -> dict[str, Any]:
        """A note, and the annotate log entry PagerDuty writes for it (which holds no text)."""
        user = self.users.get(user_id, {"id": user_id, "name": user_id})
        reference = {"id": user["id"], "type": "user_reference", "summary": user["name"]}
        note = {
            "id": f"PNOTE{next(self._ids):03d}",
            "user": reference,
            "channel": {"summary": "The PagerDuty website or APIs"},
            "content": content,
            "created_at": created_at or now_iso(),
        }
        with self.lock:
            self.notes.setdefault(incident_id, []).append(note)
            if incident_id in self.incidents:
                self.add_log_entry(incident_id, "annotate", note["created_at"], reference, channel={"type": "note"})
        return note

    # --- HTTP ---------------------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> Any:
        codes = {400: 2001, 401: 2006, 403: 2010, 404: 2100, 429: 2020}
        return {"error": {"message": message, "code": codes.get(status, 2000), "errors": []}}

    def authenticate(self, req: Request) -> str | None:
        token = req.headers.get("Authorization", "").removeprefix("Token token=")
        return None if token in self.tokens else "Authentication failed"

    def _token_user(self) -> str | None:
        return self.tokens[request.headers["Authorization"].removeprefix("Token token=")]

    def _routes(self) -> None:
        self.route("/users/me", ["GET"], self.get_current_user)
        self.route("/abilities", ["GET"], self.list_abilities)
        self.route("/incidents/<incident_id>", ["GET"], self.get_incident)
        self.route("/incidents/<incident_id>/notes", ["GET"], self.list_incident_notes)
        self.route("/incidents/<incident_id>/notes", ["POST"], self.create_incident_note)
        self.route("/incidents/<incident_id>/log_entries", ["GET"], self.list_log_entries)

    def get_current_user(self) -> Response:
        user_id = self._token_user()
        if user_id is None:
            return self.reply(
                400,
                {
                    "error": {
                        "message": "Invalid Input Provided",
                        "code": 2001,
                        "errors": ["Requires a user-level API token"],
                    }
                },
            )
        user = self.users[user_id]
        return self.reply(200, {"user": user | {"type": "user", "summary": user["name"]}})

    def list_abilities(self) -> Response:
        return self.reply(200, {"abilities": ["teams", "read_only_users", "urgencies"]})

    def spec_query(self, req: Request) -> ImmutableMultiDict[str, str]:
        """``include[]=body`` on an incident is documented by the description's ``Incident.body``
        ("Only returned if the `include[]=body` query parameter is provided"), though the
        ``include[]`` parameter's list of values leaves it out: that one value is taken out
        before the rest of the request is checked; any other value outside the list is refused."""
        query = super().spec_query(req)
        path = req.path.removeprefix(self.prefix)
        if req.method != "GET" or not path.startswith("/incidents/") or path.count("/") != 2:
            return query
        kept = [(k, v) for k, values in query.lists() for v in values if (k, v) != ("include[]", "body")]
        return ImmutableMultiDict(kept)

    def get_incident(self, incident_id: str) -> Response:
        with self.lock:
            incident = self.incidents.get(incident_id)
            if incident is None:
                return self.error(404, "Not Found")
            shown = {k: v for k, v in incident.items() if not k.startswith("_")}
            if "body" in request.args.getlist("include[]") and "_body" in incident:
                shown["body"] = incident["_body"]
        return self.reply(200, {"incident": shown})

    def list_incident_notes(self, incident_id: str) -> Response:
        with self.lock:
            if incident_id not in self.incidents:
                return self.error(404, "Not Found")
            return self.reply(200, {"notes": list(self.notes[incident_id])})

    def add_log_entry(
        self, incident_id: str, kind: str, created_at: str, agent: dict[str, Any] | None = None, **extra: Any
    ) -> dict[str, Any]:
        """A log entry as PagerDuty lists it: ``kind`` is its type without ``_log_entry``."""
        with self.lock:
            log = self.incidents[incident_id].setdefault("_log", [])
            entry = {
                "id": f"Q{len(log):013d}",
                "type": f"{kind}_log_entry",
                "summary": kind.title(),
                "created_at": created_at,
                "agent": agent,
                **extra,
            }
            log.append(entry)
            return entry

    def list_log_entries(self, incident_id: str) -> Response:
        """Newest first, as PagerDuty answers; ``limit``, ``offset`` and ``total`` as it pages."""
        with self.lock:
            incident = self.incidents.get(incident_id)
            if incident is None:
                return self.error(404, "Not Found")
            entries = sorted(incident.get("_log", []), key=lambda e: e["created_at"], reverse=True)
        limit = int(request.args.get("limit", 25))
        offset = int(request.args.get("offset", 0))
        chunk = entries[offset : offset + limit]
        body: dict[str, Any] = {
            "log_entries": chunk,
            "limit": limit,
            "offset": offset,
            "more": offset + limit < len(entries),
        }
        body["total"] = len(entries) if request.args.get("total") == "true" else None
        return self.reply(200, body)

    def create_incident_note(self, incident_id: str) -> Response:
        sender = request.headers.get("From", "")
        with self.lock:
            if incident_id not in self.incidents:
                return self.error(404, "Not Found")
            user = next((u for u in self.users.values() if u["email"] == sender), None)
        if user is None:
            return self.reply(
                400,
                {
                    "error": {
                        "message": "Invalid Input Provided",
                        "code": 2001,
                        "errors": ["From header must be a valid user email"],
                    }
                },
            )
        note = self.add_note(incident_id, self.json_body()["note"]["content"], user["id"])
        return self.reply(201, {"note": note})
