"""Exact match and token F1 with SQuAD's normalisation."""

from __future__ import annotations

import pytest

from keel_common.qa_metrics import QaScores, exact_match, normalize_answer, score_answers, token_f1


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("The Eiffel Tower!", "eiffel tower"),
        ("  an   apple, a pear  ", "apple pear"),
        ("Theory of the atom", "theory of atom"),  # "the" only as a whole word
        ("«Straße», sagte er.", "straße sagte er"),  # Unicode punctuation too
        ("", ""),
    ],
)
def test_normalisation(raw: str, normalised: str) -> None:
    assert normalize_answer(raw) == normalised


def test_exact_match_ignores_case_articles_and_punctuation_and_takes_the_best_reference() -> None:
    assert exact_match("the Bartholomew.", ["Bartholomew"]) == 1.0
    assert exact_match("Bartholomew the walrus", ["Bartholomew"]) == 0.0
    assert exact_match("bay 7", ["bay 5", "Bay 7"]) == 1.0


def test_token_f1_counts_overlap_with_multiplicity() -> None:
    # prediction "purple walrus bartholomew" vs reference "walrus named bartholomew":
    # 2 shared tokens, precision 2/3, recall 2/3
    assert token_f1("A purple walrus, Bartholomew", ["The walrus named Bartholomew"]) == pytest.approx(2 / 3)
    # "walrus walrus" against "walrus": 1 shared (not 2), precision 1/2, recall 1 -> 2/3
    assert token_f1("walrus walrus", ["walrus"]) == pytest.approx(2 / 3)
    assert token_f1("nothing alike", ["Bartholomew"]) == 0.0
    assert token_f1("bay 7", ["in bay 7", "bay 7"]) == 1.0  # the best reference
    assert token_f1("The.", ["a"]) == 1.0 and token_f1("", ["walrus"]) == 0.0  # empty after normalising


def test_references_must_be_a_list_of_answers() -> None:
    with pytest.raises(ValueError, match="non-empty sequence"):
        token_f1("x", [])
    with pytest.raises(ValueError, match="non-empty sequence"):
        exact_match("x", "x")  # a bare string would be scored per character


def test_scores_are_means_over_the_set() -> None:
    got = score_answers(
        ["Bartholomew", "a walrus", "no idea"], [["Bartholomew"], ["purple walrus"], ["bay 7"]]
    )
    assert got.n == 3
    assert got.exact_match == pytest.approx(1 / 3)
    assert got.f1 == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert score_answers([], []) == QaScores(0, 0.0, 0.0)
    with pytest.raises(ValueError, match="2 predictions for 1 reference sets"):
        score_answers(["a", "b"], [["a"]])
