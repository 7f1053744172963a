"""The architecture spec: one frozen value that every page, command and run starts from.

A spec is the d2l ``conv_arch`` plus the few numbers around it. It is validated once, when it
is made, so that everything downstream (model building, summaries, training) can trust it and a
user always gets every problem with their input named in plain words at the same moment.

A block is ``(num_convs, out_channels)`` (d2l's 3x3 convs) or ``(num_convs, out_channels,
kernel_size)`` with an odd kernel from 1 to 11, padded by ``k // 2`` so the side is kept as d2l's
3x3 with padding 1 keeps it. A 3x3 block is always stored as a pair, so a spec without other
kernels reads, compares and prints exactly as d2l's. ``family`` picks the network kind from
``stages.FAMILIES``: "vgg" (the default, blocks from ``conv_arch``) or "alexnet" (d2l 7.1's fixed
blocks; only the input, classes and classifier widths can change).
"""

from __future__ import annotations

import ast
import dataclasses
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from .problems import Count, Problem, ProblemsError, problem
from .stages import FAMILIES, Family, Stage, min_input_size, stage_sizes, unpack_block, vgg_stages

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
MIN_KERNEL, MAX_KERNEL = 1, 11  # odd sizes only: padding k // 2 keeps the side for odd k alone
KERNEL_SIZES = tuple(range(MIN_KERNEL, MAX_KERNEL + 1, 2))
DEFAULT_KERNEL = 3  # d2l's vgg_block

# The paper's configurations (Simonyan & Zisserman 2014): convs per block, widths 64..512.
_WIDTHS = (64, 128, 256, 512, 512)
_PAPER_CONVS = {
    "vgg11": (1, 1, 2, 2, 2),  # configuration A, d2l's VGG-11
    "vgg13": (2, 2, 2, 2, 2),  # B
    "vgg16": (2, 2, 3, 3, 3),  # D
    "vgg19": (2, 2, 4, 4, 4),  # E
}
VGG11 = tuple(zip(_PAPER_CONVS["vgg11"], _WIDTHS))

Block = tuple[int, int] | tuple[int, int, int]


class SpecError(ProblemsError):
    """Bad architecture input."""


@dataclass(frozen=True)
class ArchSpec:
    """A VGG-style network as d2l's ``vgg(conv_arch)`` builds it, generalised; or d2l's AlexNet.

    ``conv_arch=None`` means the family's own blocks: VGG-11 for "vgg", none to give for "alexnet"
    (its blocks are fixed, so its ``conv_arch`` is empty and its ``ratio`` 1).
    """

    conv_arch: tuple[Block, ...] | None = None
    ratio: int = 1
    in_channels: int = 1
    input_size: int = 224
    num_classes: int = 10
    fc_width: int = 4096
    dropout: float = 0.5
    batch_norm: bool = False
    family: str = "vgg"

    def __post_init__(self) -> None:
        if self.conv_arch is None:
            object.__setattr__(self, "conv_arch", VGG11 if self.family == "vgg" else ())
        problems = _problems(self)
        if problems:
            raise SpecError(problems)
        object.__setattr__(self, "conv_arch", tuple(_normal_block(b) for b in self.conv_arch))

    @property
    def family_info(self) -> Family:
        return FAMILIES[self.family]

    @property
    def blocks(self) -> tuple[Block, ...]:
        """Blocks as built: d2l's ``(num_convs, out_channels // ratio)``, the kernel kept where it is not 3."""
        return tuple((b[0], b[1] // self.ratio, *b[2:]) for b in self.conv_arch)

    @property
    def kernel_sizes(self) -> tuple[int, ...]:
        """Each block's kernel side (3 where the block is a pair)."""
        return tuple(unpack_block(b)[2] for b in self.conv_arch)

    @property
    def stages(self) -> tuple[Stage, ...]:
        """What is built, block by block: convs (kernel, stride, padding), then a pool."""
        fixed = self.family_info.stages
        return fixed if fixed is not None else vgg_stages(self.blocks)

    @property
    def feature_size(self) -> int:
        """Side of the last feature map (VGG: each block's 2x2 max-pool halves it, rounding down)."""
        return stage_sizes(self.input_size, self.stages)[-1][1]

    @property
    def flatten_size(self) -> int:
        """Width of the first Linear layer's input (d2l hard-codes out_channels * 7 * 7)."""
        return self.stages[-1].convs[-1].out_channels * self.feature_size**2

    def to_dict(self) -> dict[str, Any]:
        """VGG as always (no ``family`` key); a fixed family without the blocks it does not let you give."""
        d = dataclasses.asdict(self)
        d["conv_arch"] = [list(b) for b in self.conv_arch]
        if self.family == "vgg":
            del d["family"]
        else:
            del d["conv_arch"], d["ratio"]
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


def parse_conv_arch(text: str) -> tuple[Block, ...]:
    """Read a conv_arch typed by a person, never evaluating it as code.

    Accepts d2l's tuple syntax ``((1, 64), (1, 128))``, lists ``[[1, 64], [1, 128]]`` and the
    compact ``1x64 1x128 2x256`` (``×`` or ``x``, spaces allowed around it, blocks separated by
    spaces or commas). A third number, or ``k5`` in the compact form (``2x64k5``), is the block's
    kernel size; numbers are checked with the rest of the spec. Full-width punctuation and digits,
    as a Chinese keyboard types them (``（1，64），（1，128）``), read as their ASCII forms (NFKC).
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


def format_conv_arch(conv_arch: Iterable[Sequence[int]]) -> str:
    """d2l's own spelling, so the text round-trips through ``parse_conv_arch``.

    One block gets a trailing comma: ``((2, 512))`` is a pair to Python (and to d2l's ``vgg()``).
    A block with another kernel than 3x3 is a triple: ``(1, 64, 5)``.
    """
    blocks = ["(" + ", ".join(str(v) for v in _normal_block(b)) + ")" for b in conv_arch]
    return "(" + ", ".join(blocks) + ("," if len(blocks) == 1 else "") + ")"


def format_compact(conv_arch: Iterable[Sequence[int]]) -> str:
    """``1x64 2x128k5``: the kernel written only where it is not 3."""
    return " ".join("{}x{}".format(*b) + (f"k{b[2]}" if len(b) > 2 else "") for b in map(_normal_block, conv_arch))


def arch_text(spec: "ArchSpec") -> str:
    """A spec's blocks in one short line: the compact form, or the network's name where its blocks are fixed."""
    return spec.family_info.title if spec.family_info.stages is not None else format_compact(spec.blocks)


def _normal_block(block: Sequence[Any]) -> tuple[Any, ...]:
    """A 3x3 block as a pair (d2l's spelling), any other kernel as a triple; ints as ints."""
    n, c, k = unpack_block(block)
    as_int = lambda v: int(v) if is_int(v) else v  # noqa: E731 - numpy ints become ints; the rest is checked
    return (as_int(n), as_int(c)) if k == DEFAULT_KERNEL else (as_int(n), as_int(c), as_int(k))


def _parse_compact(text: str) -> tuple[Block, ...]:
    blocks = []
    text = re.sub(r"(\d)\s*([x×X])\s*(\d)", r"\1\2\3", text)  # "1 x 64" is one block, not three tokens
    text = re.sub(r"(\d)\s*([kK])\s*(\d)", r"\1\2\3", text)  # nor is "64 k 5"
    for i, token in enumerate(t for t in re.split(r"[\s,;]+", text) if t):
        m = re.fullmatch(r"(\d+)[x×X](\d+)(?:[kK](\d+))?", token)
        if not m:
            raise SpecError(problem("block_token", block=i + 1, token=repr(token)))
        blocks.append(tuple(int(g) for g in m.groups() if g is not None))
    return _as_blocks(blocks)


def _as_blocks(value: Any) -> tuple[tuple[Any, ...], ...]:
    """Shape check only: a sequence of pairs or triples. Numbers are checked with the rest of the spec."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise SpecError(problem("conv_arch_not_list", got=_clip(repr(value))))
    if len(value) in (2, 3) and all(is_int(v) for v in value):
        # ``(1, 64)`` or ``(1, 64, 5)`` alone: one block; literal_eval of "(1, 64)," is the same thing.
        value = (value,)
    blocks, problems = [], []
    for i, block in enumerate(value):
        if not isinstance(block, (list, tuple)) or len(block) not in (2, 3):
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
    family = FAMILIES.get(spec.family) if isinstance(spec.family, str) else None
    if family is None:
        problems.append(problem("one_of", name="family", allowed=", ".join(FAMILIES), got=_clip(repr(spec.family))))
    ratio_ok = check_int(problems, "ratio", spec.ratio, 1, MAX_RATIO)
    check_int(problems, "in_channels", spec.in_channels, 1, MAX_IN_CHANNELS)
    size_ok = check_int(problems, "input_size", spec.input_size, 1, MAX_INPUT_SIZE)
    check_int(problems, "num_classes", spec.num_classes, 1, MAX_NUM_CLASSES)
    check_int(problems, "fc_width", spec.fc_width, 1, MAX_FC_WIDTH)
    if not (is_number(spec.dropout) and 0 <= spec.dropout < 1):
        problems.append(problem("number_below", name="dropout", low=0, high=1, got=_clip(repr(spec.dropout))))
    if not isinstance(spec.batch_norm, bool):
        problems.append(problem("not_bool", name="batch_norm", got=_clip(repr(spec.batch_norm))))
    if family is None:
        return problems
    if family.stages is not None:
        return problems + _fixed_problems(spec, family, ratio_ok, size_ok)
    return problems + _arch_problems(spec, ratio_ok, size_ok)


def _fixed_problems(spec: ArchSpec, family: Family, ratio_ok: bool, size_ok: bool) -> list[Problem]:
    """A fixed network (AlexNet): no blocks or ratio to give, and an input its layers do not shrink to nothing."""
    found = []
    if not isinstance(spec.conv_arch, (list, tuple)) or spec.conv_arch:
        found.append(problem("family_fixed", network=family.title, name="conv_arch"))
    if ratio_ok and spec.ratio != 1:
        found.append(problem("family_fixed", network=family.title, name="ratio"))
    if size_ok:
        sizes = stage_sizes(spec.input_size, family.stages)
        if sizes[-1][1] < 1:
            found.append(problem("input_too_small_for", network=family.title, size=spec.input_size, at=len(sizes),
                                 need=min_input_size(family.stages)))
    return found


def _arch_problems(spec: ArchSpec, ratio_ok: bool, size_ok: bool) -> list[Problem]:
    """conv_arch: its shape, each block's numbers, then whether the input survives every block."""
    arch, problems = spec.conv_arch, []
    if not isinstance(arch, (list, tuple)) or not all(isinstance(b, (list, tuple)) and len(b) in (2, 3) for b in arch):
        return [problem("conv_arch_shape")]
    if not arch:
        return [problem("no_blocks")]
    if len(arch) > MAX_BLOCKS:
        problems.append(problem("too_many_blocks", n=len(arch), most=MAX_BLOCKS))
    kernels_ok = True
    for i, block in enumerate(arch, start=1):
        n, c, k = unpack_block(block)
        check_int(problems, "num_convs", n, 1, MAX_CONVS_PER_BLOCK, block=i)
        if check_int(problems, "out_channels", c, 1, MAX_CHANNELS, block=i) and ratio_ok and c // spec.ratio == 0:
            problems.append(problem("ratio_zero_channels", block=i, ratio=spec.ratio, channels=c))
        kernels_ok = _check_kernel(problems, k, i) and kernels_ok
    if size_ok and len(arch) <= MAX_BLOCKS:
        too_small = _size_problems(spec.input_size, len(arch))
        problems += too_small
        if kernels_ok and not too_small:
            problems += _kernel_reach_problems(spec.input_size, [unpack_block(b)[2] for b in arch])
    return problems


def _check_kernel(problems: list[Problem], k: Any, block: int) -> bool:
    """An odd whole number from 1 to 11: padding k // 2 keeps the side only for an odd kernel."""
    allowed = ", ".join(str(v) for v in KERNEL_SIZES)
    if not is_int(k):
        problems.append(problem("kernel_not_whole", block=block, allowed=allowed, got=_clip(repr(k))))
    elif not MIN_KERNEL <= k <= MAX_KERNEL:
        problems.append(problem("kernel_range", block=block, low=MIN_KERNEL, high=MAX_KERNEL, allowed=allowed, got=k))
    elif k % 2 == 0:
        problems.append(problem("kernel_even", block=block, allowed=allowed, got=k))
    else:
        return True
    return False


def _kernel_reach_problems(size: int, kernels: Sequence[int]) -> list[Problem]:
    """Refuse a kernel whose outer weights can only ever meet the zero padding.

    Padding ``k // 2`` keeps the side for any odd ``k``, so no map vanishes; but a weight ``d``
    pixels from the kernel's centre touches the image only if ``|d| <= side - 1``. With ``k // 2 >
    side - 1`` (that is ``k > 2 * side - 1``) the kernel's outer ring multiplies zeros wherever it
    slides: parameters that never change the output and never learn. Block ``i`` sees the side
    ``input_size >> (i - 1)``.
    """
    found = []
    for i, k in enumerate(kernels, start=1):
        side = size >> (i - 1)
        if k > 2 * side - 1:
            found.append(problem("kernel_too_large", block=i, kernel=k, side=side, padding=k // 2, most=2 * side - 1))
    return found


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
    # The paper's case for 3x3 kernels (Simonyan & Zisserman, section 2.3), on a small net at
    # Fashion-MNIST's own 28x28: the same 3x3 stem, then two blocks of 64 channels that are either
    # two stacked 3x3 convs or one 5x5 conv. Both see 5x5 more per block (the same receptive field
    # after every pool: 4, 14, 34), but a pair holds 2 * 9 * 64 * 64 weights where one 5x5 holds 25 * 64 * 64,
    # with one ReLU more in between.
    "pair_3x3": ArchSpec(conv_arch=((1, 64), (2, 64), (2, 64)), input_size=28, fc_width=256),
    "pair_5x5": ArchSpec(conv_arch=((1, 64), (1, 64, 5), (1, 64, 5)), input_size=28, fc_width=256),
}
# Networks set beside VGG whose blocks are fixed: d2l 7.1's AlexNet (1x224x224 in, 10 classes, FC 4096).
REFERENCES: dict[str, ArchSpec] = {"alexnet": ArchSpec(family="alexnet")}
NAMED: dict[str, ArchSpec] = {**PRESETS, **REFERENCES}


def preset(name: str) -> ArchSpec:
    """A named spec: one of ``PRESETS`` (VGG blocks to edit) or ``REFERENCES`` (fixed networks)."""
    try:
        return NAMED[name]
    except KeyError:
        raise SpecError(problem("unknown_preset", name=repr(name), allowed=", ".join(NAMED))) from None
