"""One description of a training run: the architecture plus every training setting, defined once.

The CLI's flags, the Train page, the estimate, ``request.json`` in a run folder and the queue all
build and read this one ``TrainRequest``. Each setting is one field of ``TrainSettings`` whose
metadata (limits, choices, help) drives its validation, its CLI flag and any other reader, so
adding a setting is a change in one place. The defaults are d2l's ``train_ch6``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from .data import NUM_CLASSES, SPLITS
from .device import DEVICE_HELP, check_processes, resolve_device
from .problems import Problem, ProblemsError, problem
from .spec import ArchSpec, SpecError, is_int, is_number, unknown_fields
from .stages import FAMILIES

OPTIMIZERS = ("sgd", "adam")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
DEFAULT_LR = {"sgd": 0.05, "adam": 0.001}  # d2l's VGG lr; Adam's usual default (SGD on AlexNet: FAMILIES)
FORMAT = 1
MAX_NAME, MAX_NOTE, MAX_TEXT = 80, 2000, 4096
MAX_NPROC = 256


class ConfigError(ProblemsError):
    """Bad training settings (not a SpecError: callers tell the two apart)."""


@dataclass(frozen=True)
class Setting:
    """What one training setting accepts; ``kind`` is int, float, bool, choice or text."""

    kind: str
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    optional: bool = False  # None allowed (the engine's default then applies)
    above_low: bool = False  # low itself is not allowed
    below_high: bool = False  # high itself is not allowed


def setting(default: Any, kind: str, help: str, **limits: Any) -> Any:
    return field(default=default, metadata={"setting": Setting(kind, help, **limits)})


@dataclass(frozen=True)
class TrainSettings:
    """How to train: d2l's train_ch6 by default (SGD lr 0.05, batch 128, 10 epochs)."""

    epochs: int = setting(10, "int", "passes over the training set", low=1, high=1000)
    batch_size: int = setting(128, "int", "examples per step", low=1, high=16384)
    lr: float | None = setting(None, "float", f"learning rate (default {DEFAULT_LR['sgd']} for sgd, "
                               f"{FAMILIES['alexnet'].sgd_lr} for sgd on alexnet as d2l 7.1 trains it, "
                               f"{DEFAULT_LR['adam']} for adam)", low=0, high=10, optional=True, above_low=True)
    optimizer: str = setting("sgd", "choice", "sgd (d2l's) or adam", choices=OPTIMIZERS)
    momentum: float = setting(0.0, "float", "SGD momentum (0: plain SGD, as d2l)", low=0, high=1, below_high=True)
    weight_decay: float = setting(0.0, "float", "L2 weight decay", low=0, high=1)
    seed: int | None = setting(None, "int", "seed for init, shuffling and dropout (default: random, recorded)",
                               low=0, high=2**63 - 1, optional=True)
    device: str = setting("auto", "text", DEVICE_HELP + " (auto: CUDA, else MPS, else CPU)")
    amp: bool = setting(True, "bool", "bf16 autocast on CUDA (fp16 with loss scaling before Ampere)")
    compile: str | None = setting(None, "choice", "torch.compile mode (slow start; for long GPU runs)",
                                  choices=COMPILE_MODES, optional=True)
    channels_last: bool = setting(True, "bool", "channels_last memory layout")
    max_train_examples: int | None = setting(None, "int", "train on the first N training images only",
                                             low=1, high=SPLITS["train"], optional=True)
    max_test_examples: int | None = setting(None, "int", "evaluate on the first N test images only",
                                            low=1, high=SPLITS["t10k"], optional=True)
    log_every: int = setting(10, "int", "write a train row every N steps", low=1, high=100_000)
    nproc: int = setting(1, "int", "processes on this machine, one run (DDP through torchrun; one GPU each on CUDA)",
                         low=1, high=MAX_NPROC)
    ddp_timeout: int = setting(300, "int", "seconds a process waits for the others before the run fails (DDP)",
                               low=10, high=3600)
    data_dir: str | None = setting(None, "text", "folder with the four Fashion-MNIST files", optional=True)

    @property
    def learning_rate(self) -> float:
        """The lr given, else VGG's default; ``TrainRequest.learning_rate`` knows the network's own."""
        return self.lr if self.lr is not None else default_lr(self.optimizer)

    def problems(self) -> list[Problem]:
        found = [p for f in dataclasses.fields(self) if (p := check_setting(f.name, getattr(self, f.name)))]
        if is_number(self.momentum) and self.momentum and self.optimizer in OPTIMIZERS[1:]:
            found.append(problem("momentum_sgd_only"))
        return found + self._process_problems()

    def _process_problems(self) -> list[Problem]:
        """Several processes: each needs an example per step, and takes its own GPU from cuda:0 on."""
        if not is_int(self.nproc) or self.nproc <= 1:
            return []
        found = []
        if is_int(self.batch_size) and 0 < self.batch_size < self.nproc:
            found.append(problem("nproc_batch", n=self.nproc, batch=self.batch_size))
        if isinstance(self.device, str) and re.fullmatch(r"\s*cuda:\d+\s*", self.device.lower()):
            found.append(problem("nproc_cuda_index", n=self.nproc, device=self.device.strip()))
        return found

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> "TrainSettings":
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainSettings":
        """Strict: unknown names are refused; values are checked by ``problems`` (ConfigError)."""
        unknown = sorted(set(data) - set(SETTINGS))
        if unknown:
            raise ConfigError(unknown_fields("settings", unknown, SETTINGS))
        made = cls(**data)
        if problems := made.problems():
            raise ConfigError(problems)
        return made


SETTINGS: dict[str, Setting] = {f.name: f.metadata["setting"] for f in dataclasses.fields(TrainSettings)}


# How a run is carried out, not what it learns: a resume may change these, never the others.
RUN_SETTINGS = ("device", "amp", "compile", "channels_last", "log_every", "data_dir", "nproc", "ddp_timeout")


def name_note_problems(name: Any, note: Any) -> list[Problem]:
    """A run's name and note: printable text of bounded length (a note may hold line breaks), or None."""
    found = []
    for key, value, most in (("name", name, MAX_NAME), ("note", note, MAX_NOTE)):
        text = value.replace("\n", "") if key == "note" and isinstance(value, str) else value
        if value is not None and not (isinstance(value, str) and len(value) <= most and text.isprintable()):
            found.append(problem("text_invalid", name=key, most=most, got=_clip(repr(value))))
    return found


def default_lr(optimizer: str, family: str = "vgg") -> float:
    """SGD: the lr d2l trains this network with (VGG 0.05, AlexNet 0.01); Adam: its usual 0.001."""
    if optimizer == "sgd" and family in FAMILIES:
        return FAMILIES[family].sgd_lr
    return DEFAULT_LR.get(optimizer, DEFAULT_LR["sgd"])


def learning_rate(settings: TrainSettings, spec: ArchSpec) -> float:
    """The lr a run of ``spec`` uses: the one given, else the network's default."""
    return settings.lr if settings.lr is not None else default_lr(settings.optimizer, spec.family)


def check_setting(name: str, value: Any) -> Problem | None:
    """Why ``value`` is not allowed for setting ``name``, or None."""
    s = SETTINGS[name]
    if value is None and s.optional:
        return None
    got = _clip(repr(value))
    if s.kind == "bool":
        return None if isinstance(value, bool) else problem("not_bool", name=name, got=got)
    if s.kind == "choice":
        return None if value in s.choices else problem("one_of", name=name, allowed=", ".join(s.choices), got=got)
    if s.kind == "text":
        ok = isinstance(value, str) and 0 < len(value) <= MAX_TEXT and "\x00" not in value
        return None if ok else problem("not_text", name=name, most=MAX_TEXT, got=got)
    return _check_number(name, s, value, got)


def _check_number(name: str, s: Setting, value: Any, got: str) -> Problem | None:
    low, high = _limit(s.low), _limit(s.high)
    if s.kind == "int":
        if not is_int(value):
            return problem("not_whole_number", name=name, low=low, high=high, got=got)
        return None if s.low <= value <= s.high else problem("out_of_range", name=name, low=low, high=high, got=value)
    inside = is_number(value) and (s.low < value if s.above_low else s.low <= value) and (
        value < s.high if s.below_high else value <= s.high)
    if inside:
        return None
    code = "number_above" if s.above_low else "number_below" if s.below_high else "number_range"
    return problem(code, name=name, low=low, high=high, got=got)


def _limit(x: float | None) -> str | float | None:
    if x == 2**63 - 1:
        return "2**63-1"
    return int(x) if isinstance(x, float) and x.is_integer() else x


def _clip(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


@dataclass(frozen=True)
class TrainRequest:
    """A run as asked for: what to train and how, plus the user's own name and note for it."""

    spec: ArchSpec = ArchSpec()
    settings: TrainSettings = TrainSettings()
    name: str | None = None
    note: str | None = None

    def problems(self) -> list[Problem]:
        """Everything that can be refused before a run starts, device aside."""
        found = self.settings.problems()
        if self.spec.num_classes != NUM_CLASSES:
            found.append(problem("num_classes_fashion", n=NUM_CLASSES, got=self.spec.num_classes))
        return found + name_note_problems(self.name, self.note)

    @property
    def learning_rate(self) -> float:
        """What the optimizer gets: ``settings.lr``, else d2l's lr for this network and optimizer."""
        return learning_rate(self.settings, self.spec)

    def check(self) -> torch.device:
        """Refuse bad input (ConfigError, DeviceError) or return the device the run will use."""
        if problems := self.problems():
            raise ConfigError(problems)
        device = resolve_device(self.settings.device)
        check_processes(self.settings.nproc, device)
        return device

    def replace(self, **changes: Any) -> "TrainRequest":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "spec": self.spec.to_dict(), "settings": self.settings.to_dict(),
                "name": self.name, "note": self.note}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    @classmethod
    def from_dict(cls, data: Any) -> "TrainRequest":
        """Read a request without trusting it: SpecError or ConfigError name what is wrong."""
        if not isinstance(data, dict):
            raise ConfigError(problem("request_not_object", got=_clip(type(data).__name__)))
        if data.get("format", FORMAT) != FORMAT:
            raise ConfigError(problem("request_format", got=_clip(repr(data.get("format"))), want=FORMAT))
        unknown = sorted(set(data) - {"format", "spec", "settings", "name", "note"})
        if unknown:
            raise ConfigError(unknown_fields("request", unknown, ("format", "spec", "settings", "name", "note")))
        spec, settings = data.get("spec", {}), data.get("settings", {})
        if not isinstance(spec, dict) or not isinstance(settings, dict):
            raise ConfigError(problem("request_not_object", got="spec/settings"))
        made = cls(ArchSpec.from_dict(spec), TrainSettings.from_dict(settings), data.get("name"), data.get("note"))
        if problems := made.problems():
            raise ConfigError(problems)
        return made

    @classmethod
    def read(cls, path: str | Path) -> "TrainRequest":
        try:
            text = Path(path).read_text(encoding="utf-8")
            data = json.loads(text, parse_constant=_refuse_constant)
        except (OSError, ValueError, RecursionError) as e:
            why = e.strerror if isinstance(e, OSError) and e.strerror else type(e).__name__
            raise ConfigError(problem("request_unreadable", path=str(path), why=why)) from None
        return cls.from_dict(data)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def planned_train_examples(settings: TrainSettings) -> int:
    return min(settings.max_train_examples or SPLITS["train"], SPLITS["train"])


def planned_test_examples(settings: TrainSettings) -> int:
    return min(settings.max_test_examples or SPLITS["t10k"], SPLITS["t10k"])


__all__ = [
    "TrainRequest", "TrainSettings", "ConfigError", "SETTINGS", "Setting", "check_setting", "OPTIMIZERS",
    "COMPILE_MODES", "DEFAULT_LR", "default_lr", "learning_rate", "SpecError", "planned_train_examples",
    "planned_test_examples", "RUN_SETTINGS", "name_note_problems", "MAX_NAME", "MAX_NOTE",
]
