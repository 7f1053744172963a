"""The architecture spec: one frozen value that every page, command and run starts from.

A spec is the d2l ``conv_arch`` plus the few numbers around it. It is validated once, when it
is made, so that everything downstream (model building, summaries, training) can trust it and a
user always gets every problem with their input named in plain words at the same moment.
"""

from __future__ import annotations

import ast
import dataclasses
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from .problems import Count, Problem, ProblemsError, problem

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
            raise SpecError(unknown_fields("spec", unknown, known))
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
    spaces or commas). Full-width punctuation and digits, as a Chinese keyboard types them
    (``（1，64），（1，128）``), read as their ASCII forms (Unicode NFKC).
    """
    if not isinstance(text, str):
        raise SpecError(problem("conv_arch_not_text", got=type(text).__name__))
    text = unicodedata.normalize("NFKC", text).strip()
    if not text:
        raise SpecError(problem("conv_arch_empty"))
    if len(text) > MAX_ARCH_TEXT:
        raise SpecError(problem("conv_arch_too_long", n=len(text), most=MAX_ARCH_TEXT))
    if not re.search(r"[()\[\]]", text) and re.search(r"\d\s*[x×X]", text):
        return _parse_compact(text)
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise SpecError(problem("conv_arch_unreadable", text=_clip(text))) from None
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
            raise SpecError(problem("block_token", block=i + 1, token=repr(token)))
        pairs.append((int(m.group(1)), int(m.group(2))))
    return _as_blocks(pairs)


def _as_blocks(value: Any) -> tuple[tuple[Any, Any], ...]:
    """Shape check only: a sequence of pairs. Numbers are checked with the rest of the spec."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise SpecError(problem("conv_arch_not_list", got=_clip(repr(value))))
    if len(value) == 2 and all(is_int(v) for v in value):
        # ``(1, 64)`` alone: one block; literal_eval of "(1, 64)," is the same thing.
        value = (value,)
    blocks, problems = [], []
    for i, block in enumerate(value):
        if not isinstance(block, (list, tuple)) or len(block) != 2:
            problems.append(problem("block_not_pair", block=i + 1, value=_clip(repr(block))))
        else:
            blocks.append(tuple(block))
    if problems:
        raise SpecError(problems)
    return tuple(blocks)


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v: Any) -> bool:
    """A finite int or float, not a bool (True is an int to Python, never a number to a user)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _clip(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def check_int(problems: list[Problem], name: str, value: Any, low: int, high: int, **where: Any) -> bool:
    """Append why ``value`` is not a whole number from ``low`` to ``high`` (``where``: e.g. its block)."""
    if not is_int(value):
        problems.append(problem("not_whole_number", **where, name=name, low=low, high=high, got=_clip(repr(value))))
        return False
    if not low <= value <= high:
        problems.append(problem("out_of_range", **where, name=name, low=low, high=high, got=value))
        return False
    return True


def unknown_fields(what: str, unknown: Iterable[str], known: Iterable[str]) -> Problem:
    return problem("unknown_fields", what=what, names=", ".join(unknown), allowed=", ".join(sorted(known)))


def _problems(spec: ArchSpec) -> list[Problem]:
    problems: list[Problem] = []
    ratio_ok = check_int(problems, "ratio", spec.ratio, 1, MAX_RATIO)
    check_int(problems, "in_channels", spec.in_channels, 1, MAX_IN_CHANNELS)
    size_ok = check_int(problems, "input_size", spec.input_size, 1, MAX_INPUT_SIZE)
    check_int(problems, "num_classes", spec.num_classes, 1, MAX_NUM_CLASSES)
    check_int(problems, "fc_width", spec.fc_width, 1, MAX_FC_WIDTH)
    if not (is_number(spec.dropout) and 0 <= spec.dropout < 1):
        problems.append(problem("number_below", name="dropout", low=0, high=1, got=_clip(repr(spec.dropout))))
    if not isinstance(spec.batch_norm, bool):
        problems.append(problem("not_bool", name="batch_norm", got=_clip(repr(spec.batch_norm))))

    arch = spec.conv_arch
    if not isinstance(arch, (list, tuple)) or not all(isinstance(b, (list, tuple)) and len(b) == 2 for b in arch):
        problems.append(problem("conv_arch_shape"))
        return problems
    if not arch:
        problems.append(problem("no_blocks"))
        return problems
    if len(arch) > MAX_BLOCKS:
        problems.append(problem("too_many_blocks", n=len(arch), most=MAX_BLOCKS))
    for i, (n, c) in enumerate(arch, start=1):
        check_int(problems, "num_convs", n, 1, MAX_CONVS_PER_BLOCK, block=i)
        if check_int(problems, "out_channels", c, 1, MAX_CHANNELS, block=i) and ratio_ok and c // spec.ratio == 0:
            problems.append(problem("ratio_zero_channels", block=i, ratio=spec.ratio, channels=c))
    if size_ok and len(arch) <= MAX_BLOCKS:
        problems += _size_problems(spec.input_size, len(arch))
    return problems


def _size_problems(size: int, blocks: int) -> list[Problem]:
    """Each block halves the side (rounding down): it must not reach 0."""
    for i in range(1, blocks + 1):
        size_after = size >> i
        if size_after == 0:
            args = dict(size=size, blocks=Count("blocks", blocks), at=i, need=2**blocks)
            if i > 1:
                return [problem("input_too_small_or_fewer", **args, fewer=Count("blocks", i - 1))]
            return [problem("input_too_small", **args)]
    return []


PRESETS: dict[str, ArchSpec] = {
    **{name: ArchSpec(conv_arch=tuple(zip(convs, _WIDTHS))) for name, convs in _PAPER_CONVS.items()},
    # d2l's training setting: VGG-11 with every width divided by 4 (section 7.2.3).
    "d2l": ArchSpec(ratio=4),
}


def preset(name: str) -> ArchSpec:
    try:
        return PRESETS[name]
    except KeyError:
        raise SpecError(problem("unknown_preset", name=repr(name), allowed=", ".join(PRESETS))) from None
