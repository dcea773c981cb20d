"""``keel-training serve`` runs the job API; ``keel-training worker`` runs a Celery worker."""

from __future__ import annotations

import argparse
import sys

from keel_common.logging import configure_logging
from keel_training.config import QUEUES, TrainingSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="keel-training", description="Keel training: job API and workers")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the gRPC job API (and the lost-worker reaper)")
    w = sub.add_parser("worker", help="run a Celery worker that trains jobs")
    w.add_argument(
        "--queues",
        default="",
        help=f"comma-separated, from {', '.join(QUEUES)}; "
        "default: train.gpu when CUDA is visible, else train.cpu",
    )
    w.add_argument("--concurrency", type=int, default=1, help="jobs at once (one per GPU)")
    args = parser.parse_args(argv)
    settings = TrainingSettings()
    configure_logging("training", settings.log_level, settings.log_json)
    if args.command == "worker":
        queues = [q for q in args.queues.split(",") if q]
        if not queues:
            import torch

            queues = ["train.gpu" if torch.cuda.is_available() else "train.cpu"]
        unknown = [q for q in queues if q not in QUEUES]
        if unknown:
            parser.error(f"unknown queue(s) {', '.join(unknown)}; choose from {', '.join(QUEUES)}")
        from keel_training.worker.process import run_worker

        return run_worker(settings, queues, args.concurrency)
    from keel_training.grpc_api import build

    build(settings).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
