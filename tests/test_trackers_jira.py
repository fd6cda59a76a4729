"""The Jira client against the Jira double, Cloud (email + API token) and Data Center (PAT)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import SecretStr

from config.settings import JiraSettings
from service.domain.events import ItemRef
from service.text import markers
from service.text.markers import LESSON, MISSING, Marker
from service.trackers.base import REVIEW_PROPERTY_KEY, ReviewDraft, TaskDraft, TrackerClient
from service.trackers.errors import PermanentTrackerError, TrackerError, TransientTrackerError
from service.trackers.http.retry import NO_RETRY, RetryPolicy
from service.trackers.jira.changelog import history_from_changelog
from service.trackers.jira.client import JiraClient
from service.trackers.jira.shapes import jira_labels
from tests.doubles.base import CONTRACTS
from tests.doubles.jira import JiraDouble
from tests.doubles.pytest_plugin import MARKER_KEYS, SleepRecorder

PD_INCIDENT = ItemRef.parse("pagerduty:PGR0VU2")
PD_URL = "https://acme.pagerduty.com/incidents/PGR0VU2"


@pytest.fixture(params=["cloud", "datacenter"])
def jira(request: pytest.FixtureRequest, retry_policy: RetryPolicy):
    """Both deployments, each with the auth it uses; DC also under a context path."""
    deployment = request.param
    prefix = "" if deployment == "cloud" else "/jira"
    with JiraDouble(deployment=deployment, prefix=prefix) as double:
        if deployment == "cloud":
            client = JiraClient(
                double.base_url, email=double.email, api_token=double.api_token, retry=retry_policy, keys=MARKER_KEYS
            )
        else:
            client = JiraClient(double.base_url, pat=double.pat, retry=retry_policy, keys=MARKER_KEYS)
        yield double, client
    double.assert_clean()


def review_draft(incident: ItemRef, url: str, **overrides: object) -> ReviewDraft:
    values: dict = dict(
        container="OPS",
        title="Review: payments queue",
        body="h2. What happened\n\n_Describe it._",
        incident=incident,
        incident_url=url,
        incident_title="Payments queue backed up",
        labels=("post-incident-review",),
        due=date(2026, 11, 27),
        issue_type="Task",
    )
    values.update(overrides)
    return ReviewDraft(**values)


def test_client_satisfies_the_interface(jira_client: JiraClient) -> None:
    assert isinstance(jira_client, TrackerClient)
    assert jira_client.capabilities.edit_comments


def test_construction_makes_no_request(jira_double: JiraDouble) -> None:
    JiraClient(jira_double.base_url, email=jira_double.email, api_token=jira_double.api_token, keys=MARKER_KEYS)
    JiraClient(jira_double.base_url, pat="x", keys=MARKER_KEYS)
    assert jira_double.calls() == []


def test_cloud_signs_in_with_email_and_api_token(jira_client: JiraClient, jira_double: JiraDouble) -> None:
    me = jira_client.whoami()
    assert (me.id, me.name, me.email) == ("5b10ac8d82e05b22cc7d4ef5", "Lessonloop Bot", "lessonloop@example.com")
    (call,) = jira_double.calls()
    expected = base64.b64encode(b"lessonloop@example.com:cloud-token").decode()
    assert call.headers["Authorization"] == f"Basic {expected}"
    assert call.path == "/rest/api/2/myself"


def test_data_center_signs_in_with_a_bearer_pat(jira_dc_client: JiraClient, jira_dc_double: JiraDouble) -> None:
    me = jira_dc_client.whoami()
    assert (me.id, me.name) == ("lessonloop", "Lessonloop Bot")
    (call,) = jira_dc_double.calls()
    assert call.headers["Authorization"] == "Bearer dc-pat" and call.path == "/jira/rest/api/2/myself"


@pytest.mark.parametrize("kind", ["cloud", "pat"])
def test_from_settings_picks_the_auth(kind: str, jira_double: JiraDouble, jira_dc_double: JiraDouble) -> None:
    if kind == "cloud":
        settings = JiraSettings(url=jira_double.base_url, email=jira_double.email, api_token=SecretStr("cloud-token"))
        client, double = JiraClient.from_settings(settings, MARKER_KEYS), jira_double
    else:
        settings = JiraSettings(url=jira_dc_double.base_url, pat=SecretStr("dc-pat"))
        client, double = JiraClient.from_settings(settings, MARKER_KEYS), jira_dc_double
    assert client.deployment == ("cloud" if kind == "cloud" else "datacenter")
    assert client.whoami().name == "Lessonloop Bot"
    assert len(double.calls()) == 1


def test_wrong_credentials_are_permanent(jira_double: JiraDouble, retry_policy: RetryPolicy) -> None:
    client = JiraClient(
        jira_double.base_url, email=jira_double.email, api_token="wrong", retry=retry_policy, keys=MARKER_KEYS
    )
    with pytest.raises(PermanentTrackerError) as caught:
        client.whoami()
    assert caught.value.status == 401
    assert caught.value.message == "Client must be authenticated to access this resource."


def test_get_item_maps_the_issue(jira) -> None:
    double, client = jira
    assignee = {"accountId": "557058:ada", "displayName": "Ada"} if double.deployment == "cloud" else {"name": "ada"}
    opened = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    double.add_issue(
        "OPS",
        "Payments queue backed up",
        description="Queue grew for an hour.",
        labels=("payments",),
        assignee=assignee,
        created=opened,
        resolved=opened + timedelta(hours=2),
        priority="Highest",
    )
    item = client.get_item(ItemRef.parse("jira:OPS-1"))
    assert (item.title, item.body, item.status, item.issue_type) == (
        "Payments queue backed up",
        "Queue grew for an hour.",
        "Done",
        "Incident",
    )
    assert item.labels == ("payments",) and item.priority == "Highest" and item.project == "OPS"
    assert item.assignees == (("557058:ada",) if double.deployment == "cloud" else ("ada",))
    assert item.url == f"{double.base_url}/browse/OPS-1"
    assert item.created_at == opened and item.closed_at == opened + timedelta(hours=2)
    assert item.done  # "Done" is in the done category
    assert double.counts() == {"get_issue": 1}
    # a status of another name in the done category is done too; one outside it is not
    double.issue("OPS-1")["fields"]["status"] = {"name": "Resolved", "statusCategory": {"key": "done"}}
    assert client.get_item(ItemRef.parse("jira:OPS-1")).done
    double.issue("OPS-1")["fields"]["status"] = {"name": "Closed", "statusCategory": {"key": "indeterminate"}}
    assert not client.get_item(ItemRef.parse("jira:OPS-1")).done


def test_review_of_a_jira_incident_is_one_request_with_link_property_and_label(jira) -> None:
    double, client = jira
    double.add_issue("OPS", "Payments queue backed up")
    who = "557058:ada" if double.deployment == "cloud" else "ada"
    incident = ItemRef.parse("jira:OPS-1")
    review = client.open_review(review_draft(incident, f"{double.base_url}/browse/OPS-1", assignee=who))
    assert review.ref == ItemRef.parse("jira:OPS-2") and review.url == f"{double.base_url}/browse/OPS-2"
    assert double.counts() == {"create_issue": 1}
    stored = double.issue("OPS-2")
    fields = stored["fields"]
    assert fields["labels"] == ["lessonloop", "post-incident-review"]
    assert fields["duedate"] == "2026-11-27" and fields["issuetype"]["name"] == "Task"
    assert fields["assignee"] == ({"accountId": who} if double.deployment == "cloud" else {"name": who})
    sealed = MARKER_KEYS.seal(Marker("review", {"incident": "jira:OPS-1"}), "jira:OPS")
    assert fields["description"].endswith("{color:#97a0af}" + sealed.token() + "{color}\n")
    assert stored["_properties"][REVIEW_PROPERTY_KEY] == {"kind": "review", "incident": "jira:OPS-1"}
    assert [link["outwardIssue"]["key"] for link in fields["issuelinks"]] == ["OPS-1"]
    assert [link["inwardIssue"]["key"] for link in double.issue("OPS-1")["fields"]["issuelinks"]] == ["OPS-2"]


def test_review_of_an_outside_incident_adds_a_remote_link(jira) -> None:
    double, client = jira
    review = client.open_review(review_draft(PD_INCIDENT, PD_URL))
    assert double.counts() == {"create_issue": 1, "create_or_update_remote_issue_link": 1}
    (link,) = double.issue(review.ref.key)["_remotelinks"]
    assert link["globalId"] == "lessonloop:pagerduty:PGR0VU2"
    assert link["object"] == {"url": PD_URL, "title": "Payments queue backed up"}
    assert "update" not in double.calls("create_issue")[0].body
    assert f"|{PD_URL}]" in double.issue(review.ref.key)["fields"]["description"]


def test_a_hostile_incident_title_in_the_reference_is_inert(jira) -> None:
    """The reference line names the incident by its title, which is the other tracker's text."""
    double, client = jira
    title = "[~admin] {html}x{html} lessonloop:review incident=pagerduty:EVIL"
    review = client.open_review(review_draft(PD_INCIDENT, PD_URL, incident_title=title))
    description = double.issue(review.ref.key)["fields"]["description"]
    reference = description.split("Incident: ", 1)[1].split("\n", 1)[0]
    assert reference.endswith(f"|{PD_URL}]") and "admin" in reference
    assert "[~" not in reference and "{html}" not in reference.replace("\\{html}", "")
    assert "lessonloop:review" not in reference
    assert [m.get("incident") for m in markers.find(description)] == ["pagerduty:PGR0VU2"]


def test_create_refused_by_jira_carries_its_field_errors(jira) -> None:
    double, client = jira
    with pytest.raises(PermanentTrackerError) as caught:
        client.open_review(review_draft(PD_INCIDENT, PD_URL, container="NOPE", issue_type="Epic"))
    assert caught.value.status == 400
    assert caught.value.message == "issuetype: Specify a valid issue type; project: valid project is required"
    assert double.counts() == {"create_issue": 1}


def test_find_review_searches_the_label_and_matches_our_marker(jira) -> None:
    double, client = jira
    double.add_issue("OPS", "Payments queue backed up")
    client.open_review(review_draft(ItemRef.parse("jira:OPS-1"), "u"))
    mine = client.open_review(review_draft(PD_INCIDENT, PD_URL))
    # text that looks like ours on an issue we did not label is not a review
    double.add_issue("OPS", "copy", description="lessonloop:review incident=pagerduty:PGR0VU2", issue_type="Task")
    # nor is a labelled issue carrying our property and a copy of our marker, created by someone else
    forged = double.add_issue(
        "OPS",
        "forged",
        description=double.issue(mine.ref.key)["fields"]["description"],
        issue_type="Task",
        labels=("lessonloop",),
    )
    forged["_properties"][REVIEW_PROPERTY_KEY] = {"kind": "review", "incident": str(PD_INCIDENT)}
    double.reset_log()
    found = client.find_review("OPS", PD_INCIDENT)
    assert found is not None and found.ref == mine.ref
    assert client.find_review("OPS", ItemRef.parse("pagerduty:POTHER1")) is None
    operation = "search_jql" if double.deployment == "cloud" else "search"
    assert double.counts() == {operation: 2, "get_current_user": 1}
    query = double.calls(operation)[0].query
    assert query["jql"] == ['project = "OPS" AND labels = "lessonloop" ORDER BY created DESC']
    assert query["properties"] == [REVIEW_PROPERTY_KEY]


def test_find_review_needs_no_property(jira) -> None:
    double, client = jira
    mine = client.open_review(review_draft(PD_INCIDENT, PD_URL))
    double.issue(mine.ref.key)["_properties"].clear()  # an admin removed the property
    found = client.find_review("OPS", PD_INCIDENT, since=datetime(2026, 11, 21, 12, 0, tzinfo=UTC))
    assert found is not None and found.ref == mine.ref
    operation = "search_jql" if double.deployment == "cloud" else "search"
    assert 'AND created >= "2026/11/20 12:00"' in double.calls(operation)[0].query["jql"][0]


def test_find_review_pages(jira) -> None:
    double, client = jira
    mine = client.open_review(review_draft(PD_INCIDENT, PD_URL))
    for n in range(110):
        double.add_issue("OPS", f"Review {n}", issue_type="Task", labels=("lessonloop",))
    double.reset_log()
    found = client.find_review("OPS", PD_INCIDENT)
    assert found is not None and found.ref == mine.ref
    assert sum(double.counts().values()) == 3  # two pages and who we are


def test_comments_add_edit_list_and_find_ours(jira) -> None:
    double, client = jira
    double.add_issue("OPS", "Review", issue_type="Task")
    ref = ItemRef.parse("jira:OPS-1")
    double.seed_comment("OPS-1", "Looks like the consumer stalled.")
    missing = client.add_comment(ref, "Missing: What we learned", Marker(MISSING))
    sealed = MARKER_KEYS.seal(Marker(MISSING), str(ref))
    assert missing.body == "Missing: What we learned\n\n{color:#97a0af}" + sealed.token() + "{color}\n"
    assert missing.url == f"{double.base_url}/browse/OPS-1?focusedCommentId={missing.id}"
    lesson = client.add_comment(ref, "Lesson v1", Marker(LESSON))
    edited = client.edit_comment(ref, lesson.id, "Lesson v2", Marker(LESSON))
    assert (
        edited.id == lesson.id
        and edited.body.startswith("Lesson v2")
        and edited.marker == MARKER_KEYS.seal(Marker(LESSON), str(ref))
    )
    everything = client.comments(ref)
    assert [c.marker is not None for c in everything] == [False, True, True]
    assert [c.id for c in client.find_comments(ref, LESSON)] == [lesson.id]
    assert double.counts() == {"add_comment": 2, "update_comment": 1, "get_comments": 2, "get_current_user": 1}


def test_comments_are_paged(jira) -> None:
    double, client = jira
    double.add_issue("OPS", "Review", issue_type="Task")
    for n in range(150):
        double.seed_comment("OPS-1", f"comment {n}")
    assert len(client.comments(ItemRef.parse("jira:OPS-1"))) == 150
    assert double.counts() == {"get_comments": 2}


def test_editing_someone_elses_comment_is_permanent(jira) -> None:
    double, client = jira
    double.add_issue("OPS", "Review", issue_type="Task")
    theirs = double.seed_comment("OPS-1", "mine")
    with pytest.raises(PermanentTrackerError) as caught:
        client.edit_comment(ItemRef.parse("jira:OPS-1"), theirs["id"], "x", Marker(LESSON))
    assert caught.value.status == 403 and "permission" in caught.value.message


def test_link_between_jira_issues_is_an_issue_link(jira) -> None:
    double, client = jira
    double.add_issue("OPS", "Incident")
    double.add_issue("SRE", "Related", issue_type="Bug")
    client.link(ItemRef.parse("jira:OPS-1"), ItemRef.parse("jira:SRE-1"), "", "")
    client.link(ItemRef.parse("jira:OPS-1"), ItemRef.parse("jira:SRE-1"), "", "")
    assert double.counts() == {"link_issues": 2}
    assert len(double.issue("OPS-1")["fields"]["issuelinks"]) == 1


def test_link_to_another_tracker_is_a_remote_link_updated_in_place(jira) -> None:
    double, client = jira
    double.add_issue("OPS", "Incident")
    target = ItemRef.parse("github:acme/web#42")
    client.link(ItemRef.parse("jira:OPS-1"), target, "https://github.com/acme/web/issues/42", "acme/web#42")
    client.link(ItemRef.parse("jira:OPS-1"), target, "https://github.com/acme/web/issues/42", "Checkout 502")
    assert double.counts() == {"create_or_update_remote_issue_link": 2}
    (link,) = double.issue("OPS-1")["_remotelinks"]
    assert link["object"]["title"] == "Checkout 502"


def test_refs_of_other_trackers_are_refused_without_a_request(jira_client: JiraClient, jira_double: JiraDouble) -> None:
    with pytest.raises(PermanentTrackerError, match="not a Jira issue"):
        jira_client.get_item(PD_INCIDENT)
    assert jira_double.calls() == []


# --- faults ---------------------------------------------------------------------------------


def test_429_is_retried_after_retry_after(jira, sleeps: SleepRecorder) -> None:
    double, client = jira
    double.fail_next(1, 429, retry_after=3)
    assert client.whoami().name == "Lessonloop Bot"
    assert sleeps.waits == [3.0]
    assert [c.status for c in double.calls()] == [429, 200]


def test_429_on_create_is_retried_once_created(jira, sleeps: SleepRecorder) -> None:
    double, client = jira
    double.fail_next(1, 429, retry_after=1)
    client.open_review(review_draft(PD_INCIDENT, PD_URL))
    assert sleeps.waits == [1.0]
    assert len([i for i in double.issues.values() if "lessonloop" in i["fields"]["labels"]]) == 1


def test_cloud_rate_limit_reset_timestamp_is_honoured(
    jira_client: JiraClient, jira_double: JiraDouble, sleeps: SleepRecorder
) -> None:
    reset = (datetime.now(UTC) + timedelta(seconds=8)).strftime("%Y-%m-%dT%H:%M:%SZ")
    jira_double.fail_next(1, 429, headers={"X-RateLimit-Reset": reset})
    jira_client.whoami()
    assert len(sleeps.waits) == 1 and 6.0 <= sleeps.waits[0] <= 8.0


def test_5xx_on_a_read_is_retried_but_not_on_a_create(jira, sleeps: SleepRecorder) -> None:
    double, client = jira
    double.add_issue("OPS", "Incident")
    double.fail_next(1, 503)
    assert client.get_item(ItemRef.parse("jira:OPS-1")).title == "Incident"
    assert sleeps.waits == [0.5]
    double.fail_next(1, 500, body={"errorMessages": ["Internal server error"], "errors": {}})
    with pytest.raises(TransientTrackerError) as caught:
        client.open_review(review_draft(PD_INCIDENT, PD_URL))
    assert caught.value.status == 500 and caught.value.message == "Internal server error"
    assert caught.value.may_have_applied and sleeps.waits == [0.5]
    assert double.counts()["create_issue"] == 1


def test_no_retry_policy_means_one_request(jira_double: JiraDouble) -> None:
    client = JiraClient(
        jira_double.base_url, email=jira_double.email, api_token=jira_double.api_token, retry=NO_RETRY, keys=MARKER_KEYS
    )
    jira_double.fail_next(1, 503)
    with pytest.raises(TransientTrackerError):
        client.whoami()
    assert len(jira_double.calls()) == 1


@pytest.mark.parametrize("status", [400, 403, 404, 410])
def test_permanent_errors_carry_jiras_message(
    status: int, jira_client: JiraClient, jira_double: JiraDouble, sleeps: SleepRecorder
) -> None:
    jira_double.fail_next(1, status, body={"errorMessages": [f"refused with {status}"], "errors": {}})
    with pytest.raises(PermanentTrackerError) as caught:
        jira_client.whoami()
    assert caught.value.status == status and caught.value.message == f"refused with {status}"
    assert sleeps.waits == [] and len(jira_double.calls()) == 1


def test_unknown_issue_is_404_with_jiras_words(jira_client: JiraClient) -> None:
    with pytest.raises(PermanentTrackerError) as caught:
        jira_client.get_item(ItemRef.parse("jira:OPS-404"))
    assert caught.value.status == 404
    assert caught.value.message == "Issue does not exist or you do not have permission to see it."


def test_slow_answer_times_out_as_transient(jira_double: JiraDouble, sleeps: SleepRecorder) -> None:
    client = JiraClient(
        jira_double.base_url,
        email=jira_double.email,
        api_token=jira_double.api_token,
        retry=RetryPolicy(attempts=2, sleep=sleeps),
        timeout=(1.0, 0.3),
        keys=MARKER_KEYS,
    )
    jira_double.slow_next(1, 2.0)
    assert client.whoami().name == "Lessonloop Bot"
    assert sleeps.waits == [0.5]
    jira_double.slow_next(1, 2.0)
    with pytest.raises(TransientTrackerError) as caught:
        client.add_comment(ItemRef.parse("jira:OPS-1"), "x", Marker(LESSON))
    assert "timed out" in caught.value.message


def test_no_vendor_exception_escapes_on_connection_failure(sleeps: SleepRecorder) -> None:
    with JiraDouble() as gone:
        url = gone.base_url
    client = JiraClient(url, pat="x", retry=RetryPolicy(attempts=2, sleep=sleeps), keys=MARKER_KEYS)
    with pytest.raises(TrackerError) as caught:
        client.whoami()
    assert type(caught.value) is TransientTrackerError and not caught.value.may_have_applied


def test_a_review_whose_remote_link_failed_is_found_and_linked_on_retry(jira, sleeps: SleepRecorder) -> None:
    double, client = jira
    double.fail_next(1, 500, operation="create_or_update_remote_issue_link")
    with pytest.raises(TransientTrackerError):
        client.open_review(review_draft(PD_INCIDENT, PD_URL))
    (created,) = [i for i in double.issues.values() if "lessonloop" in i["fields"]["labels"]]
    assert created["_remotelinks"] == []
    # what the worker does on its retry: find, then link (idempotent), never create again
    found = client.find_review("OPS", PD_INCIDENT)
    assert found is not None and found.ref.key == created["key"]
    client.link(found.ref, PD_INCIDENT, PD_URL, "Payments queue backed up")
    client.link(found.ref, PD_INCIDENT, PD_URL, "Payments queue backed up")
    assert [link["globalId"] for link in created["_remotelinks"]] == ["lessonloop:pagerduty:PGR0VU2"]
    assert double.counts()["create_issue"] == 1


def test_a_container_that_is_no_project_key_never_reaches_jql(jira_client: JiraClient, jira_double: JiraDouble) -> None:
    with pytest.raises(PermanentTrackerError, match="not a Jira project key"):
        jira_client.find_review('OPS" OR project = "HR', PD_INCIDENT)
    assert jira_double.calls() == []


def test_find_reviews_lists_every_review_of_ours_oldest_first_and_closes_a_duplicate_once(jira) -> None:
    double, client = jira
    first = client.open_review(review_draft(PD_INCIDENT, PD_URL))
    late = client.open_review(review_draft(PD_INCIDENT, PD_URL))  # a create that landed late
    forged = double.add_issue("OPS", "copy", description=double.issue(first.ref.key)["fields"]["description"])
    forged["fields"]["labels"] = ["lessonloop"]  # a person's copy, labelled: not ours (creator)
    assert [review.ref for review in client.find_reviews("OPS", PD_INCIDENT)] == [first.ref, late.ref]
    client.close_duplicate_review(late, first)
    client.close_duplicate_review(late, first)  # a retry after a crash adds no second comment
    assert double.issue(late.ref.key)["fields"]["labels"].count("lessonloop-duplicate") == 1
    [note] = client.find_comments(late.ref, markers.LINK)
    assert first.url in note.body and note.marker is not None and note.marker.get("target") == str(first.ref)
    assert [review.closed_as_duplicate for review in client.find_reviews("OPS", PD_INCIDENT)] == [False, True]
    assert "lessonloop-duplicate" not in double.issue(first.ref.key)["fields"]["labels"]


def test_delete_comment_deletes_ours_only_and_a_gone_one_counts_as_deleted(jira) -> None:
    double, client = jira
    double.add_issue("OPS", "Review", issue_type="Task")
    ref = ItemRef.parse("jira:OPS-1")
    ours = client.add_comment(ref, "Lesson", Marker(LESSON))
    theirs = double.seed_comment("OPS-1", "a person's words")
    client.delete_comment(ref, ours.id)
    client.delete_comment(ref, ours.id)  # already gone: a 404, which is what was wanted
    with pytest.raises(PermanentTrackerError) as caught:
        client.delete_comment(ref, theirs["id"])
    assert caught.value.status == 403
    with pytest.raises(PermanentTrackerError):
        client.delete_comment(ref, "1/../2")  # refused before any request
    assert [c["id"] for c in double.issue("OPS-1")["_comments"]] == [theirs["id"]]
    assert double.counts()["delete_comment"] == 3


# --- Jira's own shapes: labels are one word, comments come as a page or as a list --------------


def test_review_and_follow_up_labels_with_spaces_are_hyphenated_the_same_way(jira) -> None:
    """Jira refuses a label with a space (the double answers as Jira does); the review path and
    the follow-up path send the same normalised labels."""
    double, client = jira
    spaced = ("post incident review", "  team\tpayments ", " ")
    review = client.open_review(review_draft(PD_INCIDENT, PD_URL, labels=spaced))
    task = client.open_task(
        TaskDraft(
            container="OPS", title="Add a queue alert", body="b", marker=Marker("followup", {"key": "a"}), labels=spaced
        )
    )
    for ref in (review.ref, task.ref):
        assert double.issue(ref.key)["fields"]["labels"] == ["lessonloop", "post-incident-review", "team-payments"]
    assert jira_labels(["x" * 300]) == ["lessonloop", "x" * 255]


def atlassian_example_issue() -> dict:
    """The example answer of ``GET /rest/api/3/issue/{issueIdOrKey}`` in Atlassian's description
    (tests/contracts): its ``fields.comment`` is a plain list."""
    spec = json.loads((CONTRACTS / "jira-cloud-v3.openapi.json").read_text(encoding="utf-8"))
    example = spec["paths"]["/rest/api/3/issue/{issueIdOrKey}"]["get"]["responses"]["200"]["content"]
    return json.loads(example["application/json"]["example"])


def test_the_history_reads_comments_given_as_a_list_as_in_atlassians_example() -> None:
    issue = atlassian_example_issue()
    assert isinstance(issue["fields"]["comment"], list)
    entries = history_from_changelog(issue)
    assert [(e.what, e.who, e.kind) for e in entries if e.kind == "comment"] == [
        ("commented", "Mia Krystof", "comment")
    ]
    assert history_from_changelog(issue | {"fields": {"comment": {"comments": issue["fields"]["comment"]}}}) == entries
    for odd in (None, "text", 3, {"comments": "x"}, [None, "x"]):
        assert history_from_changelog({"fields": {"comment": odd}}) == []


def test_a_jira_answering_comments_as_a_list_gives_the_same_history(jira) -> None:
    double, client = jira
    double.add_issue("OPS", "Payments queue backed up")
    double.seed_comment("OPS-1", "Rolled back the deploy.")
    paged = client.history(ItemRef.parse("jira:OPS-1"))
    double.comments_as_list = True
    listed = client.history(ItemRef.parse("jira:OPS-1"))
    _, with_item = client.get_item_with_history(ItemRef.parse("jira:OPS-1"))
    assert [e.what for e in paged.entries] == ["commented"]
    assert listed == paged and with_item == paged
