"""Before pressing Train: how much memory a run needs and how long an epoch takes.

Memory is counted from the summary's per-layer shapes with what autograd really keeps for the
backward pass of this network (the ReLUs run in place, as the trainer runs them):
  input batch          the float input (and its bf16 copy under autocast), saved by the first conv
  ReLU                 its output, saved by itself and by the conv, pool or Linear after it
  MaxPool2d            its output (saved by the next layer) and the argmax indices (int64)
  BatchNorm2d          its input (the conv's output)
  Dropout              its output (saved by the next Linear) and the mask: bool on CUDA, a float
                       "noise" tensor on the CPU (ATen's unfused dropout)
  last Linear          log-softmax's output, saved by the loss
plus weights, gradients, optimizer state, the weights' bf16 copies under autocast, the dataset
on the device, the gradients in flight during the backward pass (``workspace_bytes_per_example``)
and the optimizer's temporaries (Adam's unfused step on the CPU). ``layer_memory`` splits the parts
that belong to a layer (weights, gradients, optimizer state, bf16 copies, saved tensors) layer by
layer, with the same rules, so its columns sum to the estimate's. Time comes from the summary's MACs (a training step is about 3x
the forward pass) over a throughput measured once per process on the device itself, plus a fixed
cost per step measured on a tiny net.

Several processes (``nproc``): each holds the weights, optimizer and data set, and the activations
of its share of the batch (``per_process_batch``). On CUDA each has its own GPU, so the memory is
one GPU's and the compute is divided between them; on the CPU they share the RAM (``needed_bytes``
is all of them) and the cores the speed was measured with, so the compute is not divided. The
gradient all-reduce between them is not counted.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from typing import Any

import torch

from . import gpu
from .data import IMAGE_SIZE, SPLITS
from .device import resolve_device
from .request import TrainRequest, TrainSettings, planned_test_examples, planned_train_examples
from .spec import ArchSpec
from .summary import Summary, summarize

TRAIN_MACS_FACTOR = 3  # forward + gradient w.r.t. inputs + gradient w.r.t. weights
# Measured peaks on the CPU ran up to ~25% over the sum of the parts (allocator fragmentation,
# oneDNN's reorders), so a run "fits" only with this much room to spare.
HEADROOM = 1.25
DATASET_BYTES = sum(n * (IMAGE_SIZE * IMAGE_SIZE + 8) for n in SPLITS.values())  # uint8 images, int64 labels


@dataclass(frozen=True)
class TrainingEstimate:
    device: str
    batch_size: int  # the global batch, every process's share together
    param_bytes: int
    grad_bytes: int
    optimizer_bytes: int
    optimizer_workspace_bytes: int  # temporaries of the optimizer's step on one weight tensor (CPU: not fused)
    amp_weight_bytes: int  # autocast's bf16 copies of the weights
    activation_bytes: int  # saved for backward, whole batch
    workspace_bytes: int  # gradients in flight during the backward pass
    dataset_bytes: int
    total_bytes: int
    available_bytes: int | None  # free memory on the device now (None: unknown)
    fits: bool | None
    macs_per_example: int  # forward
    seconds_per_epoch: float | None
    calibration_macs_per_sec: float | None
    step_overhead_s: float | None  # fixed cost per training step, beyond the MACs
    nproc: int = 1  # processes training the run on this machine
    per_process_batch: int | None = None  # each process's share of the batch (the largest)
    needed_bytes: int | None = None  # what must fit in available_bytes: one GPU's, or every process's RAM

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LayerMemory:
    """What one layer holds through a training step, whole batch, in bytes.

    The weights, their gradients and the optimizer state stay float32 (autocast keeps float32
    masters and adds a bf16 copy); what is saved for backward is in the run's dtype. The input
    batch is saved by the first layer (its conv reads it), so it is counted there. Not per layer,
    and left out here: the backward pass's working memory, the optimizer's temporaries and the dataset.
    """

    block: str
    name: str
    type: str
    output_bytes: int  # this layer's forward output, in the run's dtype (the summary's activation memory x batch)
    param_bytes: int
    grad_bytes: int
    optimizer_bytes: int  # momentum, or Adam's two moments
    amp_weight_bytes: int  # autocast's bf16 copy of the weights
    saved_bytes: int  # tensors autograd keeps for this layer's backward

    @property
    def total_bytes(self) -> int:
        """Everything this layer keeps through the step (its output counts where it is saved)."""
        return self.param_bytes + self.grad_bytes + self.optimizer_bytes + self.amp_weight_bytes + self.saved_bytes

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_bytes": self.total_bytes}


def layer_memory(request: TrainRequest, device: torch.device | None = None,
                 summary: Summary | None = None) -> list[LayerMemory]:
    """Per layer, the parts of ``estimate_training``'s memory that belong to one layer; they sum to its
    ``param_bytes``, ``grad_bytes``, ``optimizer_bytes``, ``amp_weight_bytes`` and ``activation_bytes``."""
    settings = request.settings
    dev = device if device is not None else resolve_device(settings.device)
    use_amp = settings.amp and dev.type == "cuda"
    summary = summary if summary is not None else summarize(request.spec)
    batch, value = settings.batch_size, (2 if use_amp else 4)
    saved = _saved_per_layer(summary, dev.type, use_amp)
    input_batch, saved = saved[0], saved[1:]
    saved[0] += input_batch  # saved by the first layer, whose conv reads it
    state = _state_per_param(settings)
    return [
        LayerMemory(r.block, r.name, r.type, output_bytes=math.prod(r.output_shape) * value * batch,
                    param_bytes=r.params * 4, grad_bytes=r.params * 4, optimizer_bytes=r.params * 4 * state,
                    amp_weight_bytes=r.params * 2 if use_amp else 0, saved_bytes=kept * batch)
        for r, kept in zip(summary.layers, saved)
    ]


def _state_per_param(settings: TrainSettings) -> int:
    """Optimizer state, in float32 values per weight: Adam's two moments, SGD's momentum buffer, or none."""
    return 2 if settings.optimizer == "adam" else (1 if settings.momentum else 0)


def activation_bytes_per_example(summary: Summary, device_type: str = "cpu", amp: bool = False) -> int:
    """Bytes autograd keeps for the backward pass, per example, for the model as the trainer runs it."""
    return sum(_saved_per_layer(summary, device_type, amp))


def workspace_bytes_per_example(summary: Summary, device_type: str = "cpu", amp: bool = False) -> int:
    """What the backward pass needs on top of the saved tensors, per example, at its peak.

    CUDA: the backward pass frees each layer's saved tensors as it passes, so the peak is where
    the tensors still saved plus the layer's two gradients (input and output) are largest; on an
    H100 this matched the allocator's measured peak to 0-5%. CPU: oneDNN holds reorder buffers
    and the heap keeps freed blocks, so the largest layer's two gradients are counted on top of
    everything saved (measured: 0.84-1.23x with the trainer's allocator setting).
    """
    value = 2 if amp else 4
    spec = summary.spec
    shapes = [(1, spec.in_channels, spec.input_size, spec.input_size)] + [r.output_shape for r in summary.layers]
    pairs = [(math.prod(a) + math.prod(b)) * value for a, b in zip(shapes, shapes[1:])]
    if device_type == "cpu":
        return max(pairs)
    saved = _saved_per_layer(summary, device_type, amp)
    total, alive, peak = sum(saved), saved[0], 0
    for layer_saved, pair in zip(saved[1:], pairs):
        alive += layer_saved  # saved by this layer and the ones before it: not yet freed when its backward runs
        peak = max(peak, alive + pair)
    return max(peak - total, 0)


def _saved_per_layer(summary: Summary, device_type: str, amp: bool) -> list[int]:
    """[the input batch, then each layer's share], per example."""
    value = 2 if amp else 4
    spec = summary.spec
    saved = [spec.in_channels * spec.input_size**2 * (4 + (2 if amp else 0))]
    layers = summary.layers
    for i, row in enumerate(layers):
        n = math.prod(row.output_shape)
        if row.type in ("ReLU", "BatchNorm2d"):
            saved.append(n * value)
        elif row.type == "MaxPool2d":
            saved.append(n * (value + 8))
        elif row.type == "Dropout" and spec.dropout > 0:
            saved.append(n * (value + (1 if device_type == "cuda" else 4)))
        elif row.type == "Linear" and i == len(layers) - 1:
            saved.append(n * 4)
        else:
            saved.append(0)
    return saved


def estimate_training(
    request: TrainRequest,
    *,
    device: torch.device | None = None,
    measure_speed: bool = True,
    speed: tuple[float, float] | None = None,
) -> TrainingEstimate:
    """Memory and time for one run; ``device`` defaults to the request's (raises DeviceError).

    ``speed``: (training MACs per second, seconds of fixed cost per step) measured elsewhere (the
    app asks a child process, see ``launch.measure_speed``); without it the speed is measured here
    if ``measure_speed``.
    """
    settings = request.settings
    dev = device if device is not None else resolve_device(settings.device)
    use_amp = settings.amp and dev.type == "cuda"
    summary = summarize(request.spec)
    nproc = max(1, settings.nproc)
    per_process = math.ceil(settings.batch_size / nproc)
    memory = _memory(summary, settings, dev, use_amp, per_process)
    needed = memory["total_bytes"] * (nproc if dev.type != "cuda" else 1)
    available = available_bytes(dev)
    if speed is None and measure_speed:
        speed = calibrate(dev, use_amp), step_overhead(dev, use_amp)
    rate, overhead = speed or (None, None)
    return TrainingEstimate(
        device=str(dev), batch_size=settings.batch_size, **memory, available_bytes=available,
        fits=None if available is None else needed * HEADROOM <= available,
        macs_per_example=summary.total_macs, calibration_macs_per_sec=rate, step_overhead_s=overhead,
        seconds_per_epoch=_epoch_seconds(summary.total_macs, settings, rate, overhead, dev),
        nproc=nproc, per_process_batch=per_process, needed_bytes=needed,
    )


def _memory(summary: Summary, settings: TrainSettings, dev: torch.device, use_amp: bool,
            batch: int) -> dict[str, int]:
    """Each part of one process's training step's memory, in bytes, and their total (``batch``: its share)."""
    params = summary.total_params
    param_bytes = params * 4
    state_per_param = _state_per_param(settings)
    temporaries = (2 if settings.optimizer == "adam" else 0) + (1 if settings.weight_decay else 0)
    parts = dict(
        param_bytes=param_bytes, grad_bytes=param_bytes, optimizer_bytes=param_bytes * state_per_param,
        optimizer_workspace_bytes=0 if dev.type == "cuda" else temporaries * max(r.params for r in summary.layers) * 4,
        amp_weight_bytes=params * 2 if use_amp else 0,
        activation_bytes=activation_bytes_per_example(summary, dev.type, use_amp) * batch,
        workspace_bytes=workspace_bytes_per_example(summary, dev.type, use_amp) * batch,
        dataset_bytes=DATASET_BYTES,
    )
    return {**parts, "total_bytes": sum(parts.values())}


def _epoch_seconds(macs: int, settings: TrainSettings, rate: float | None, overhead: float | None,
                   dev: torch.device) -> float | None:
    """A training pass (about 3x the forward MACs per example) and a test pass, plus a fixed cost per
    step; on CUDA, the compute shared by the processes' own GPUs (on the CPU they share the cores)."""
    if not rate:
        return None
    train, test = planned_train_examples(settings), planned_test_examples(settings)
    steps = math.ceil(train / settings.batch_size)
    devices = max(1, settings.nproc) if dev.type == "cuda" else 1
    return (train * TRAIN_MACS_FACTOR * macs + test * macs) / (rate * devices) + steps * (overhead or 0.0)


def available_bytes(device: torch.device) -> int | None:
    """Free memory now: host RAM for the CPU (and MPS, which shares it), free memory on a CUDA card."""
    if device.type == "cuda":
        uuid = torch.cuda.get_device_properties(device).uuid
        free = gpu.query(lambda nv: nv.nvmlDeviceGetMemoryInfo(nv.nvmlDeviceGetHandleByUUID(f"GPU-{uuid}")).free)
        if free is not None:
            return int(free)
        try:  # NVML missing or refusing: ask CUDA itself
            return int(torch.cuda.mem_get_info(device)[0])
        except RuntimeError:
            return None
    import psutil

    return int(psutil.virtual_memory().available)


# What the calibration trains: a small VGG on the CPU, d2l's own setting on a GPU (a few ms a step there).
CALIBRATION = {
    "cpu": (ArchSpec(conv_arch=((1, 16), (1, 32), (2, 64), (2, 128)), input_size=96, fc_width=512), 32),
    "cuda": (ArchSpec(ratio=4), 64),
}
# A net so small that its step is mostly fixed cost: kernel launches, the optimizer, bookkeeping.
OVERHEAD_PROBE = (ArchSpec(conv_arch=((1, 16), (1, 32)), input_size=28, fc_width=256), 128)


@functools.lru_cache(maxsize=None)
def calibrate(device: torch.device, amp: bool = False) -> float:
    """Training MACs per second of the real training step on ``device``, measured once per process."""
    spec, batch = CALIBRATION.get(device.type, CALIBRATION["cpu"])
    return summarize(spec).total_macs * TRAIN_MACS_FACTOR * batch / _seconds_per_step(spec, batch, device, amp)


@functools.lru_cache(maxsize=None)
def step_overhead(device: torch.device, amp: bool = False) -> float:
    """Seconds per step that do not scale with MACs: a tiny net's step beyond its MACs at ``calibrate``'s rate.

    Without it a small net's epoch reads far too short (2 s for one that takes 5 s on a 2-core CPU);
    for large nets it is a rounding error.
    """
    spec, batch = OVERHEAD_PROBE
    macs = summarize(spec).total_macs * TRAIN_MACS_FACTOR * batch
    return max(_seconds_per_step(spec, batch, device, amp) - macs / calibrate(device, amp), 0.0)


def _seconds_per_step(spec: ArchSpec, batch: int, device: torch.device, amp: bool, steps: int = 4) -> float:
    """The trainer's own ``fit`` on random images (the speed does not depend on the pixels), so the
    layer mix, the input pipeline and the optimizer are a real run's; the first pass warms up."""
    from .data import FashionMNIST
    from .train import fit, make_optimizer, prepare_model

    settings = TrainSettings(epochs=1, batch_size=batch, device=str(device), amp=amp, log_every=steps)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        gen = torch.Generator().manual_seed(0)
        images = torch.randint(0, 256, (batch * steps, IMAGE_SIZE, IMAGE_SIZE), dtype=torch.uint8, generator=gen)
        labels = torch.randint(0, 10, (batch * steps,), generator=gen)
        data = FashionMNIST(images, labels, images[:1], labels[:1], "calibration").to(device)
        model, net = prepare_model(spec, settings, device)
        optimizer = make_optimizer(model, settings, device)
        run = functools.partial(fit, net, data, spec, settings, seed=0, optimizer=optimizer, evaluate_each_epoch=False)
        run()  # warm-up: kernels chosen, memory allocated
        result = run()
    return result.train_seconds / result.steps
