"""The arithmetic behind each layer, as numbers a page can word and show on hover.

One job: for a layer the summary saw (its module, its input and output shapes), the numbers that go
into the chapter's three formulas, and the receptive field of each layer in turn. Nothing here is
English and nothing is measured: the summary measures (PyTorch's own counts), this module writes the
formulas out, and the tests hold the two equal.

  output side   n_out = floor((n + 2p - k) / s) + 1          (conv and pool; a VGG conv keeps n)
  conv params   k*k*C_in*C_out weights + C_out biases
  conv MACs     k*k*C_in*C_out * H_out*W_out                  (one multiply-add per weight per output pixel)
  Linear        C_in*C_out weights + C_out biases, C_in*C_out MACs per example
  FLOPs         2 x MACs: a multiply and an add each count one, as ``FlopCounterMode`` counts them;
                only convolutions and matrix products are counted (bias adds, ReLU, pooling,
                batch norm and dropout are left out, as torchinfo and fvcore leave them out)

Receptive field: the side of the input region one output pixel of a layer sees. Walking from the
input with ``rf = 1`` and ``jump = 1`` (input pixels between neighbouring outputs), a window of side
``k`` and stride ``s`` gives ``rf += (k - 1) * jump``, then ``jump *= s``; a layer without a window
(ReLU, BatchNorm) repeats the value before it; from Flatten on there is no pixel, so no value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from torch import nn

from .stages import out_size


@dataclass(frozen=True)
class Window:
    """A layer's sliding window: kernel side, stride and padding (square, as every layer here is)."""

    kernel: int
    stride: int
    padding: int


@dataclass(frozen=True)
class Arithmetic:
    """The numbers in one layer's formulas; ``kind`` says which formulas apply."""

    kind: str  # "conv", "pool" or "linear"
    in_channels: int  # C_in (a Linear's in_features)
    out_channels: int  # C_out (a Linear's out_features)
    in_size: int | None  # n, the side of the map it reads (None for a Linear)
    kernel: int | None  # k
    stride: int | None  # s
    padding: int | None  # p
    out_size: int | None  # floor((n + 2p - k) / s) + 1
    weights: int  # conv: k*k*C_in*C_out; Linear: C_in*C_out; pool: 0
    biases: int  # C_out (0 for a pool or a layer without bias)
    params: int  # weights + biases
    macs: int  # conv: k*k*C_in*C_out*out_size*out_size; Linear: C_in*C_out; pool: 0


def _square(value: int | Sequence[int]) -> int:
    """PyTorch keeps a conv's kernel, stride and padding as pairs and a pool's as ints: one side either way."""
    if isinstance(value, (tuple, list)):
        if len(set(value)) != 1:
            raise ValueError(f"only square windows are summarised, got {tuple(value)}")
        return int(value[0])
    return int(value)


def window(module: nn.Module) -> Window | None:
    """The window of a Conv2d or MaxPool2d, read from the module itself; None for any other layer."""
    if isinstance(module, (nn.Conv2d, nn.MaxPool2d)):
        return Window(_square(module.kernel_size), _square(module.stride), _square(module.padding))
    return None


def arithmetic(module: nn.Module, in_shape: Sequence[int], out_shape: Sequence[int]) -> Arithmetic | None:
    """The formula numbers of a Conv2d, MaxPool2d or Linear seen with these (batch-first) shapes; else None."""
    win = window(module)
    if isinstance(module, nn.Linear):
        c_in, c_out = module.in_features, module.out_features
        bias = c_out if module.bias is not None else 0
        return Arithmetic("linear", c_in, c_out, None, None, None, None, None, c_in * c_out, bias,
                          c_in * c_out + bias, c_in * c_out)
    if win is None:
        return None
    n, c_in = int(in_shape[-1]), int(in_shape[1])
    side = out_size(n, win.kernel, win.stride, win.padding)
    if isinstance(module, nn.Conv2d):
        c_out = module.out_channels
        weights = win.kernel * win.kernel * (c_in // module.groups) * c_out
        bias = c_out if module.bias is not None else 0
        return Arithmetic("conv", c_in, c_out, n, win.kernel, win.stride, win.padding, side, weights, bias,
                          weights + bias, weights * side * side)
    return Arithmetic("pool", c_in, c_in, n, win.kernel, win.stride, win.padding, side, 0, 0, 0, 0)


def receptive_fields(layers: Iterable[tuple[Window | None, Sequence[int]]]) -> list[int | None]:
    """The receptive field after each layer, given (its window or None, its output shape) in order."""
    rf, jump, fields = 1, 1, []
    for win, out_shape in layers:
        if len(out_shape) != 4:
            fields.append(None)  # Flatten and the classifier: no pixel to speak of
            continue
        if win is not None:
            rf += (win.kernel - 1) * jump
            jump *= win.stride
        fields.append(rf)
    return fields


__all__ = ["Arithmetic", "Window", "window", "arithmetic", "receptive_fields"]
