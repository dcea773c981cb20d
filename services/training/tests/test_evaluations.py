"""The promotion gate's rules: its defaults and refusals (each naming its field), and the
decision — enough questions, the metric on both sides, candidate >= current + margin."""

from __future__ import annotations

import pytest

from keel.training.v1 import training_pb2 as pb
from keel_common.errors import InvalidArgument
from keel_training.core.evaluations import check_gate
from keel_training.worker.eval_run import gate_decision, registry_key


def gate(**given: object) -> pb.EvaluationGate:
    return check_gate(pb.EvaluationGate(**{"model": "bot", "version": 2, **given}))  # type: ignore[arg-type]


def test_gate_defaults() -> None:
    g = gate()
    assert (g.alias, g.metric, g.margin, g.min_examples) == ("production", "eval_f1", 0.0, 10)
    g = gate(alias="staging", metric="closed_book_f1", margin=0.05, min_examples=3)
    assert (g.alias, g.metric, g.margin, g.min_examples) == (
        "staging",
        "closed_book_f1",
        pytest.approx(0.05),
        3,
    )


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"model": ""}, "gate.model"),
        ({"version": 0}, "gate.version"),
        ({"alias": "Prod uction"}, "gate.alias"),
        ({"metric": "bleu"}, "gate.metric"),
        ({"margin": -0.1}, "gate.margin"),
        ({"margin": 1.5}, "gate.margin"),
        ({"min_examples": -1}, "gate.min_examples"),
    ],
)
def test_gate_refusals_name_the_field(given: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        gate(**given)
    assert err.value.field == field


def decide(candidate: float, current: float, n: int = 20, **given: object) -> pb.GateOutcome:
    g = gate(**given)
    return gate_decision(g, n, {g.metric: candidate}, {g.metric: current}, "bot/1")


def test_the_candidate_must_be_at_least_as_good_plus_the_margin() -> None:
    assert decide(0.5, 0.5).passed  # as good is good enough
    assert decide(0.51, 0.5).passed
    assert not decide(0.49, 0.5).passed
    assert not decide(0.52, 0.5, margin=0.05).passed
    won = decide(0.6, 0.5, margin=0.05)
    assert won.passed and not won.promoted  # moving the alias is the runner's, not the rule's
    assert (won.candidate_score, won.current_score, won.current_ref) == (0.6, 0.5, "bot/1")
    assert won.message == (
        "gate passed: eval_f1 0.600 for bot/2 vs 0.500 for bot/1 (needs >= 0.550, margin 0.05) "
        "on 20 questions"
    )


def test_too_few_questions_or_a_missing_metric_fail_the_gate() -> None:
    few = decide(0.9, 0.1, n=9)
    assert not few.passed and few.message == "gate failed: 9 questions, the gate needs at least 10"
    g = gate(metric="closed_book_f1")
    missing = gate_decision(g, 20, {"eval_f1": 0.9}, {"eval_f1": 0.1}, "bot/1")
    assert not missing.passed and "has no closed_book_f1" in missing.message


def test_scores_are_stored_under_the_questions_they_were_asked() -> None:
    ev = pb.Evaluation(dataset=pb.DatasetRef(dataset_id="ds_abc", version=3), split="validation")
    assert registry_key("eval_f1", ev) == "eval_f1:ds_abc:3:validation"
