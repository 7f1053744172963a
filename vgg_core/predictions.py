"""``predictions.npz``: the test-set answers of a run's last evaluation, for looking inside it.

Collected during the evaluation that already runs after each epoch (no extra pass), written
atomically, each epoch replacing the last: per test example the true label, the predicted class
and the 10 softmax probabilities, plus the epoch. NumPy's format is read with ``allow_pickle=False``,
so a planted file can hold numbers only, and every array is checked before use.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .data import NUM_CLASSES, SPLITS
from .problems import ProblemsError, problem
from .run_folder import PREDICTIONS, atomic_write, run_file

MAX_BYTES = 8 << 20  # 10,000 x 10 float32 is 400 KB; a file far beyond is not ours


class PredictionsError(ProblemsError):
    """A predictions file that cannot be used."""


@dataclass(frozen=True)
class Predictions:
    epoch: int
    labels: np.ndarray  # int64 [N], the true classes
    probabilities: np.ndarray  # float32 [N, 10], softmax, rows sum to 1

    @property
    def predicted(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def save_predictions(path: Path, epoch: int, labels: torch.Tensor, probabilities: torch.Tensor) -> None:
    buf = io.BytesIO()
    np.savez(buf, epoch=np.int64(epoch), labels=labels.cpu().numpy().astype(np.uint8),
             predicted=probabilities.argmax(dim=1).cpu().numpy().astype(np.uint8),
             probabilities=probabilities.float().cpu().numpy())
    atomic_write(path, buf.getvalue())


def load_predictions(run_dir: str | os.PathLike) -> Predictions:
    """The run's last predictions; raises PredictionsError with one line."""
    path = run_file(Path(run_dir), PREDICTIONS)
    if path is None:
        raise PredictionsError(problem("predictions_missing", path=str(Path(run_dir) / PREDICTIONS)))
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ValueError("too large")
        with np.load(path, allow_pickle=False) as f:
            epoch, labels, probs = f["epoch"], f["labels"], f["probabilities"]
            return _checked(path, epoch, labels, probs)
    except PredictionsError:
        raise
    except Exception as e:  # noqa: BLE001 - any unreadable file is one refusal
        raise PredictionsError(problem("predictions_unreadable", path=str(path), why=type(e).__name__)) from None


def _checked(path: Path, epoch: np.ndarray, labels: np.ndarray, probs: np.ndarray) -> Predictions:
    n = labels.shape[0] if labels.ndim == 1 else -1
    ok = (
        epoch.shape == () and np.issubdtype(epoch.dtype, np.integer) and 0 <= int(epoch) <= 10**6
        and 0 < n <= SPLITS["t10k"] and np.issubdtype(labels.dtype, np.integer)
        and probs.shape == (n, NUM_CLASSES) and np.issubdtype(probs.dtype, np.floating)
        and bool(np.isfinite(probs).all()) and int(labels.min()) >= 0 and int(labels.max()) < NUM_CLASSES
    )
    if not ok:
        raise PredictionsError(problem("predictions_unreadable", path=str(path), why="unexpected contents"))
    return Predictions(int(epoch), labels.astype(np.int64), probs.astype(np.float32))
