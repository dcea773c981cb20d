"""``keel-inference serve``: start (or join) Ray, deploy the Serve app, block until SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from keel_common.logging import configure_logging
from keel_inference.config import InferenceSettings

log = logging.getLogger("keel_inference")


def start_ray(settings: InferenceSettings) -> None:
    import ray

    from keel_inference.app import FRONT_RESOURCE
    from keel_inference.ray_local import init_local

    if ray.is_initialized():
        return
    if settings.ray_address:
        ray.init(address=settings.ray_address, log_to_driver=False)
        return
    kwargs: dict[str, object] = {}
    if settings.ray_num_cpus:
        kwargs["num_cpus"] = settings.ray_num_cpus
    # Local mode: this node hosts the gRPC front; a fresh instance, never one that happens to run
    # on this machine.
    init_local(
        include_dashboard=False,
        log_to_driver=settings.log_level == "DEBUG",
        resources={FRONT_RESOURCE: 1},
        **kwargs,  # type: ignore[arg-type]
    )


def deploy(settings: InferenceSettings) -> None:
    from ray import serve

    from keel_inference.app import build_app

    serve.start(proxy_location="Disabled")
    serve.run(build_app(settings.model_dump(mode="json")), name=settings.app_name, route_prefix=None)


def serve_main(settings: InferenceSettings) -> int:
    stop = threading.Event()

    def _signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal received", extra={"signal": signal.Signals(signum).name})
        stop.set()

    start_ray(settings)
    # After ray.init, which installs handlers of its own.
    signal.signal(signal.SIGTERM, _signal)
    signal.signal(signal.SIGINT, _signal)
    try:
        deploy(settings)
        log.info("serving", extra={"grpc_port": settings.grpc_port, "http_port": settings.http_port})
        stop.wait()
    finally:
        from ray import serve

        serve.shutdown()  # type: ignore[no-untyped-call]
        import ray

        ray.shutdown()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="keel-inference")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("serve", help="run the Ray Serve application until SIGTERM")
    sub.add_parser("convert", help="convert the configured model into the model cache and exit")
    args = parser.parse_args(argv)
    settings = InferenceSettings()
    configure_logging("inference", settings.log_level, settings.log_json)
    if args.cmd == "convert":
        from keel_common.artifacts import ArtifactStore
        from keel_common.loader import resolve_source

        store = ArtifactStore(settings.resolved_artifact_root(), settings.artifact_endpoint_url)
        print(resolve_source(settings.model_source, settings.resolved_model_cache(), store).path)
        return 0
    return serve_main(settings)


if __name__ == "__main__":
    sys.exit(main())
