"""Detection rate and false-positive rate of the injection/jailbreak rail on the labelled set in
``data/`` (written for Keel, independent of the rail's exemplars), with the gateway's default
policy: heuristics alone, the semantic rail alone, and both (what the gateway runs).
Also prints a threshold sweep of the semantic rail for tuning a policy. The last line is JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from keel_gateway.guardrails.pipeline import Guard
from keel_gateway.guardrails.policy import Policy
from keel_gateway.guardrails.semantic import Embedder

DATA = Path(__file__).parent / "data"


def load() -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for name in ("injection.jsonl", "benign.jsonl"):
        rows += [json.loads(line) for line in (DATA / name).read_text().splitlines() if line.strip()]
    return rows


def split(row: dict[str, str]) -> str:
    """Even ids were looked at while writing the heuristics and exemplars (dev); odd ids never
    were (held-out): the held-out figures are the honest ones."""
    return "dev" if int(row["id"].split("-")[1]) % 2 == 0 else "held_out"


def rates(pred: list[bool], rows: list[dict[str, str]]) -> tuple[float, float]:
    inj = [p for p, r in zip(pred, rows, strict=True) if r["label"] == "injection"]
    ben = [p for p, r in zip(pred, rows, strict=True) if r["label"] == "benign"]
    return sum(inj) / len(inj), sum(ben) / len(ben)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--show-errors", action="store_true")
    args = ap.parse_args()
    rows = load()
    guard = Guard(Policy.load(None), Embedder())
    rails = guard.rails("bench", "m")
    inj_cfg = rails.set.input.injection
    assert rails.injection is not None
    from keel_gateway.guardrails import heuristics
    from keel_gateway.guardrails.semantic import chunks

    h_scores, s_scores, full = [], [], []
    start = time.perf_counter()
    for r in rows:
        h_scores.append(heuristics.scan(r["text"])[0])
        vecs = await guard.embedder.encode(chunks(r["text"]))  # type: ignore[union-attr]
        s_scores.append(rails.injection.best(vecs)[0])
        out = await rails.check_input(["user"], [r["text"]])
        full.append(any(v.rail == "prompt_injection" and v.action == "block" for v in out.verdicts))
    per_prompt_ms = (time.perf_counter() - start) * 1000 / len(rows)
    h_pred = [s >= inj_cfg.heuristic_threshold for s in h_scores]
    s_pred = [s >= inj_cfg.threshold for s in s_scores]
    table = {
        "heuristics": rates(h_pred, rows),
        "semantic": rates(s_pred, rows),
        "combined": rates(full, rows),
    }
    n_inj = sum(r["label"] == "injection" for r in rows)
    print(
        f"{len(rows)} prompts: {n_inj} injection, {len(rows) - n_inj} benign; {per_prompt_ms:.1f} ms/prompt"
    )
    print(f"{'rail':<12} {'detection':>10} {'false pos':>10}")
    for name, (det, fp) in table.items():
        print(f"{name:<12} {det:>10.1%} {fp:>10.1%}")
    print("semantic threshold sweep (semantic alone / combined with heuristics):")
    for th in (0.5, 0.55, 0.6, 0.65, 0.7, 0.72, 0.75, 0.8):
        sp = [s >= th for s in s_scores]
        cp = [a or b for a, b in zip(sp, h_pred, strict=True)]
        (d1, f1), (d2, f2) = rates(sp, rows), rates(cp, rows)
        print(f"  {th:.2f}: {d1:6.1%} / {f1:5.1%}    {d2:6.1%} / {f2:5.1%}")
    if args.show_errors:
        for r, p in zip(rows, full, strict=True):
            if p != (r["label"] == "injection"):
                print(f"MISS {r['id']} {r['category']}: {r['text'][:110]!r}")
    det, fp = table["combined"]
    by_split = {}
    for name in ("dev", "held_out"):
        idx = [i for i, r in enumerate(rows) if split(r) == name]
        d, f = rates([full[i] for i in idx], [rows[i] for i in idx])
        by_split[name] = {"detection_rate": round(d, 4), "false_positive_rate": round(f, 4)}
        print(f"combined on {name:<9} detection {d:6.1%}  false positives {f:5.1%}  ({len(idx)} prompts)")
    print(
        json.dumps(
            {
                "prompts": len(rows),
                "injection": n_inj,
                "benign": len(rows) - n_inj,
                "detection_rate": round(det, 4),
                "false_positive_rate": round(fp, 4),
                "heuristics_detection_rate": round(table["heuristics"][0], 4),
                "heuristics_false_positive_rate": round(table["heuristics"][1], 4),
                "semantic_detection_rate": round(table["semantic"][0], 4),
                "semantic_false_positive_rate": round(table["semantic"][1], 4),
                "semantic_threshold": inj_cfg.threshold,
                "ms_per_prompt": round(per_prompt_ms, 2),
                "dev": by_split["dev"],
                "held_out": by_split["held_out"],
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
