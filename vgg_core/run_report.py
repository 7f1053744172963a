"""A run's rows as tables, progress and words: what the Train page draws, testable without Streamlit."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .locale import CORE
from .run_config import RunConfig
from .run_rows import Metrics, TrainRow
from .spec import ArchSpec, arch_text

if TYPE_CHECKING:  # pandas is imported where a frame is made: a training process needs only duration_text
    import pandas as pd

TRAIN_COLUMNS = tuple(f.name for f in dataclasses.fields(TrainRow) if f.name != "kind")
EVAL_COLUMNS = ("epoch", "test_loss", "test_acc")
WHOLE_COLUMNS = ("step", "examples")  # logged as ints: printed '128', never '128.0'


@dataclass(frozen=True)
class Progress:
    fraction: float  # 0..1 of all planned training steps
    steps: int
    total_steps: int | None
    epoch: float  # epochs completed, fractional
    epochs: int | None  # planned
    examples_per_sec: float | None
    eta_s: float | None  # None until the rate is known


def train_frame(metrics: Metrics) -> pd.DataFrame:
    """One row per logged step; ``epoch`` is fractional, the x-axis of d2l's Animator."""
    import pandas as pd

    return pd.DataFrame([dataclasses.astuple(r)[:-1] for r in metrics.train], columns=list(TRAIN_COLUMNS))


def eval_frame(metrics: Metrics) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame([(float(r.epoch), r.test_loss, r.test_acc) for r in metrics.evals], columns=list(EVAL_COLUMNS))


def metrics_csv(metrics: Metrics) -> str:
    """Train and eval rows in one CSV, ``kind`` telling them apart; status rows are left out."""
    import pandas as pd

    frame = pd.concat([train_frame(metrics).assign(kind="train"), eval_frame(metrics).assign(kind="eval")],
                      ignore_index=True)
    columns = ["kind", *dict.fromkeys((*TRAIN_COLUMNS, *EVAL_COLUMNS))]
    return frame[columns].astype({c: "Int64" for c in WHOLE_COLUMNS}).to_csv(index=False)


def progress(config: RunConfig | None, metrics: Metrics) -> Progress:
    """Share of the planned steps done and the time left at the rate so far."""
    total = config.total_steps if config else None
    epochs = config.settings.epochs if config else None
    last: TrainRow | None = metrics.last_train
    steps = last.step if last else 0
    epoch = last.epoch if last else 0.0
    if metrics.evals:
        epoch = max(epoch, float(metrics.evals[-1].epoch))
    fraction = min(1.0, steps / total) if total else 0.0
    eta = None
    if last and total and steps > 0 and last.elapsed_s:
        eta = last.elapsed_s / steps * max(0, total - steps)
    return Progress(fraction, steps, total, epoch, epochs, last.examples_per_sec if last else None, eta)


def blocks_text(spec: ArchSpec | None) -> str:
    """A run's blocks as built, channels after the ratio: '1x16 1x32k5', 'AlexNet' ('?' when its spec is unknown)."""
    return arch_text(spec) if spec is not None else "?"


_DAY = 86400
_YEAR = 365.25 * _DAY


def duration_text(seconds: float | None, lang: str = "en") -> str:
    """'1 h 05 min', '4 min 10 s', '12 s'; days from 48 h and years from 365 days, not '41148298 h'."""
    if seconds is None:
        return CORE.text(lang, "duration.none")
    s = int(round(seconds))
    if s == 0 and seconds > 0:
        return CORE.text(lang, "duration.under_second")
    if s >= 365 * _DAY:
        return CORE.plural(lang, "duration.years", round(s / _YEAR))
    if s >= 2 * _DAY:
        return CORE.text(lang, "duration.days", d=s // _DAY, h=s % _DAY // 3600)
    if s >= 3600:
        return CORE.text(lang, "duration.hours", h=s // 3600, m=f"{s % 3600 // 60:02d}")
    if s >= 60:
        return CORE.text(lang, "duration.minutes", m=s // 60, s=f"{s % 60:02d}")
    return CORE.text(lang, "duration.seconds", s=s)


__all__ = ["Progress", "train_frame", "eval_frame", "metrics_csv", "progress", "blocks_text", "duration_text"]
