"""``config.json``: the facts of a run (its request, seed, device, data), one typed record.

Written by the training process when it starts (and again once the data is loaded), read by
every page and command through ``RunConfig.from_dict``, which checks each field: a planted or
damaged file gives a refusal naming what is wrong, never a value of the wrong type downstream.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .problems import Problem, ProblemsError, problem
from .request import SETTINGS, TrainRequest
from .run_folder import CONFIG, atomic_write, run_file

FORMAT = 1
_MAX_TIME = 1e11


class RunConfigError(ProblemsError):
    """A config.json that cannot be read as one."""


@dataclass(frozen=True)
class DataInfo:
    source: str
    train_examples: int
    test_examples: int


@dataclass(frozen=True)
class RankRecord:
    """One process of a run on several (DDP): where it ran and on what."""

    rank: int
    host: str
    pid: int
    device: str  # cpu, cuda:1
    device_name: str | None = None
    pci_bus_id: str | None = None


@dataclass(frozen=True)
class RunConfig:
    run_id: str
    request: TrainRequest
    seed: int
    device: str  # as torch names it: cpu, cuda:0
    device_name: str | None = None
    pci_bus_id: str | None = None  # how NVML finds the same card whatever CUDA's numbering
    amp_dtype: str | None = None
    pid: int | None = None
    started_unix: float | None = None
    started_at: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    command: list[str] = field(default_factory=list)
    speed_settings: list[str] = field(default_factory=list)
    data: DataInfo | None = None
    steps_per_epoch: int | None = None
    total_steps: int | None = None
    world_size: int = 1  # processes training this run (DDP), on every machine together
    backend: str | None = None  # nccl or gloo with several processes
    ranks: list[RankRecord] = field(default_factory=list)  # each process, by rank; empty for one

    @property
    def spec(self):
        return self.request.spec

    @property
    def settings(self):
        return self.request.settings

    def replace(self, **changes: Any) -> "RunConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["request"] = self.request.to_dict()
        return {"format": FORMAT, **d}

    def write(self, run_dir: Path) -> None:
        atomic_write(Path(run_dir) / CONFIG, (json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n").encode())

    @classmethod
    def from_dict(cls, data: Any) -> "RunConfig":
        """Checked field by field; raises RunConfigError (a SpecError or ConfigError inside becomes one)."""
        if not isinstance(data, dict):
            raise RunConfigError(problem("config_invalid", field="config.json", why="not a JSON object"))
        try:
            request = TrainRequest.from_dict(_request_part(data))
        except ProblemsError as e:
            raise RunConfigError(problem("config_invalid", field="request", why=e.problems[0])) from None
        return cls(
            run_id=_str(data, "run_id") or "", request=request, seed=_int(data, "seed", required=True),
            device=_str(data, "device") or "?", device_name=_str(data, "device_name"),
            pci_bus_id=_str(data, "pci_bus_id"), amp_dtype=_str(data, "amp_dtype"), pid=_int(data, "pid"),
            started_unix=_time(data.get("started_unix")), started_at=_str(data, "started_at"),
            versions=_str_dict(data.get("versions")), command=_str_list(data.get("command")),
            speed_settings=_str_list(data.get("speed_settings")), data=_data_info(data.get("data")),
            steps_per_epoch=_int(data, "steps_per_epoch"), total_steps=_int(data, "total_steps"),
            world_size=_int(data, "world_size") or 1, backend=_str(data, "backend"), ranks=_ranks(data.get("ranks")),
        )


def _request_part(data: dict) -> Any:
    """This version writes "request"; earlier ones wrote "spec" and "hyperparameters" (seed among them)."""
    if "request" in data:
        return data["request"]
    hyper = data.get("hyperparameters")
    settings = {k: v for k, v in hyper.items() if k in SETTINGS} if isinstance(hyper, dict) else {}
    if isinstance(hyper, dict) and "seed" in hyper:
        data = {**data, "seed": hyper["seed"]}
    return {"spec": data.get("spec"), "settings": settings}


def read_config(run_dir: Path) -> tuple[RunConfig | None, Problem | None]:
    """(config, None), or (None, why it cannot be read); (None, None) while there is none yet."""
    path = run_file(Path(run_dir), CONFIG)
    if path is None:
        return None, None
    try:
        if path.stat().st_size > 1 << 20:
            raise ValueError("larger than 1 MiB")
        data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
        return RunConfig.from_dict(data), None
    except RunConfigError as e:
        return None, e.problems[0]
    except (OSError, ValueError, RecursionError) as e:
        return None, problem("config_invalid", field="config.json", why=type(e).__name__)


def _str(d: dict, key: str) -> str | None:
    v = d.get(key)
    return v[:300] if isinstance(v, str) else None


def _int(d: dict, key: str, required: bool = False) -> int | None:
    v = d.get(key)
    ok = isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**63
    if required and not ok:
        raise RunConfigError(problem("config_invalid", field=key, why=repr(v)[:40]))
    return v if ok else None


def _time(v: Any) -> float | None:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        try:
            f = float(v)
        except OverflowError:
            return None
        return f if math.isfinite(f) and 0 <= f < _MAX_TIME else None
    return None


def _str_dict(v: Any) -> dict[str, str]:
    return {k: x[:100] for k, x in v.items() if isinstance(k, str) and isinstance(x, str)} if isinstance(v, dict) else {}


def _str_list(v: Any) -> list[str]:
    return [x[:500] for x in v[:100] if isinstance(x, str)] if isinstance(v, list) else []


def _ranks(v: Any) -> list[RankRecord]:
    if not isinstance(v, list):
        return []
    found = []
    for item in v[:4096]:
        if not isinstance(item, dict):
            continue
        rank, pid, host, device = _int(item, "rank"), _int(item, "pid"), _str(item, "host"), _str(item, "device")
        if rank is not None and pid and host is not None and device is not None:
            found.append(RankRecord(rank, host, pid, device, _str(item, "device_name"), _str(item, "pci_bus_id")))
    return found


def _data_info(v: Any) -> DataInfo | None:
    if not isinstance(v, dict):
        return None
    source, train, test = _str(v, "source"), _int(v, "train_examples"), _int(v, "test_examples")
    return DataInfo(source, train, test) if source is not None and train and test else None
