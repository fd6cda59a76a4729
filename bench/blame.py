"""Precision and recall of the blameless-language nudge on the labelled set.

    .venv/bin/python bench/blame.py [--set FILE.tsv ...] [--show]

By default every labelled set under tests/fixtures/blame/: sentences.tsv (the one the rules were
first written against), heldout.tsv (written after them, since tuned on too), and the two parts of
the split set, split-tuning.tsv and split-heldout.tsv (held out from the first round of tuning,
tuned on in the second), round2-heldout.tsv (held out until round 3, tuned on in it),
round3-heldout.tsv (held out until round 4, tuned on in it), round4-heldout.tsv (never tuned on;
see its header) and round5-heldout.tsv (never tuned on, and written blind to the rules).
Each sentence of a set is linted on its own (service.lesson.blame.find_blame, the function
``lessonloop lessons lint`` and the sync both call); a sentence with a finding is predicted
"blame". Prints precision, recall and F1, the counts, how the hard cases fared (notes
``hard:...``), the recall per form of blame (notes ``form:...``), the findings per rule, and the
time per sentence; ``--show`` lists every false alarm and every miss. Deterministic: the same set
and rules give the same figures.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.lesson.blame import find_blame  # noqa: E402

SETS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "blame"
DEFAULT_SETS = [
    SETS / name
    for name in (
        "sentences.tsv",
        "heldout.tsv",
        "split-tuning.tsv",
        "split-heldout.tsv",
        "round2-heldout.tsv",
        "round3-heldout.tsv",
        "round4-heldout.tsv",
        "round5-heldout.tsv",
    )
]


def load(path: Path) -> list[tuple[str, str, str]]:
    """(label, sentence, note) rows; a literal \\n in a sentence is a line break."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith(("#", "label\t")):
            continue
        parts = line.split("\t")
        if len(parts) < 2 or parts[0] not in ("blame", "ok"):
            raise SystemExit(f"{path}:{number}: expected 'blame|ok<TAB>sentence[<TAB>note]'")
        rows.append((parts[0], parts[1].replace("\\n", "\n"), parts[2] if len(parts) > 2 else ""))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, action="append", help="a labelled set (repeatable; default: all)")
    parser.add_argument("--show", action="store_true", help="list false alarms and misses")
    args = parser.parse_args()
    find_blame("warm up the rules")
    for number, path in enumerate(args.set or DEFAULT_SETS):
        if number:
            print()
        report(path, args.show)
    return 0


def report(path: Path, show: bool) -> None:
    rows = load(path)
    started = time.perf_counter()
    results = [(label, sentence, note, find_blame(sentence)) for label, sentence, note in rows]
    took = time.perf_counter() - started

    tp = sum(1 for label, _, _, found in results if label == "blame" and found)
    fp = sum(1 for label, _, _, found in results if label == "ok" and found)
    fn = sum(1 for label, _, _, found in results if label == "blame" and not found)
    tn = len(results) - tp - fp - fn
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    blame = sum(1 for row in rows if row[0] == "blame")
    print(f"set: {path.name}: {len(rows)} sentences ({blame} blame, {len(rows) - blame} ok)")
    print(f"precision {precision:.3f}  recall {recall:.3f}  F1 {f1:.3f}  (tp {tp}, fp {fp}, fn {fn}, tn {tn})")
    hard = [(note, found) for label, _, note, found in results if note.startswith("hard:")]
    flagged = Counter(note for note, found in hard if found)
    total = Counter(note for note, _ in hard)
    print(
        "hard cases (must not be flagged): "
        + ", ".join(f"{note.removeprefix('hard:')} {flagged[note]}/{total[note]}" for note in sorted(total))
        + f"; flagged {sum(flagged.values())} of {len(hard)}"
    )
    forms = [(note, found) for label, _, note, found in results if note.startswith("form:")]
    if forms:
        heard = Counter(note for note, found in forms if found)
        total = Counter(note for note, _ in forms)
        print(
            "recall by form: "
            + ", ".join(f"{note.removeprefix('form:')} {heard[note]}/{total[note]}" for note in sorted(total))
        )
    rules = Counter(found[0].rule for label, _, _, found in results if found and label == "blame")
    print("true findings by rule: " + ", ".join(f"{rule} {count}" for rule, count in rules.most_common()))
    print(f"time: {took * 1000 / len(rows):.3f} ms a sentence ({len(rows)} in {took * 1000:.1f} ms)")
    if show:
        for label, sentence, _, found in results:
            if label == "ok" and found:
                print(f"FALSE ALARM [{found[0].rule}: {found[0].matched}] {sentence}")
        for label, sentence, _, found in results:
            if label == "blame" and not found:
                print(f"MISSED {sentence}")


if __name__ == "__main__":
    sys.exit(main())
