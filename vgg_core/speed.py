"""Process-wide speed settings for a training process (the CLI's own process, never a web server).

Measured on the 2-core CPU this project is developed on (d2l's VGG, ratio 4, 224x224, batch 128):
glibc hands every activation buffer above 32 MiB back to the kernel when it is freed, so each
step page-faults ~4 GiB back in (1.1 M minor faults, a third of the step's CPU time in the
kernel). Keeping freed memory in the heap removes that. ReLU in place is exact (no layer here
needs a ReLU's input for its backward) and saves one pass over the largest tensors.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

import torch
from torch import nn

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX = -1, -2, -4
_INT_MAX = 2**31 - 1


def tune_process(device: torch.device) -> list[str]:
    """Apply the settings that pay on ``device``; returns what was applied, for the run record."""
    applied = []
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        applied.append("cudnn.benchmark")
    elif device.type == "cpu" and keep_freed_memory():
        applied.append("malloc: no mmap, no trim")
    return applied


def keep_freed_memory() -> bool:
    """glibc only: serve big blocks from the heap and never trim it, so freed activations are reused."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_MAX, 0) and mallopt(_M_TRIM_THRESHOLD, _INT_MAX) and mallopt(_M_TOP_PAD, 1 << 26))


def relu_in_place(model: nn.Module) -> nn.Module:
    """Same numbers, one buffer and one memory pass fewer per ReLU (autograd would refuse it if unsafe)."""
    for m in model.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = True
    return model
