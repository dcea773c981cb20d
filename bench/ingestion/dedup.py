"""Near-duplicate removal: Keel's ``Deduper`` (rensa R-MinHash + LSH, verified by estimated Jaccard)
against the plain datasketch loop a user would write (``MinHash`` + ``MinHashLSH``, a document is a
duplicate when the LSH query returns anything), in the same run, on the same planted corpus
(``keel_ingestion.core.nearcorpus``: 20% planted duplicates, a quarter of them exact) with the
same word-3-gram shingles, threshold (0.75), num_perm (128) and seed.

Throughput counts everything from text to decision (normalising, shingling, hashing, LSH) in
documents/s of wall time and of process CPU time; Keel runs ``--rounds`` times and the median
round counts (a round takes about a second; this VM's speed moves single runs), the baseline once.

Accuracy. A document's cluster is its planted original (itself for an original). A removal is
correct when the removed document is a planted duplicate and what it was matched to is in its
cluster. Planted *exact* duplicates are those whose normalised words equal their original's;
the rest are planted *near* duplicates.

- near_dup_precision: correct removals / removals, leaving out the planted exact duplicates;
- near_dup_recall: correctly removed planted near duplicates / planted near duplicates;
- dup_precision, dup_recall: the same over all removals and all planted duplicates.

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
import unicodedata
from collections.abc import Callable
from typing import TypeVar

from datasketch import MinHash, MinHashLSH

from keel_ingestion.core.dedup import (
    DEFAULT_NGRAM,
    DEFAULT_NUM_PERM,
    DEFAULT_THRESHOLD,
    Deduper,
    normalized_words,
    shingles,
)
from keel_ingestion.core.nearcorpus import planted_corpus

SEED = 1
T = TypeVar("T")
_WORD = re.compile(r"[^\W_]+")


def baseline_shingles(text: str, ngram: int = DEFAULT_NGRAM) -> set[str]:
    """The same normalisation and n-grams as Keel's, written the plain way (equal on the corpus)."""
    words = _WORD.findall(unicodedata.normalize("NFKC", text).casefold())
    return {" ".join(words[i : i + ngram]) for i in range(len(words) - ngram + 1)}


def datasketch_dedup(items: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], tuple[int, int]]:
    """(removed key, first matching kept key) pairs, and the (bands, rows) datasketch chose."""
    lsh = MinHashLSH(threshold=DEFAULT_THRESHOLD, num_perm=DEFAULT_NUM_PERM)
    removed: list[tuple[str, str]] = []
    for key, text in items:
        m = MinHash(num_perm=DEFAULT_NUM_PERM, seed=SEED)
        m.update_batch([s.encode("utf-8") for s in baseline_shingles(text)])
        matches = lsh.query(m)
        if matches:
            removed.append((key, min(matches)))
        else:
            lsh.insert(key, m)
    return removed, (lsh.b, lsh.r)


def _timed(fn: Callable[[list[tuple[str, str]]], T], items: list[tuple[str, str]]) -> tuple[T, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(items)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def _accuracy(
    removed: list[tuple[str, str]], truth: set[tuple[str, str]], exact: set[str]
) -> dict[str, float]:
    original = dict(truth)

    def cluster(key: str) -> str:
        return original.get(key, key)

    correct = {key for key, of in removed if key in original and cluster(key) == cluster(of)}
    near_removed = [key for key, _ in removed if key not in exact]
    n_near = len(original) - len(exact)
    return {
        "near_dup_precision": sum(k in correct for k in near_removed) / max(1, len(near_removed)),
        "near_dup_recall": len(correct - exact) / max(1, n_near),
        "dup_precision": len(correct) / max(1, len(removed)),
        "dup_recall": len(correct) / max(1, len(original)),
    }


def run_dedup_bench(n_docs: int = 20_000, rounds: int = 3, verbose: bool = False) -> dict[str, float]:
    items, truth = planted_corpus(n_docs, 0.2, seed=SEED)
    text = dict(items)
    exact = {d for d, o in truth if normalized_words(text[d]) == normalized_words(text[o])}
    sample = items[:200]
    if any(
        {s.decode() for s in shingles(normalized_words(t), DEFAULT_NGRAM)} != baseline_shingles(t)
        for _, t in sample
    ):
        raise AssertionError("the baseline's shingles differ from Keel's")

    keel_runs = []
    for _ in range(rounds):
        deduper = Deduper(seed=SEED)
        found, wall, cpu = _timed(deduper.add_many, items)
        keel_runs.append((wall, cpu, found))
    wall, cpu, found = sorted(keel_runs, key=lambda r: r[0])[len(keel_runs) // 2]
    keel_removed = [(d.key, d.of) for d in found]
    (base_removed, (bands, rows)), base_wall, base_cpu = _timed(datasketch_dedup, items)

    keel_acc = _accuracy(keel_removed, truth, exact)
    base_acc = _accuracy(base_removed, truth, exact)
    out = {
        "n_docs": float(n_docs),
        "dedup_docs_per_s": n_docs / wall,
        "dedup_docs_per_s_cpu": n_docs / cpu,
        "baseline_dedup_docs_per_s": n_docs / base_wall,
        "baseline_dedup_docs_per_s_cpu": n_docs / base_cpu,
        "dedup_speedup_vs_baseline": base_wall / wall,
        "dedup_speedup_vs_baseline_cpu": base_cpu / cpu,
        **keel_acc,
        **{f"baseline_{k}": v for k, v in base_acc.items()},
    }
    if verbose:
        near_j = []
        for d, o in truth:
            if d not in exact:
                a, b = baseline_shingles(text[d]), baseline_shingles(text[o])
                near_j.append(len(a & b) / len(a | b))
        near_j.sort()
        sizes = [len(t) for _, t in items]
        print(
            f"corpus: {n_docs} docs ({min(sizes)}-{max(sizes)} chars, "
            f"median {statistics.median(sizes):.0f}), "
            f"{len(truth)} planted duplicates: {len(exact)} exact, {len(near_j)} near with true 3-gram "
            f"Jaccard min {near_j[0]:.3f}, p5 {near_j[len(near_j) // 20]:.3f}, "
            f"median {statistics.median(near_j):.3f}"
        )
        print(f"threshold {DEFAULT_THRESHOLD}, num_perm {DEFAULT_NUM_PERM}, {DEFAULT_NGRAM}-grams")
        print(
            f"{'system':<32} {'docs/s wall':>12} {'docs/s cpu':>11} "
            f"{'removed':>8} {'near P':>7} {'near R':>7}"
        )
        for name, w, c, rem, acc in (
            (f"keel (rensa, {deduper.num_bands} bands, median)", wall, cpu, keel_removed, keel_acc),
            (f"datasketch ({bands} bands x {rows} rows)", base_wall, base_cpu, base_removed, base_acc),
        ):
            print(
                f"{name:<32} {n_docs / w:>12,.0f} {n_docs / c:>11,.0f} {len(rem):>8} "
                f"{acc['near_dup_precision']:>7.4f} {acc['near_dup_recall']:>7.4f}"
            )
        print(
            f"keel rounds (wall s): {', '.join(f'{r[0]:.2f}' for r in keel_runs)}; "
            f"speedup {out['dedup_speedup_vs_baseline']:.1f}x wall, "
            f"{out['dedup_speedup_vs_baseline_cpu']:.1f}x cpu"
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    result = run_dedup_bench(args.docs, rounds=args.rounds, verbose=True)
    print(json.dumps({k: round(v, 4) for k, v in result.items()}))


if __name__ == "__main__":
    main()
