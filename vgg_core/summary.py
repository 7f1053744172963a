"""Layer-by-layer summary measured from PyTorch itself, on the meta device.

Nothing here is a hand formula: shapes come from forward hooks, parameter counts from the
modules' own tensors and MACs from ``torch.utils.flop_counter``, all on meta tensors, so a
VGG-19 costs milliseconds and no weight memory while staying exactly what PyTorch would do.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

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


@dataclass(frozen=True)
class BlockRow:
    block: str
    output_shape: tuple[int, ...]
    params: int
    macs: int
    activation_bytes: int


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

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["spec"] = self.spec.to_dict()
        for rows in (d["layers"], d["blocks"]):
            for row in rows:
                row["output_shape"] = list(row["output_shape"])
        d["input_shape"] = list(self.input_shape)
        return d


def summarize(spec: ArchSpec) -> Summary:
    """Summarise ``spec`` without allocating a single weight."""
    with torch.device("meta"):
        model = build_model(spec)
    model.eval()
    shapes: dict[str, tuple[int, ...]] = {}
    leaves = [(name, m) for name, m in model.named_modules() if name and not list(m.children())]
    handles = [m.register_forward_hook(_record_shape(shapes, name)) for name, m in leaves]
    x = torch.empty(1, spec.in_channels, spec.input_size, spec.input_size, device="meta")
    try:
        with FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        for h in handles:
            h.remove()
    flops = counter.get_flop_counts()
    root = type(model).__name__

    n_blocks = len(spec.conv_arch)
    layers = []
    for name, module in leaves:
        top = int(name.split(".")[0])
        shape = shapes[name]
        layers.append(
            LayerRow(
                block=f"block {top + 1}" if top < n_blocks else CLASSIFIER,
                name=name,
                type=type(module).__name__,
                output_shape=shape,
                params=sum(p.numel() for p in module.parameters(recurse=False)),
                # FLOPs = 2 x MACs for convolutions and matrix products, the only ops counted.
                macs=sum(flops.get(f"{root}.{name}", {}).values()) // 2,
                activation_bytes=math.prod(shape) * BYTES_PER_VALUE,
            )
        )
    blocks = []
    for label in dict.fromkeys(r.block for r in layers):
        rows = [r for r in layers if r.block == label]
        blocks.append(
            BlockRow(
                block=label,
                output_shape=rows[-1].output_shape,
                params=sum(r.params for r in rows),
                macs=sum(r.macs for r in rows),
                activation_bytes=sum(r.activation_bytes for r in rows),
            )
        )
    params = list(model.parameters())
    conv_rows = [r for r in layers if r.block != CLASSIFIER]
    fc_rows = [r for r in layers if r.block == CLASSIFIER]
    return Summary(
        spec=spec,
        input_shape=tuple(x.shape),
        layers=layers,
        blocks=blocks,
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
    )


def _record_shape(shapes: dict[str, tuple[int, ...]], name: str):
    def hook(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
        shapes[name] = tuple(output.shape)

    return hook
