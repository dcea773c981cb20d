"""Exact and near-duplicate removal: first occurrence wins, what each removed item duplicated is
recorded with a real similarity, distinct texts survive, and on the planted corpus precision and
recall are both >= 0.95."""

from __future__ import annotations

import random
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keel_ingestion.core import dedup
from keel_ingestion.core.dedup import Deduper, Duplicate, lsh_bands, normalized_words, shingles
from keel_ingestion.core.nearcorpus import planted_corpus

_VOCAB = [f"w{i}x{(i * 7919) % 1000}" for i in range(3000)]


def prose(seed: int, n_words: int = 300) -> list[str]:
    """Sentences (as strings) of random words from a 3,000-word vocabulary."""
    rng = random.Random(seed)
    out, left = [], n_words
    while left > 0:
        n = min(left, rng.randint(6, 18))
        out.append(" ".join(rng.choices(_VOCAB, k=n)).capitalize() + ".")
        left -= n
    return out


def jaccard(a: str, b: str, ngram: int = dedup.DEFAULT_NGRAM) -> float:
    sa, sb = set(shingles(normalized_words(a), ngram)), set(shingles(normalized_words(b), ngram))
    return len(sa & sb) / len(sa | sb)


def test_exact_duplicate_is_recorded_and_the_first_is_kept() -> None:
    d = Deduper()
    assert d.add("a", "Hello, World!  The quick brown fox.") is None
    assert d.add("b", "hello world the QUICK brown fox") == Duplicate("b", "a", "exact", 1.0)
    assert d.add("c", "hello\n\nworld\tthe quick brown fox...") == Duplicate("c", "a", "exact", 1.0)
    assert d.add("d", "hello world the quick brown dog") is None
    assert (d.kept, d.removed) == (2, 2)


def test_normalisation_is_the_same_for_ascii_and_unicode_text() -> None:
    fullwidth = "\uff28\uff45\uff4c\uff4c\uff4f\uff0c\uff57\uff4f\uff52\uff4c\uff44\uff01"  # Hello,world!
    assert normalized_words(fullwidth) == [b"hello", b"world"]  # NFKC folds full-width forms
    assert normalized_words("STRASSE") == normalized_words("Stra\u00dfe")  # case folding, not lower()
    curly = "don\u2019t stop\u2026"  # a right single quotation mark and an ellipsis
    assert normalized_words(curly) == normalized_words("don't stop...") == [b"don", b"t", b"stop"]
    assert normalized_words("a\u00a0b\u2003c\u3000d") == [b"a", b"b", b"c", b"d"]
    assert normalized_words("cafe\u0301") == normalized_words("CAF\u00c9") == ["caf\u00e9".encode()]
    assert normalized_words("na\u0131ve \u0928\u092e\u0938\u094d\u0924\u0947") == [
        "na\u0131ve".encode(),
        "\u0928\u092e\u0938\u094d\u0924\u0947".encode(),  # combining vowel signs stay in the word
    ]
    assert normalized_words("") == normalized_words("?! --") == []


def reference_words(text: str) -> list[bytes]:
    """The normalisation as the docstring states it, one character at a time."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    spaced = "".join(" " if unicodedata.category(c)[0] in "PSZ" or c.isspace() else c for c in folded)
    return [w.encode("utf-8", "surrogatepass") for w in spaced.split()]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_fast_path_matches_the_unicode_path(text: str) -> None:
    assert normalized_words(text) == dedup._unicode_words(text) == reference_words(text)


@settings(max_examples=500, deadline=None)
@given(
    st.text(alphabet=st.characters(codec=None)) | st.text(alphabet="ab C\u00e9\u2019\u2014\u3002\u00a0\u0301")
)
def test_normalisation_matches_its_definition(text: str) -> None:
    assert normalized_words(text) == reference_words(text)


def test_near_duplicate_is_recorded_with_its_similarity() -> None:
    sentences = prose(1)
    original = " ".join(sentences)
    edited = " ".join(sentences[:5] + sentences[6:] + ["An inserted sentence of new words here."])
    true_j = jaccard(original, edited)
    assert 0.8 < true_j < 1.0
    d = Deduper()
    assert d.add("orig", original) is None
    assert d.add("other", " ".join(prose(2))) is None
    dup = d.add("edit", edited)
    assert dup is not None
    assert (dup.key, dup.of, dup.kind) == ("edit", "orig", "near")
    assert d.threshold <= dup.similarity < 1.0
    assert abs(dup.similarity - true_j) < 0.12  # an estimate of the true Jaccard, not a collision flag


def test_below_threshold_is_kept() -> None:
    sentences = prose(3)
    half = len(sentences) // 2
    original = " ".join(sentences)
    rewritten = " ".join(sentences[:half] + prose(4, 150))  # half the text replaced
    assert jaccard(original, rewritten) < 0.5
    d = Deduper()
    assert d.add("a", original) is None
    assert d.add("b", rewritten) is None


def test_distinct_documents_are_all_kept() -> None:
    d = Deduper()
    assert d.add_many((f"k{i}", " ".join(prose(100 + i))) for i in range(300)) == []
    assert d.kept == 300


def test_short_texts_are_deduplicated_exactly() -> None:
    d = Deduper()
    assert d.add("a", "Hi") is None
    assert d.add("b", "hi!") == Duplicate("b", "a", "exact", 1.0)
    assert d.add("c", "hi there") is None  # fewer words than the 3-gram: no signature, exact only
    assert d.add("d", "hi here") is None
    assert d.add("e", "one two three") is None  # exactly one shingle
    assert d.add("f", "one two three four") is None  # Jaccard 1/2 with "e"
    assert d.add("g", "") is None
    assert d.add("h", " ... ") == Duplicate("h", "g", "exact", 1.0)  # no words: the same empty text
    unigram = Deduper(ngram=1)
    assert unigram.add("x", "solo") is None
    assert unigram.add("y", "solo solo") == Duplicate("y", "x", "near", 1.0)  # the same set of words


def test_first_occurrence_wins_in_either_order() -> None:
    sentences = prose(5)
    a, b = " ".join(sentences), " ".join(sentences[1:])
    [forward] = Deduper().add_many([("a", a), ("b", b)])
    [backward] = Deduper().add_many([("b", b), ("a", a)])
    assert (forward.key, forward.of, forward.kind) == ("b", "a", "near")
    assert (backward.key, backward.of, backward.kind) == ("a", "b", "near")
    assert forward.similarity == backward.similarity


def test_of_is_the_most_similar_kept_item() -> None:
    s = prose(7, 900)
    shared, only_a, only_b = s[:40], s[40:50], s[50:60]
    a, b = " ".join(shared + only_a), " ".join(shared + only_b)  # true Jaccard 0.69: both kept
    c = " ".join(shared + only_a[:5] + only_b[:8])  # 0.80 to a, 0.86 to b
    alone = Deduper()
    assert alone.add("a", a) is None
    assert (dup := alone.add("c", c)) is not None and dup.of == "a"  # a alone would qualify
    for order in ([("a", a), ("b", b)], [("b", b), ("a", a)]):
        d = Deduper()
        assert d.add_many(order) == []
        dup = d.add("c", c)
        assert dup is not None and dup.of == "b"
        assert abs(dup.similarity - jaccard(c, b)) < 0.1


def test_removed_items_are_not_indexed() -> None:
    sentences = prose(7)
    base, closer = " ".join(sentences), " ".join(sentences[:-1])
    d = Deduper()
    assert d.add("base", base) is None
    dup = d.add("closer", closer)
    assert dup is not None and dup.of == "base"
    # The same text as the removed item: it is compared with kept items only, so it duplicates "base".
    assert d.add("again", closer + " ") == Duplicate("again", "base", "near", dup.similarity)


def test_deterministic_for_a_seed_and_batch_equals_streaming() -> None:
    items, _ = planted_corpus(600, 0.3, seed=3)
    first = Deduper(seed=7).add_many(items)
    streamed = Deduper(seed=7)
    second = [dup for key, text in items if (dup := streamed.add(key, text)) is not None]
    assert first == second
    assert Deduper(seed=7).add_many(items) == first
    assert first  # the corpus has duplicates, so the comparison is not vacuous


def test_lsh_banding_finds_pairs_at_the_threshold() -> None:
    assert lsh_bands(0.75, 128) == 32  # 16 bands of 8 find a pair at 0.75 only 81% of the time
    for threshold in (0.5, 0.75, 0.8, 0.9):
        bands = lsh_bands(threshold, 128)
        assert 1 - (1 - threshold ** (128 // bands)) ** bands >= 0.99


@pytest.mark.parametrize("kwargs", [{"threshold": 0.0}, {"threshold": 1.5}, {"num_perm": 0}, {"ngram": 0}])
def test_rejects_bad_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Deduper(**kwargs)  # type: ignore[arg-type]


def test_planted_corpus_ground_truth() -> None:
    items, truth = planted_corpus(400, 0.25, seed=9)
    assert (items, truth) == planted_corpus(400, 0.25, seed=9)
    keys = [k for k, _ in items]
    assert len(set(keys)) == 400 and len(truth) == 100
    position = {k: i for i, k in enumerate(keys)}
    dups = {d for d, _ in truth}
    assert all(position[d] > position[o] and o not in dups for d, o in truth)
    assert all(500 <= len(text) <= 4500 for _, text in items)


def test_precision_and_recall_on_the_planted_corpus() -> None:
    items, truth = planted_corpus(2000, 0.2, seed=21)
    original = dict(truth)

    def cluster(key: str) -> str:
        return original.get(key, key)

    text = dict(items)
    found = Deduper().add_many(items)
    correct = [d for d in found if d.key in original and cluster(d.key) == cluster(d.of)]
    precision, recall = len(correct) / len(found), len(correct) / len(truth)
    print(f"\nplanted corpus: {len(found)} removed, precision {precision:.4f}, recall {recall:.4f}")
    assert precision >= 0.95 and recall >= 0.95
    removed = {d.key for d in found}
    assert not removed & {d.of for d in found}  # "of" is always a kept item
    near = [d for d in found if d.kind == "near"]
    assert len(near) > len(found) // 2
    errors = [abs(d.similarity - jaccard(text[d.key], text[d.of])) for d in near]
    assert sum(errors) / len(errors) < 0.03 and max(errors) < 0.2
