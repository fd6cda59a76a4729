"""lessonloop signed in to GitHub as a GitHub App: JWT, shared installation tokens, identity."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from config.settings import SettingsError, load_settings
from service.domain.events import ItemRef
from service.store import deliveries, lessons, reviews
from service.text.markers import LESSON, Marker
from service.trackers.errors import PermanentTrackerError
from service.trackers.github.app import AppTokens
from service.trackers.github.client import GitHubClient
from service.trackers.github.listing import message_of
from tests import loop
from tests.doubles.pytest_plugin import MARKER_KEYS
from tests.loop import send, work

APP_ID, SLUG, INSTALLATION = 4242, "lessonloop", 77


def key_pair() -> tuple[str, str]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return pem, public


PRIVATE, PUBLIC = key_pair()


@pytest.fixture
def app_double(github_double):
    github_double.add_repo("acme/postmortems")
    github_double.enable_app(APP_ID, PUBLIC, SLUG, {INSTALLATION: ["acme/postmortems", "Codertocat/Hello-World"]})
    return github_double


def app_client(double, redis, key: str = PRIVATE, installation: int | None = None) -> GitHubClient:
    tokens = AppTokens(APP_ID, key, double.base_url, redis, message_of, installation, keys=MARKER_KEYS)
    return GitHubClient(None, double.base_url, keys=MARKER_KEYS, app=tokens)


# --- settings -----------------------------------------------------------------------------------


def test_app_settings_stop_start_up_with_one_line_when_wrong(tmp_path: Path) -> None:
    none = tmp_path / "none.toml"
    none.write_text("")
    app = {"LESSONLOOP_GITHUB_APP_ID": str(APP_ID), "LESSONLOOP_GITHUB_APP_PRIVATE_KEY": PRIVATE}
    assert load_settings(app, none).github.app_id == APP_ID
    one_line_env = app | {"LESSONLOOP_GITHUB_APP_PRIVATE_KEY": PRIVATE.replace("\n", "\\n")}
    assert load_settings(one_line_env, none).github.signs_in  # a PEM in one environment line
    key_file = tmp_path / "app.pem"
    key_file.write_text(PRIVATE)
    assert (
        load_settings(
            {"LESSONLOOP_GITHUB_APP_ID": "1", "LESSONLOOP_GITHUB_APP_PRIVATE_KEY_FILE": str(key_file)}, none
        ).github.app_private_key
        is not None
    )
    for env, said in [
        (
            app | {"LESSONLOOP_GITHUB_TOKEN": "ghp_x"},
            "set either LESSONLOOP_GITHUB_TOKEN or the LESSONLOOP_GITHUB_APP_*",
        ),
        (app | {"LESSONLOOP_GITHUB_APP_PRIVATE_KEY": "not a key"}, "LESSONLOOP_GITHUB_APP_PRIVATE_KEY: not a PEM"),
        (
            {"LESSONLOOP_GITHUB_APP_ID": "1"},
            "LESSONLOOP_GITHUB_APP_ID and LESSONLOOP_GITHUB_APP_PRIVATE_KEY are needed",
        ),
    ]:
        with pytest.raises(SettingsError) as caught:
            load_settings(env, none)
        assert said in str(caught.value) and "\n" not in str(caught.value) and "PRIVATE KEY" not in str(caught.value)


# --- the client ---------------------------------------------------------------------------------


def test_an_app_is_its_bot_and_writes_and_finds_its_own_comments(app_double, redis) -> None:
    client = app_client(app_double, redis)
    assert client.whoami().id == f"{SLUG}[bot]" and client.whoami().kind == "app"
    ref = ItemRef.parse("github:Codertocat/Hello-World#1")
    app_double.add_issue("Codertocat/Hello-World", "incident")
    comment = client.add_comment(ref, "lesson", Marker(LESSON, {"key": "k", "digest": "d"}))
    assert app_double.comments[int(comment.id)]["user"]["login"] == f"{SLUG}[bot]"
    assert [c.id for c in client.find_comments(ref, LESSON)] == [comment.id]
    assert app_double.tokens_issued == 1  # one token for every request to that installation
    for call in app_double.calls():
        assert "Bearer ey" in call.headers["Authorization"] or call.headers["Authorization"].startswith("token ghs_")


def test_the_token_is_renewed_once_across_workers_when_it_expires(app_double, redis) -> None:
    clients = [app_client(app_double, redis) for _ in range(8)]
    ref = ItemRef.parse("github:acme/postmortems#1")
    app_double.add_issue("acme/postmortems", "x")

    def read_all() -> None:
        threads = [threading.Thread(target=c.get_item, args=(ref,)) for c in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

    read_all()
    assert app_double.tokens_issued == 1
    # GitHub's clock: the token expires now (sooner than we were told): every worker gets a 401
    with app_double.lock:
        for token in app_double.installation_tokens:
            app_double.installation_tokens[token] = (INSTALLATION, time.time() - 1)
    read_all()
    assert app_double.tokens_issued == 2  # renewed once, by whichever worker heard 401 first
    assert all(
        call.status == 200
        for call in app_double.calls("get_issue")[8:]
        if call.headers["Authorization"].endswith(f"{2:036d}")
    )


def test_an_installation_token_is_kept_in_redis_only_sealed(app_double, redis) -> None:
    """Whoever reads Redis reads no token that writes to every repository of the installation;
    a token sealed under a marker key since rotated away is renewed, not used."""
    from service.text.markers import MarkerKeys

    app_double.add_issue("acme/postmortems", "x")
    ref = ItemRef.parse("github:acme/postmortems#1")
    app_client(app_double, redis).get_item(ref)
    issued = next(iter(app_double.installation_tokens))
    kept = {key: redis.get(key) for key in redis.keys("lessonloop:github-app:*:token:*")}
    assert len(kept) == 1
    assert all(issued.encode() not in value for value in kept.values())
    assert issued[4:].encode() not in b"".join(kept.values())
    rotated = AppTokens(
        APP_ID,
        PRIVATE,
        app_double.base_url,
        redis,
        message_of,
        INSTALLATION,
        keys=MarkerKeys(["another-marker-key-0123"]),
    )
    client = GitHubClient(None, app_double.base_url, keys=MARKER_KEYS, app=rotated)
    client.get_item(ref)
    assert app_double.tokens_issued == 2  # could not open the sealed one: renewed
    assert app_double.calls("get_issue")[-1].status == 200


def test_a_wrong_key_and_a_repository_without_the_app_say_so(app_double, redis) -> None:
    other_key, _ = key_pair()
    with pytest.raises(PermanentTrackerError) as caught:
        app_client(app_double, redis, key=other_key).whoami()
    assert caught.value.status == 401 and "JSON web token" in caught.value.message
    app_double.add_repo("acme/secret")
    app_double.add_issue("acme/secret", "x")
    with pytest.raises(PermanentTrackerError) as caught:
        app_client(app_double, redis).get_item(ItemRef.parse("github:acme/secret#1"))
    assert caught.value.status == 404 and "not installed on acme/secret" in caught.value.message
    assert PRIVATE.splitlines()[1] not in str(caught.value)


# --- end to end ---------------------------------------------------------------------------------


def test_the_loop_on_an_app(make_settings, trackers, make_runtime, app_double) -> None:
    env = {k: v for k, v in trackers.items() if k != "LESSONLOOP_GITHUB_TOKEN"}
    settings = make_settings(**env, LESSONLOOP_GITHUB_APP_ID=str(APP_ID), LESSONLOOP_GITHUB_APP_PRIVATE_KEY=PRIVATE)
    runtime = make_runtime(settings)
    client = loop.web_client(runtime)
    review = loop.open_github_review(client, runtime, app_double)
    assert review["user"]["login"] == f"{SLUG}[bot]"
    loop.close_github_review(client, app_double, review)
    loop.work(runtime)
    assert lessons.get(runtime.engine, "github:acme/postmortems#1") is not None
    on_incident = [
        c for c in app_double.comments_on("Codertocat/Hello-World", 1) if c["user"]["login"] == "lessonloop[bot]"
    ]
    assert len(on_incident) == 2  # "review opened" and the lesson
    assert app_double.tokens_issued == 1
    assert not deliveries.list_by_status(runtime.engine, [deliveries.FAILED], limit=10)


def test_an_app_not_installed_on_the_review_repository_fails_the_delivery_with_that_reason(
    make_settings, trackers, make_runtime, github_double
) -> None:
    github_double.enable_app(APP_ID, PUBLIC, SLUG, {INSTALLATION: ["Codertocat/Hello-World"]})
    env = {k: v for k, v in trackers.items() if k != "LESSONLOOP_GITHUB_TOKEN"}
    settings = make_settings(**env, LESSONLOOP_GITHUB_APP_ID=str(APP_ID), LESSONLOOP_GITHUB_APP_PRIVATE_KEY=PRIVATE)
    runtime = make_runtime(settings)
    client = loop.web_client(runtime)
    answer = send(client, loop.github_issue_event(github_double, "Codertocat/Hello-World", 1, "closed"))
    work(runtime)  # the worker records the job's failure and goes on
    failed = deliveries.get(runtime.engine, answer["delivery"])
    assert failed.status == deliveries.FAILED
    assert "the GitHub App is not installed on acme/postmortems" in (failed.last_error or "")
    assert reviews.review_of(runtime.engine, "github:Codertocat/Hello-World#1") is None


def test_check_online_names_the_app_its_installation_and_what_it_cannot_see(
    tmp_path: Path,
    redis,
    github_double,
) -> None:
    import subprocess
    import sys

    from tests.conftest import GITHUB_SECRET, REDIS_URL

    github_double.enable_app(APP_ID, PUBLIC, SLUG, {INSTALLATION: ["acme/postmortems"]})
    (tmp_path / "rules.toml").write_text(
        '[[rules]]\nsource = "github"\nlabels = ["incident"]\n'
        'review = "github:acme/postmortems"\n\n[[rules]]\nsource = "github"\n'
        'labels = ["sev1"]\nreview = "github:acme/elsewhere"\n'
    )
    env = {
        "PATH": "/usr/bin",
        "REDIS_URL": REDIS_URL,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'l.db'}",
        "LESSONLOOP_GITHUB_WEBHOOK_SECRET": GITHUB_SECRET,
        "LESSONLOOP_GITHUB_API_URL": github_double.base_url,
        "LESSONLOOP_GITHUB_APP_ID": str(APP_ID),
        "LESSONLOOP_GITHUB_APP_PRIVATE_KEY": PRIVATE,
    }
    result = subprocess.run(
        [sys.executable, "-m", "service.entry.cli", "--config", "rules.toml", "check", "--online"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = result.stdout
    assert f"github: signed in as Lessonloop ({SLUG}[bot])" in out, out + result.stderr
    assert f"github: installation {INSTALLATION} sees 1 repositories: acme/postmortems" in out
    assert "github: a rule uses acme/elsewhere, which the App cannot see: the GitHub App is not installed" in out
    assert result.returncode == 1
    assert "PRIVATE KEY" not in out + result.stderr and "ghs_" not in out + result.stderr
