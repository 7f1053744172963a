"""A run folder's rows as tables and progress: what the Train page draws, testable without Streamlit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from .spec import format_compact

TRAIN_COLUMNS = ("epoch", "step", "examples", "elapsed_s", "train_loss", "train_acc", "examples_per_sec")
EVAL_COLUMNS = ("epoch", "test_loss", "test_acc")


@dataclass(frozen=True)
class Progress:
    fraction: float  # 0..1 of all planned training steps
    steps: int
    total_steps: int | None
    epoch: float  # epochs completed, fractional
    examples_per_sec: float | None
    eta_s: float | None  # None until the rate is known


def train_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per logged step; ``epoch`` is fractional, the x-axis of d2l's Animator."""
    return pd.DataFrame([{c: r.get(c) for c in TRAIN_COLUMNS} for r in rows if r.get("kind") == "train"],
                        columns=list(TRAIN_COLUMNS))


def eval_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame([{c: r.get(c) for c in EVAL_COLUMNS} for r in rows if r.get("kind") == "eval"],
                        columns=list(EVAL_COLUMNS))


def metrics_csv(rows: list[dict[str, Any]]) -> str:
    """Train and eval rows in one CSV, ``kind`` telling them apart; status rows are left out."""
    frame = pd.concat(
        [train_frame(rows).assign(kind="train"), eval_frame(rows).assign(kind="eval")], ignore_index=True
    )
    columns = ["kind", *dict.fromkeys((*TRAIN_COLUMNS, *EVAL_COLUMNS))]
    return frame[columns].to_csv(index=False)


def progress(config: dict[str, Any] | None, rows: list[dict[str, Any]]) -> Progress:
    """Share of the planned steps done and the time left at the rate so far."""
    config = config or {}
    total = config.get("total_steps")
    last = next((r for r in reversed(rows) if r.get("kind") == "train"), None)
    steps = int(last["step"]) if last and isinstance(last.get("step"), int) else 0
    evals = [r for r in rows if r.get("kind") == "eval"]
    epoch = float(last["epoch"]) if last and isinstance(last.get("epoch"), (int, float)) else 0.0
    if evals:
        epoch = max(epoch, float(evals[-1].get("epoch") or 0))
    if isinstance(total, int) and total > 0:
        fraction = min(1.0, steps / total)
    else:
        fraction = 0.0
    rate = last.get("examples_per_sec") if last else None
    eta = None
    if last and isinstance(total, int) and steps > 0:
        elapsed = float(last.get("elapsed_s") or 0.0)
        if elapsed > 0:
            eta = elapsed / steps * max(0, total - steps)
    return Progress(fraction, steps, total if isinstance(total, int) else None, epoch,
                    float(rate) if isinstance(rate, (int, float)) else None, eta)


def blocks_text(config: dict[str, Any] | None) -> str:
    """A run's blocks as built, channels after the ratio: '1x16 1x32' ('?' before config.json exists)."""
    spec = (config or {}).get("spec") or {}
    blocks, ratio = spec.get("conv_arch"), spec.get("ratio", 1)
    return format_compact([(n, c // ratio) for n, c in blocks]) if blocks else "?"


def duration_text(seconds: float | None) -> str:
    """'1 h 05 min', '4 min 10 s', '12 s'."""
    if seconds is None:
        return "–"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"
