"""The training loop: d2l's ``train_ch6``, same model, defaults and metrics, without its waits.

What stays as d2l: Xavier-uniform init, SGD lr 0.05, cross-entropy, batch 128, 10 epochs, running
epoch averages of loss and accuracy, test accuracy in eval mode after each epoch, and examples/sec
over training time only. What changes: batches come from tensors already on the device and are
resized there; running sums stay on the device and are read only when a row is logged; bf16
autocast and channels_last on CUDA. The loop itself knows nothing of files or signals: it hands
rows to ``emit``, asks ``should_stop`` once per step and tells ``on_epoch`` when an epoch is done.

``fit`` reads as d2l's loop: for each epoch, ``train_epoch`` (steps from ``train_step``, sums in an
``Accumulator``), then ``evaluate``. ``LoopState`` is where training stands (epochs, steps,
examples, time); ``fit`` starts from one it is given, with the shuffling generator it is given,
which is how a run is resumed (``vgg_core.checkpoint`` saves both after every epoch).

Several processes (DDP, ``vgg_core.ddp``): ``fit`` is given the process ``group``. Each rank takes
its share of every global batch, its loss is its part of the global batch's mean (so DDP's averaged
gradient is the one-process gradient), the ``Accumulator`` sums over all ranks when read, and the
test set is split between the ranks and its probabilities gathered. Without a group nothing changes.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .data import FashionMNIST
from .model import build_model, init_xavier
from .pipeline import epoch_batches, num_batches, shard_batches, to_model_input
from .request import TrainSettings, learning_rate
from .run_rows import EvalRow, Row, TrainRow
from .spec import ArchSpec
from .speed import relu_in_place


# --- the pieces -------------------------------------------------------------------------------------

class Group(Protocol):
    """What the loop needs of a process group (``vgg_core.ddp.Group``); every rank calls each alike."""

    rank: int
    size: int

    def all_reduce(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum over all ranks (a new tensor)."""

    def gather(self, tensor: torch.Tensor) -> torch.Tensor:
        """Every rank's rows, in rank order."""


class Accumulator:
    """d2l's ``Accumulator``, kept on the device: adding costs no host sync; ``read`` is the one
    (and, with a process group, the one collective: the sums over every rank)."""

    def __init__(self, n: int, device: torch.device, group: Group | None = None):
        self.sums = torch.zeros(n, device=device)
        self.group = group

    def add(self, *values: torch.Tensor) -> None:
        self.sums += torch.stack([v.float() for v in values])

    def read(self) -> list[float]:
        return (self.group.all_reduce(self.sums) if self.group is not None else self.sums).tolist()


@dataclass
class LoopState:
    """Where training stands; the loop advances it, a checkpoint can save and restore it."""

    epochs_done: int = 0
    step: int = 0
    examples: int = 0
    eval_seconds: float = 0.0  # time in evaluations, left out of training time
    started: float = field(default_factory=time.perf_counter)
    scaler_state: dict[str, Any] | None = None  # fp16 loss scaling, as of the last finished epoch

    def times(self) -> tuple[float, float]:
        """(seconds since the start, of which training) for a row."""
        elapsed = time.perf_counter() - self.started
        return elapsed, elapsed - self.eval_seconds

    def snapshot(self) -> dict[str, Any]:
        """What ``resumed`` needs to go on from here: counts, and time as durations (not clock readings)."""
        return {"epochs_done": self.epochs_done, "step": self.step, "examples": self.examples,
                "elapsed_s": self.times()[0], "eval_seconds": self.eval_seconds, "scaler_state": self.scaler_state}

    @classmethod
    def resumed(cls, saved: dict[str, Any]) -> "LoopState":
        """A loop whose steps, examples, epochs and elapsed time continue from ``saved``."""
        return cls(saved["epochs_done"], saved["step"], saved["examples"], saved["eval_seconds"],
                   time.perf_counter() - saved["elapsed_s"], saved.get("scaler_state"))


@dataclass(frozen=True)
class StepContext:
    """What every step needs: the nets, the optimizer, mixed precision and the input's shape."""

    net: nn.Module  # what is called: the model or its compiled form
    eager: nn.Module  # the plain model (same weights), for shapes the compiled net was not built for
    device: torch.device
    optimizer: torch.optim.Optimizer
    autocast: contextlib.AbstractContextManager
    scaler: torch.amp.GradScaler | None
    batch_size: int
    size: int
    channels: int
    channels_last: bool
    group: Group | None = None  # several processes: this rank's group

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        return to_model_input(images, self.size, self.channels, self.channels_last)


@dataclass(frozen=True)
class EvalResult:
    loss: float | None
    acc: float
    probabilities: torch.Tensor | None = None  # [N, classes] softmax, when asked for


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


# --- setting up -------------------------------------------------------------------------------------

def amp_dtype(settings: TrainSettings, device: torch.device) -> torch.dtype | None:
    """bf16 from Ampere on; fp16 (with loss scaling) on older cards, where bf16 is only emulated."""
    if not settings.amp or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.get_device_capability(device) >= (8, 0) else torch.float16


def prepare_model(spec: ArchSpec, settings: TrainSettings, device: torch.device,
                  wrap: Callable[[nn.Module], nn.Module] | None = None) -> tuple[nn.Module, nn.Module]:
    """(model, net): the d2l model to save, and what the loop calls (the same, its DDP ``wrap``, or
    the compiled form of either)."""
    model = relu_in_place(init_xavier(build_model(spec)))
    memory_format = torch.channels_last if settings.channels_last else torch.preserve_format
    model = model.to(device=device, memory_format=memory_format)
    net = wrap(model) if wrap is not None else model
    net = torch.compile(net, mode=settings.compile) if settings.compile else net
    return model, net


def make_optimizer(model: nn.Module, settings: TrainSettings, device: torch.device,
                   lr: float | None = None) -> torch.optim.Optimizer:
    """d2l's plain SGD (or Adam); ``lr`` None: ``settings.learning_rate`` (pass ``TrainRequest.learning_rate``
    for a network whose default differs, such as AlexNet)."""
    fused = {"fused": True} if device.type == "cuda" else {}
    lr, wd = (settings.learning_rate if lr is None else lr), settings.weight_decay
    if settings.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=wd, **fused)
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=settings.momentum, weight_decay=wd, **fused)


def step_context(net: nn.Module, spec: ArchSpec, settings: TrainSettings, device: torch.device,
                 optimizer: torch.optim.Optimizer, group: Group | None = None) -> StepContext:
    dtype = amp_dtype(settings, device)
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    autocast = torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext()
    return StepContext(net, getattr(net, "_orig_mod", net), device, optimizer, autocast, scaler, settings.batch_size,
                       spec.input_size, spec.in_channels, settings.channels_last, group)


# --- the loop -----------------------------------------------------------------------------------------

def train_step(ctx: StepContext, images: torch.Tensor, labels: torch.Tensor,
               batch: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGD step; returns (loss x examples, correct predictions) as device tensors, not yet read.

    A compiled net runs the full batches only: the last, partial batch runs its eager module
    (the same weights), so no shape change recompiles it. With a process group, ``images`` is this
    rank's share of a global batch of ``batch`` examples.
    """
    n = labels.shape[0]
    batch = n if batch is None else batch
    with ctx.autocast:
        out = (ctx.net if batch == ctx.batch_size else ctx.eager)(ctx.prepare(images))
        if ctx.group is None:
            loss = F.cross_entropy(out, labels)
        else:  # this rank's part of the global mean, times the ranks DDP averages over
            loss_sum = F.cross_entropy(out, labels, reduction="sum")
            loss = loss_sum * (ctx.group.size / batch)
    ctx.optimizer.zero_grad(set_to_none=True)
    if ctx.scaler is not None:
        ctx.scaler.scale(loss).backward()
        ctx.scaler.step(ctx.optimizer)
        ctx.scaler.update()
    else:
        loss.backward()
        ctx.optimizer.step()
    with torch.no_grad():
        total = loss.detach() * n if ctx.group is None else loss_sum.detach()
        return total, (out.argmax(dim=1) == labels).sum()


def train_epoch(ctx: StepContext, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], n_train: int, epoch: int,
                loop: LoopState, emit: Callable[[Row], None], should_stop: Callable[[], bool],
                log_every: int) -> tuple[TrainRow | None, bool]:
    """One pass over the training set; returns (its last row, whether a stop cut it short)."""
    metric, seen, row = Accumulator(2, ctx.device, ctx.group), 0, None
    steps = num_batches(n_train, ctx.batch_size)
    ctx.net.train()
    for i, (images, labels) in enumerate(batches):
        if should_stop():
            if seen and (row is None or row.step < loop.step):
                emit(row := _train_row(metric, seen, epoch + seen / n_train, loop))
            return row, True
        batch = min(ctx.batch_size, n_train - i * ctx.batch_size)  # the global batch (all ranks' shares)
        metric.add(*train_step(ctx, images, labels, batch))
        seen += batch
        loop.step, loop.examples = loop.step + 1, loop.examples + batch
        if loop.step % log_every == 0 or i + 1 == steps:
            emit(row := _train_row(metric, seen, epoch + seen / n_train, loop))
    return row, False


def _train_row(metric: Accumulator, seen: int, epoch: float, loop: LoopState) -> TrainRow:
    loss_sum, correct = metric.read()
    elapsed, train_seconds = loop.times()
    rate = round(loop.examples / train_seconds, 2) if train_seconds > 0 else None
    return TrainRow(round(epoch, 4), loop.step, loop.examples, round(elapsed, 3), _finite(loss_sum / seen),
                    correct / seen, rate)


def evaluate(ctx: StepContext, images: torch.Tensor, labels: torch.Tensor,
             should_stop: Callable[[], bool] = lambda: False, keep_probabilities: bool = False) -> EvalResult | None:
    """Test loss and accuracy in eval mode under no_grad, as d2l's ``evaluate_accuracy_gpu``; with
    ``keep_probabilities`` also every example's softmax, gathered in the same pass. None when a stop
    was asked for part-way. With a process group each rank evaluates its share of the split; the sums
    and (in rank order, so in the split's order) the probabilities come from every rank."""
    model, n = plain_module(ctx.eager), images.shape[0]
    rank, world = (ctx.group.rank, ctx.group.size) if ctx.group is not None else (0, 1)
    metric = Accumulator(2, images.device, ctx.group)
    kept: list[torch.Tensor] = []
    model.eval()
    try:
        with torch.no_grad(), ctx.autocast:
            for xb, yb in shard_batches(images, labels, ctx.batch_size, rank, world):
                if should_stop():
                    return None
                if yb.shape[0] == 0:  # this rank's share is used up; the others' may not be
                    continue
                out = model(ctx.prepare(xb)).float()
                metric.add(F.cross_entropy(out, yb, reduction="sum"), (out.argmax(dim=1) == yb).sum())
                if keep_probabilities:
                    kept.append(out.softmax(dim=1))
    finally:
        model.train()
    loss_sum, correct = metric.read()
    probabilities = torch.cat(kept) if kept else None
    if keep_probabilities and ctx.group is not None:
        classes = model[-1].out_features
        probabilities = ctx.group.gather(probabilities if probabilities is not None else
                                         torch.zeros(0, classes, device=images.device))
    return EvalResult(_finite(loss_sum / n), correct / n, probabilities)


def plain_module(net: nn.Module) -> nn.Module:
    """The model inside a DDP wrapper: evaluating through DDP would make each forward a collective."""
    return net.module if isinstance(net, DistributedDataParallel) else net


def fit(
    model: nn.Module,
    data: FashionMNIST,
    spec: ArchSpec,
    settings: TrainSettings,
    *,
    seed: int,
    emit: Callable[[Row], None] = lambda row: None,
    should_stop: Callable[[], bool] = lambda: False,
    on_epoch: Callable[[LoopState, EvalResult], None] = lambda loop, result: None,
    evaluate_each_epoch: bool = True,
    keep_predictions: bool = False,
    optimizer: torch.optim.Optimizer | None = None,
    generator: torch.Generator | None = None,
    loop: LoopState | None = None,
    group: Group | None = None,
) -> FitResult:
    """Train ``model`` (already on ``data``'s device) as d2l's ``train_ch6`` does, emitting its metrics
    as rows; with a process ``group``, this rank's part of the run (every rank calls ``fit`` alike).

    ``loop`` and ``generator`` (the shuffling, seeded once per run, one permutation per epoch) are
    where a resumed run stands; by default a new run's."""
    device = data.device
    optimizer = optimizer or make_optimizer(model, settings, device, lr=learning_rate(settings, spec))
    ctx = step_context(model, spec, settings, device, optimizer, group)
    generator = generator or torch.Generator().manual_seed(seed)
    loop, n_train = loop or LoopState(), data.train_images.shape[0]
    if ctx.scaler is not None and loop.scaler_state:
        ctx.scaler.load_state_dict(loop.scaler_state)
    last_row, result, stopped = None, None, False
    rank, world = (group.rank, group.size) if group is not None else (0, 1)
    for epoch in range(loop.epochs_done, settings.epochs):
        batches = epoch_batches(data.train_images, data.train_labels, settings.batch_size, generator,
                                rank=rank, world=world)
        row, stopped = train_epoch(ctx, batches, n_train, epoch, loop, emit, should_stop, settings.log_every)
        last_row = row or last_row
        if stopped:
            break
        loop.epochs_done = epoch + 1
        if evaluate_each_epoch:
            result = _timed_eval(ctx, data, loop, should_stop, keep_predictions)
            if result is None:
                stopped = True
                break
            emit(_eval_row(loop, result))
            loop.scaler_state = ctx.scaler.state_dict() if ctx.scaler is not None else None
            on_epoch(loop, result)
    return _result(loop, device, stopped, last_row, result)


def _timed_eval(ctx: StepContext, data: FashionMNIST, loop: LoopState, should_stop: Callable[[], bool],
                keep_predictions: bool) -> EvalResult | None:
    t0 = time.perf_counter()
    try:
        return evaluate(ctx, data.test_images, data.test_labels, should_stop, keep_predictions)
    finally:
        loop.eval_seconds += time.perf_counter() - t0


def _eval_row(loop: LoopState, result: EvalResult) -> EvalRow:
    return EvalRow(loop.epochs_done, loop.step, loop.examples, round(loop.times()[0], 3), result.loss, result.acc)


def _result(loop: LoopState, device: torch.device, stopped: bool, row: TrainRow | None,
            result: EvalResult | None) -> FitResult:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elapsed, train_seconds = loop.times()
    return FitResult(loop.step, loop.examples, loop.epochs_done, train_seconds, elapsed, stopped,
                     row.train_loss if row else None, row.train_acc if row else None,
                     result.loss if result else None, result.acc if result else None)


def _finite(v: float) -> float | None:
    """NaN/inf (a diverged run) become null, so the rows stay valid JSON."""
    return v if math.isfinite(v) else None


__all__ = [
    "Accumulator", "Group", "LoopState", "StepContext", "EvalResult", "FitResult", "amp_dtype", "prepare_model",
    "make_optimizer", "step_context", "train_step", "train_epoch", "evaluate", "fit", "plain_module",
]
