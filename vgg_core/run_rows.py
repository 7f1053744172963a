"""The rows of ``metrics.jsonl`` as typed records: written by the trainer, read back without trust.

One JSON object per line, told apart by ``kind``:
  train   {"epoch", "step", "examples", "elapsed_s", "train_loss", "train_acc", "examples_per_sec"}
  eval    {"epoch", "step", "examples", "elapsed_s", "test_loss", "test_acc"}
  status  {"state": running | completed | stopped | failed, "time", "pid", "error", "problem", ...}
  system  {"elapsed_s", "cpu_percent", "rss_mib", ...} (a resource sample: fields in ``vgg_core.resources``)
A resumed run appends a ``running`` status with ``resumed_epoch``, ``resumed_step`` and
``resumed_elapsed_s``: the rows after that point, written by the unfinished epoch that the stop
cut short, are dropped on reading, so the rows read as one uninterrupted run.
Reading checks every field: a value of the wrong type or out of range becomes None, a row without
its kind's essentials is skipped, and a line that is not JSON (half-written, torn by a crash,
planted, nested 100,000 deep) is skipped. ``MetricsFile`` reads only what was appended since the
last call, so watching a live run costs the bytes it writes, and a finished run costs one stat.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .problems import Problem

STATES = ("running", "completed", "stopped", "failed")
FINAL_STATES = ("completed", "stopped", "failed")
MAX_LINE = 1 << 16  # longer lines are not rows this app writes
_MAX_TIME = 1e11  # unix seconds, year 5138: beyond is not a time


@dataclass(frozen=True)
class TrainRow:
    """d2l's running averages at a logged step; ``epoch`` is fractional, the Animator's x-axis."""

    epoch: float
    step: int
    examples: int
    elapsed_s: float | None = None
    train_loss: float | None = None
    train_acc: float | None = None
    examples_per_sec: float | None = None
    kind: str = field(default="train", init=False)


@dataclass(frozen=True)
class EvalRow:
    """Test loss and accuracy after an epoch, in eval mode."""

    epoch: int
    step: int | None = None
    examples: int | None = None
    elapsed_s: float | None = None
    test_loss: float | None = None
    test_acc: float | None = None
    kind: str = field(default="eval", init=False)


@dataclass(frozen=True)
class StatusRow:
    """A change of state; a final one carries the run's summary figures."""

    state: str
    time: float | None = None
    pid: int | None = None
    error: str | None = None  # the failure's English line
    problem: Problem | None = None  # the same failure as data, for every language
    reason: str | None = None  # what stopped it (SIGTERM, STOP file)
    summary: dict[str, float | int | None] = field(default_factory=dict)
    kind: str = field(default="status", init=False)


@dataclass(frozen=True)
class SystemRow:
    """One resource sample of the run's process (and its GPUs); ``values`` are numbers or None."""

    elapsed_s: float
    values: dict[str, float | None] = field(default_factory=dict)
    kind: str = field(default="system", init=False)


Row = TrainRow | EvalRow | StatusRow | SystemRow


def to_json(row: Row) -> dict[str, Any]:
    """The JSON object written for ``row``: its fields, with summary/values spread out, NaN as null."""
    d = {f.name: getattr(row, f.name) for f in dataclasses.fields(row) if f.name != "kind"}
    extra = {**d.pop("summary", {}), **d.pop("values", {})}
    if isinstance(row, StatusRow):
        d["problem"] = row.problem.to_dict() if row.problem else None
        d = {k: v for k, v in d.items() if v is not None}
    return {"kind": row.kind, **{k: _finite(v) for k, v in {**d, **extra}.items()}}


# --- reading -------------------------------------------------------------------------------------


def parse_row(data: Any) -> Row | None:
    """A typed row from one decoded line, or None if it is not a row this app writes."""
    if not isinstance(data, dict):
        return None
    reader = _READERS.get(data.get("kind"))  # type: ignore[arg-type]
    return reader(data) if reader else None


def _train(d: dict) -> TrainRow | None:
    epoch, step, examples = _num(d, "epoch"), _int(d, "step"), _int(d, "examples")
    if epoch is None or step is None:
        return None
    return TrainRow(epoch, step, examples if examples is not None else 0, _num(d, "elapsed_s"),
                    _num(d, "train_loss"), _share(d, "train_acc"), _num(d, "examples_per_sec"))


def _eval(d: dict) -> EvalRow | None:
    epoch = _int(d, "epoch")
    if epoch is None:
        return None
    return EvalRow(epoch, _int(d, "step"), _int(d, "examples"), _num(d, "elapsed_s"),
                   _num(d, "test_loss"), _share(d, "test_acc"))


def _status(d: dict) -> StatusRow | None:
    state = d.get("state")
    if state not in STATES:
        return None
    pid = _int(d, "pid")
    known = {"kind", "state", "time", "pid", "error", "problem", "reason"}
    summary = {k: _num(d, k) for k in d if k not in known and isinstance(k, str) and len(k) < 64}
    return StatusRow(state, _time(d.get("time")), pid if pid and pid > 0 else None, _text(d, "error"),
                     Problem.from_dict(d.get("problem")), _text(d, "reason"), summary)


def _system(d: dict) -> SystemRow | None:
    elapsed = _num(d, "elapsed_s")
    if elapsed is None:
        return None
    values = {k: _num(d, k) for k in d if k not in ("kind", "elapsed_s") and isinstance(k, str) and len(k) < 64}
    return SystemRow(elapsed, values)


_READERS: dict[str, Callable[[dict], Row | None]] = {"train": _train, "eval": _eval, "status": _status, "system": _system}


def _num(d: dict, key: str) -> float | None:
    v = d.get(key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and _finite_num(v) else None


def _int(d: dict, key: str) -> int | None:
    v = d.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) and abs(v) < 2**53 else None


def _share(d: dict, key: str) -> float | None:
    v = _num(d, key)
    return v if v is not None and 0.0 <= v <= 1.0 else None


def _time(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < _MAX_TIME else None


def _text(d: dict, key: str) -> str | None:
    v = d.get(key)
    return v[:500] if isinstance(v, str) else None


def _finite_num(v: int | float) -> bool:
    try:
        return math.isfinite(float(v))
    except OverflowError:  # an int of 400 digits
        return False


def _finite(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def decode_line(line: bytes) -> Row | None:
    """One line of the file; anything that is not a whole, sane row is None."""
    if len(line) > MAX_LINE:
        return None
    try:
        return parse_row(json.loads(line))
    except (ValueError, RecursionError):
        return None


@dataclass
class Metrics:
    """Every readable row of one run, in order, split by kind."""

    train: list[TrainRow] = field(default_factory=list)
    evals: list[EvalRow] = field(default_factory=list)
    statuses: list[StatusRow] = field(default_factory=list)
    system: list[SystemRow] = field(default_factory=list)
    skipped: int = 0  # lines that were not rows

    def add(self, row: Row | None) -> None:
        if row is None:
            self.skipped += 1
            return
        if isinstance(row, StatusRow) and row.summary.get("resumed_step") is not None:
            self._rewind(row.summary)
        {"train": self.train, "eval": self.evals, "status": self.statuses, "system": self.system}[row.kind].append(row)

    def _rewind(self, at: dict[str, float | int | None]) -> None:
        """Back to where a resume starts: its checkpoint's step, epoch and elapsed time."""
        step, epoch, elapsed = at["resumed_step"], at.get("resumed_epoch"), at.get("resumed_elapsed_s")
        self.train = [r for r in self.train if r.step <= step]
        if epoch is not None:
            self.evals = [r for r in self.evals if r.epoch <= epoch]
        if elapsed is not None:
            self.system = [r for r in self.system if r.elapsed_s <= elapsed]

    @property
    def rows(self) -> int:
        return len(self.train) + len(self.evals) + len(self.statuses) + len(self.system)

    @property
    def last_train(self) -> TrainRow | None:
        return self.train[-1] if self.train else None

    @property
    def last_eval(self) -> EvalRow | None:
        return self.evals[-1] if self.evals else None

    @property
    def last_status(self) -> StatusRow | None:
        return self.statuses[-1] if self.statuses else None

    def copy(self) -> "Metrics":
        return Metrics(list(self.train), list(self.evals), list(self.statuses), list(self.system), self.skipped)


class MetricsFile:
    """One ``metrics.jsonl``, read incrementally: each call parses only the bytes appended since.

    A file that shrank or was replaced (another inode) is read again from the start. The last,
    unfinished line is kept back until its newline arrives.
    """

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._ident: tuple[int, int] | None = None
        self._offset = 0
        self._tail = b""
        self._metrics = Metrics()

    def read(self) -> Metrics:
        """A snapshot of every row so far (a copy: callers may keep it while the file grows)."""
        with self._lock:
            try:
                info = os.stat(self.path)
            except OSError:
                self._reset(None)
                return Metrics()
            ident = (info.st_dev, info.st_ino)
            if ident != self._ident or info.st_size < self._offset:
                self._reset(ident)
            if info.st_size > self._offset:
                self._read_from(self._offset)
            return self._metrics.copy()

    def _reset(self, ident: tuple[int, int] | None) -> None:
        self._ident, self._offset, self._tail, self._metrics = ident, 0, b"", Metrics()

    def _read_from(self, offset: int) -> None:
        try:
            with open(self.path, "rb") as f:
                f.seek(offset)
                data = f.read()
        except OSError:
            return
        self._offset = offset + len(data)
        lines = (self._tail + data).split(b"\n")
        self._tail = lines.pop()  # b"" when the data ended with a newline
        if len(self._tail) > MAX_LINE:  # a runaway line: drop it, count it once
            self._tail = b""
            self._metrics.skipped += 1
        for line in lines:
            if line.strip():
                self._metrics.add(decode_line(line))


def read_metrics(run_dir: str | os.PathLike) -> Metrics:
    """Every whole row of a run, read once (for callers that do not keep a ``MetricsFile``)."""
    return MetricsFile(Path(run_dir) / "metrics.jsonl").read()
