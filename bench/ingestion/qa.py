"""Grounded QA synthesis with the real SmolLM2-135M-Instruct: ``keel_ingestion.core.synth.synthesize``
over the fixed factual passages of ``corpus.QA_PASSAGES`` with the recipe's defaults
(``Synthesis()``: 2 pairs per passage, 160 new tokens, greedy, min_support 0.8).

The generator path: Keel's inference engine in this process -- ``keel_inference.core.InferenceCore``
(the service's model load, dtype choice and continuous-batching engine) behind
``keel_inference.engine_client.LocalEngineClient`` (the service's front without Ray or gRPC). Like
``keel_ingestion.synthesis_client.InferenceGenerator`` it sends every conversation at once, one
thread each, so the engine batches them; only the gRPC hop is left out.

qa_kept_fraction is what a build records (``qa_kept / qa_proposed``): pairs kept by the grounding
rules (an answer whose words come from the passage, a real question, at most ``pairs`` of them)
over the pairs the model proposed.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from corpus import QA_PASSAGES

from keel_ingestion.core.recipe import Synthesis
from keel_ingestion.core.synth import Messages, normalise, parse_pairs, support, synthesize


class LocalEngineGenerator:
    """``keel_ingestion.core.synth.Generator`` over an in-process ``LocalEngineClient``."""

    def __init__(self, client: Any, model: str) -> None:
        self.client = client
        self.model = model
        self.completion_tokens = 0
        self.raw: list[str] = []

    def _one(self, conv: Messages, max_tokens: int, temperature: float) -> tuple[str, int]:
        from keel_inference.engine import Delta
        from keel_inference.values import GenerateInput, Message, SamplingInput

        inp = GenerateInput(
            model=self.model,
            messages=[Message(m["role"], m["content"]) for m in conv],
            sampling=SamplingInput(max_tokens=max_tokens, temperature=temperature, seed=0),
        )
        parts, tokens = [], 0
        for event in self.client.stream(inp):  # a Failed event raises here
            if isinstance(event, Delta):
                parts.append(event.text)
                tokens += len(event.token_ids)
        return "".join(parts), tokens

    def generate(self, conversations: Sequence[Messages], max_tokens: int, temperature: float) -> list[str]:
        with ThreadPoolExecutor(max(1, len(conversations))) as pool:
            results = list(pool.map(lambda c: self._one(c, max_tokens, temperature), conversations))
        self.completion_tokens += sum(n for _, n in results)
        self.raw = [text for text, _ in results]
        return list(self.raw)


def run_qa_bench(model_cache: Path, n_passages: int, verbose: bool = False) -> dict[str, Any]:
    from keel_inference.config import InferenceSettings
    from keel_inference.core import InferenceCore
    from keel_inference.engine_client import LocalEngineClient

    syn = Synthesis()
    passages = QA_PASSAGES[:n_passages]
    with tempfile.TemporaryDirectory(prefix="keel-bench-qa-") as tmp:
        settings = InferenceSettings(
            data_dir=Path(tmp),
            model_cache_dir=model_cache,
            artifact_root=str(Path(tmp) / "artifacts"),
            device="cpu",
            max_batch_size=max(32, len(passages)),
        )
        began = time.perf_counter()
        core = InferenceCore(settings)
        client = LocalEngineClient(core)
        loaded = time.perf_counter() - began
        try:
            gen = LocalEngineGenerator(client, settings.model)
            wall, cpu = time.perf_counter(), time.process_time()
            results = synthesize(
                passages, gen, pairs=syn.pairs_per_chunk, max_tokens=syn.max_tokens,
                temperature=syn.temperature, min_support=syn.min_support,
            )  # fmt: skip
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            dtype = core.dtype_name
        finally:
            client.close()
            core.close()
    proposed = sum(n for _, n in results)
    kept = sum(len(pairs) for pairs, _ in results)
    out = {
        "qa_passages": len(passages),
        "qa_proposed": proposed,
        "qa_kept": kept,
        "qa_kept_fraction": kept / proposed if proposed else 0.0,
        "qa_proposed_per_passage": proposed / len(passages),
        "qa_kept_per_passage": kept / len(passages),
        "qa_passages_with_a_kept_pair": sum(1 for pairs, _ in results if pairs) / len(passages),
        "qa_generate_s": wall,
        "qa_completion_tokens": gen.completion_tokens,
    }
    if verbose:
        print(
            f"SmolLM2-135M-Instruct {dtype} via InferenceCore + LocalEngineClient (in process), loaded in "
            f"{loaded:.1f}s; {len(passages)} passages in one batch: {gen.completion_tokens} new tokens in "
            f"{wall:.1f}s ({gen.completion_tokens / wall:.0f} tok/s, {cpu:.1f} cpu-s)"
        )
        print(
            f"proposed {proposed} pairs ({proposed / len(passages):.2f}/passage), kept {kept} "
            f"({kept / len(passages):.2f}/passage): kept fraction {out['qa_kept_fraction']:.3f}"
        )
        shown: dict[bool, set[tuple[str, str]]] = {True: set(), False: set()}
        for passage, raw, (pairs, _) in zip(passages, gen.raw, results, strict=True):
            left = [(p.question, p.answer) for p in pairs]  # the kept ones, in proposal order
            for q, a in dict.fromkeys(parse_pairs(raw)):  # repeated pairs count once, as in synth
                kept_it = bool(left) and left[0] == (q, a)
                if kept_it:
                    left.pop(0)
                if len(shown[kept_it]) >= 3 or (q, a) in shown[kept_it]:
                    continue
                shown[kept_it].add((q, a))
                s = support(a, passage)
                if kept_it:
                    why = "kept   "
                elif len(q) < 8 or not q.rstrip().endswith("?") or normalise(q) == normalise(a):
                    why = "dropped, not a question:"
                elif s < syn.min_support:
                    why = "dropped, unsupported:"
                else:
                    why = f"dropped, past the {syn.pairs_per_chunk} asked for:"
                print(f"  {why} Q: {q[:80]} | A: {a[:50]} (support {s:.2f})")
    return out
