"""The training loop: d2l's ``train_ch6``, same model, defaults and metrics, without its waits.

What stays as d2l: Xavier-uniform init, SGD lr 0.05, cross-entropy, batch 128, 10 epochs, running
epoch averages of loss and accuracy, test accuracy in eval mode after each epoch, and examples/sec
over training time only. What changes: batches come from tensors already on the device and are
resized there; running sums stay on the device and are read only when a row is logged; bf16
autocast and channels_last on CUDA. The loop itself knows nothing of files or signals: it hands
rows to ``emit`` and asks ``should_stop`` once per step.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from .data import NUM_CLASSES, FashionMNIST
from .device import DeviceError, resolve_device
from .model import build_model, init_xavier
from .pipeline import epoch_batches, num_batches, to_model_input
from .spec import ArchSpec, ProblemsError
from .speed import relu_in_place

OPTIMIZERS = ("sgd", "adam")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
DEFAULT_LR = {"sgd": 0.05, "adam": 0.001}  # d2l's VGG lr; Adam's usual default
Row = dict[str, Any]


class ConfigError(ProblemsError):
    """Bad training settings (not a SpecError: callers tell the two apart)."""


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    batch_size: int = 128
    lr: float | None = None  # None: DEFAULT_LR of the optimizer
    optimizer: str = "sgd"
    momentum: float = 0.0
    weight_decay: float = 0.0
    seed: int | None = None  # None: drawn at random and recorded
    device: str = "auto"
    amp: bool = True  # bf16 autocast on CUDA (fp16 + loss scaling before Ampere); no effect elsewhere
    compile: str | None = None  # a torch.compile mode (COMPILE_MODES), None: eager
    channels_last: bool = True
    max_train_examples: int | None = None
    max_test_examples: int | None = None
    log_every: int = 10
    data_dir: str | None = None

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR.get(self.optimizer, 0.05)

    def problems(self) -> list[str]:
        p: list[str] = []
        for name, low in (("epochs", 1), ("batch_size", 1), ("log_every", 1)):
            v = getattr(self, name)
            if not _is_int(v) or v < low:
                p.append(f"{name} must be a whole number >= {low}, got {v!r}")
        for name in ("max_train_examples", "max_test_examples"):
            v = getattr(self, name)
            if v is not None and (not _is_int(v) or v < 1):
                p.append(f"{name} must be a whole number >= 1 (or left out for the whole split), got {v!r}")
        if self.seed is not None and (not _is_int(self.seed) or not 0 <= self.seed < 2**63):
            p.append(f"seed must be a whole number from 0 to 2**63-1, got {self.seed!r}")
        if self.optimizer not in OPTIMIZERS:
            p.append(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.lr is not None and not (_is_num(self.lr) and 0 < self.lr <= 10):
            p.append(f"lr must be a number above 0 and at most 10, got {self.lr!r}")
        if not (_is_num(self.momentum) and 0 <= self.momentum < 1):
            p.append(f"momentum must be a number from 0 up to (not including) 1, got {self.momentum!r}")
        elif self.momentum and self.optimizer != "sgd":
            p.append("momentum applies to sgd only; leave it out with adam")
        if self.compile is not None and self.compile not in COMPILE_MODES:
            p.append(f"compile mode must be one of {', '.join(COMPILE_MODES)}, got {self.compile!r}")
        if not (_is_num(self.weight_decay) and 0 <= self.weight_decay <= 1):
            p.append(f"weight_decay must be a number from 0 to 1, got {self.weight_decay!r}")
        return p

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["lr"] = self.learning_rate
        return d


@dataclass(frozen=True)
class FitResult:
    steps: int
    examples: int
    epochs_completed: int
    train_seconds: float  # wall time in the training loop, evaluations excluded
    wall_seconds: float
    stopped: bool
    train_loss: float | None  # the last epoch's running averages, as d2l prints them
    train_acc: float | None
    test_loss: float | None
    test_acc: float | None

    @property
    def examples_per_sec(self) -> float:
        return self.examples / self.train_seconds if self.train_seconds > 0 else 0.0


def check_setup(spec: ArchSpec, config: TrainConfig) -> torch.device:
    """Everything that can be refused before a run starts; raises ConfigError or DeviceError."""
    problems = config.problems()
    if spec.num_classes != NUM_CLASSES:
        problems.append(f"num_classes must be {NUM_CLASSES} to train on Fashion-MNIST, got {spec.num_classes}")
    if problems:
        raise ConfigError(problems)
    return resolve_device(config.device)


def amp_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """bf16 from Ampere on; fp16 (with loss scaling) on older cards, where bf16 is only emulated."""
    if not config.amp or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.get_device_capability(device) >= (8, 0) else torch.float16


def prepare_model(spec: ArchSpec, config: TrainConfig, device: torch.device) -> tuple[nn.Module, nn.Module]:
    """(model, net): the d2l model to save, and what the loop calls (the same, or its compiled form)."""
    model = relu_in_place(init_xavier(build_model(spec)))
    memory_format = torch.channels_last if config.channels_last else torch.preserve_format
    model = model.to(device=device, memory_format=memory_format)
    net = torch.compile(model, mode=config.compile) if config.compile else model
    return model, net


def make_optimizer(model: nn.Module, config: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    fused = {"fused": True} if device.type == "cuda" else {}
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay, **fused)
    return torch.optim.SGD(
        model.parameters(), lr=config.learning_rate, momentum=config.momentum, weight_decay=config.weight_decay, **fused
    )


def fit(
    model: nn.Module,
    data: FashionMNIST,
    spec: ArchSpec,
    config: TrainConfig,
    *,
    seed: int,
    emit: Callable[[Row], None] = lambda row: None,
    should_stop: Callable[[], bool] = lambda: False,
    evaluate_each_epoch: bool = True,
    optimizer: torch.optim.Optimizer | None = None,
) -> FitResult:
    """Train ``model`` (already on ``data``'s device) and emit d2l's metrics as rows.

    A compiled ``model`` runs the full batches only: the last, partial batch of an epoch and the
    evaluation run its eager module (the same weights), so no shape or mode change recompiles it.
    """
    device = data.device
    eager = getattr(model, "_orig_mod", model)
    optimizer = optimizer or make_optimizer(model, config, device)
    dtype = amp_dtype(config, device)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16) if device.type == "cuda" else None
    autocast = _autocast(device, dtype)
    generator = torch.Generator().manual_seed(seed)
    prep = dict(size=spec.input_size, channels=spec.in_channels, channels_last=config.channels_last)
    n_train = data.train_images.shape[0]
    steps_per_epoch = num_batches(n_train, config.batch_size)

    step = examples = epochs_done = 0
    eval_seconds = 0.0
    train_loss = train_acc = test_loss = test_acc = None
    stopped = False
    start = time.perf_counter()

    def now() -> tuple[float, float]:
        elapsed = time.perf_counter() - start
        return elapsed, elapsed - eval_seconds

    for epoch in range(config.epochs):
        model.train()
        sums = torch.zeros(2, device=device)  # loss x batch, correct predictions
        seen = 0
        logged_at = 0
        for i, (xb, yb) in enumerate(epoch_batches(data.train_images, data.train_labels, config.batch_size, generator)):
            if should_stop():
                stopped = True
                break
            n = yb.shape[0]
            x = to_model_input(xb, **prep)
            with autocast:
                out = (model if n == config.batch_size else eager)(x)
                loss = F.cross_entropy(out, yb)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None and scaler.is_enabled():
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            with torch.no_grad():
                sums += torch.stack((loss.detach().float() * n, (out.argmax(dim=1) == yb).sum().float()))
            step += 1
            seen += n
            examples += n
            if step % config.log_every == 0 or i + 1 == steps_per_epoch:
                train_loss, train_acc = _averages(sums, seen)
                emit(_train_row(epoch + seen / n_train, step, examples, now(), train_loss, train_acc))
                logged_at = step
        if stopped:
            if step > logged_at and seen:
                train_loss, train_acc = _averages(sums, seen)
                emit(_train_row(epoch + seen / n_train, step, examples, now(), train_loss, train_acc))
            break
        epochs_done = epoch + 1
        if evaluate_each_epoch:
            t0 = time.perf_counter()
            result = evaluate(eager, data.test_images, data.test_labels, config.batch_size, autocast, should_stop, **prep)
            eval_seconds += time.perf_counter() - t0
            if result is None:
                stopped = True
                break
            test_loss, test_acc = result
            emit({"kind": "eval", "epoch": epochs_done, "step": step, "examples": examples,
                  "elapsed_s": round(now()[0], 3), "test_loss": _finite(test_loss), "test_acc": test_acc})
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elapsed, train_seconds = now()
    return FitResult(step, examples, epochs_done, train_seconds, elapsed, stopped, train_loss, train_acc, test_loss, test_acc)


def evaluate(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    autocast: contextlib.AbstractContextManager,
    should_stop: Callable[[], bool] = lambda: False,
    *,
    size: int,
    channels: int,
    channels_last: bool = True,
) -> tuple[float, float] | None:
    """(test loss, test accuracy) in eval mode under no_grad, as d2l's ``evaluate_accuracy_gpu``;
    None when a stop was asked for part-way."""
    model.eval()
    sums = torch.zeros(2, device=images.device)
    try:
        with torch.no_grad(), autocast:
            for xb, yb in epoch_batches(images, labels, batch_size, shuffle=False):
                if should_stop():
                    return None
                out = model(to_model_input(xb, size, channels, channels_last))
                sums += torch.stack((F.cross_entropy(out.float(), yb, reduction="sum"), (out.argmax(dim=1) == yb).sum().float()))
    finally:
        model.train()
    loss_sum, correct = sums.tolist()
    n = images.shape[0]
    return loss_sum / n, correct / n


def _autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def _averages(sums: torch.Tensor, seen: int) -> tuple[float | None, float]:
    loss_sum, correct = sums.tolist()  # the one host synchronisation, at log steps only
    return _finite(loss_sum / seen), correct / seen


def _train_row(epoch: float, step: int, examples: int, times: tuple[float, float], loss: float | None, acc: float) -> Row:
    elapsed, train_seconds = times
    return {
        "kind": "train", "epoch": round(epoch, 4), "step": step, "examples": examples,
        "elapsed_s": round(elapsed, 3), "train_loss": loss, "train_acc": acc,
        "examples_per_sec": round(examples / train_seconds, 2) if train_seconds > 0 else None,
    }


def _finite(v: float) -> float | None:
    """NaN/inf (a diverged run) become null, so the rows stay valid JSON."""
    return v if math.isfinite(v) else None


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


__all__ = [
    "TrainConfig", "ConfigError", "DeviceError", "FitResult", "check_setup", "prepare_model", "make_optimizer",
    "fit", "evaluate", "amp_dtype", "OPTIMIZERS", "DEFAULT_LR", "COMPILE_MODES",
]
