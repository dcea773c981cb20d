"""Tensor parallelism: N Ray actors, one torch.distributed group, one sharded model, lockstep steps.

The replica that owns a ``TPRunner`` reserves (through Ray Serve's ``placement_group_bundles``)
or creates a STRICT_PACK placement group of N bundles; rank r's actor lives in bundle r. The
actors join one process group (gloo on CPU, NCCL on CUDA) and load the model with
transformers' tensor-parallel plan (``tp_plan="auto"``: column/row-wise sharded linears whose
partial results are all-reduced inside the forward). Every step sends the same plan to all
ranks; only rank 0 samples, and its tokens reach the others in the next plan's ``feed``, so the
ranks cannot drift apart (the failure mode of independent sampling).
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

import ray
from ray.util.placement_group import PlacementGroup, placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from keel_common.errors import FailedPrecondition
from keel_inference.batcher import StepPlan

log = logging.getLogger(__name__)


class TPWorker:
    """One rank. Created as a Ray actor by ``TPRunner``."""

    def __init__(self, rank: int, world_size: int, threads: int = 0) -> None:
        self.rank = rank
        self.world_size = world_size
        self.runner: Any = None
        import torch

        # Ray exports OMP_NUM_THREADS=<num_cpus>; keep it unless told otherwise.
        if threads:
            torch.set_num_threads(threads)

    def address(self) -> tuple[str, int]:
        """An address and a free port on this node for the process group's rendezvous."""
        with socket.socket() as s:
            s.bind(("", 0))
            port = s.getsockname()[1]
        ip: str = ray.util.get_node_ip_address()  # type: ignore[no-untyped-call]
        return ip, port

    def setup(self, master: tuple[str, int], model_path: str, device: str, dtype: str) -> dict[str, Any]:
        import torch
        import torch.distributed as dist

        from keel_common.loader import load_model, pick_device
        from keel_inference.batcher import ModelRunner

        dev = pick_device(device)
        # Ray gives each GPU actor its own visible device, always index 0.
        os.environ.update(
            RANK=str(self.rank),
            WORLD_SIZE=str(self.world_size),
            LOCAL_RANK="0",
            MASTER_ADDR=master[0],
            MASTER_PORT=str(master[1]),
        )
        if dev.type == "cuda":
            torch.cuda.set_device(0)
        dist.init_process_group(
            backend="nccl" if dev.type == "cuda" else "gloo",
            init_method=f"tcp://{master[0]}:{master[1]}",
            rank=self.rank,
            world_size=self.world_size,
        )
        model, _ = load_model(model_path, dev, getattr(torch, dtype), tp_plan="auto")
        self.runner = ModelRunner(model, samples=self.rank == 0)
        # Report the local shard so callers can see the weights really are split.
        q = model.model.layers[0].self_attn.q_proj.weight
        local = q.to_local() if hasattr(q, "to_local") else q
        return {
            "rank": self.rank,
            "backend": dist.get_backend(),
            "device": str(dev),
            "q_proj_local_shape": list(local.shape),
        }

    def step(self, plan: StepPlan) -> dict[str, int]:
        out: dict[str, int] = self.runner.step(plan)
        return out

    def cached_tokens(self) -> tuple[int, int]:
        out: tuple[int, int] = self.runner.cached_tokens()
        return out

    def shutdown(self) -> None:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


class TPRunner:
    """Drives N ``TPWorker`` ranks in lockstep; same interface as ``ModelRunner``."""

    def __init__(
        self,
        model_path: str,
        size: int,
        *,
        device: str,
        dtype: str,
        cpus_per_rank: float = 1.0,
        threads: int = 0,
        placement: PlacementGroup | None = None,
    ) -> None:
        self.size = size
        use_gpu = device == "cuda"
        bundle: dict[str, float] = {"CPU": cpus_per_rank}
        if use_gpu:
            bundle["GPU"] = 1
        self._own_pg = placement is None
        if placement is None:
            placement = placement_group([dict(bundle) for _ in range(size)], strategy="STRICT_PACK")
            ray.get(placement.ready(), timeout=300)
        self.placement = placement
        actor: Any = ray.remote(TPWorker)
        self.workers: list[Any] = [
            actor.options(
                num_cpus=cpus_per_rank,
                num_gpus=1 if use_gpu else 0,
                scheduling_strategy=PlacementGroupSchedulingStrategy(
                    placement, placement_group_bundle_index=r
                ),
            ).remote(r, size, threads)
            for r in range(size)
        ]
        master = ray.get(self.workers[0].address.remote())
        self.info = ray.get([w.setup.remote(master, str(model_path), device, dtype) for w in self.workers])
        log.info("tensor-parallel group ready: %s", self.info)

    def step(self, plan: StepPlan) -> dict[str, int]:
        results = ray.get([w.step.remote(plan) for w in self.workers])
        out: dict[str, int] = results[0]
        return out

    def cached_tokens(self) -> tuple[int, int]:
        out: tuple[int, int] = tuple(ray.get(self.workers[0].cached_tokens.remote()))
        return out

    def add_adapter(self, name: str, path: str) -> None:
        raise FailedPrecondition(
            "LoRA adapters are not supported with tensor_parallel_size > 1 yet", field="adapter"
        )

    def remove_adapter(self, name: str) -> None:
        return None

    def shutdown(self) -> None:
        try:
            ray.get([w.shutdown.remote() for w in self.workers], timeout=30)
        except Exception:  # best effort: the actors are killed next anyway
            log.warning("tensor-parallel shutdown did not complete", exc_info=True)
        for w in self.workers:
            ray.kill(w)
        if self._own_pg:
            remove_placement_group(self.placement)
