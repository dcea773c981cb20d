"""Ingestion benchmark (``make bench-ingestion``).

Four parts, one after the other, on documents the benchmark generates itself:

  extract  ``extract()`` on multi-page PDFs (pages/s), HTML pages and Markdown notes (docs/s)
           -- extraction.py
  dedup    Keel's ``Deduper`` vs a plain datasketch MinHash + LSH loop on the same planted
           near-duplicate corpus: documents/s of each, near-duplicate precision and recall
           -- dedup.py
  workers  one real dataset build on 1 and on 2 ``keel-ingestion worker`` processes (Celery on an
           embedded Valkey, SQLite, local artifacts): the build's wall-time speed-up
           -- build_workers.py
  qa       grounded QA synthesis with the real SmolLM2 through Keel's inference engine in process:
           the fraction of proposed pairs the grounding rules keep -- qa.py

Targets (the issue's): near-dup precision and recall >= 0.95, dedup >= 5,000 docs/s on 2 cores,
2 workers >= 1.5x one. Prints each part's figures and ratios, a target summary, and as its last
line one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
TARGETS = (  # key, minimum, what
    ("near_dup_precision", 0.95, "near-dup precision"),
    ("near_dup_recall", 0.95, "near-dup recall"),
    ("dedup_docs_per_s", 5000.0, "dedup docs/s"),
    ("two_worker_speedup", 1.5, "2 workers vs 1"),
)
PARTS = ("extract", "dedup", "workers", "qa")


def _section(title: str) -> None:
    print(f"\n== {title}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a small smoke run (about a minute)")
    ap.add_argument("--pdfs", type=int, default=4)
    ap.add_argument("--pdf-pages", type=int, default=50, help="pages per PDF")
    ap.add_argument("--html", type=int, default=100, help="HTML pages to extract")
    ap.add_argument("--markdown", type=int, default=200, help="Markdown notes to extract")
    ap.add_argument("--dedup-docs", type=int, default=20_000)
    ap.add_argument("--dedup-rounds", type=int, default=3, help="Keel rounds (median); baseline once")
    ap.add_argument("--build-docs", type=int, default=3000, help="documents of the timed build")
    ap.add_argument("--shard-docs", type=int, default=100, help="documents per prepare task")
    ap.add_argument("--build-rounds", type=int, default=3, help="timed builds per configuration (median)")
    ap.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="max seconds to wait for a quiet machine before a build",
    )
    ap.add_argument("--qa-passages", type=int, default=16)
    ap.add_argument("--model-cache", type=Path, default=REPO / ".cache" / "models")
    ap.add_argument("--skip", action="append", default=[], choices=PARTS)
    args = ap.parse_args()
    if args.quick:
        args.pdfs, args.pdf_pages, args.html, args.markdown = 2, 20, 30, 60
        args.dedup_docs, args.dedup_rounds = 5000, 1
        args.build_docs, args.shard_docs, args.build_rounds, args.quiet_wait = 600, 50, 1, 10.0
        args.qa_passages = 4

    # A SIGTERM (``timeout``, a CI cancel) unwinds like Ctrl-C, so the worker processes and Valkey stop.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    began = time.perf_counter()
    result: dict[str, Any] = {}
    print(
        f"keel ingestion benchmark: {len(os.sched_getaffinity(0))} CPUs{', quick' if args.quick else ''}",
        flush=True,
    )

    if "extract" not in args.skip:
        from extraction import run_extract_bench

        _section("extraction")
        result |= run_extract_bench(args.pdfs, args.pdf_pages, args.html, args.markdown, verbose=True)

    if "dedup" not in args.skip:
        from dedup import run_dedup_bench

        _section("dedup: Keel vs plain datasketch")
        result |= run_dedup_bench(args.dedup_docs, rounds=args.dedup_rounds, verbose=True)
        result["dedup_docs"] = int(result.pop("n_docs"))

    if "workers" not in args.skip:
        from build_workers import run_worker_bench

        _section("build: 1 worker vs 2 workers")
        result |= run_worker_bench(
            args.build_docs,
            args.shard_docs,
            args.build_rounds,
            args.model_cache,
            args.quiet_wait,
            verbose=True,
        )

    if "qa" not in args.skip:
        from qa import run_qa_bench
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        _section("grounded QA synthesis (SmolLM2-135M-Instruct)")
        result |= run_qa_bench(args.model_cache, args.qa_passages, verbose=True)

    wall = time.perf_counter() - began
    _section("targets")
    for key, minimum, what in TARGETS:
        if key in result:
            verdict = "met" if result[key] >= minimum else "MISSED"
            print(f"{what:<20} {result[key]:>10.3f}  (target >= {minimum:g}) {verdict}")
    if "two_worker_speedup_best" in result:
        print(
            f"{'  best rounds':<20} {result['two_worker_speedup_best']:>10.3f}  (other load "
            f"{result['other_load_cores_2_workers']:.2f} cores during the 2-worker builds, median)"
        )
    if "dedup_speedup_vs_baseline" in result:
        print(f"{'dedup vs datasketch':<20} {result['dedup_speedup_vs_baseline']:>9.2f}x")
    if "qa_kept_fraction" in result:
        print(f"{'QA kept fraction':<20} {result['qa_kept_fraction']:>10.3f}  (no target)")
    print(f"bench wall time {wall:.0f}s")
    result |= {"bench_wall_s": wall, "cpus": len(os.sched_getaffinity(0)), "quick": args.quick}
    print(json.dumps({k: round(x, 4) if isinstance(x, float) else x for k, x in result.items()}))


if __name__ == "__main__":
    main()
