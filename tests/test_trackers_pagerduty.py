"""The PagerDuty client against the PagerDuty double: incidents, notes, identity, faults."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import requests
from pydantic import SecretStr

from config.settings import PagerDutySettings
from service.domain.events import ItemRef
from service.domain.history import History, with_times_from
from service.text.markers import LESSON, LINK, REVIEW_OPENED, Marker
from service.trackers.base import ReviewDraft, TrackerClient
from service.trackers.errors import PermanentTrackerError, TransientTrackerError, UnsupportedOperation
from service.trackers.http.retry import RetryPolicy
from service.trackers.pagerduty.client import Note, PagerDutyClient, history_from_log_entries
from tests.doubles.base import CONTRACTS
from tests.doubles.pagerduty import PagerDutyDouble
from tests.doubles.pytest_plugin import MARKER_KEYS, SleepRecorder

INCIDENT = ItemRef.parse("pagerduty:PGR0VU2")


@pytest.fixture
def incident(pagerduty_double: PagerDutyDouble) -> dict:
    return pagerduty_double.add_incident("PGR0VU2", "Checkout latency above SLO")


def test_client_satisfies_the_interface(pagerduty_client: PagerDutyClient) -> None:
    assert isinstance(pagerduty_client, TrackerClient)
    assert not pagerduty_client.capabilities.edit_comments


def test_whoami_with_a_user_token(pagerduty_client: PagerDutyClient, pagerduty_double: PagerDutyDouble) -> None:
    me = pagerduty_client.whoami()
    assert (me.id, me.name, me.email, me.kind) == ("PUSER01", "Lessonloop Bot", "lessonloop@example.com", "user")
    (call,) = pagerduty_double.calls()
    assert call.headers["Authorization"] == "Token token=user-token"
    assert call.headers["Accept"] == "application/vnd.pagerduty+json;version=2"


def test_whoami_with_an_account_token_falls_back_to_abilities(
    pagerduty_double: PagerDutyDouble, retry_policy: RetryPolicy
) -> None:
    client = PagerDutyClient(
        "account-token", "lessonloop@example.com", pagerduty_double.base_url, retry=retry_policy, keys=MARKER_KEYS
    )
    me = client.whoami()
    assert (me.id, me.kind) == ("lessonloop@example.com", "account")
    assert [(c.operation, c.status) for c in pagerduty_double.calls()] == [
        ("get_current_user", 400),
        ("list_abilities", 200),
    ]


def test_whoami_with_a_bad_token_does_not_fall_back(
    pagerduty_double: PagerDutyDouble, retry_policy: RetryPolicy
) -> None:
    client = PagerDutyClient(
        "nope", "lessonloop@example.com", pagerduty_double.base_url, retry=retry_policy, keys=MARKER_KEYS
    )
    with pytest.raises(PermanentTrackerError) as caught:
        client.whoami()
    assert (caught.value.status, caught.value.message) == (401, "Authentication failed")
    assert len(pagerduty_double.calls()) == 1


def test_get_item_maps_the_incident(
    pagerduty_client: PagerDutyClient, pagerduty_double: PagerDutyDouble, incident: dict
) -> None:
    item = pagerduty_client.get_item(INCIDENT)
    assert (item.title, item.status, item.urgency, item.priority, item.service) == (
        "Checkout latency above SLO",
        "resolved",
        "high",
        "P1",
        "Checkout API",
    )
    assert item.url == "https://acme.pagerduty.com/incidents/PGR0VU2"
    assert item.done
    assert item.assignees == ("Ada Responder",)
    assert item.created_at == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    assert item.closed_at == datetime(2026, 11, 20, 11, 30, tzinfo=UTC)
    assert pagerduty_double.counts() == {"get_incident": 1}


def test_notes_carry_the_from_header_and_a_prefix_marker(
    pagerduty_client: PagerDutyClient, pagerduty_double: PagerDutyDouble, incident: dict
) -> None:
    pagerduty_double.add_note("PGR0VU2", "Rolled back the deploy.")
    note = pagerduty_client.add_comment(
        INCIDENT, "Review opened: OPS-7", Marker(REVIEW_OPENED, {"review": "jira:OPS-7"})
    )
    sealed = MARKER_KEYS.seal(Marker(REVIEW_OPENED, {"review": "jira:OPS-7"}), str(INCIDENT))
    assert note.body == f"[{sealed.token()}] Review opened: OPS-7"
    assert note.marker == sealed
    (post,) = pagerduty_double.calls("create_incident_note")
    assert post.headers["From"] == "lessonloop@example.com"
    lesson = pagerduty_client.add_comment(INCIDENT, "We learned...", Marker(LESSON))
    notes = pagerduty_client.comments(INCIDENT)
    assert [n.marker is not None for n in notes] == [False, True, True]
    assert [n.id for n in pagerduty_client.find_comments(INCIDENT, LESSON)] == [lesson.id]
    assert pagerduty_double.counts() == {"create_incident_note": 2, "list_incident_notes": 2, "get_current_user": 1}


def test_what_pagerduty_cannot_do_is_unsupported_without_a_request(
    pagerduty_client: PagerDutyClient, pagerduty_double: PagerDutyDouble
) -> None:
    with pytest.raises(UnsupportedOperation, match="append-only"):
        pagerduty_client.edit_comment(INCIDENT, "PNOTE1", "x", Marker(LESSON))
    draft = ReviewDraft("X", "t", "b", INCIDENT, "u")
    with pytest.raises(UnsupportedOperation, match="no tasks"):
        pagerduty_client.open_review(draft)
    with pytest.raises(UnsupportedOperation):
        pagerduty_client.find_review("X", INCIDENT)
    assert pagerduty_double.calls() == []


def test_link_is_a_note_with_the_url_written_once(
    pagerduty_client: PagerDutyClient, pagerduty_double: PagerDutyDouble, incident: dict
) -> None:
    target = ItemRef.parse("jira:OPS-7")
    for _ in range(2):
        pagerduty_client.link(INCIDENT, target, "https://acme.atlassian.net/browse/OPS-7", "Post-incident review OPS-7")
    (note,) = pagerduty_double.notes["PGR0VU2"]
    sealed = MARKER_KEYS.seal(Marker(LINK, {"target": "jira:OPS-7"}), str(INCIDENT))
    assert note["content"] == f"[{sealed.token()}] Post-incident review OPS-7: https://acme.atlassian.net/browse/OPS-7"
    assert pagerduty_double.counts() == {"list_incident_notes": 2, "create_incident_note": 1, "get_current_user": 1}
    assert pagerduty_client.find_comments(INCIDENT, LINK)[0].marker == sealed


def test_from_settings(pagerduty_double: PagerDutyDouble, incident: dict) -> None:
    settings = PagerDutySettings(
        api_token=SecretStr("user-token"), from_email="lessonloop@example.com", api_url=pagerduty_double.base_url
    )
    assert PagerDutyClient.from_settings(settings, MARKER_KEYS).get_item(INCIDENT).urgency == "high"
    with pytest.raises(ValueError, match="LESSONLOOP_PAGERDUTY_FROM"):
        PagerDutyClient.from_settings(PagerDutySettings(api_token=SecretStr("t")), MARKER_KEYS)


# --- faults ---------------------------------------------------------------------------------


def test_429_honours_ratelimit_reset(
    pagerduty_client: PagerDutyClient, pagerduty_double: PagerDutyDouble, sleeps: SleepRecorder, incident: dict
) -> None:
    pagerduty_double.fail_next(1, 429, headers={"ratelimit-reset": "4", "ratelimit-limit": "960"})
    assert pagerduty_client.get_item(INCIDENT).status == "resolved"
    assert sleeps.waits == [4.0]


def test_429_on_a_note_is_retried(
    pagerduty_client: PagerDutyClient, pagerduty_double: PagerDutyDouble, sleeps: SleepRecorder, incident: dict
) -> None:
    pagerduty_double.fail_next(1, 429, retry_after=1)
    pagerduty_client.add_comment(INCIDENT, "lesson", Marker(LESSON))
    assert sleeps.waits == [1.0] and len(pagerduty_double.notes["PGR0VU2"]) == 1


def test_5xx_on_a_read_is_retried_but_not_on_a_note(
    pagerduty_client: PagerDutyClient, pagerduty_double: PagerDutyDouble, sleeps: SleepRecorder, incident: dict
) -> None:
    pagerduty_double.fail_next(2, 500)
    pagerduty_client.comments(INCIDENT)
    assert sleeps.waits == [0.5, 1.0]
    pagerduty_double.fail_next(1, 502)
    with pytest.raises(TransientTrackerError) as caught:
        pagerduty_client.add_comment(INCIDENT, "lesson", Marker(LESSON))
    assert caught.value.status == 502 and caught.value.may_have_applied
    assert pagerduty_double.counts()["create_incident_note"] == 1


def test_unknown_incident_is_404_with_pagerdutys_message(
    pagerduty_client: PagerDutyClient, sleeps: SleepRecorder
) -> None:
    with pytest.raises(PermanentTrackerError) as caught:
        pagerduty_client.get_item(ItemRef.parse("pagerduty:PNOPE01"))
    assert (caught.value.status, caught.value.message) == (404, "Not Found")
    assert sleeps.waits == []


def test_a_from_that_is_no_user_is_refused_with_pagerdutys_reason(
    pagerduty_double: PagerDutyDouble, retry_policy: RetryPolicy, incident: dict
) -> None:
    client = PagerDutyClient(
        "user-token", "stranger@example.com", pagerduty_double.base_url, retry=retry_policy, keys=MARKER_KEYS
    )
    with pytest.raises(PermanentTrackerError) as caught:
        client.add_comment(INCIDENT, "x", Marker(LESSON))
    assert caught.value.status == 400
    assert caught.value.message == "Invalid Input Provided: From header must be a valid user email"


def test_slow_answer_times_out_as_transient(
    pagerduty_double: PagerDutyDouble, sleeps: SleepRecorder, incident: dict
) -> None:
    client = PagerDutyClient(
        "user-token",
        "lessonloop@example.com",
        pagerduty_double.base_url,
        retry=RetryPolicy(attempts=1, sleep=sleeps),
        timeout=(1.0, 0.3),
        keys=MARKER_KEYS,
    )
    pagerduty_double.slow_next(1, 2.0)
    with pytest.raises(TransientTrackerError) as caught:
        client.get_item(INCIDENT)
    assert caught.value.retry_after == 0.5 and "timed out" in caught.value.message


def test_build_clients_only_for_trackers_with_credentials(pagerduty_double: PagerDutyDouble, tmp_path) -> None:
    from config.settings import load_settings
    from service.trackers.clients import build_clients
    from service.trackers.github.client import GitHubClient
    from service.trackers.jira.client import JiraClient

    empty = tmp_path / "lessonloop.toml"
    empty.write_text("")
    env = {
        "LESSONLOOP_PAGERDUTY_API_TOKEN": "user-token",
        "LESSONLOOP_PAGERDUTY_FROM": "lessonloop@example.com",
        "LESSONLOOP_PAGERDUTY_API_URL": pagerduty_double.base_url,
        "LESSONLOOP_JIRA_URL": "https://acme.atlassian.net",
        "LESSONLOOP_JIRA_PAT": "dc-pat",
    }
    clients = build_clients(load_settings(env, config_file=empty), MARKER_KEYS)
    assert set(clients) == {"pagerduty", "jira"}
    assert isinstance(clients["pagerduty"], PagerDutyClient) and isinstance(clients["jira"], JiraClient)
    assert clients["jira"].deployment == "datacenter"
    assert clients["pagerduty"].whoami().id == "PUSER01"
    with_github = build_clients(load_settings({"LESSONLOOP_GITHUB_TOKEN": "t"}, config_file=empty), MARKER_KEYS)
    assert set(with_github) == {"github"} and isinstance(with_github["github"], GitHubClient)
    assert build_clients(load_settings({}, config_file=empty), MARKER_KEYS) == {}


# --- what PagerDuty documents about an incident: its body, its notes' text, its resolve entry ---


def test_the_incident_body_is_read_with_include_body(
    pagerduty_client: PagerDutyClient, pagerduty_double: PagerDutyDouble
) -> None:
    pagerduty_double.add_incident("PTEXT01", "Disk full", details="Disk /var at 100%.\nlogrotate stalled.")
    pagerduty_double.add_incident("PJSON01", "Queue backlog", details={"queue": "payments", "depth": 9000})
    pagerduty_double.add_incident("PNONE01", "No body")
    assert (
        pagerduty_client.get_item(ItemRef.parse("pagerduty:PTEXT01")).body == "Disk /var at 100%.\nlogrotate stalled."
    )
    assert pagerduty_client.get_item(ItemRef.parse("pagerduty:PJSON01")).body == "queue: payments\ndepth: 9000"
    assert pagerduty_client.get_item(ItemRef.parse("pagerduty:PNONE01")).body == ""
    assert all(call.query == {"include[]": ["body"]} for call in pagerduty_double.calls("get_incident"))


def test_the_double_takes_include_body_from_the_description_and_refuses_other_values(
    pagerduty_double: PagerDutyDouble,
) -> None:
    """The description's ``Incident.body`` documents ``include[]=body``; its ``include[]``
    parameter lists other values only. The double accepts that one and no other."""
    spec = json.loads((CONTRACTS / "pagerduty-rest.openapi.json").read_text(encoding="utf-8"))
    incident = spec["components"]["schemas"]["Incident"]["allOf"][1]["properties"]
    assert "include[]=body" in incident["body"]["description"]
    pagerduty_double.add_incident("PGR0VU2", "x")
    headers = {"Authorization": "Token token=user-token", "Accept": "application/vnd.pagerduty+json;version=2"}
    headers |= {"Content-Type": "application/json"}
    for value, status in (("body", 200), ("services", 200), ("bodies", 400)):
        url = f"{pagerduty_double.base_url}/incidents/PGR0VU2?include[]={value}"
        assert requests.get(url, headers=headers, timeout=5).status_code == status
    assert len(pagerduty_double.violations) == 1 and "bodies" in pagerduty_double.violations[0]
    pagerduty_double.violations.clear()


def test_a_pagerduty_refusing_include_body_is_asked_without_it_once(
    pagerduty_client: PagerDutyClient, pagerduty_double: PagerDutyDouble, incident: dict
) -> None:
    pagerduty_double.fail_next(1, 400, operation="get_incident")
    assert pagerduty_client.get_item(INCIDENT).title == "Checkout latency above SLO"
    assert pagerduty_client.get_item(INCIDENT).title == "Checkout latency above SLO"
    assert [c.query for c in pagerduty_double.calls("get_incident")] == [{"include[]": ["body"]}, {}, {}]


def test_note_lines_in_the_history_carry_the_notes_text_but_not_ours(
    pagerduty_client: PagerDutyClient, pagerduty_double: PagerDutyDouble, incident: dict
) -> None:
    pagerduty_double.add_note("PGR0VU2", "Rolled back\n the deploy at 10:20.", created_at="2026-11-20T10:20:00Z")
    pagerduty_double.add_note("PGR0VU2", "x" * 500, created_at="2026-11-20T10:25:00Z")
    pagerduty_client.add_comment(INCIDENT, "Review opened: OPS-7", Marker(REVIEW_OPENED, {"review": "jira:OPS-7"}))
    pagerduty_double.reset_log()
    history = pagerduty_client.history(INCIDENT)
    notes = [e for e in history.entries if e.kind == "annotate"]
    assert sorted((e.what, e.who, e.responder) for e in notes) == [
        ("note added: Rolled back the deploy at 10:20.", "Ada Responder", "Ada Responder"),
        ("note added: " + "x" * 199 + "…", "Ada Responder", "Ada Responder"),
    ]
    assert not any("Review opened" in e.what for e in history.entries)
    assert pagerduty_double.counts() == {"list_log_entries": 1, "list_incident_notes": 1}


def test_a_note_is_matched_to_its_log_entry_by_who_and_when() -> None:
    ada = {"id": "PUSER02", "type": "user_reference", "summary": "Ada"}
    bob = {"id": "PUSER03", "type": "user_reference", "summary": "Bob"}
    at = datetime(2026, 11, 20, 10, 20, tzinfo=UTC)
    notes = [
        Note(at, "PUSER03", "Bob's"),
        Note(at, "PUSER02", "Ada's"),
        Note(at.replace(hour=12), "PUSER02", "late"),
        Note(at.replace(hour=9, minute=0), "PUSER01", "[our marker] Review opened", ours=True),
    ]
    log = [
        {"type": "annotate_log_entry", "created_at": "2026-11-20T10:20:01Z", "agent": ada},
        {"type": "annotate_log_entry", "created_at": "2026-11-20T10:20:00Z", "agent": bob},
        {"type": "annotate_log_entry", "created_at": "2026-11-20T09:00:00Z", "agent": bob, "note": "its own"},
        {
            "type": "annotate_log_entry",
            "created_at": "2026-11-20T09:00:00Z",
            "agent": {"id": "PUSER01", "type": "user"},
        },
    ]
    gap = (at.replace(hour=11), at.replace(hour=13))
    assert [(e.what, e.who) for e in history_from_log_entries(log, notes, gap)] == [
        ("note added: Ada's", "Ada"),
        ("note added: Bob's", "Bob"),
        ("note added: its own", "Bob"),
    ]  # the 12:00 note lies in the unread stretch of the log: counted there, not shown
    assert [e.what for e in history_from_log_entries(log[:1], notes)][-1] == "note added: late"


def test_closed_and_lasted_come_from_the_resolve_entry_when_the_incident_lacks_them(
    pagerduty_client: PagerDutyClient, pagerduty_double: PagerDutyDouble
) -> None:
    pagerduty_double.add_incident("PNORES1", "No resolved_at", resolved_at_shown=False)
    item = pagerduty_client.get_item(ItemRef.parse("pagerduty:PNORES1"))
    assert item.done and item.closed_at is None
    filled = with_times_from(item, pagerduty_client.history(item.ref))
    assert filled.closed_at == datetime(2026, 11, 20, 11, 30, tzinfo=UTC)
    assert filled.created_at == item.created_at
    assert with_times_from(filled, History()) == filled  # times the incident has are kept
