"""The networks as one config table: each family compiles to stages (convs, then a pool) that the
builder, the summary, the size checks and the generated code all walk.

Why a table of stages: d2l's VGG (7.2) and AlexNet (7.1) are the same shape of network, some
convolutions with ReLU, a max-pool, repeated, then the same classifier. Only the numbers differ
(kernel, stride, padding, pool window), so one walk over these records builds either network, sizes
its maps and counts its work, as torchvision's ``models/vgg.py`` builds every VGG from its ``cfgs``.

Sizes follow PyTorch's rule for a convolution or pooling window: a side ``n`` becomes
``floor((n + 2p - k) / s) + 1``. A VGG conv (odd ``k``, padding ``k // 2``, stride 1) keeps the side;
its 2x2 pool with stride 2 halves it, rounding down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence


@dataclass(frozen=True)
class Conv:
    """One Conv2d (then BatchNorm2d when asked, then ReLU)."""

    out_channels: int
    kernel: int
    stride: int = 1
    padding: int = 0


@dataclass(frozen=True)
class Pool:
    """The MaxPool2d that ends a stage (no padding)."""

    kernel: int
    stride: int


@dataclass(frozen=True)
class Stage:
    """A block: its convolutions in order, then its pool."""

    convs: tuple[Conv, ...]
    pool: Pool


@dataclass(frozen=True)
class Family:
    """How one kind of network is laid out; ``stages`` is None where the blocks come from ``conv_arch``."""

    name: str
    title: str  # as the book writes it, for printouts
    flat: bool  # one flat nn.Sequential (d2l's AlexNet) or one nn.Sequential per block (d2l's vgg())
    stages: tuple[Stage, ...] | None
    sgd_lr: float  # the learning rate d2l trains this network with (plain SGD)


VGG_POOL = Pool(kernel=2, stride=2)

# d2l 7.1's AlexNet for Fashion-MNIST: one input channel, 96-256-384-384-256 filters, pools of 3 with stride 2.
ALEXNET = (
    Stage((Conv(96, 11, stride=4, padding=1),), Pool(3, 2)),
    Stage((Conv(256, 5, padding=2),), Pool(3, 2)),
    Stage((Conv(384, 3, padding=1), Conv(384, 3, padding=1), Conv(256, 3, padding=1)), Pool(3, 2)),
)

FAMILIES: dict[str, Family] = {
    "vgg": Family("vgg", "VGG", flat=False, stages=None, sgd_lr=0.05),  # d2l 7.2: lr 0.05
    "alexnet": Family("alexnet", "AlexNet", flat=True, stages=ALEXNET, sgd_lr=0.01),  # d2l 7.1: lr 0.01
}


def unpack_block(block: Sequence[int]) -> tuple[int, int, int]:
    """``(num_convs, out_channels)`` or ``(num_convs, out_channels, kernel_size)`` as a triple (3 by default)."""
    n, c, *rest = block
    return n, c, (rest[0] if rest else 3)


def vgg_stages(blocks: Iterable[Sequence[int]]) -> tuple[Stage, ...]:
    """d2l's ``vgg_block`` per block: ``num_convs`` convs of ``k x k`` with padding ``k // 2``, then a 2x2 pool."""
    stages = []
    for block in blocks:
        n, c, k = unpack_block(block)
        stages.append(Stage(tuple(Conv(c, k, 1, k // 2) for _ in range(n)), VGG_POOL))
    return tuple(stages)


def out_size(n: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """PyTorch's output side for a window: ``floor((n + 2p - k) / s) + 1`` (0 or less: nothing left)."""
    return (n + 2 * padding - kernel) // stride + 1


def stage_sizes(size: int, stages: Sequence[Stage]) -> list[tuple[int, int]]:
    """(side its convs see, side after its pool) per stage, stopping at the first that leaves nothing."""
    sizes = []
    for stage in stages:
        seen = size
        for conv in stage.convs:
            size = out_size(size, conv.kernel, conv.stride, conv.padding)
            if size < 1:
                break
        if size >= 1:
            size = out_size(size, stage.pool.kernel, stage.pool.stride)
        sizes.append((seen, size))
        if size < 1:
            break
    return sizes


def min_input_size(stages: Sequence[Stage]) -> int:
    """The smallest input side that leaves every layer at least 1x1, walking back from the end.

    A window gives at least ``m`` outputs exactly when ``n >= (m - 1) * s + k - 2p``.
    """
    need = 1
    for stage in reversed(stages):
        need = max((need - 1) * stage.pool.stride + stage.pool.kernel, 1)
        for conv in reversed(stage.convs):
            need = max((need - 1) * conv.stride + conv.kernel - 2 * conv.padding, 1)
    return need


__all__ = [
    "Conv", "Pool", "Stage", "Family", "FAMILIES", "ALEXNET", "VGG_POOL", "unpack_block", "vgg_stages", "out_size",
    "stage_sizes", "min_input_size",
]
