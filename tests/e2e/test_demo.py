"""`keel demo` (what `make demo` runs) end to end, as a user would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_demo_runs_the_story(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("KEEL_REDIS_URL", "KEEL_REGISTRY_DATABASE_URL")}
    keel = str(Path(sys.executable).with_name("keel"))
    result = subprocess.run(
        [keel, "demo", "--data-dir", str(tmp_path)], env=env, capture_output=True, text=True, timeout=240
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "created support-bot/1" in out and "created support-bot/2" in out
    assert "support-bot              → support-bot/2 (via alias production)" in out
    assert "support-bot@production → 1" in out  # the rollback
    assert "NOT_FOUND: ref: model 'support-bot' has no alias 'does-not-exist'" in out
    assert "demo finished" in out
    # the platform was stopped and the data stayed where the user asked
    assert not (tmp_path / "platform" / "platform.json").exists()
    assert (tmp_path / "platform" / "registry.db").exists()
