"""QA synthesis names its model as a base model id or a registry ref; a ref resolves through a
real registry gRPC server to its base model and adapter (generation with adapters is the
inference service's, tested there and end to end)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from keel_client.registry import RegistryClient
from keel_common.contract import DEFAULT_BASE_MODEL
from keel_common.errors import InvalidArgument
from keel_ingestion.synthesis_client import InferenceGenerator


def test_a_registry_ref_resolves_to_its_base_model_and_adapter(
    registry_factory: Callable[..., Any], tmp_path: Path
) -> None:
    reg = registry_factory(None)
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    target = f"127.0.0.1:{reg.grpc_port}"
    with RegistryClient(target, actor="test") as rc:
        rc.create_model("writer", tenant="acme")
        ref = rc.upload_dir("writer", adapter)
        rc.create_version("writer", DEFAULT_BASE_MODEL, artifact_uri=ref.uri, artifact_sha256=ref.sha256)
        rc.set_alias("writer", "production", 1)
    bases = [DEFAULT_BASE_MODEL]
    with grpc.insecure_channel("127.0.0.1:1") as inference, grpc.insecure_channel(target) as registry:
        base = InferenceGenerator(inference, DEFAULT_BASE_MODEL, bases, registry)
        assert base.base == DEFAULT_BASE_MODEL and base.adapter is None
        for name in ("writer@production", "writer/1", "writer"):
            gen = InferenceGenerator(inference, name, bases, registry)
            assert gen.base == DEFAULT_BASE_MODEL and gen.adapter is not None
            assert (gen.adapter.ref, gen.adapter.artifact_uri) == ("writer/1", ref.uri)
        with pytest.raises(InvalidArgument) as err:
            InferenceGenerator(inference, "nobody@production", bases, registry)
        assert err.value.field == "qa_synthesis.model" and "nobody" in err.value.message
        with pytest.raises(InvalidArgument) as err:
            InferenceGenerator(inference, "writer/1", bases, None)
        assert "no registry is configured" in err.value.message
