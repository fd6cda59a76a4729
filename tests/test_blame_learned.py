"""The blame nudge's learned second opinion (service/lesson/blame/learned.py): the exported
weights load, a finding says which words weighed most, the model sees only the prose the rules
see and only where blame is possible (a person named, no clock time), the rules fire first, it
is not asked unless a caller asks, and the training script reproduces the committed weights."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from service.lesson.blame import built_in_models, find_blame
from service.lesson.blame.learned import RULE, Model, ModelFileError, Options, features, load_model
from service.lesson.blame.lint import built_in
from service.lesson.blame.words import tokenize
from service.lesson.blame_rules import RULES_DIR

ROOT = Path(__file__).resolve().parent.parent
EXPORTED = RULES_DIR / "en.learned.json"
HEARD = "It's obvious the contractor never understood the data model."
"""A blaming sentence (round3-heldout.tsv) that no rule flags and the exported model does."""


def _always(threshold: float = 0.0) -> Model:
    """A model that flags every sentence it is allowed to judge: what it leaves alone, its
    gates and the prose it reads leave alone, whatever the weights."""
    return Model("en", Options(), bias=100.0, threshold=threshold, weights={})


def test_the_exported_weights_load_and_say_where_they_came_from() -> None:
    [model] = built_in_models()
    assert model == load_model(EXPORTED)
    assert model.language == "en" and len(model.weights) > 1000
    data = json.loads(EXPORTED.read_text(encoding="utf-8"))
    assert "round4-heldout.tsv" not in data["trained_on"]  # measured once with the result, never trained on
    assert set(data["trained_on"]) == {
        "sentences.tsv",
        "heldout.tsv",
        "split-tuning.tsv",
        "split-heldout.tsv",
        "round2-heldout.tsv",
        "round3-heldout.tsv",
    }
    assert data["threshold_probability"] > 0.5 and "bench/blame_model.py" in data["about"]


def test_a_broken_model_file_is_named(tmp_path: Path) -> None:
    data = json.loads(EXPORTED.read_text(encoding="utf-8"))
    for broken in (
        {**data, "weights": {"bob": "heavy"}},
        {**data, "options": {"tense": True}},
        {**data, "bias": 1e999},
    ):
        path = tmp_path / "xx.learned.json"
        path.write_text(json.dumps(broken), encoding="utf-8")
        with pytest.raises(ModelFileError, match="xx.learned.json"):
            load_model(path)


def test_a_finding_names_its_rule_the_words_that_weighed_most_and_the_question() -> None:
    assert find_blame(HEARD) == []  # no rule hears it
    [finding] = find_blame(HEARD, models=built_in_models())
    assert finding.rule == RULE == "learned"
    assert finding.suggestion == built_in()[0].language.suggestions["person-failure"]
    shown = finding.matched.split(" \u2026 ")
    assert shown and all(part and part in HEARD for part in shown)
    [model] = built_in_models()
    grammar = built_in()[0].grammar
    tokens = tokenize(HEARD)
    found = features(grammar, tokens, model.options)
    heaviest = sorted((w for f in found if (w := model.weights.get(f, 0.0)) > 0), reverse=True)[:3]
    spans = [span for f, span in found.items() if model.weights.get(f, 0.0) in heaviest]
    words = {token.text for start, end in spans for token in tokens[start:end]}
    assert set(finding.matched.replace(" \u2026 ", " ").split()) == words


def test_the_rules_fire_first() -> None:
    [finding] = find_blame("Bob forgot the flag.", models=[_always()])
    assert finding.rule == "person-failure" and finding.matched == "Bob forgot"


def test_the_model_is_not_asked_unless_a_caller_asks() -> None:
    """Measured once on round4-heldout.tsv it cost more precision than the floor allows
    (docs/blameless.md): the nudge runs the rules alone."""
    assert find_blame(HEARD) == []
    assert find_blame("Bob deployed on Friday.") == []
    assert [f.rule for f in find_blame("Bob deployed on Friday.", models=[_always()])] == [RULE]


@pytest.mark.parametrize(
    "text",
    [
        'The ticket was plain: "Bob deployed on Friday."',
        "The ticket was plain: \u201cBob deployed on Friday.\u201d",
        "> Bob deployed on Friday.",
        "The log says `Bob deployed on Friday`.",
        "```\nBob deployed on Friday.\n```",
        "## Bob deployed on Friday",
        "[Bob deployed on Friday](https://example.com/deploys/1).",
        "<!-- Bob deployed on Friday. -->",
    ],
)
def test_the_model_alone_cannot_fire_inside_quotes_code_links_or_headings(text: str) -> None:
    """A model that fires on every sentence it may judge still cannot see what the rules do not read."""
    assert find_blame("Bob deployed on Friday.", models=[_always()])  # outside, it fires
    assert find_blame(text, models=[_always()]) == [], text


@pytest.mark.parametrize(
    "text",
    [
        "Terraform ignored the lock.",  # a tool as the subject: no person named
        "The deploy tool forgot the flag and the autoscaler caused the outage.",
        "14:02 Alice deleted the stuck pods.",  # a timeline entry
        "At 09.30 the on-call engineer restarted the primary.",
        "Database failover took forty minutes.",
    ],
)
def test_the_model_leaves_tools_timelines_and_sentences_without_a_person_alone(text: str) -> None:
    assert find_blame(text, models=[_always()]) == [], text


def test_with_the_exported_weights_a_tool_as_the_subject_stays_unflagged_beside_our_and_their() -> None:
    """ "our" and "their" name people (as for the rules: "our mistake"), so these sentences are
    the model's to judge; that it leaves them alone is its weights' doing, not a gate's."""
    models = built_in_models()
    for text in ("Our deploy tool forgot the flag.", "Their load balancer ignored the health check."):
        assert find_blame(text, models=models) == [], text


def test_the_threshold_decides() -> None:
    assert find_blame("Bob deployed on Friday.", models=[replace(_always(), threshold=100.0)])
    assert find_blame("Bob deployed on Friday.", models=[replace(_always(), threshold=100.001)]) == []


def test_a_model_of_another_language_is_not_asked() -> None:
    assert find_blame("Bob deployed on Friday.", models=[replace(_always(), language="de")]) == []


@pytest.mark.slow
def test_the_training_script_reproduces_the_committed_weights() -> None:
    """Deterministic training (lbfgs, features in sorted order, weights rounded): retraining on
    the same sets with the committed options gives the committed file, byte for byte in value."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "blame_model.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
