"""Run folders: written by the training process, read by the app, safe against a crash of either.

One folder per run under the runs root ($VGG_RUNS_DIR, default ./runs):
  config.json    spec, hyperparameters, device, versions (replaced atomically when it grows)
  metrics.jsonl  one JSON object per line, appended and flushed line by line:
                 {"kind": "status", "state": "running" | "completed" | "stopped" | "failed", ...}
                 {"kind": "train", "epoch", "step", "examples", "elapsed_s", "train_loss", "train_acc", "examples_per_sec"}
                 {"kind": "eval", "epoch", "test_loss", "test_acc", ...}
  model.pt       {"state_dict", "spec", ...}, written atomically at the end and on stop
  STOP           created by whoever wants the run to end; the trainer polls for it every step
A reader never trusts the last line to be whole, and a "running" run whose process is gone is "lost".
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .spec import ArchSpec

RUNS_DIR_ENV = "VGG_RUNS_DIR"
CONFIG, METRICS, MODEL, STOP, TRACEBACK = "config.json", "metrics.jsonl", "model.pt", "STOP", "traceback.txt"
LAUNCH, LOG = "launch.json", "log.txt"  # written by vgg_core.launch when the app starts a run
STATES = ("running", "completed", "stopped", "failed")
FINAL_STATES = ("completed", "stopped", "failed")
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class RunDirError(ValueError):
    pass


# --- where runs live ----------------------------------------------------------------------------

def runs_root() -> Path:
    return Path(os.environ.get(RUNS_DIR_ENV) or "runs").expanduser().resolve()


def new_run_id() -> str:
    """Sortable by start time, unique without a lock: 20261127-183102-3f9a1c."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def safe_run_dir(root: str | os.PathLike, run_id: str) -> Path:
    """``root/run_id`` only if run_id is a plain folder name that stays inside root (no '/', '..', links out)."""
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id) or run_id.strip(".") == "":
        raise RunDirError(
            f"run id {str(run_id)[:60]!r} is not allowed: use 1-128 letters, digits, '.', '_' or '-', not starting with '.' or '-'"
        )
    root = Path(root).expanduser().resolve()
    path = root / run_id
    if path.resolve().parent != root:
        raise RunDirError(f"run id {run_id!r} leads outside the runs folder {root}")
    return path


def holds_run(run_dir: Path) -> bool:
    return (run_dir / METRICS).exists() or (run_dir / CONFIG).exists()


def refuse_used_run_dir(run_dir: Path) -> None:
    """A folder that already holds a run is never written into: its rows and weights would mix with a new run's."""
    if holds_run(run_dir):
        raise RunDirError(f"run folder {run_dir} already holds a run; choose a new --run-dir")


def request_stop(run_dir: str | os.PathLike) -> Path:
    """Ask a run to end: it saves its weights and writes 'stopped' within a step or two."""
    path = Path(run_dir) / STOP
    path.touch()
    return path


# --- writing (the training process) -------------------------------------------------------------

class RunWriter:
    """The training process's handle on its run folder; every write survives a crash right after it."""

    def __init__(self, run_dir: str | os.PathLike):
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        refuse_used_run_dir(self.dir)
        self._metrics = open(self.dir / METRICS, "a", encoding="utf-8")

    @property
    def stop_file(self) -> Path:
        return self.dir / STOP

    def append(self, row: dict[str, Any], sync: bool = False) -> None:
        self._metrics.write(json.dumps(_jsonable(row), allow_nan=False) + "\n")
        self._metrics.flush()
        if sync:
            os.fsync(self._metrics.fileno())

    def status(self, state: str, **extra: Any) -> None:
        if state not in STATES:
            raise ValueError(f"unknown run state {state!r}")
        self.append({"kind": "status", "state": state, "time": round(time.time(), 3), **extra}, sync=True)

    def write_config(self, config: dict[str, Any]) -> None:
        _atomic_write(self.dir / CONFIG, (json.dumps(_jsonable(config), indent=2) + "\n").encode())

    def save_model(self, model: torch.nn.Module, spec: ArchSpec, **extra: Any) -> Path:
        state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        path = self.dir / MODEL
        tmp = path.with_name(f".{MODEL}.{os.getpid()}.tmp")
        torch.save({"format": 1, "state_dict": state, "spec": spec.to_dict(), **extra}, tmp)
        os.replace(tmp, path)
        return path

    def write_traceback(self, text: str) -> None:
        _atomic_write(self.dir / TRACEBACK, text.encode())

    def close(self) -> None:
        self._metrics.close()


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


# --- reading (the app) ---------------------------------------------------------------------------

@dataclass(frozen=True)
class RunState:
    state: str  # running | completed | stopped | failed | lost | starting
    reason: str | None = None  # the failure's one line, what stopped it, or why it counts as lost
    pid: int | None = None


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    path: Path
    state: RunState
    config: dict[str, Any] | None
    started: float  # unix time, for sorting
    last_train: dict[str, Any] | None = None
    last_eval: dict[str, Any] | None = None
    rows: int = field(default=0)


def read_config(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    try:
        value = json.loads((Path(run_dir) / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def read_metrics(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Every whole row; a line being written at this moment (or torn by a crash) is left out."""
    try:
        text = (Path(run_dir) / METRICS).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("kind"), str):
            rows.append(row)
    return rows


def run_state(run_dir: str | os.PathLike, rows: list[dict[str, Any]] | None = None) -> RunState:
    """The last status written, with 'running' checked against the process table."""
    rows = read_metrics(run_dir) if rows is None else rows
    statuses = [r for r in rows if r["kind"] == "status" and r.get("state") in STATES]
    if not statuses:
        return _launch_state(Path(run_dir))
    last = statuses[-1]
    pid = last.get("pid") or next((r.get("pid") for r in reversed(statuses) if r.get("pid")), None)
    state = last["state"]
    if state == "running":
        if isinstance(pid, int) and not _process_alive(pid, last.get("time")):
            return RunState("lost", f"the training process (pid {pid}) ended without writing a final status", pid)
        return RunState("running", None, pid)
    return RunState(state, last.get("error") or last.get("reason"), pid)


def _launch_state(run_dir: Path) -> RunState:
    """No status yet: 'starting' while the launched process lives, else 'failed' with its last words."""
    try:
        launch = json.loads((run_dir / LAUNCH).read_text(encoding="utf-8"))
        pid, since = int(launch["pid"]), float(launch["time"])
    except (OSError, ValueError, KeyError, TypeError):
        return RunState("starting", "no status written yet")
    if _process_alive(pid, since):
        return RunState("starting", "the training process is starting", pid)
    return RunState("failed", _last_line(run_dir / LOG) or "the training process ended before it started", pid)


def _last_line(path: Path) -> str | None:
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    except OSError:
        return None
    return next((line[:300] for line in reversed(lines) if line), None)


def list_runs(root: str | os.PathLike | None = None) -> list[RunInfo]:
    """Every run folder under root, newest first."""
    root = Path(root) if root is not None else runs_root()
    if not root.is_dir():
        return []
    infos = []
    for path in root.iterdir():
        if not path.is_dir() or not _RUN_ID.fullmatch(path.name) or not (holds_run(path) or (path / LAUNCH).exists()):
            continue
        rows = read_metrics(path)
        config = read_config(path)
        started = (config or {}).get("started_unix") or next((r.get("time") for r in rows if r["kind"] == "status"), None)
        infos.append(
            RunInfo(
                run_id=path.name, path=path, state=run_state(path, rows), config=config,
                started=float(started) if isinstance(started, (int, float)) else path.stat().st_mtime,
                last_train=next((r for r in reversed(rows) if r["kind"] == "train"), None),
                last_eval=next((r for r in reversed(rows) if r["kind"] == "eval"), None),
                rows=len(rows),
            )
        )
    return sorted(infos, key=lambda i: (i.started, i.run_id), reverse=True)


def load_model(run_dir: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, ArchSpec, dict[str, Any]]:
    """(model in eval mode, its spec, the rest of model.pt) from a finished or stopped run."""
    from .model import build_model

    saved = torch.load(Path(run_dir) / MODEL, map_location=device, weights_only=True)
    spec = ArchSpec.from_dict(saved["spec"])
    model = build_model(spec)
    model.load_state_dict(saved["state_dict"])
    model.to(device).eval()
    return model, spec, {k: v for k, v in saved.items() if k not in ("state_dict", "spec")}


def _process_alive(pid: int, since: float | None) -> bool:
    """Alive, not a zombie, and not a newer process that reused the pid."""
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return since is None or proc.create_time() <= float(since) + 1.0
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True
