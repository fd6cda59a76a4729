"""The held-out labelled sets of the blameless-language nudge: the split set's two parts follow
their stated rule, each held-out set is the one that was measured before the rules were tuned
with it out of sight, and the nudge keeps its figures on the one never tuned on (round4-heldout.tsv)
and on the ones tuned on last (round3-heldout.tsv, round2-heldout.tsv).

The figures are counts of sentences, not timings, so the test is deterministic: the same set and
rules give the same figures on any machine."""

from __future__ import annotations

import hashlib
from pathlib import Path

from service.lesson.blame import find_blame

SETS = Path(__file__).parent / "fixtures" / "blame"
HELDOUT = SETS / "split-heldout.tsv"
TUNING = SETS / "split-tuning.tsv"
ROUND2 = SETS / "round2-heldout.tsv"
ROUND3 = SETS / "round3-heldout.tsv"
ROUND4 = SETS / "round4-heldout.tsv"
ROUND5 = SETS / "round5-heldout.tsv"

FROZEN = {
    HELDOUT: "e8cce475128fef53e7317ab245274c3fc12352c516407734e1da2568e9ed45cf",
    ROUND2: "836f4606186d4037cc8b11798b4ee7bd25a872549d63e2eae55195d0a1abf002",
    ROUND3: "693ad4b35a7a82fafbbdc230432bdaa503e5e8dc3a3ad971c798eca623524f0e",
    ROUND4: "b39530a1cf0dbd12c5713fd2e4b9ee93fd47d0ee55f1ddfb5463e77d74388c30",
    ROUND5: "daa1e3100e0199dfb4997dd334294d933a11780f12e90f2b4c5f1a5e3d1ca840",
}
"""SHA-256 of each held-out set's rows (comments aside), as committed before the tuning it was
kept from. A changed row is a different set: its figures would not be held-out figures any more."""


def _rows(path: Path) -> list[str]:
    return [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith(("#", "label\t"))
    ]


def _labelled(path: Path) -> list[tuple[str, str]]:
    """(label, sentence) pairs; a literal \\n in a sentence is a line break."""
    pairs = []
    for number, line in enumerate(_rows(path), start=1):
        parts = line.split("\t")
        assert 2 <= len(parts) <= 3 and parts[0] in ("blame", "ok"), f"{path.name}: row {number}: {line!r}"
        pairs.append((parts[0], parts[1].replace("\\n", "\n")))
    return pairs


def _held_out(sentence: str) -> bool:
    return int(hashlib.sha256(sentence.encode("utf-8")).hexdigest()[0], 16) % 2 == 0


def test_the_parts_follow_the_split_rule_and_share_no_sentence() -> None:
    heldout, tuning = _labelled(HELDOUT), _labelled(TUNING)
    assert all(_held_out(sentence) for _, sentence in heldout)
    assert not any(_held_out(sentence) for _, sentence in tuning)
    sentences = [sentence for _, sentence in heldout + tuning]
    assert len(set(sentences)) == len(sentences)
    for part in (heldout, tuning):
        blame = sum(1 for label, _ in part if label == "blame")
        assert blame >= 100 and len(part) - blame >= 100  # enough of each for a figure worth stating


def test_the_held_out_sets_are_the_ones_measured_before_tuning() -> None:
    for path, digest in FROZEN.items():
        assert hashlib.sha256("\n".join(_rows(path)).encode("utf-8")).hexdigest() == digest, path.name


def test_the_later_held_out_sets_repeat_no_other_sentence() -> None:
    for held_out in (ROUND2, ROUND3, ROUND4, ROUND5):
        others = {sentence for path in SETS.glob("*.tsv") if path != held_out for _, sentence in _labelled(path)}
        assert not others & {sentence for _, sentence in _labelled(held_out)}, held_out.name


def _figures(path: Path) -> tuple[float, float, list[str], list[str]]:
    """Precision, recall, the false alarms and the misses of the nudge on one set."""
    rows = _labelled(path)
    flagged = [(label, bool(find_blame(sentence))) for label, sentence in rows]
    tp = sum(1 for label, found in flagged if found and label == "blame")
    fp = sum(1 for label, found in flagged if found and label == "ok")
    blame = sum(1 for label, _ in rows if label == "blame")
    false_alarms = [s for (label, s), (_, found) in zip(rows, flagged, strict=True) if found and label == "ok"]
    misses = [s for (label, s), (_, found) in zip(rows, flagged, strict=True) if not found and label == "blame"]
    return tp / (tp + fp), tp / blame, false_alarms, misses


def test_the_nudge_keeps_its_figures_on_the_set_never_tuned_on() -> None:
    """Held at what the rules reached when round4-heldout.tsv was measured, once, after round 4:
    precision 0.975 (77 of 79 findings) and recall 0.642 (77 of 120). Precision meets the target
    (0.95), recall does not (0.9); docs/blameless.md says which forms are still missed. A lower
    figure means a change lost sentences it heard or raised a false alarm; a new round of tuning
    needs a new held-out set, written and frozen first, since reading these misses spends this one."""
    precision, recall, false_alarms, misses = _figures(ROUND4)
    assert precision >= 77 / 79 - 1e-9, false_alarms
    assert recall >= 77 / 120 - 1e-9, misses


def test_the_nudge_keeps_its_figures_on_the_blind_set() -> None:
    """round5-heldout.tsv was written by an engineer who never opened the rules, their word lists,
    docs/blameless.md or any output of the nudge, and measured once with round 4's rules:
    precision 0.964 (54 of 56 findings), recall 0.439 (54 of 123). Held as floors, far from the
    target: the rules hear the wording they were written for, and blind text uses other words."""
    precision, recall, false_alarms, misses = _figures(ROUND5)
    assert precision >= 54 / 56 - 1e-9, false_alarms
    assert recall >= 54 / 123 - 1e-9, misses


def test_the_nudge_keeps_its_figures_on_the_sets_it_was_tuned_on() -> None:
    """round3-heldout.tsv was held out until round 4, whose tuning read its misses: 1.000 / 0.949
    now; round2-heldout.tsv, tuned on since round 3: 0.992 / 0.992. Kept as floors so that a
    change does not lose what was learnt from them."""
    precision, recall, false_alarms, misses = _figures(ROUND3)
    assert precision >= 112 / 112 - 1e-9, false_alarms
    assert recall >= 112 / 118 - 1e-9, misses
    precision, recall, false_alarms, misses = _figures(ROUND2)
    assert precision >= 118 / 119 - 1e-9, false_alarms
    assert recall >= 118 / 119 - 1e-9, misses
