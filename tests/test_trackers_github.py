"""The GitHub client against the GitHub double: every operation, its request count, its faults."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import requests
from pydantic import SecretStr

from config.settings import GitHubSettings
from service.domain.events import ItemRef
from service.text.markers import LESSON, LINK, REVIEW_OPENED, Marker
from service.trackers.base import ReviewDraft, TrackerClient
from service.trackers.errors import PermanentTrackerError, TransientTrackerError
from service.trackers.github.client import GitHubClient
from service.trackers.http.retry import RetryPolicy
from tests.doubles.github import GitHubDouble
from tests.doubles.pytest_plugin import MARKER_KEYS, SleepRecorder

INCIDENT = ItemRef.parse("github:acme/web#1")


@pytest.fixture
def incident(github_double: GitHubDouble) -> dict:
    github_double.add_repo("acme/postmortems")
    return github_double.add_issue(
        "acme/web",
        "Checkout returns 502",
        body="Customers saw 502s.",
        labels=("incident", "sev1"),
        state="closed",
        assignees=("ada", "grace"),
        created_at="2026-11-20T10:00:00Z",
        closed_at="2026-11-20T11:30:00Z",
    )


def draft(url: str, **overrides: object) -> ReviewDraft:
    values: dict = dict(
        container="acme/postmortems",
        title="Review: Checkout returns 502",
        body="## What happened\n\n_Describe it._",
        incident=INCIDENT,
        incident_url=url,
        labels=("post-incident-review",),
        assignee="ada",
    )
    values.update(overrides)
    return ReviewDraft(**values)


def test_client_satisfies_the_interface(github_client: GitHubClient) -> None:
    assert isinstance(github_client, TrackerClient)
    assert github_client.capabilities.edit_comments


def test_whoami_asks_once_per_client(github_client: GitHubClient, github_double: GitHubDouble) -> None:
    me = github_client.whoami()
    assert (me.source, me.id, me.kind) == ("github", "lessonloop-bot", "user")
    assert github_client.whoami() == me
    assert github_double.counts() == {"get_user": 1}
    assert github_double.calls()[0].headers["Authorization"] == "Bearer test-token"
    assert github_double.calls()[0].headers["X-Github-Api-Version"] == "2022-11-28"


def test_get_item_maps_the_issue(github_client: GitHubClient, github_double: GitHubDouble, incident: dict) -> None:
    item = github_client.get_item(INCIDENT)
    assert item.title == "Checkout returns 502"
    assert item.body == "Customers saw 502s."
    assert item.status == "closed" and item.done
    assert item.labels == ("incident", "sev1")
    assert item.assignees == ("ada", "grace")
    assert item.url == "https://github.com/acme/web/issues/1"
    assert item.created_at == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    assert item.closed_at == datetime(2026, 11, 20, 11, 30, tzinfo=UTC)
    assert item.project == "acme/web"
    assert github_double.counts() == {"get_issue": 1}


def test_open_review_is_one_request_with_hidden_marker_and_reference(
    github_client: GitHubClient, github_double: GitHubDouble, incident: dict
) -> None:
    review = github_client.open_review(draft(incident["html_url"]))
    assert review.ref == ItemRef.parse("github:acme/postmortems#1")
    assert review.url == "https://github.com/acme/postmortems/issues/1"
    assert github_double.counts() == {"create_issue": 1}
    sent = github_double.calls("create_issue")[0].body
    assert sent["labels"] == ["post-incident-review"] and sent["assignees"] == ["ada"]
    sealed = MARKER_KEYS.seal(Marker("review", {"incident": "github:acme/web#1"}), "github:acme/postmortems")
    assert f"<!-- {sealed.token()} -->" in sent["body"]
    assert f"Incident: {incident['html_url']}" in sent["body"]
    stored = github_double.issues["acme/postmortems"][1]
    assert [a["login"] for a in stored["assignees"]] == ["ada"]


def test_open_review_does_not_repeat_a_reference_already_in_the_body(
    github_client: GitHubClient, github_double: GitHubDouble, incident: dict
) -> None:
    github_client.open_review(draft(incident["html_url"], body=f"Incident: {incident['html_url']}\n"))
    assert github_double.calls("create_issue")[0].body["body"].count(incident["html_url"]) == 1


def test_find_review_matches_the_marker_of_this_incident_only(
    github_client: GitHubClient, github_double: GitHubDouble, incident: dict
) -> None:
    other = ItemRef.parse("github:acme/web#99")
    github_client.open_review(draft(incident["html_url"], incident=other))
    # someone else's issue that quotes our marker must not count (creator filter)
    github_double.add_issue("acme/postmortems", "copy", body="<!-- lessonloop:review incident=github:acme/web#1 -->")
    assert github_client.find_review("acme/postmortems", INCIDENT) is None
    mine = github_client.open_review(draft(incident["html_url"]))
    github_double.reset_log()
    found = github_client.find_review("acme/postmortems", INCIDENT, since=datetime(2026, 11, 1, tzinfo=UTC))
    assert found is not None and found.ref == mine.ref and found.incident == INCIDENT
    assert github_double.counts() == {"list_issues": 1}  # identity is cached from the first search
    query = github_double.calls("list_issues")[0].query
    assert (
        query["creator"] == ["lessonloop-bot"]
        and query["state"] == ["all"]
        and query["since"] == ["2026-11-01T00:00:00Z"]
    )


def test_find_review_pages_through_many_reviews(
    github_client: GitHubClient, github_double: GitHubDouble, incident: dict
) -> None:
    mine = github_client.open_review(draft(incident["html_url"]))
    for n in range(120):
        github_double.add_issue(
            "acme/postmortems",
            f"Review {n}",
            body=f"<!-- lessonloop:review incident=github:acme/api#{n} -->",
            author="lessonloop-bot",
        )
    github_double.reset_log()
    found = github_client.find_review("acme/postmortems", INCIDENT)
    assert found is not None and found.ref == mine.ref  # the oldest: on the second page
    assert github_double.counts() == {"get_user": 1, "list_issues": 2}


def test_comments_add_edit_list_and_find_ours(
    github_client: GitHubClient, github_double: GitHubDouble, incident: dict
) -> None:
    github_double.add_comment("acme/web", 1, "I think it was the cache.", author="ada")
    opened = github_client.add_comment(
        INCIDENT, "Review opened: acme/postmortems#1", Marker(REVIEW_OPENED, {"review": "github:acme/postmortems#1"})
    )
    sealed = MARKER_KEYS.seal(Marker(REVIEW_OPENED, {"review": "github:acme/postmortems#1"}), str(INCIDENT))
    assert opened.marker == sealed
    assert opened.body.endswith(f"<!-- {sealed.token()} -->\n")
    lesson = github_client.add_comment(INCIDENT, "Lesson v1", Marker(LESSON))
    edited = github_client.edit_comment(INCIDENT, lesson.id, "Lesson v2", Marker(LESSON))
    assert edited.id == lesson.id and edited.body.startswith("Lesson v2")
    assert github_double.comments[int(lesson.id)]["body"].startswith("Lesson v2")
    everything = github_client.comments(INCIDENT)
    assert [c.marker is not None for c in everything] == [False, True, True]
    assert [c.id for c in github_client.find_comments(INCIDENT, LESSON)] == [lesson.id]
    assert len(github_client.find_comments(INCIDENT)) == 2
    assert github_double.counts() == {"get_user": 1, "create_comment": 2, "update_comment": 1, "list_comments": 3}


def test_comments_are_paged(github_client: GitHubClient, github_double: GitHubDouble, incident: dict) -> None:
    for n in range(130):
        github_double.add_comment("acme/web", 1, f"comment {n}")
    assert len(github_client.comments(INCIDENT)) == 130
    assert github_double.counts() == {"list_comments": 2}


def test_editing_someone_elses_comment_is_permanent(
    github_client: GitHubClient, github_double: GitHubDouble, incident: dict
) -> None:
    theirs = github_double.add_comment("acme/web", 1, "mine", author="ada")
    with pytest.raises(PermanentTrackerError) as caught:
        github_client.edit_comment(INCIDENT, str(theirs["id"]), "hijack", Marker(LESSON))
    assert caught.value.status == 403 and "admin rights" in caught.value.message


def test_link_is_a_marked_comment_written_once(
    github_client: GitHubClient, github_double: GitHubDouble, incident: dict
) -> None:
    target = ItemRef.parse("jira:OPS-7")
    github_client.link(INCIDENT, target, "https://acme.atlassian.net/browse/OPS-7", "Review OPS-7")
    assert github_double.counts() == {"list_comments": 1, "create_comment": 1, "get_user": 1}
    github_client.link(INCIDENT, target, "https://acme.atlassian.net/browse/OPS-7", "Review OPS-7")
    assert github_double.counts() == {"list_comments": 2, "create_comment": 1, "get_user": 1}
    (comment,) = github_double.comments_on("acme/web", 1)
    assert MARKER_KEYS.find_kind(comment["body"], str(INCIDENT), LINK) == MARKER_KEYS.seal(
        Marker(LINK, {"target": "jira:OPS-7"}), str(INCIDENT)
    )
    assert "https://acme.atlassian.net/browse/OPS-7" in comment["body"]


# --- GitHub Enterprise ----------------------------------------------------------------------


def test_enterprise_base_url_from_settings(retry_policy: RetryPolicy) -> None:
    with GitHubDouble(prefix="/api/v3", html_url="https://ghe.acme.corp") as ghe:
        ghe.add_issue("acme/web", "Incident on GHE", labels=("incident",))
        ghe.add_repo("acme/postmortems")
        settings = GitHubSettings(token=SecretStr("test-token"), api_url=ghe.base_url + "/")
        client = GitHubClient.from_settings(settings, MARKER_KEYS, retry_policy)
        assert client.get_item(INCIDENT).url == "https://ghe.acme.corp/acme/web/issues/1"
        review = client.open_review(draft("https://ghe.acme.corp/acme/web/issues/1"))
        assert review.url == "https://ghe.acme.corp/acme/postmortems/issues/1"
        assert client.whoami().id == "lessonloop-bot"
        assert all(call.path.startswith("/api/v3/") for call in ghe.calls())
        assert len(ghe.calls()) == 3
    ghe.assert_clean()


def test_settings_without_token_cannot_build_a_client() -> None:
    with pytest.raises(ValueError, match="LESSONLOOP_GITHUB_TOKEN"):
        GitHubClient.from_settings(GitHubSettings(), MARKER_KEYS)


# --- faults ---------------------------------------------------------------------------------


def test_429_is_retried_after_retry_after(
    github_client: GitHubClient, github_double: GitHubDouble, sleeps: SleepRecorder, incident: dict
) -> None:
    github_double.fail_next(1, 429, retry_after=7)
    assert github_client.get_item(INCIDENT).title == "Checkout returns 502"
    assert sleeps.waits == [7.0]
    assert [c.status for c in github_double.calls()] == [429, 200]


def test_5xx_on_a_read_is_retried_with_backoff(
    github_client: GitHubClient, github_double: GitHubDouble, sleeps: SleepRecorder, incident: dict
) -> None:
    github_double.fail_next(2, 502)
    assert github_client.get_item(INCIDENT).status == "closed"
    assert sleeps.waits == [0.5, 1.0]
    assert github_double.counts() == {"get_issue": 3}


def test_5xx_on_a_create_is_not_repeated(
    github_client: GitHubClient, github_double: GitHubDouble, sleeps: SleepRecorder, incident: dict
) -> None:
    github_double.fail_next(1, 500)
    with pytest.raises(TransientTrackerError) as caught:
        github_client.open_review(draft(incident["html_url"]))
    assert caught.value.status == 500 and caught.value.may_have_applied
    assert caught.value.retry_after == 0.5  # what the backoff would have waited: the worker reschedules
    assert sleeps.waits == [] and github_double.counts() == {"create_issue": 1}


def test_429_on_a_create_is_retried(
    github_client: GitHubClient, github_double: GitHubDouble, sleeps: SleepRecorder, incident: dict
) -> None:
    github_double.fail_next(1, 429, retry_after=2)
    github_client.open_review(draft(incident["html_url"]))
    assert sleeps.waits == [2.0] and github_double.counts() == {"create_issue": 2}
    assert len(github_double.issues["acme/postmortems"]) == 1


def test_secondary_rate_limit_403_is_transient_and_honours_reset(
    github_client: GitHubClient, github_double: GitHubDouble, sleeps: SleepRecorder, incident: dict
) -> None:
    reset = int(time.time()) + 5
    github_double.fail_next(
        1,
        403,
        body={"message": "API rate limit exceeded for installation."},
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
    )
    github_client.get_item(INCIDENT)
    assert len(sleeps.waits) == 1 and 3.0 <= sleeps.waits[0] <= 5.0


def test_wait_beyond_the_cap_goes_back_to_the_worker(
    github_client: GitHubClient, github_double: GitHubDouble, sleeps: SleepRecorder, incident: dict
) -> None:
    github_double.fail_next(5, 429, retry_after=20)
    with pytest.raises(TransientTrackerError) as caught:
        github_client.get_item(INCIDENT)
    assert caught.value.status == 429 and caught.value.retry_after == 20.0
    assert sleeps.waits == [20.0]  # a second 20 s would pass the 30 s cap
    assert github_double.counts() == {"get_issue": 2}


def test_retries_stop_after_the_attempts(
    github_client: GitHubClient, github_double: GitHubDouble, sleeps: SleepRecorder, incident: dict
) -> None:
    github_double.fail_next(10, 503)
    with pytest.raises(TransientTrackerError) as caught:
        github_client.get_item(INCIDENT)
    assert caught.value.status == 503
    assert sleeps.waits == [0.5, 1.0, 2.0] and github_double.counts() == {"get_issue": 4}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (404, None, "injected 404"),
        (410, {"message": "This issue was deleted"}, "This issue was deleted"),
        (403, {"message": "Resource not accessible by integration"}, "Resource not accessible by integration"),
        (
            422,
            {"message": "Validation Failed", "errors": [{"resource": "Issue", "code": "invalid", "field": "labels"}]},
            "Validation Failed: code=invalid field=labels resource=Issue",
        ),
        (400, {"message": "Problems parsing JSON"}, "Problems parsing JSON"),
    ],
)
def test_permanent_errors_carry_githubs_message_and_are_not_retried(
    github_client: GitHubClient,
    github_double: GitHubDouble,
    sleeps: SleepRecorder,
    incident: dict,
    status: int,
    body: dict | None,
    expected: str,
) -> None:
    github_double.fail_next(1, status, body=body)
    with pytest.raises(PermanentTrackerError) as caught:
        github_client.get_item(INCIDENT)
    assert caught.value.status == status and caught.value.message == expected
    assert str(caught.value) == f"github get_item: {status} {expected}"
    assert sleeps.waits == [] and github_double.counts() == {"get_issue": 1}


def test_bad_token_is_permanent(github_double: GitHubDouble, retry_policy: RetryPolicy) -> None:
    client = GitHubClient("wrong", github_double.base_url, retry=retry_policy, keys=MARKER_KEYS)
    with pytest.raises(PermanentTrackerError) as caught:
        client.whoami()
    assert (caught.value.status, caught.value.message) == (401, "Bad credentials")


def test_unknown_issue_is_permanent_404(github_client: GitHubClient, incident: dict) -> None:
    with pytest.raises(PermanentTrackerError) as caught:
        github_client.get_item(ItemRef.parse("github:acme/web#404"))
    assert caught.value.status == 404


def test_slow_answer_times_out_and_a_read_is_retried(
    github_double: GitHubDouble, retry_policy: RetryPolicy, sleeps: SleepRecorder, incident: dict
) -> None:
    client = GitHubClient(
        "test-token", github_double.base_url, retry=retry_policy, timeout=(1.0, 0.3), keys=MARKER_KEYS
    )
    github_double.slow_next(1, 2.0)
    assert client.get_item(INCIDENT).title == "Checkout returns 502"
    assert sleeps.waits == [0.5]


def test_slow_answer_on_a_write_is_transient_and_may_have_applied(github_double: GitHubDouble, incident: dict) -> None:
    client = GitHubClient(
        "test-token",
        github_double.base_url,
        retry=RetryPolicy(sleep=lambda s: None),
        timeout=(1.0, 0.3),
        keys=MARKER_KEYS,
    )
    github_double.slow_next(1, 2.0)
    with pytest.raises(TransientTrackerError) as caught:
        client.add_comment(INCIDENT, "hello", Marker(LESSON))
    assert caught.value.status is None and caught.value.may_have_applied
    assert "timed out" in caught.value.message
    assert not isinstance(caught.value, requests.RequestException)


def test_connection_refused_is_transient_and_not_applied(sleeps: SleepRecorder) -> None:
    with GitHubDouble() as gone:
        url = gone.base_url
    client = GitHubClient("test-token", url, retry=RetryPolicy(attempts=2, sleep=sleeps), keys=MARKER_KEYS)
    with pytest.raises(TransientTrackerError) as caught:
        client.add_comment(INCIDENT, "hello", Marker(LESSON))
    assert caught.value.may_have_applied is False and "connection failed" in caught.value.message
    assert sleeps.waits == [0.5]  # a write that never left is safe to retry


def test_abuse_403_with_retry_after_is_transient_and_handed_back_past_the_cap(
    github_client: GitHubClient, github_double: GitHubDouble, sleeps: SleepRecorder, incident: dict
) -> None:
    github_double.fail_next(
        1, 403, retry_after=60, body={"message": "You have triggered an abuse detection mechanism."}
    )
    with pytest.raises(TransientTrackerError) as caught:
        github_client.get_item(INCIDENT)
    assert caught.value.status == 403 and caught.value.retry_after == 60.0
    assert caught.value.may_have_applied is False
    assert sleeps.waits == [] and github_double.counts() == {"get_issue": 1}


def test_the_longest_of_the_rate_limit_hints_wins(
    github_client: GitHubClient, github_double: GitHubDouble, sleeps: SleepRecorder, incident: dict
) -> None:
    reset = int(time.time()) + 9
    github_double.fail_next(
        1, 429, retry_after=2, headers={"x-ratelimit-reset": str(reset), "x-ratelimit-remaining": "0"}
    )
    github_client.get_item(INCIDENT)
    assert len(sleeps.waits) == 1 and 7.0 <= sleeps.waits[0] <= 9.0


def test_wait_hints_in_every_shape_the_trackers_send() -> None:
    from service.trackers.http.retry import wait_from_headers

    now = 1_800_000_000.0
    assert wait_from_headers({"Retry-After": "3"}, now) == 3.0
    assert wait_from_headers({"Retry-After": "Fri, 15 Jan 2027 08:00:05 GMT"}, now) == 5.0  # an HTTP date
    assert wait_from_headers({"x-ratelimit-reset": str(int(now) + 12)}, now) == 12.0  # GitHub: epoch
    assert wait_from_headers({"X-RateLimit-Reset": "2027-01-15T08:00:30Z"}, now) == 30.0  # Jira Cloud: ISO
    assert wait_from_headers({"ratelimit-reset": "4"}, now) == 4.0  # PagerDuty: seconds
    assert wait_from_headers({"x-ratelimit-reset": str(int(now) - 50)}, now) == 0.0  # already past
    assert wait_from_headers({"Retry-After": "soon"}, now) is None
    assert wait_from_headers({}, now) is None


def test_find_reviews_lists_every_review_of_ours_oldest_first_and_closes_a_duplicate_once(
    github_client: GitHubClient, github_double: GitHubDouble, incident: dict
) -> None:
    first = github_client.open_review(draft(incident["html_url"]))
    late = github_client.open_review(draft(incident["html_url"]))  # a create that landed late
    body = github_double.issues["acme/postmortems"][first.ref.github_parts[2]]["body"]
    github_double.add_issue("acme/postmortems", "copy", body=body)  # a person's copy: not ours
    assert [r.ref for r in github_client.find_reviews("acme/postmortems", INCIDENT)] == [first.ref, late.ref]
    github_client.close_duplicate_review(late, first)
    github_client.close_duplicate_review(late, first)  # a retry after a crash adds no second comment
    closed = github_double.issues["acme/postmortems"][late.ref.github_parts[2]]
    assert (closed["state"], closed["state_reason"]) == ("closed", "duplicate")
    [note] = github_client.find_comments(late.ref, LINK)
    assert first.url in note.body
    found = github_client.find_reviews("acme/postmortems", INCIDENT)
    assert [review.closed_as_duplicate for review in found] == [False, True]


def test_delete_comment_deletes_ours_only_and_a_gone_one_counts_as_deleted(
    github_client: GitHubClient, github_double: GitHubDouble, incident: dict
) -> None:
    ours = github_client.add_comment(INCIDENT, "Lesson", Marker(LESSON))
    theirs = github_double.add_comment("acme/web", 1, "a person's words")
    github_client.delete_comment(INCIDENT, ours.id)
    github_client.delete_comment(INCIDENT, ours.id)  # already gone: a 404, which is what was wanted
    with pytest.raises(PermanentTrackerError) as caught:
        github_client.delete_comment(INCIDENT, str(theirs["id"]))
    assert caught.value.status == 403
    with pytest.raises(PermanentTrackerError):
        github_client.delete_comment(INCIDENT, "12/../13")  # refused before any request
    assert [c["id"] for c in github_double.comments_on("acme/web", 1)] == [theirs["id"]]
    assert github_double.counts()["delete_comment"] == 3
