"""The architecture spec: one frozen value that every page, command and run starts from.

A spec is the d2l ``conv_arch`` plus the few numbers around it. It is validated once, when it
is made, so that everything downstream (model building, summaries, training) can trust it and a
user always gets every problem with their input named in plain words at the same moment.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

# Upper limits: generous for any real VGG, small enough that a typo cannot describe a model
# whose mere description (or the meta-device forward behind the summary) takes the server down.
MAX_BLOCKS = 12
MAX_CONVS_PER_BLOCK = 64
MAX_CHANNELS = 16384
MAX_RATIO = 1024
MAX_INPUT_SIZE = 4096
MAX_IN_CHANNELS = 1024
MAX_NUM_CLASSES = 100_000
MAX_FC_WIDTH = 65_536
MAX_ARCH_TEXT = 2_000

# The paper's configurations (Simonyan & Zisserman 2014): convs per block, widths 64..512.
_WIDTHS = (64, 128, 256, 512, 512)
_PAPER_CONVS = {
    "vgg11": (1, 1, 2, 2, 2),  # configuration A, d2l's VGG-11
    "vgg13": (2, 2, 2, 2, 2),  # B
    "vgg16": (2, 2, 3, 3, 3),  # D
    "vgg19": (2, 2, 4, 4, 4),  # E
}


class ProblemsError(ValueError):
    """Refused input: ``problems`` holds one plain sentence each; the message joins them on one line."""

    def __init__(self, problems: Iterable[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class SpecError(ProblemsError):
    """Bad architecture input."""


@dataclass(frozen=True)
class ArchSpec:
    """A VGG-style network as d2l's ``vgg(conv_arch)`` builds it, generalised."""

    conv_arch: tuple[tuple[int, int], ...] = tuple(zip(_PAPER_CONVS["vgg11"], _WIDTHS))
    ratio: int = 1
    in_channels: int = 1
    input_size: int = 224
    num_classes: int = 10
    fc_width: int = 4096
    dropout: float = 0.5
    batch_norm: bool = False

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise SpecError(problems)
        object.__setattr__(self, "conv_arch", tuple((int(n), int(c)) for n, c in self.conv_arch))

    @property
    def blocks(self) -> tuple[tuple[int, int], ...]:
        """Blocks as built: d2l's ``(num_convs, out_channels // ratio)``."""
        return tuple((n, c // self.ratio) for n, c in self.conv_arch)

    @property
    def feature_size(self) -> int:
        """Side of the last feature map: each block's 2x2 max-pool halves it, rounding down."""
        return self.input_size >> len(self.conv_arch)

    @property
    def flatten_size(self) -> int:
        """Width of the first Linear layer's input (d2l hard-codes out_channels * 7 * 7)."""
        return self.blocks[-1][1] * self.feature_size**2

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["conv_arch"] = [list(b) for b in self.conv_arch]
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ArchSpec":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpecError([f"unknown spec field(s): {', '.join(unknown)}; allowed: {', '.join(sorted(known))}"])
        kwargs = dict(data)
        if "conv_arch" in kwargs:
            kwargs["conv_arch"] = _as_blocks(kwargs["conv_arch"])
        return cls(**kwargs)

    def replace(self, **changes: Any) -> "ArchSpec":
        return dataclasses.replace(self, **changes)


def parse_conv_arch(text: str) -> tuple[tuple[int, int], ...]:
    """Read a conv_arch typed by a person, never evaluating it as code.

    Accepts d2l's tuple syntax ``((1, 64), (1, 128))``, lists ``[[1, 64], [1, 128]]`` and the
    compact ``1x64 1x128 2x256`` (``×`` or ``x``, spaces allowed around it, blocks separated by
    spaces or commas).
    """
    if not isinstance(text, str):
        raise SpecError([f"conv_arch must be text, got {type(text).__name__}"])
    text = text.strip()
    if not text:
        raise SpecError(["conv_arch is empty; write blocks as ((1, 64), (1, 128)) or 1x64 1x128"])
    if len(text) > MAX_ARCH_TEXT:
        raise SpecError([f"conv_arch text is {len(text)} characters; at most {MAX_ARCH_TEXT} allowed"])
    if not re.search(r"[()\[\]]", text) and re.search(r"\d\s*[x×X]", text):
        return _parse_compact(text)
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise SpecError(
            [f"conv_arch {_clip(text)} is not a list of (num_convs, out_channels) pairs; "
             "write ((1, 64), (1, 128), (2, 256)) or 1x64 1x128 2x256"]
        ) from None
    return _as_blocks(value)


def format_conv_arch(conv_arch: Iterable[tuple[int, int]]) -> str:
    """d2l's own spelling, so the text round-trips through ``parse_conv_arch``.

    One block gets a trailing comma: ``((2, 512))`` is a pair to Python (and to d2l's ``vgg()``).
    """
    pairs = [f"({n}, {c})" for n, c in conv_arch]
    return "(" + ", ".join(pairs) + ("," if len(pairs) == 1 else "") + ")"


def format_compact(conv_arch: Iterable[tuple[int, int]]) -> str:
    return " ".join(f"{n}x{c}" for n, c in conv_arch)


def _parse_compact(text: str) -> tuple[tuple[int, int], ...]:
    pairs = []
    text = re.sub(r"(\d)\s*([x×X])\s*(\d)", r"\1\2\3", text)  # "1 x 64" is one block, not three tokens
    for i, token in enumerate(t for t in re.split(r"[\s,;]+", text) if t):
        m = re.fullmatch(r"(\d+)[x×X](\d+)", token)
        if not m:
            raise SpecError([f"block {i + 1}: {token!r} is not NUMxCHANNELS such as 2x256"])
        pairs.append((int(m.group(1)), int(m.group(2))))
    return _as_blocks(pairs)


def _as_blocks(value: Any) -> tuple[tuple[Any, Any], ...]:
    """Shape check only: a sequence of pairs. Numbers are checked with the rest of the spec."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise SpecError([f"conv_arch must be a list of (num_convs, out_channels) pairs, got {_clip(repr(value))}"])
    if len(value) == 2 and all(_is_int(v) for v in value):
        # ``(1, 64)`` alone: one block; literal_eval of "(1, 64)," is the same thing.
        value = (value,)
    blocks, problems = [], []
    for i, block in enumerate(value):
        if not isinstance(block, (list, tuple)) or len(block) != 2:
            problems.append(f"block {i + 1}: {_clip(repr(block))} is not a (num_convs, out_channels) pair")
        else:
            blocks.append(tuple(block))
    if problems:
        raise SpecError(problems)
    return tuple(blocks)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _clip(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _check_int(problems: list[str], label: str, value: Any, low: int, high: int) -> bool:
    if not _is_int(value):
        problems.append(f"{label} must be a whole number from {low} to {high}, got {_clip(repr(value))}")
        return False
    if not low <= value <= high:
        problems.append(f"{label} must be from {low} to {high}, got {value}")
        return False
    return True


def _problems(spec: ArchSpec) -> list[str]:
    problems: list[str] = []
    ratio_ok = _check_int(problems, "ratio", spec.ratio, 1, MAX_RATIO)
    _check_int(problems, "in_channels", spec.in_channels, 1, MAX_IN_CHANNELS)
    size_ok = _check_int(problems, "input_size", spec.input_size, 1, MAX_INPUT_SIZE)
    _check_int(problems, "num_classes", spec.num_classes, 1, MAX_NUM_CLASSES)
    _check_int(problems, "fc_width", spec.fc_width, 1, MAX_FC_WIDTH)
    if isinstance(spec.dropout, bool) or not isinstance(spec.dropout, (int, float)) or not 0 <= spec.dropout < 1:
        problems.append(f"dropout must be a number from 0 up to (not including) 1, got {_clip(repr(spec.dropout))}")
    if not isinstance(spec.batch_norm, bool):
        problems.append(f"batch_norm must be true or false, got {_clip(repr(spec.batch_norm))}")

    arch = spec.conv_arch
    if not isinstance(arch, (list, tuple)) or not all(isinstance(b, (list, tuple)) and len(b) == 2 for b in arch):
        problems.append("conv_arch must be a list of (num_convs, out_channels) pairs")
        return problems
    if not arch:
        problems.append("conv_arch has no blocks; at least 1 is needed")
        return problems
    if len(arch) > MAX_BLOCKS:
        problems.append(f"conv_arch has {len(arch)} blocks; at most {MAX_BLOCKS} allowed")
    for i, (n, c) in enumerate(arch, start=1):
        _check_int(problems, f"block {i}: num_convs", n, 1, MAX_CONVS_PER_BLOCK)
        if _check_int(problems, f"block {i}: out_channels", c, 1, MAX_CHANNELS) and ratio_ok and c // spec.ratio == 0:
            problems.append(
                f"block {i}: ratio {spec.ratio} leaves {c} // {spec.ratio} = 0 channels; "
                f"use a ratio of at most {c} or more channels"
            )
    if size_ok and len(arch) <= MAX_BLOCKS:
        side = spec.input_size
        for i in range(1, len(arch) + 1):
            side //= 2
            if side == 0:
                problems.append(
                    f"input_size {spec.input_size} is too small for {_blocks(len(arch))}: the side reaches 0 "
                    f"after block {i} (each block halves it); use input_size >= {2 ** len(arch)}"
                    + (f" or at most {_blocks(i - 1)}" if i > 1 else "")
                )
                break
    return problems


def _blocks(n: int) -> str:
    return f"{n} block" if n == 1 else f"{n} blocks"


PRESETS: dict[str, ArchSpec] = {
    **{name: ArchSpec(conv_arch=tuple(zip(convs, _WIDTHS))) for name, convs in _PAPER_CONVS.items()},
    # d2l's training setting: VGG-11 with every width divided by 4 (section 7.2.3).
    "d2l": ArchSpec(ratio=4),
}

PRESET_LABELS = {
    "vgg11": "VGG-11 (A)",
    "vgg13": "VGG-13 (B)",
    "vgg16": "VGG-16 (D)",
    "vgg19": "VGG-19 (E)",
    "d2l": "d2l training (VGG-11, ratio 4)",
}


def preset(name: str) -> ArchSpec:
    try:
        return PRESETS[name]
    except KeyError:
        raise SpecError([f"unknown preset {name!r}; allowed: {', '.join(PRESETS)}"]) from None
