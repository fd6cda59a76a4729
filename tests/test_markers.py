"""The MAC on lessonloop's markers: who can make one, where it holds, and key rotation."""

from __future__ import annotations

import pytest

from config.settings import SettingsError, load_settings
from service.store import instance, migrate
from service.store.engine import make_engine
from service.text import markers
from service.text.markers import Marker, MarkerKeys, container_of, find
from service.trackers.registry import dialect_of

OLD, NEW = "old-marker-key-0123456789", "new-marker-key-9876543210"
ITEM = "github:acme/web#1"

EVERY_KIND = [
    Marker(markers.REVIEW, {"incident": "pagerduty:PGR0VU2"}),
    Marker(markers.REVIEW_OPENED, {"key": "jira:OPS-43", "digest": "0123456789abcdef"}),
    Marker(markers.LESSON, {"key": "github:acme/postmortems#1", "digest": "fedcba9876543210"}),
    Marker(markers.MISSING, {"key": "0123456789abcdef", "digest": "0123456789abcdef"}),
    Marker(markers.REMINDER, {"key": "2026-11-30", "digest": "0123456789abcdef"}),
    Marker(markers.LINK, {"target": "jira:OPS-7"}),
]


@pytest.mark.parametrize("markup", ["markdown", "jira", "plain"])
@pytest.mark.parametrize("marker", EVERY_KIND, ids=lambda m: m.kind)
def test_a_sealed_marker_verifies_where_it_was_written_in_every_markup(marker: Marker, markup: str) -> None:
    keys = MarkerKeys([NEW])
    text = dialect_of(markup).attach("Some text.", keys.seal(marker, ITEM))
    (found,) = keys.find(text, ITEM)
    assert found.kind == marker.kind and {k: v for k, v in found.attrs.items() if k != "mac"} == marker.attrs
    assert keys.find(text, "github:acme/web#2") == []  # copied to another item: plain text
    assert MarkerKeys([OLD]).find(text, ITEM) == []  # another installation's key


@pytest.mark.parametrize("marker", EVERY_KIND, ids=lambda m: m.kind)
def test_changing_any_part_of_a_marker_breaks_it(marker: Marker) -> None:
    keys = MarkerKeys([NEW])
    sealed = keys.seal(marker, ITEM)
    for name in marker.attrs:
        changed = Marker(sealed.kind, sealed.attrs | {name: sealed.attrs[name] + "0"})
        assert not keys.verifies(changed, ITEM)
    assert not keys.verifies(Marker("lesson" if marker.kind != "lesson" else "link", sealed.attrs), ITEM)
    assert not keys.verifies(Marker(sealed.kind, sealed.attrs | {"extra": "1"}), ITEM)
    assert not keys.verifies(Marker(sealed.kind, {k: v for k, v in sealed.attrs.items() if k != "mac"}), ITEM)
    assert not keys.verifies(Marker(sealed.kind, sealed.attrs | {"mac": sealed.attrs["mac"][:-1]}), ITEM)
    assert not keys.verifies(Marker(sealed.kind, sealed.attrs | {"mac": "0" * 32}), ITEM)


def test_a_review_marker_holds_for_its_container_only() -> None:
    keys = MarkerKeys([NEW])
    sealed = keys.seal(Marker(markers.REVIEW, {"incident": ITEM}), container_of("github", "acme/postmortems"))
    assert keys.verifies(sealed, "github:acme/postmortems")
    assert not keys.verifies(sealed, "github:mallory/postmortems")
    assert not keys.verifies(sealed, "jira:acme/postmortems")


def test_rotation_the_first_key_signs_and_every_key_verifies() -> None:
    before = MarkerKeys([OLD])
    during = MarkerKeys([NEW, OLD])
    after = MarkerKeys([NEW])
    written_before = before.seal(EVERY_KIND[2], ITEM)
    assert during.verifies(written_before, ITEM)
    written_during = during.seal(EVERY_KIND[2], ITEM)
    assert written_during == after.seal(EVERY_KIND[2], ITEM)
    assert not before.verifies(written_during, ITEM)
    assert not after.verifies(written_before, ITEM)  # once the old key is dropped, so are its markers


def test_the_first_verified_marker_wins_over_an_earlier_forged_one() -> None:
    keys = MarkerKeys([NEW])
    real = keys.seal(Marker(markers.REVIEW, {"incident": ITEM}), "github:acme/postmortems")
    body = "Title lessonloop:review incident=github:acme/other#9\n\n" + dialect_of("markdown").attach("x", real)
    assert find(body)[0].get("incident") == "github:acme/other#9"  # what the text claims first
    assert keys.find_kind(body, "github:acme/postmortems", markers.REVIEW) == real


def test_keys_are_never_shown() -> None:
    assert NEW not in repr(MarkerKeys([NEW])) and NEW not in str(MarkerKeys([NEW]))
    with pytest.raises(ValueError):
        MarkerKeys([])


def test_the_environment_names_the_keys(tmp_path) -> None:
    empty = tmp_path / "none.toml"
    empty.write_text("")
    settings = load_settings({"LESSONLOOP_MARKER_KEY": f"{NEW}, {OLD}\n"}, config_file=empty)
    assert [key.get_secret_value() for key in settings.marker_keys] == [NEW, OLD]
    with pytest.raises(SettingsError, match="^LESSONLOOP_MARKER_KEY: each marker key must be at least 16"):
        load_settings({"LESSONLOOP_MARKER_KEY": "short"}, config_file=empty)


def test_without_a_setting_the_store_generates_one_key_every_host_shares(database_url: str, tmp_path) -> None:
    empty = tmp_path / "none.toml"
    empty.write_text("")
    settings = load_settings({"DATABASE_URL": database_url}, config_file=empty)
    first, second = make_engine(database_url), make_engine(database_url)
    try:
        migrate.upgrade(first)
        sealed = instance.marker_keys(first, settings).seal(EVERY_KIND[2], ITEM)
        assert instance.marker_keys(second, settings).verifies(sealed, ITEM)  # another host, same store
        assert len(instance.generated_marker_key(first)) == 64
        configured = load_settings({"DATABASE_URL": database_url, "LESSONLOOP_MARKER_KEY": NEW}, config_file=empty)
        assert not instance.marker_keys(first, configured).verifies(sealed, ITEM)
    finally:
        first.dispose()
        second.dispose()
