"""Generate Python code (+ .pyi stubs and gRPC stubs) from proto/ with the pinned grpcio-tools.

python scripts/gen_proto.py --out libs/keel-proto/src          # regenerate
python scripts/gen_proto.py --out libs/keel-proto/src --check  # fail when stale
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
GENERATED_PACKAGE = "keel"  # every proto lives under proto/keel/..., so the output is <out>/keel/...


def generate(out: Path) -> None:
    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    well_known = str(resources.files("grpc_tools") / "_proto")
    out.mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_DIR}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")


def tree(base: Path) -> set[str]:
    return {str(p.relative_to(base)) for p in base.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    target = (args.out / GENERATED_PACKAGE).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        fresh = Path(tmp) / GENERATED_PACKAGE
        if args.check:
            have, want = tree(target) if target.exists() else set(), tree(fresh)
            stale = sorted(
                (have ^ want)
                | {f for f in have & want if not filecmp.cmp(target / f, fresh / f, shallow=False)}
            )
            if stale:
                print("generated code is stale; run `make proto`:", *stale, sep="\n  ", file=sys.stderr)
                return 1
            print(f"generated code is up to date ({len(want)} files)")
            return 0
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(fresh, target)
        print(f"generated {len(tree(target))} files under {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
