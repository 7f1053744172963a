"""A run folder's rows as tables and progress: what the Train page draws, testable without Streamlit."""

from __future__ import annotations

import numbers
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
    whole = {c: "Int64" for c in columns[1:] if _all_int(_values(rows, c))}
    return frame[columns].astype(whole).to_csv(index=False)


def _values(rows: list[dict[str, Any]], column: str) -> list[Any]:
    """The logged values that land in ``column`` of the CSV (eval rows only give EVAL_COLUMNS)."""
    kinds = {k for k, cols in (("train", TRAIN_COLUMNS), ("eval", EVAL_COLUMNS)) if column in cols}
    return [r.get(column) for r in rows if r.get("kind") in kinds and r.get(column) is not None]


def _all_int(values: list[Any]) -> bool:
    """Logged as ints (step, examples): print '128', not the '128.0' that NaN-padding makes of them.

    Decided by the logged type, not the value, so a loss or accuracy of exactly 1.0 stays a float.
    """
    return bool(values) and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values)


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


_DAY = 86400
_YEAR = 365.25 * _DAY


def duration_text(seconds: float | None) -> str:
    """'1 h 05 min', '4 min 10 s', '12 s'; days from 48 h and years from 365 days, not '41148298 h'."""
    if seconds is None:
        return "–"
    s = int(round(seconds))
    if s == 0 and seconds > 0:
        return "< 1 s"
    if s >= 365 * _DAY:
        years = round(s / _YEAR)
        return f"{years:,} year{'' if years == 1 else 's'}"
    if s >= 2 * _DAY:
        return f"{s // _DAY} days {s % _DAY // 3600} h"
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"
