"""The grounding rules of QA synthesis on written completions (what a model might answer): a
pair is kept only when the passage supports its answer."""

from __future__ import annotations

from keel_ingestion.core.synth import grounded, normalise, parse_pairs, prompt, support

PASSAGE = (
    "The Orrin relief valve on the K7 pump opens at 7 bar. "
    "Replace its copper gasket every 400 operating hours."
)


def test_support_is_exact_span_or_content_word_share() -> None:
    assert support("7 bar", PASSAGE) == 1.0
    assert support("every 400 operating hours", PASSAGE) == 1.0
    assert support("400 hours", PASSAGE) == 1.0  # both content words occur
    assert support("the copper gasket of the valve", PASSAGE) == 1.0
    assert support("35 minutes", PASSAGE) == 0.0
    assert support("a copper hose", PASSAGE) == 0.5
    assert support("", PASSAGE) == 0.0 and support("the of", PASSAGE) == 0.0
    assert normalise("The  Valve, opens!") == "valve opens"


def test_grounded_keeps_supported_pairs_and_drops_the_rest() -> None:
    raw = (
        "Q: At what pressure does the valve open?\nA: 7 bar\n"
        "Q: How long does a repair take?\nA: 35 minutes\n"  # invented
        "Q: At what pressure does the valve open?\nA: 7 bar\n"  # repeated
        "Q: valve?\nA: 7 bar\n"  # too short to be a question
        "Q: What is replaced every 400 operating hours?\nA: its copper gasket"
    )
    kept, proposed = grounded(PASSAGE, raw, pairs=3, min_support=0.8)
    assert proposed == 4  # the repeat counts once
    assert [(p.question, p.answer) for p in kept] == [
        ("At what pressure does the valve open?", "7 bar"),
        ("What is replaced every 400 operating hours?", "its copper gasket"),
    ]
    assert grounded(PASSAGE, raw, pairs=1, min_support=0.8)[0][0].answer == "7 bar"
    assert grounded(PASSAGE, "no pairs here", pairs=2, min_support=0.8) == ([], 0)


def test_parse_pairs_tolerates_spacing_and_punctuation() -> None:
    assert parse_pairs("Q. Why?\n\nA) Because.\nQ - Who?\nA: Me") == [("Why?", "Because."), ("Who?", "Me")]


def test_prompt_is_few_shot_turns_then_the_passage() -> None:
    msgs = prompt(PASSAGE, 2)
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant", "user"]
    assert msgs[-1]["content"].startswith(PASSAGE) and "Write 2 questions" in msgs[-1]["content"]
    assert msgs[1]["content"].count("Q: ") == 2  # the examples show as many pairs as asked
