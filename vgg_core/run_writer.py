"""The training process's handle on its run folder; every write survives a crash right after it.

Rows are appended and flushed line by line (statuses also synced to disk); config, weights and
predictions are replaced atomically. Only the process that trains a run writes its folder: the
writer holds an exclusive lock on ``metrics.jsonl`` for its life (released by the kernel however
the process ends), so a second writer, such as a second resume of the same run, is refused.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any

import torch

from .predictions import save_predictions
from .problems import Problem, problem
from .run_config import RunConfig
from .run_folder import METRICS, MODEL, PREDICTIONS, STOP, TRACEBACK, RunDirError, atomic_write, check_new_run_dir
from .run_rows import StatusRow, Row, to_json
from .spec import ArchSpec
from .weights import save_weights


class RunWriter:
    def __init__(self, run_dir: str | os.PathLike, resume: bool = False):
        """A new (or prepared) folder; with ``resume``, the folder of the run being continued, whose
        rows are appended to."""
        self.dir = Path(os.path.abspath(run_dir)) if resume else check_new_run_dir(Path(run_dir))
        self.dir.mkdir(parents=True, exist_ok=True)
        self._metrics = open(self.dir / "metrics.jsonl", "a", encoding="utf-8")
        try:
            fcntl.flock(self._metrics.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._metrics.close()
            why = problem("resume_live", run=self.dir.name, state="running") if resume else problem(
                "run_dir_used", path=str(self.dir))
            raise RunDirError(why) from None

    @property
    def stop_file(self) -> Path:
        return self.dir / STOP

    def row(self, row: Row, sync: bool = False) -> None:
        self._metrics.write(json.dumps(to_json(row), allow_nan=False) + "\n")
        self._metrics.flush()
        if sync:
            os.fsync(self._metrics.fileno())

    def status(self, state: str, *, pid: int | None = None, problem: Problem | None = None,
               reason: str | None = None, **summary: Any) -> None:
        error = str(problem) if problem is not None else None
        self.row(StatusRow(state, round(time.time(), 3), pid, error, problem, reason, summary), sync=True)

    def write_config(self, config: RunConfig) -> None:
        config.write(self.dir)

    def save_weights(self, state: dict[str, torch.Tensor], spec: ArchSpec, **extra: Any) -> Path:
        return save_weights(self.dir / MODEL, state, spec, **extra)

    def save_predictions(self, epoch: int, labels: torch.Tensor, probabilities: torch.Tensor) -> None:
        save_predictions(self.dir / PREDICTIONS, epoch, labels, probabilities)

    def write_traceback(self, text: str) -> None:
        atomic_write(self.dir / TRACEBACK, text.encode())

    def close(self) -> None:
        self._metrics.close()


def append_status(run_dir: str | os.PathLike, state: str, problem: Problem | None = None, **summary: Any) -> None:
    """One status line added to a run whose own process ended without its final one (a rank 0 that was
    killed): written by whoever watched that process, the one exception to "only the run writes its folder"."""
    error = str(problem) if problem is not None else None
    row = StatusRow(state, round(time.time(), 3), None, error, problem, None, summary)
    path = Path(run_dir) / METRICS
    torn = _last_byte(path) not in (None, b"\n")
    with open(path, "a", encoding="utf-8") as f:  # a line cut short by the kill stays a line of its own
        f.write(("\n" if torn else "") + json.dumps(to_json(row), allow_nan=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _last_byte(path: Path) -> bytes | None:
    try:
        with open(path, "rb") as f:
            if f.seek(0, os.SEEK_END) == 0:
                return None
            f.seek(-1, os.SEEK_END)
            return f.read(1)
    except FileNotFoundError:
        return None
