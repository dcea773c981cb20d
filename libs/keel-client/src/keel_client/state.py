"""Where a local platform (``keel up``, from the keel-dev package) tells the CLI about itself:
``<data_dir>/platform.json`` (each component's addresses, pid, restarts) and the operator's
admin key in ``<data_dir>/gateway/admin-key``. The runner writes them; the CLI only reads them,
so `keel models`, `keel chat` ... find a running platform without flags and without keel-dev."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

STATE_FILE = "platform.json"


def default_data_dir() -> Path:
    return Path(os.environ.get("KEEL_DATA_DIR") or Path.home() / ".keel")


def gateway_dir(data_dir: Path) -> Path:
    return data_dir / "gateway"


def admin_key_path(data_dir: Path) -> Path:
    """Where ``keel up`` keeps the operator's admin key (the operator tenant's)."""
    return gateway_dir(data_dir) / "admin-key"


def read_secret(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


@dataclass
class Component:
    name: str
    grpc: str = ""
    http: str = ""
    url: str = ""
    pid: int = 0
    log: str = ""
    queues: str = ""  # a Celery worker: the queues it consumes
    # What the runner's supervisor saw: "running", "restarting" (waiting out its backoff) or
    # "failed"; how often it restarted the component, and how the last process ended.
    state: str = "running"
    restarts: int = 0
    last_exit: int | None = None


_FIELDS = {f.name for f in dataclasses.fields(Component)}


@dataclass
class PlatformState:
    data_dir: str
    components: dict[str, Component] = field(default_factory=dict)

    def save(self) -> None:
        """Replace the file atomically: readers never see half of it."""
        path = Path(self.data_dir) / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(
                {"data_dir": self.data_dir, "components": {k: asdict(v) for k, v in self.components.items()}},
                indent=2,
            )
        )
        tmp.replace(path)

    @classmethod
    def load(cls, data_dir: Path) -> PlatformState | None:
        path = data_dir / STATE_FILE
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        # Fields another version of the runner wrote are skipped, missing ones take defaults.
        comps = {
            k: Component(**{f: x for f, x in v.items() if f in _FIELDS}) for k, v in raw["components"].items()
        }
        return cls(raw["data_dir"], comps)
