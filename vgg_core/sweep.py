"""Sweeps: one base request, some of its settings varied over a grid, queued as one run per point.

Any architecture field (``ArchSpec``) or training setting (``request.SETTINGS``) can be varied;
the names and how a typed value is read come from those two tables, so a new setting can be swept
with no change here. A plan is checked whole before anything is queued: each value on its own
(``--vary ratio=4.0``: one line naming the value), then every run of the grid (a ratio too large
for one of the architectures: one line naming that run's values). At most ``MAX_RUNS`` runs.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .problems import Count, Problem, ProblemsError, problem
from .request import MAX_NAME, SETTINGS, TrainRequest
from .run_folder import new_run_id
from .spec import ArchSpec, format_compact, parse_conv_arch

MAX_RUNS = 64
MAX_LISTED = 5  # invalid runs named one by one; the rest are counted
# Every spec field but the network's family: AlexNet's blocks are fixed, so it is compared beside a
# sweep (or swept over its own input size, width ...), not mixed into a grid of VGG blocks.
SPEC_FIELDS = tuple(f.name for f in dataclasses.fields(ArchSpec) if f.name != "family")
VARY_NAMES = (*SPEC_FIELDS, *SETTINGS)
SEPARATORS = {"conv_arch": ";"}  # its values hold commas; every other list is comma-separated
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")
_SPEC_DEFAULTS = {f.name: f.default for f in dataclasses.fields(ArchSpec)}


class SweepError(ProblemsError):
    """A sweep refused whole: nothing of it is queued."""


@dataclass(frozen=True)
class SweepRun:
    values: tuple[tuple[str, Any], ...]  # this run's point of the grid, in the order of the axes
    request: TrainRequest

    @property
    def label(self) -> str:
        return label(self.values)

    def values_json(self) -> dict[str, Any]:
        return {k: [list(b) for b in v] if k == "conv_arch" else v for k, v in self.values}


@dataclass(frozen=True)
class SweepPlan:
    base: TrainRequest
    axes: tuple[tuple[str, tuple[Any, ...]], ...]
    runs: tuple[SweepRun, ...]

    @property
    def count(self) -> int:
        return len(self.runs)

    def seconds(self, speed: tuple[float, float]) -> list[float | None]:
        """Each run's estimated time (all its epochs), from a device speed as ``launch.measure_speed`` gives it."""
        from .estimate import estimate_training

        out = []
        for run in self.runs:
            per_epoch = estimate_training(run.request, speed=speed, measure_speed=False).seconds_per_epoch
            out.append(None if per_epoch is None else per_epoch * run.request.settings.epochs)
        return out

    def total_seconds(self, speed: tuple[float, float]) -> float | None:
        """The whole sweep, one run after another on one device."""
        times = self.seconds(speed)
        return None if any(t is None for t in times) else sum(times)


@dataclass(frozen=True)
class QueuedSweep:
    sweep: str
    runs: list[str]  # run ids, in queue order
    scheduler_pid: int | None  # a scheduler started for it (None: one was running, or not asked for)


def label(values: Iterable[tuple[str, Any]]) -> str:
    """'ratio=16, lr=0.1': a run's values, as its default name and in refusals."""
    return ", ".join(f"{k}={format_value(v)}" for k, v in values)


def format_value(value: Any) -> str:
    if isinstance(value, tuple) and all(isinstance(b, tuple) for b in value):
        return format_compact(value)
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "none"}[value]
    return f"{value:g}" if isinstance(value, float) else str(value)


def parse_vary(text: str) -> tuple[str, list[str]]:
    """``'ratio=16,8,4'`` -> ``('ratio', ['16', '8', '4'])``; conv_arch values are separated by ';'."""
    name, eq, values = text.partition("=")
    name = name.strip().replace("-", "_").lower()
    if not eq or not name:
        raise SweepError(problem("vary_syntax", text=repr(text[:80])))
    return name, [v.strip() for v in values.split(SEPARATORS.get(name, ","))]


def plan_sweep(base: TrainRequest,
               vary: Mapping[str, Sequence[Any]] | Iterable[tuple[str, Sequence[Any]]]) -> SweepPlan:
    """The grid of runs, every one checked; raises SweepError naming every problem.

    ``vary``: setting or spec field name -> its values, typed (``[16, 8, 4]``) or as text (``['16', '8']``);
    or (name, values) pairs, as the CLI's ``--vary`` flags give them (a name given twice is refused)."""
    pairs = list(vary.items()) if isinstance(vary, Mapping) else list(vary)
    if not pairs:
        raise SweepError(problem("sweep_none"))
    axes, problems = [], []
    for raw_name, values in pairs:
        name = raw_name.strip().replace("-", "_").lower()
        if name not in VARY_NAMES:
            problems.append(problem("vary_unknown", name=raw_name, allowed=", ".join(VARY_NAMES)))
        elif name in dict(axes):
            problems.append(problem("vary_twice", name=name))
        else:
            axis, found = _axis(base, name, list(values))
            axes.append((name, axis))
            problems += found
    if problems:
        raise SweepError(problems)
    sizes = [len(v) for _, v in axes]
    if math.prod(sizes) > MAX_RUNS:
        raise SweepError(problem("sweep_too_large", n=math.prod(sizes), sizes=" x ".join(map(str, sizes)), most=MAX_RUNS))
    return SweepPlan(base, tuple(axes), _runs(base, tuple(axes)))


def _axis(base: TrainRequest, name: str, values: list[Any]) -> tuple[tuple[Any, ...], list[Problem]]:
    """One axis read and checked value by value, on the base request."""
    if not values or all(_blank(v) for v in values):
        return (), [problem("vary_empty", name=name)]
    out: list[Any] = []
    problems = []
    for at, raw in enumerate(values, start=1):
        if _blank(raw):
            problems.append(problem("vary_empty_value", name=name, at=at))
            continue
        try:
            value = coerce(name, raw)
            with_it(base, {name: value}).check()
        except ProblemsError as e:
            problems.append(problem("vary_value", name=name, value=_text(raw), why=e.problems[0]))
            continue
        if value in out:
            problems.append(problem("vary_duplicate", name=name, value=format_value(value)))
            continue
        out.append(value)
    return tuple(out), problems


def _runs(base: TrainRequest, axes: tuple[tuple[str, tuple[Any, ...]], ...]) -> tuple[SweepRun, ...]:
    """Every point of the grid (the first axis varies slowest), each a checked request."""
    points: list[tuple[tuple[str, Any], ...]] = [()]
    for name, values in axes:
        points = [(*p, (name, v)) for p in points for v in values]
    runs, invalid = [], []
    for values in points:
        try:
            request = with_it(base, dict(values))
            request.check()
        except ProblemsError as e:
            invalid.append(problem("sweep_run_invalid", run=label(values), why=tuple(e.problems)))
            continue
        runs.append(SweepRun(values, request.replace(name=_run_name(base.name, label(values)))))
    if invalid:
        more = len(invalid) - MAX_LISTED
        listed = invalid[:MAX_LISTED] + ([problem("sweep_more_invalid", more=Count("more_invalid_runs", more))]
                                         if more > 0 else [])
        raise SweepError(listed)
    return tuple(runs)


def with_it(base: TrainRequest, changes: Mapping[str, Any]) -> TrainRequest:
    """``base`` with some spec fields and settings changed (SpecError if the spec refuses them)."""
    spec_changes = {k: v for k, v in changes.items() if k in SPEC_FIELDS}
    setting_changes = {k: v for k, v in changes.items() if k not in SPEC_FIELDS}
    spec = base.spec.replace(**spec_changes) if spec_changes else base.spec
    return base.replace(spec=spec, settings=base.settings.replace(**setting_changes))


def coerce(name: str, value: Any) -> Any:
    """A value typed at the command line read as the field's type; what does not read stays text,
    for the field's own check to refuse in its own words. Typed values pass as they are."""
    if not isinstance(value, str):
        return tuple(tuple(b) for b in value) if name == "conv_arch" and isinstance(value, (list, tuple)) else value
    text = value.strip()
    kind, optional = _kind(name)
    if optional and text.lower() in ("none", "default"):
        return None
    if kind == "arch":
        return parse_conv_arch(text)
    if kind == "bool":
        low = text.lower()
        return True if low in _TRUE else False if low in _FALSE else text
    try:
        return int(text) if kind == "int" else float(text) if kind == "float" else text
    except ValueError:
        return text


def _kind(name: str) -> tuple[str, bool]:
    """(int | float | bool | arch | choice | text, None allowed) for a spec field or a setting."""
    if name in SETTINGS:
        return SETTINGS[name].kind, SETTINGS[name].optional
    if name == "conv_arch":  # its default (None) means the family's own blocks
        return "arch", False
    default = _SPEC_DEFAULTS[name]
    kinds = ((bool, "bool"), (int, "int"), (float, "float"), (tuple, "arch"))
    return next((k for t, k in kinds if isinstance(default, t)), "text"), False


def _blank(value: Any) -> bool:
    return isinstance(value, str) and not value.strip()


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else format_value(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _run_name(base_name: str | None, label: str) -> str:
    name = f"{base_name}: {label}" if base_name else label
    return name if len(name) <= MAX_NAME else name[: MAX_NAME - 1] + "…"


def new_sweep_id() -> str:
    return f"sweep-{new_run_id()}"


def queue_sweep(plan: SweepPlan, root: str | Path | None = None, start: bool = True) -> QueuedSweep:
    """Queue the plan's runs in grid order under one sweep id and (``start``) make sure a scheduler runs."""
    from .queue import ensure_scheduler, queue_runs

    sweep = new_sweep_id()
    ids = queue_runs([r.request for r in plan.runs], root, sweep=sweep, values=[r.values_json() for r in plan.runs])
    return QueuedSweep(sweep, ids, ensure_scheduler(root) if start else None)


def axes_text(axes: Iterable[tuple[str, Sequence[Any]]]) -> str:
    return "; ".join(f"{k}={','.join(format_value(v) for v in values)}" for k, values in axes)


__all__ = [
    "SweepPlan", "SweepRun", "QueuedSweep", "SweepError", "plan_sweep", "parse_vary", "queue_sweep", "coerce",
    "with_it", "format_value", "label", "axes_text", "MAX_RUNS", "VARY_NAMES",
]
