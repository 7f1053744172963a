"""Layer-by-layer summary measured from PyTorch itself, on the meta device.

Nothing here is a hand formula: shapes come from forward hooks, parameter counts from the
modules' own tensors and MACs from ``torch.utils.flop_counter``, all on meta tensors, so a
VGG-19 costs milliseconds and no weight memory while staying exactly what PyTorch would do.
Each row also carries its window (kernel, stride, padding, read from the module), its receptive
field and its formula numbers (``vgg_core.arithmetic``), so a page can show why the counts are
what they are. Rows are grouped into blocks by their pools: a block ends with its max-pool, in
d2l's nested VGG and in its flat AlexNet alike.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .arithmetic import Arithmetic, Window, arithmetic, receptive_fields, window
from .model import build_model
from .spec import ArchSpec

BYTES_PER_VALUE = 4  # float32 weights and activations, as d2l trains them
CLASSIFIER = "classifier"


@dataclass(frozen=True)
class LayerRow:
    block: str  # "block 1" ... or "classifier"
    name: str  # PyTorch's qualified name in the Sequential, e.g. "0.0" or "6"
    type: str
    output_shape: tuple[int, ...]  # with a batch of 1, as d2l prints it
    params: int
    macs: int
    activation_bytes: int  # this layer's output, per example
    kernel_size: int | None = None  # Conv2d and MaxPool2d only: the window's side
    stride: int | None = None
    padding: int | None = None
    receptive_field: int | None = None  # side of the input region one output pixel sees; None from Flatten on
    flops: int = 0  # 2 x macs (see vgg_core.arithmetic for what is counted)
    arithmetic: Arithmetic | None = None  # the formula numbers (Conv2d, MaxPool2d, Linear), for the page to word


@dataclass(frozen=True)
class BlockRow:
    block: str
    output_shape: tuple[int, ...]
    params: int
    macs: int
    activation_bytes: int
    flops: int = 0


@dataclass(frozen=True)
class Summary:
    spec: ArchSpec
    input_shape: tuple[int, ...]
    layers: list[LayerRow]
    blocks: list[BlockRow]
    total_params: int
    trainable_params: int
    total_macs: int
    param_bytes: int
    activation_bytes: int
    conv_params: int  # the convolutional blocks (batch-norm included)
    fc_params: int  # the classifier's Linear layers
    conv_macs: int
    fc_macs: int
    flatten_size: int
    total_flops: int  # 2 x total_macs

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["spec"] = self.spec.to_dict()
        for rows in (d["layers"], d["blocks"]):
            for row in rows:
                row["output_shape"] = list(row["output_shape"])
        d["input_shape"] = list(self.input_shape)
        return d


@dataclass(frozen=True)
class _Seen:
    """What the forward hooks record of one leaf module: its name, the module and its shapes."""

    name: str
    module: nn.Module
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]


def summarize(spec: ArchSpec) -> Summary:
    """Summarise ``spec`` without allocating a single weight: record, then aggregate."""
    with torch.device("meta"):
        model = build_model(spec)
    seen, flops = _record(model.eval(), (1, spec.in_channels, spec.input_size, spec.input_size))
    windows = [window(s.module) for s in seen]
    fields = receptive_fields(zip(windows, (s.output_shape for s in seen)))
    blocks = _block_labels(seen, len(spec.stages))
    layers = [_layer_row(*args, flops, type(model).__name__) for args in zip(seen, blocks, windows, fields)]
    return _aggregate(spec, model, layers, flops)


def _block_labels(seen: list[_Seen], n_blocks: int) -> list[str]:
    """'block N' up to and including the N-th max-pool, then the classifier."""
    labels, pools = [], 0
    for s in seen:
        labels.append(f"block {pools + 1}" if pools < n_blocks else CLASSIFIER)
        pools += isinstance(s.module, nn.MaxPool2d)
    return labels


def _record(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[list[_Seen], dict[str, dict]]:
    """One meta forward pass: hooks fill a record per leaf module, FlopCounterMode counts each op."""
    seen: list[_Seen] = []
    leaves = [(name, m) for name, m in model.named_modules() if name and not list(m.children())]

    def hook(name: str, module: nn.Module):
        return lambda _m, inputs, output: seen.append(_Seen(name, module, tuple(inputs[0].shape), tuple(output.shape)))

    handles = [m.register_forward_hook(hook(name, m)) for name, m in leaves]
    try:
        with FlopCounterMode(display=False) as counter:
            model(torch.empty(*input_shape, device="meta"))
    finally:
        for h in handles:
            h.remove()
    return seen, counter.get_flop_counts()


def _layer_row(seen: _Seen, block: str, win: Window | None, field: int | None, flops: dict[str, dict],
               root: str) -> LayerRow:
    # FLOPs = 2 x MACs for convolutions and matrix products, the only ops counted.
    layer_flops = sum(flops.get(f"{root}.{seen.name}", {}).values())
    return LayerRow(
        block=block,
        name=seen.name,
        type=type(seen.module).__name__,
        output_shape=seen.output_shape,
        params=sum(p.numel() for p in seen.module.parameters(recurse=False)),
        macs=layer_flops // 2,
        activation_bytes=math.prod(seen.output_shape) * BYTES_PER_VALUE,
        kernel_size=win.kernel if win else None,
        stride=win.stride if win else None,
        padding=win.padding if win else None,
        receptive_field=field,
        flops=layer_flops,
        arithmetic=arithmetic(seen.module, seen.input_shape, seen.output_shape),
    )


def _block_rows(layers: list[LayerRow]) -> list[BlockRow]:
    blocks = []
    for label in dict.fromkeys(r.block for r in layers):
        rows = [r for r in layers if r.block == label]
        blocks.append(BlockRow(label, rows[-1].output_shape, sum(r.params for r in rows), sum(r.macs for r in rows),
                               sum(r.activation_bytes for r in rows), sum(r.flops for r in rows)))
    return blocks


def _aggregate(spec: ArchSpec, model: nn.Module, layers: list[LayerRow], flops: dict[str, dict]) -> Summary:
    params = list(model.parameters())
    conv_rows = [r for r in layers if r.block != CLASSIFIER]
    fc_rows = [r for r in layers if r.block == CLASSIFIER]
    return Summary(
        spec=spec,
        input_shape=(1, spec.in_channels, spec.input_size, spec.input_size),
        layers=layers,
        blocks=_block_rows(layers),
        total_params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        total_macs=sum(flops.get("Global", {}).values()) // 2,
        param_bytes=sum(p.numel() * BYTES_PER_VALUE for p in params),
        activation_bytes=sum(r.activation_bytes for r in layers),
        conv_params=sum(r.params for r in conv_rows),
        fc_params=sum(r.params for r in fc_rows),
        conv_macs=sum(r.macs for r in conv_rows),
        fc_macs=sum(r.macs for r in fc_rows),
        flatten_size=spec.flatten_size,
        total_flops=sum(flops.get("Global", {}).values()),
    )
