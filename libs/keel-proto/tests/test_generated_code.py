"""The generated code is importable and `make proto-check` notices when it is stale."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
GEN = [sys.executable, str(ROOT / "scripts" / "gen_proto.py")]


def test_every_service_contract_is_generated_and_importable() -> None:
    import importlib

    for service in ("registry", "inference", "training", "ingestion", "feedback"):
        pb2 = importlib.import_module(f"keel.{service}.v1.{service}_pb2")
        grpc_mod = importlib.import_module(f"keel.{service}.v1.{service}_pb2_grpc")
        assert pb2.DESCRIPTOR.package == f"keel.{service}.v1"
        assert pb2.DESCRIPTOR.services_by_name, f"{service} declares no service"
        name = next(iter(pb2.DESCRIPTOR.services_by_name))
        assert hasattr(grpc_mod, f"{name}Stub")
        assert (Path(pb2.__file__).with_suffix(".pyi")).exists()


def test_check_detects_stale_missing_and_extra_files(tmp_path: Path) -> None:
    out = tmp_path / "src"
    shutil.copytree(ROOT / "libs" / "keel-proto" / "src" / "keel", out / "keel")
    assert subprocess.run([*GEN, "--check", "--out", str(out)], capture_output=True).returncode == 0
    stub = out / "keel" / "registry" / "v1" / "registry_pb2.pyi"
    stub.write_text(stub.read_text() + "\n# edited by hand\n")
    result = subprocess.run([*GEN, "--check", "--out", str(out)], capture_output=True, text=True)
    assert result.returncode == 1 and "registry_pb2.pyi" in result.stderr
    stub.unlink()
    (out / "keel" / "stray_pb2.py").write_text("")
    result = subprocess.run([*GEN, "--check", "--out", str(out)], capture_output=True, text=True)
    assert result.returncode == 1 and "registry_pb2.pyi" in result.stderr and "stray_pb2.py" in result.stderr
    assert subprocess.run([*GEN, "--out", str(out)], capture_output=True).returncode == 0
    assert subprocess.run([*GEN, "--check", "--out", str(out)], capture_output=True).returncode == 0
