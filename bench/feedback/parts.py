"""The parts of the benchmark that run against the services (``procs.Services``): chat at the
gateway's saturation with the consumer live, feedback through the gateway with read-after-write,
and the exports. Each returns its figures (JSON keys) and prints them with the CPU each process
spent per request, so a figure can be read on a shared machine."""

from __future__ import annotations

import argparse
import os
import random
import time
from typing import Any

from exports import EXPORT_TENANT, KINDS, core_export, gateway_export
from load import LIVE_TENANTS, chat_bodies, chat_load, feedback_bodies, feedback_load
from procs import CpuMeter, Services, pct

from keel_feedback.core.store import Store

NAMES = ("gateway", "feedback", "inference-stub", "valkey", "bench")


def _cpu_line(used: dict[str, float], n: int, seconds: float) -> str:
    parts = [
        f"{k} {used.get(k, 0.0) / n * 1000:.2f} ms ({used.get(k, 0.0) / seconds:.2f} cores)" for k in NAMES
    ]
    return f"CPU per request: {', '.join(parts)}; other processes {_other(used, seconds):.2f} cores"


def _other(used: dict[str, float], seconds: float) -> float:
    """Cores kept busy by processes not ours (another session's tests on a shared machine)."""
    return max(0.0, used["machine"] - sum(used.get(k, 0.0) for k in NAMES)) / seconds


def _wait_stored(store: Store, expected: int, timeout: float = 120.0) -> tuple[int, float]:
    """(rows missing at once, seconds until none is): how far the live consumer is behind."""
    began = time.perf_counter()
    behind = expected - store.count()
    while store.count() < expected:
        if time.perf_counter() - began > timeout:
            raise TimeoutError(f"the consumer stored {store.count()} of {expected} interactions")
        time.sleep(0.02)  # the rows are the only signal of the consumer's progress
    return max(0, behind), time.perf_counter() - began


def run_chat(
    svc: Services, meter: CpuMeter, args: argparse.Namespace, store: Store
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The figures, and the completion ids the gateway issued (warm-up included) by tenant."""
    bodies = chat_bodies(2000)
    base = store.count()
    warm = chat_load(svc.gateway_url, svc.keys, bodies, args.chat_clients, args.warmup_s)
    _wait_stored(store, base + warm.n)
    before = meter.sample()
    run = chat_load(svc.gateway_url, svc.keys, bodies, args.chat_clients, args.chat_seconds)
    used = CpuMeter.delta(before, meter.sample())
    behind, drain = _wait_stored(store, base + warm.n + run.n)
    svc.check_alive()
    rate = run.n / run.seconds
    out = {
        "gateway_workers": args.gateway_workers,
        "chat_clients": args.chat_clients,
        "chat_requests": run.n,
        "gateway_chat_saturation_per_s": rate,
        "gateway_chat_p50_ms": pct(run.latencies, 50) * 1000,
        "gateway_chat_p99_ms": pct(run.latencies, 99) * 1000,
        "gateway_cpu_ms_per_chat": used["gateway"] / run.n * 1000,
        "gateway_cores_busy_chat": used["gateway"] / run.seconds,
        "live_consumer_cpu_s_per_1k": used["feedback"] / run.n * 1000,
        "live_consumer_backlog_at_end": behind,
        "live_consumer_drain_s": drain,
        "chat_other_load_cores": _other(used, run.seconds),
    }
    print(
        f"{run.n:,} chat completions in {run.seconds:.1f}s by {args.chat_clients} clients: {rate:,.0f}/s, "
        f"latency p50 {out['gateway_chat_p50_ms']:.1f} ms p99 {out['gateway_chat_p99_ms']:.1f} ms; the "
        f"gateway ({args.gateway_workers} worker(s)) kept {out['gateway_cores_busy_chat']:.2f} cores busy",
        flush=True,
    )
    print(_cpu_line(used, run.n, run.seconds), flush=True)
    print(
        f"live consumer (in the feedback service, sharing the cores): "
        f"{out['live_consumer_cpu_s_per_1k']:.3f} CPU-s per 1k interactions; {behind} interactions not "
        f"yet stored when the load stopped, all stored {drain:.2f}s later",
        flush=True,
    )
    return out, {t: warm.ids.get(t, []) + run.ids.get(t, []) for t in LIVE_TENANTS}


def run_feedback(
    svc: Services, meter: CpuMeter, args: argparse.Namespace, ids: dict[str, list[str]]
) -> dict[str, Any]:
    feedback_load(svc.gateway_url, svc.keys, feedback_bodies(ids, 200, seed=9), args.feedback_clients, set())
    items = feedback_bodies(ids, args.feedback_n)
    check = set(random.Random(6).sample(range(len(items)), min(args.raw_sample, len(items))))
    before = meter.sample()
    run = feedback_load(svc.gateway_url, svc.keys, items, args.feedback_clients, check)
    used = CpuMeter.delta(before, meter.sample())
    svc.check_alive()
    rate = run.n / run.seconds
    per = {k: used.get(k, 0.0) / run.n * 1000 for k in NAMES}
    services_ms = per["gateway"] + per["feedback"] + per["valkey"]
    cores = len(os.sched_getaffinity(0))
    out = {
        "feedback_clients": args.feedback_clients,
        "feedback_requests": run.n,
        "feedback_submissions_per_s": rate,
        "feedback_p50_ms": pct(run.latencies, 50) * 1000,
        "feedback_p99_ms": pct(run.latencies, 99) * 1000,
        "feedback_joined_fraction": run.joined / run.n,
        "gateway_cpu_ms_per_feedback": per["gateway"],
        "feedback_service_cpu_ms_per_feedback": per["feedback"],
        "client_cpu_ms_per_feedback": per["bench"],
        "valkey_cpu_ms_per_feedback": per["valkey"],
        "feedback_cores_busy": used["feedback"] / run.seconds,
        "feedback_cpu_ceiling_per_s": cores * 1000 / services_ms,
        "feedback_other_load_cores": _other(used, run.seconds),
        "read_after_write_checked": run.checked,
        "read_after_write_ok": run.checked == len(check) and not run.check_failures,
    }
    print(
        f"{run.n:,} feedback submissions in {run.seconds:.1f}s by {args.feedback_clients} clients: "
        f"{rate:,.0f}/s, latency p50 {out['feedback_p50_ms']:.1f} ms p99 {out['feedback_p99_ms']:.1f} ms; "
        f"{run.joined / run.n:.0%} joined an interaction stored already",
        flush=True,
    )
    print(_cpu_line(used, run.n, run.seconds), flush=True)
    print(
        f"the services' CPU per submission (gateway + feedback + Valkey) is {services_ms:.2f} ms: with "
        f"{cores} cores and no client at all, at most {out['feedback_cpu_ceiling_per_s']:,.0f}/s; the "
        f"feedback service (one process) kept {out['feedback_cores_busy']:.2f} cores busy",
        flush=True,
    )
    print(
        f"read-after-write: {run.checked} submissions read back at once through GET /v1/interactions/{{id}}, "
        f"{run.checked - len(run.check_failures)} listed the new feedback"
        + (f"; failures: {run.check_failures[:5]}" if run.check_failures else ""),
        flush=True,
    )
    return out


def run_export(svc: Services, meter: CpuMeter) -> dict[str, Any]:
    """Per kind: the core in this process, then the full path (CPU per process read around it:
    the export runs in the feedback service, the import in this process's ingestion API)."""
    out: dict[str, Any] = {"export_path": "gateway -> feedback -> ingestion"}
    key = svc.keys[EXPORT_TENANT][1]
    for kind in KINDS:
        core = core_export(svc.database_url, kind)
        before = meter.sample()
        full = gateway_export(svc.gateway_url, key, kind, f"bench-{kind}")
        used = CpuMeter.delta(before, meter.sample())
        out |= {
            f"export_{kind}_s": full["seconds"],
            f"export_{kind}_feedback_cpu_s": used["feedback"],
            f"export_{kind}_ingestion_cpu_s": used["bench"],
            f"export_{kind}_other_load_cores": _other(used, full["seconds"]),
            f"export_core_{kind}_s": core["seconds"],
            f"export_core_{kind}_cpu_s": core["cpu_s"],
            f"export_{kind}_examples": full["examples"],
        }
        same = "same examples" if core["examples"] == full["examples"] else "DIFFERENT examples"
        print(
            f"{kind}: core {core['seconds']:.2f}s ({core['cpu_s']:.2f} CPU-s, {core['examples']:,} examples, "
            f"{core['bytes'] / 1e6:.1f} MB, {core['pii_redacted']} PII spans scrubbed); through the gateway "
            f"into ingestion {full['seconds']:.2f}s ({same}, {full['training_file']}): feedback service "
            f"{used['feedback']:.2f} CPU-s, ingestion (in this process) {used['bench']:.2f} CPU-s, gateway "
            f"{used['gateway']:.2f} CPU-s; other processes {_other(used, full['seconds']):.2f} cores",
            flush=True,
        )
    out["export_10k_s"] = max(out[f"export_{k}_s"] for k in KINDS)
    return out
