"""The input pipeline on the training device: cut batches from uint8 tensors, resize whole batches.

d2l resizes every image on its own with PIL in DataLoader workers, which on a small machine
steal the cores the training needs and on a GPU machine leave the card waiting. Here a batch is
an index into tensors already on the device, and ``F.interpolate`` resizes all of it at once.
"""

from __future__ import annotations

from typing import Iterator

import torch
import torch.nn.functional as F


def epoch_batches(
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    generator: torch.Generator | None = None,
    shuffle: bool = True,
    rank: int = 0,
    world: int = 1,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of (uint8 images, labels) batches, the last one partial, as d2l's DataLoader gives.

    With ``world`` processes each one takes its ``share`` of every batch of the same permutation
    (every rank seeds ``generator`` alike), so the batch stays the global one and an epoch is
    still every example once.
    """
    n = images.shape[0]
    order = torch.randperm(n, generator=generator).to(images.device, non_blocking=True) if shuffle else None
    for start in range(0, n, batch_size):
        lo, hi = share(min(batch_size, n - start), rank, world)
        if order is None:
            yield images[start + lo:start + hi], labels[start + lo:start + hi]
        else:
            idx = order[start + lo:start + hi]
            yield images.index_select(0, idx), labels.index_select(0, idx)


def share(n: int, rank: int, world: int) -> tuple[int, int]:
    """[lo, hi) of ``n`` items that is ``rank``'s: contiguous, sizes differ by at most one (the first
    ``n % world`` ranks take one more), as ``torch.tensor_split`` cuts."""
    q, r = divmod(n, world)
    lo = rank * q + min(rank, r)
    return lo, lo + q + (1 if rank < r else 0)


def shard_batches(images: torch.Tensor, labels: torch.Tensor, batch_size: int, rank: int = 0,
                  world: int = 1) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``rank``'s contiguous share of a split, in batches; every rank gets the same number of batches
    (the last ones possibly empty), so a per-batch collective stays in step. One process: the split in order."""
    n = images.shape[0]
    lo, hi = share(n, rank, world)
    for j in range(num_batches(share(n, 0, world)[1], batch_size)):
        a, b = min(lo + j * batch_size, hi), min(lo + (j + 1) * batch_size, hi)
        yield images[a:b], labels[a:b]


def num_batches(n: int, batch_size: int) -> int:
    return -(-n // batch_size)


def to_model_input(images: torch.Tensor, size: int, channels: int = 1, channels_last: bool = True) -> torch.Tensor:
    """uint8 [N, H, W] -> float [N, C, size, size] in [0, 1], as d2l's Resize(size) + ToTensor().

    Bilinear with half-pixel centres, like PIL; antialiased only when shrinking, which is when
    PIL's filter differs from plain bilinear. A model with more than one input channel gets the
    grey channel repeated (Fashion-MNIST has one).
    """
    x = images.unsqueeze(1).float().div_(255)
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=size < x.shape[-1])
    if channels > 1:
        x = x.expand(-1, channels, -1, -1)
    if not channels_last:
        return x.contiguous()
    x = x.contiguous(memory_format=torch.channels_last)
    if x.shape[1] == 1 and x.is_cuda:
        # One channel: NCHW and NHWC are the same bytes, and PyTorch then reads the tensor as NCHW,
        # so the first conv (and its ReLU and pool) ran NCHW and cuDNN converted layouts for the
        # second (2 conversions a step, 6% of the step on an H100). The same memory with NHWC
        # strides says channels_last unambiguously. oneDNN on the CPU showed no difference.
        n, _, h, w = x.shape
        x = x.as_strided((n, 1, h, w), (h * w, 1, w, 1))
    return x
