"""The doubles themselves: they refuse what the real trackers refuse, and report it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import requests

from tests.doubles import GitHubDouble, JiraDouble, PagerDutyDouble, load_spec

ROOT = Path(__file__).resolve().parent.parent
GH = {"Authorization": "Bearer test-token", "Accept": "application/vnd.github+json"}
PD = {
    "Authorization": "Token token=user-token",
    "Accept": "application/vnd.pagerduty+json;version=2",
    "Content-Type": "application/json",
}


def test_contracts_are_parsed_once() -> None:
    assert load_spec("github-rest.openapi.json") is load_spec("github-rest.openapi.json")
    with GitHubDouble() as one, GitHubDouble() as two:
        assert one.spec is two.spec


def test_unknown_path_is_404_and_a_violation() -> None:
    with GitHubDouble() as double:
        answer = requests.get(f"{double.base_url}/repos/acme/web/pulls", headers=GH, timeout=5)
        assert answer.status_code == 404
        assert double.violations == ["GET /repos/acme/web/pulls: not in the API description"]
        with pytest.raises(AssertionError, match="the real API would refuse"):
            double.assert_clean()


def test_github_refuses_a_body_its_description_refuses() -> None:
    with GitHubDouble() as double:
        double.add_repo("acme/web")
        answer = requests.post(
            f"{double.base_url}/repos/acme/web/issues",
            json={"body": "no title", "labels": "incident"},
            headers=GH,
            timeout=5,
        )
        assert answer.status_code == 400
        (violation,) = double.violations
        assert violation.startswith("POST /repos/acme/web/issues:") and "title" in violation
        assert double.issues["acme/web"] == {}


def test_github_comment_edit_needs_a_body() -> None:
    with GitHubDouble() as double:
        double.add_issue("acme/web", "x")
        comment = double.add_comment("acme/web", 1, "hi", author="lessonloop-bot")
        answer = requests.patch(
            f"{double.base_url}/repos/acme/web/issues/comments/{comment['id']}", json={}, headers=GH, timeout=5
        )
        assert answer.status_code == 400 and len(double.violations) == 1
        assert double.comments[comment["id"]]["body"] == "hi"


def test_enterprise_double_knows_only_its_prefix() -> None:
    with GitHubDouble(prefix="/api/v3") as double:
        assert requests.get(f"{double.base_url}/user", headers=GH, timeout=5).status_code == 200
        assert requests.get(f"{double.origin}/user", headers=GH, timeout=5).status_code == 404
        assert double.violations == ["GET /user: valid, but this double does not know it"]


def test_pagerduty_refuses_a_note_without_from() -> None:
    with PagerDutyDouble() as double:
        double.add_incident("PGR0VU2", "x")
        answer = requests.post(
            f"{double.base_url}/incidents/PGR0VU2/notes", json={"note": {"content": "hi"}}, headers=PD, timeout=5
        )
        assert answer.status_code == 400
        assert answer.json()["error"]["message"] == "Missing required header parameter: From"
        assert double.violations == ["POST /incidents/PGR0VU2/notes: Missing required header parameter: From"]
        assert double.notes["PGR0VU2"] == []


def test_pagerduty_refuses_a_note_without_content() -> None:
    with PagerDutyDouble() as double:
        double.add_incident("PGR0VU2", "x")
        headers = PD | {"From": "lessonloop@example.com"}
        answer = requests.post(
            f"{double.base_url}/incidents/PGR0VU2/notes", json={"note": {}}, headers=headers, timeout=5
        )
        assert answer.status_code == 400 and "'content' is a required property" in double.violations[0]


def test_jira_validates_v2_against_the_v3_description_and_refuses_v3() -> None:
    with JiraDouble() as double:
        auth = ("lessonloop@example.com", "cloud-token")
        assert requests.get(f"{double.base_url}/rest/api/2/myself", auth=auth, timeout=5).status_code == 200
        assert double.violations == []
        assert requests.get(f"{double.base_url}/rest/api/3/myself", auth=auth, timeout=5).status_code == 404
        assert double.violations == ["GET /rest/api/3/myself: valid, but this double does not know it"]


def test_jira_operation_in_the_description_but_not_in_the_double_is_a_violation() -> None:
    with JiraDouble() as double:
        double.add_issue("OPS", "x")
        answer = requests.get(
            f"{double.base_url}/rest/api/2/issue/OPS-1/comment/1",
            auth=("lessonloop@example.com", "cloud-token"),
            timeout=5,
        )
        assert answer.status_code == 404
        assert double.violations == ["GET /rest/api/2/issue/OPS-1/comment/1: valid, but this double does not know it"]


def test_jira_issue_link_needs_its_type() -> None:
    with JiraDouble() as double:
        answer = requests.post(
            f"{double.base_url}/rest/api/2/issueLink",
            json={"inwardIssue": {"key": "OPS-1"}},
            auth=("lessonloop@example.com", "cloud-token"),
            timeout=5,
        )
        assert answer.status_code == 400 and "type" in double.violations[0]


def test_jira_jql_it_does_not_understand_is_a_violation() -> None:
    with JiraDouble() as double:
        answer = requests.get(
            f"{double.base_url}/rest/api/2/search/jql",
            params={"jql": "text ~ anything"},
            auth=("lessonloop@example.com", "cloud-token"),
            timeout=5,
        )
        assert answer.status_code == 400
        assert "does not understand the JQL clause" in double.violations[0]


def test_jira_cloud_has_no_old_search_and_data_center_no_new_one() -> None:
    with JiraDouble() as cloud, JiraDouble(deployment="datacenter") as dc:
        cloud_auth = ("lessonloop@example.com", "cloud-token")
        assert (
            requests.get(
                f"{cloud.base_url}/rest/api/2/search", params={"jql": 'project = "OPS"'}, auth=cloud_auth, timeout=5
            ).status_code
            == 410
        )
        bearer = {"Authorization": "Bearer dc-pat"}
        assert (
            requests.get(
                f"{dc.base_url}/rest/api/2/search/jql", params={"jql": 'project = "OPS"'}, headers=bearer, timeout=5
            ).status_code
            == 404
        )
        assert cloud.violations == [] and dc.violations == []


def test_wrong_credentials_are_401_not_a_violation() -> None:
    with JiraDouble() as double:
        answer = requests.get(
            f"{double.base_url}/rest/api/2/myself", headers={"Authorization": "Bearer dc-pat"}, timeout=5
        )
        assert answer.status_code == 401 and double.violations == []


def test_fail_next_answers_n_requests_then_recovers() -> None:
    with GitHubDouble() as double:
        double.fail_next(2, 429, retry_after=1)
        first = requests.get(f"{double.base_url}/user", headers=GH, timeout=5)
        assert first.status_code == 429 and first.headers["Retry-After"] == "1"
        assert first.json()["message"] == "injected 429"
        assert requests.get(f"{double.base_url}/user", headers=GH, timeout=5).status_code == 429
        assert requests.get(f"{double.base_url}/user", headers=GH, timeout=5).status_code == 200
        assert [c.status for c in double.calls("get_user")] == [429, 429, 200]
        assert double.counts() == {"get_user": 3}


def test_faults_are_shaped_like_the_tracker() -> None:
    with JiraDouble() as jira, PagerDutyDouble() as pagerduty:
        jira.fail_next(1, 500)
        pagerduty.fail_next(1, 404)
        answer = requests.get(
            f"{jira.base_url}/rest/api/2/myself", auth=("lessonloop@example.com", "cloud-token"), timeout=5
        )
        assert answer.status_code == 500 and answer.json() == {"errorMessages": ["injected 500"], "errors": {}}
        answer = requests.get(f"{pagerduty.base_url}/users/me", headers=PD, timeout=5)
        assert answer.status_code == 404 and answer.json()["error"]["message"] == "injected 404"


def test_an_invalid_request_does_not_use_up_a_fault() -> None:
    with GitHubDouble() as double:
        double.fail_next(1, 500)
        requests.get(f"{double.base_url}/nowhere", headers=GH, timeout=5)
        assert requests.get(f"{double.base_url}/user", headers=GH, timeout=5).status_code == 500
        double.violations.clear()


def test_slow_next_delays_then_answers() -> None:
    """The request waits at least as long as told, is answered, and uses the delay up."""
    with PagerDutyDouble() as double:
        double.slow_next(1, 0.4)
        started = time.monotonic()
        assert requests.get(f"{double.base_url}/abilities", headers=PD, timeout=5).status_code == 200
        assert time.monotonic() - started >= 0.4
        assert double.pending_faults == 0  # the next request is not delayed
        assert requests.get(f"{double.base_url}/abilities", headers=PD, timeout=5).status_code == 200


def test_fixture_fails_the_test_at_teardown_on_a_violation(tmp_path: Path) -> None:
    (tmp_path / "test_bad.py").write_text(
        textwrap.dedent(
            """
            import requests

            def test_sends_rubbish(github_double):
                requests.get(github_double.base_url + "/nowhere", timeout=5)
            """
        )
    )
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "tests.doubles.pytest_plugin",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_bad.py"),
        ],
        cwd=tmp_path,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 passed, 1 error" in run.stdout
    assert "GET /nowhere: not in the API description" in run.stdout


def test_doubles_run_on_their_own() -> None:
    """On port 0 each double takes a free port, and the settings it prints say which."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.doubles", "--github-port", "0", "--jira-port", "0", "--pagerduty-port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        printed = [process.stdout.readline() for _ in range(3)]
        settings = dict(pair.split("=", 1) for line in printed for pair in line.split())
        github, jira = settings["LESSONLOOP_GITHUB_API_URL"], settings["LESSONLOOP_JIRA_URL"]
        pagerduty = settings["LESSONLOOP_PAGERDUTY_API_URL"]
        assert all(url.startswith("http://127.0.0.1:") and not url.endswith(":0") for url in (github, jira, pagerduty))
        issue = requests.get(f"{github}/repos/acme/web/issues/1", headers=GH, timeout=5)
        assert issue.json()["labels"][0]["name"] == "incident"
        me = requests.get(f"{jira}/rest/api/2/myself", auth=("lessonloop@example.com", "cloud-token"), timeout=5)
        assert me.status_code == 200
        assert requests.get(f"{pagerduty}/incidents/PGR0VU2", headers=PD, timeout=5).status_code == 200
        requests.get(f"{pagerduty}/nowhere", headers=PD, timeout=5)
        violation = process.stdout.readline()
        assert violation.startswith("[pagerduty] VIOLATION GET /nowhere")
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert process.returncode == 0


def test_a_fault_can_wait_for_its_operation() -> None:
    with GitHubDouble() as double:
        double.add_issue("acme/web", "x")
        double.fail_next(1, 502, operation="create_comment")
        assert requests.get(f"{double.base_url}/repos/acme/web/issues/1", headers=GH, timeout=5).status_code == 200
        assert double.pending_faults == 1
        answer = requests.post(
            f"{double.base_url}/repos/acme/web/issues/1/comments", json={"body": "hi"}, headers=GH, timeout=5
        )
        assert answer.status_code == 502 and double.pending_faults == 0
        assert double.comments_on("acme/web", 1) == []


def test_query_parameters_are_validated_too() -> None:
    with GitHubDouble() as double:
        double.add_repo("acme/web")
        answer = requests.get(
            f"{double.base_url}/repos/acme/web/issues", params={"state": "everything"}, headers=GH, timeout=5
        )
        assert answer.status_code == 400
        (violation,) = double.violations
        assert "state" in violation


def test_many_clients_at_once() -> None:
    """Benchmarks and the review-loop tests hit a double from many threads."""
    from concurrent.futures import ThreadPoolExecutor

    with GitHubDouble() as double:
        double.add_issue("acme/web", "x")

        def post(n: int) -> int:
            with requests.Session() as session:
                url = f"{double.base_url}/repos/acme/web/issues/1/comments"
                return session.post(url, json={"body": f"c{n}"}, headers=GH, timeout=10).json()["id"]

        with ThreadPoolExecutor(max_workers=8) as pool:
            ids = list(pool.map(post, range(80)))
        assert len(set(ids)) == 80 and len(double.comments_on("acme/web", 1)) == 80
        assert double.counts() == {"create_comment": 80} and double.violations == []
