"""The network drawn to scale: geometry from a ``Summary``, then the same geometry as SVG or PNG.

One job: show a student what the summary's numbers look like. Each VGG block is one cuboid whose
height follows its spatial size and whose depth follows its channel count, repeated convolutions
collapse into one box marked ``×N``, the max-pool is a thin box at the halved size, and the
classifier's Linear layers are bars as long as they are wide. ``layout`` computes every polygon,
bar, label and arrow once (records apart from rendering, as torchinfo keeps them); ``to_svg`` and
``to_png`` only draw what it computed, so both pictures and the tests read the same numbers.

Words appear only in hover text (``DiagramText``, so a page can pass its own language); what is
drawn inside the picture is language-neutral (``64×112×112``, ``×2``, ``FC 4096``, ``pool``).
"""

from __future__ import annotations

import functools
import io
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence, TypeVar
from xml.sax.saxutils import escape, quoteattr

from .report import human, human_bytes, shape_text
from .summary import CLASSIFIER, LayerRow, Summary

# One palette for SVG and PNG (the Okabe-Ito hues, softened): front faces; top and side are shades.
PALETTE = {"input": "#A0AEC0", "conv": "#56A0D3", "pool": "#F0B441", "fc": "#3FB08A"}
EDGE = "#2D3748"
TEXT = "#1A202C"
ARROW = "#718096"
BACKGROUND = "#FFFFFF"
FONT_FAMILY = "DejaVu Sans, Verdana, Arial, sans-serif"

FONT_SIZE = 11
MARGIN = 12
GAP = 22  # between columns, room for an arrow
ROW = 14  # distance between label rows under the picture
FACE_WIDTH = {"input": 14.0, "conv": 18.0, "pool": 6.0, "fc": 12.0}
OBLIQUE = 0.5 * math.cos(math.pi / 4)  # cabinet projection: depth drawn at 45°, half length
MIN_PX = 3.0  # the smallest box side still visible
MAX_WIDTH = 8000  # pixels; a wider picture is refused rather than drawn
MAX_ITEMS = 400
MAX_LABEL = 24  # characters in one label drawn in the picture
MAX_PNG_PIXELS = 40_000_000
PX_RANGE = (20.0, 1000.0)  # allowed Scale sizes

Point = tuple[float, float]
_F = TypeVar("_F", bound=Callable[..., Any])


class DiagramError(ValueError):
    """This network cannot be drawn; the message is one line saying why."""


@dataclass(frozen=True)
class DiagramText:
    """The few words of hover text, so a page can pass its own language; ``{n}`` is the block number."""

    input: str = "input"
    conv: str = "convolution"
    pool: str = "pooling"
    fc: str = "fully connected"
    block: str = "block {n}"
    classifier: str = "classifier"
    output: str = "output"
    kernel: str = "kernel"
    parameters: str = "parameters"
    macs: str = "MACs"
    activation_memory: str = "activation memory"


ENGLISH = DiagramText()


@dataclass(frozen=True)
class Scale:
    """Pixels per spatial size, channel and FC unit, shared by every diagram drawn with it.

    Linear: pixels proportional to the value. Log: every doubling adds the same step, from
    ``MIN_PX`` at 1 up to the full size at the largest value. Values never leave ``MIN_PX..px``.
    """

    log: bool
    max_side: int
    max_channels: int
    max_units: int
    height_px: float = 180.0
    depth_px: float = 100.0
    bar_px: float = 180.0

    def height(self, side: int) -> float:
        return _to_px(side, self.max_side, self.height_px, self.log)

    def depth(self, channels: int) -> float:
        return _to_px(channels, self.max_channels, self.depth_px, self.log)

    def bar(self, units: int) -> float:
        return _to_px(units, self.max_units, self.bar_px, self.log)


@dataclass(frozen=True)
class ItemData:
    """What one drawn item stands for, summed over the layers it collapses (the hover's numbers)."""

    kind: str  # "input" | "conv" | "pool" | "fc"
    block: str  # the summary's block ("block 1" ... or "classifier"), "input" for the input
    label: str  # drawn under the item: "conv 64", "conv 384/384/256", "pool", "FC 4096", "1×224×224"
    repeat: int  # Conv2d layers collapsed into a conv box; 1 otherwise
    kernel: str | None  # "3×3" when the rows say, else None
    output_shape: tuple[int, ...]  # without the batch
    params: int
    macs: int
    activation_bytes: int
    layers: tuple[str, ...]  # the summary's layer names folded into this item


@dataclass(frozen=True)
class Face:
    points: tuple[Point, ...]
    fill: str


@dataclass(frozen=True)
class Box:
    """A cuboid: front face at (x, y) of width x height, receding ``depth`` pixels at 45°."""

    data: ItemData
    x: float
    y: float
    width: float
    height: float
    depth: float
    faces: tuple[Face, Face, Face]  # front, top, side


@dataclass(frozen=True)
class Bar:
    data: ItemData
    x: float
    y: float
    width: float
    height: float
    faces: tuple[Face]


@dataclass(frozen=True)
class Label:
    x: float  # the baseline's centre
    y: float
    text: str
    role: str  # "label" | "kernel" | "shape" (between blocks) | "mark" (×N)


@dataclass(frozen=True)
class Arrow:
    start: Point
    end: Point
    head: Face


@dataclass(frozen=True)
class Diagram:
    width: int
    height: int
    scale: Scale
    boxes: tuple[Box, ...]
    bars: tuple[Bar, ...]
    labels: tuple[Label, ...]
    arrows: tuple[Arrow, ...]

    @property
    def items(self) -> tuple[Box | Bar, ...]:
        """Boxes and bars from left to right, the order they are drawn in."""
        return tuple(sorted((*self.boxes, *self.bars), key=lambda item: item.x))


def _only_diagram_errors(fn: _F) -> _F:
    """The page gets a ``DiagramError`` with one readable line, never another exception type."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DiagramError:
            raise
        except Exception as e:  # noqa: BLE001 - the contract: one exception type, the cause chained
            line = " ".join(str(e).split())[:200]
            raise DiagramError(f"cannot draw this network ({type(e).__name__}: {line})") from e

    return wrapper  # type: ignore[return-value]


# --- scale -------------------------------------------------------------------------------------


def _to_px(value: int, top: int, px: float, log: bool) -> float:
    value = min(max(value, 1), max(top, 1))
    if log:
        fraction = math.log2(value) / math.log2(top) if top > 1 else 1.0
        return MIN_PX + (px - MIN_PX) * fraction
    return max(MIN_PX, px * value / max(top, 1))


def _side(shape: Sequence[int]) -> int:
    return int(shape[2]) if len(shape) >= 3 else 1


def _channels(shape: Sequence[int]) -> int:
    return int(shape[1]) if len(shape) >= 3 else 1


def _extents(summary: Summary) -> tuple[int, int, int]:
    """The largest spatial size, channel count and Linear width the summary draws."""
    shapes = [summary.input_shape] + [r.output_shape for r in summary.layers if _kind(r) in ("conv", "pool")]
    units = [r.output_shape[-1] for r in summary.layers if _kind(r) == "fc"]
    return max(_side(s) for s in shapes), max(_channels(s) for s in shapes), max(units, default=1)


@_only_diagram_errors
def common_scale(
    summaries: Sequence[Summary],
    log: bool = False,
    *,
    height_px: float = 180.0,
    depth_px: float = 100.0,
    bar_px: float = 180.0,
) -> Scale:
    """One scale for several summaries, so diagrams drawn one above another compare by eye."""
    if not summaries:
        raise DiagramError("no summary to take a scale from; pass at least one")
    low, high = PX_RANGE
    for name, px in (("height_px", height_px), ("depth_px", depth_px), ("bar_px", bar_px)):
        if isinstance(px, bool) or not isinstance(px, (int, float)) or not low <= px <= high:
            raise DiagramError(f"{name} must be a number from {low:g} to {high:g} pixels, got {px!r}")
    sides, channels, units = zip(*(_extents(s) for s in summaries))
    return Scale(bool(log), max(sides), max(channels), max(units), float(height_px), float(depth_px), float(bar_px))


# --- grouping layer rows into drawn items ------------------------------------------------------


def _kind(row: LayerRow) -> str | None:
    """The item a layer draws; None for layers that fold into a neighbour (BatchNorm, ReLU, ...)."""
    if "Pool" in row.type:
        return "pool"
    if row.type.startswith("Conv"):
        return "conv"
    if row.type.endswith("Linear"):
        return "fc"
    return None


def _groups(summary: Summary) -> list[tuple[str, str, list[LayerRow]]]:
    """Consecutive convs of one block make one item, each pool and each Linear one more.

    Other layers fold into the item before them in the same block, or, at a block's start (the
    classifier's Flatten), into the next item, so every row's numbers land in exactly one item.
    """
    groups: list[tuple[str, str, list[LayerRow]]] = []
    pending: list[LayerRow] = []
    for row in summary.layers:
        kind = _kind(row)
        last = groups[-1] if groups else None
        if kind is None and last is not None and last[1] == row.block:
            last[2].append(row)
        elif kind is None:
            pending.append(row)
        elif kind == "conv" and last is not None and last[0] == "conv" and last[1] == row.block:
            last[2].append(row)
        else:
            groups.append((kind, row.block, pending + [row]))
            pending = []
    if pending and groups:
        groups[-1][2].extend(pending)
    return groups


def _clip(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def _kernel_text(rows: Sequence[LayerRow]) -> str | None:
    """``3×3`` from a ``kernel_size`` field when the rows carry one (int or pair); joined if they differ."""
    texts = []
    for row in rows:
        k = getattr(row, "kernel_size", None)
        if isinstance(k, (tuple, list)) and k:
            texts.append("×".join(str(v) for v in k))
        elif k is not None:
            texts.append(f"{k}×{k}")
    return _clip("/".join(dict.fromkeys(texts))) if texts else None


def _item_data(kind: str, block: str, rows: list[LayerRow]) -> ItemData:
    main = [r for r in rows if _kind(r) == kind]
    if kind == "conv":
        widths = [str(_channels(r.output_shape)) for r in main]
        label = "conv " + _clip(widths[0] if len(set(widths)) == 1 else "/".join(widths))
    elif kind == "fc":
        label = f"FC {main[-1].output_shape[-1]}"
    else:
        label = "pool"
    return ItemData(
        kind=kind,
        block=block,
        label=label,
        repeat=len(main) if kind == "conv" else 1,
        kernel=_kernel_text(main) if kind == "conv" else None,
        output_shape=tuple(int(v) for v in rows[-1].output_shape[1:]),
        params=sum(r.params for r in rows),
        macs=sum(r.macs for r in rows),
        activation_bytes=sum(r.activation_bytes for r in rows),
        layers=tuple(r.name for r in rows),
    )


def _input_data(summary: Summary) -> ItemData:
    shape = tuple(int(v) for v in summary.input_shape[1:])
    size = math.prod(summary.input_shape) * 4  # float32, as the summary counts activations
    return ItemData("input", "input", shape_text(shape), 1, None, shape, 0, 0, size, ())


def _check(summary: Summary) -> None:
    if not isinstance(summary, Summary):
        raise DiagramError(f"expected a Summary from vgg_core.summary.summarize, got {type(summary).__name__}")
    if len(summary.input_shape) < 3 or not all(isinstance(v, int) and v > 0 for v in summary.input_shape):
        raise DiagramError(f"the input shape {tuple(summary.input_shape)} is not an image batch (N, C, H, W)")
    if not summary.layers:
        raise DiagramError("the summary has no layers to draw")
    for row in summary.layers:
        shape = row.output_shape
        if len(shape) < 2 or not all(isinstance(v, int) and v > 0 for v in shape):
            raise DiagramError(f"layer {row.name} ({row.type}) has output shape {tuple(shape)}; expected (batch, ...) sizes")


# --- layout ------------------------------------------------------------------------------------


def _texts(items: Sequence[ItemData]) -> list[list[tuple[int, str, str]]]:
    """Each item's text rows under the picture: (row, role, text); a block's output shape after it."""
    rows: list[list[tuple[int, str, str]]] = []
    for i, data in enumerate(items):
        lines = [(0, "label", data.label)]
        if data.kernel:
            lines.append((1, "kernel", data.kernel))
        last_of_block = i + 1 == len(items) or items[i + 1].block != data.block
        if last_of_block and data.kind in ("conv", "pool") and data.block != CLASSIFIER:
            lines.append((len(lines), "shape", shape_text(data.output_shape)))
        rows.append(lines)
    return rows


def _text_width(text: str) -> float:
    """A generous estimate (DejaVu Sans metrics), so labels of neighbours never overlap."""
    return FONT_SIZE * sum(0.84 if ch in "×…" else 0.64 for ch in text)


def _oblique(depth: float) -> float:
    return round(depth * OBLIQUE, 1)


def _cuboid(data: ItemData, x: float, mid: float, height: float, depth: float) -> Box:
    w, h, d = FACE_WIDTH[data.kind], round(height, 1), round(depth, 1)
    y, o = round(mid - h / 2, 1), _oblique(d)
    base = PALETTE[data.kind]
    front = ((x, y), (x + w, y), (x + w, y + h), (x, y + h))
    top = ((x, y), (x + o, y - o), (x + w + o, y - o), (x + w, y))
    side = ((x + w, y), (x + w + o, y - o), (x + w + o, y + h - o), (x + w, y + h))
    faces = (Face(_round(front), base), Face(_round(top), _shade(base, 1.3)), Face(_round(side), _shade(base, 0.75)))
    return Box(data, x, y, w, h, d, faces)


def _bar(data: ItemData, x: float, mid: float, length: float) -> Bar:
    w, h = FACE_WIDTH["fc"], round(length, 1)
    y = round(mid - h / 2, 1)
    return Bar(data, x, y, w, h, (Face(_round(((x, y), (x + w, y), (x + w, y + h), (x, y + h))), PALETTE["fc"]),))


def _place(data: ItemData, x: float, mid: float, scale: Scale) -> Box | Bar:
    if data.kind == "fc":
        return _bar(data, x, mid, scale.bar(data.output_shape[-1]))
    shape = (1, *data.output_shape)
    return _cuboid(data, x, mid, scale.height(_side(shape)), scale.depth(_channels(shape)))


def _extent(item: Box | Bar) -> float:
    """Horizontal room the item takes: front face plus its receding side."""
    return item.width + (_oblique(item.depth) if isinstance(item, Box) else 0.0)


def _arrow(x1: float, x2: float, y: float) -> Arrow | None:
    x1, x2 = x1 + 3, x2 - 3
    if x2 - x1 < 8:
        return None
    head = Face(_round(((x2, y), (x2 - 6, y - 3.5), (x2 - 6, y + 3.5))), ARROW)
    return Arrow((round(x1, 1), y), (round(x2 - 5, 1), y), head)


@_only_diagram_errors
def layout(summary: Summary, scale: Scale | None = None, *, log: bool = False) -> Diagram:
    """Every polygon, bar, label and arrow, computed once; ``log`` applies only without a ``scale``."""
    _check(summary)
    scale = scale if scale is not None else common_scale([summary], log)
    items = [_input_data(summary)] + [_item_data(*g) for g in _groups(summary)]
    if len(items) > MAX_ITEMS:
        raise DiagramError(f"the network has {len(items)} items to draw; at most {MAX_ITEMS} can be drawn")
    texts = _texts(items)
    tallest = max(scale.height_px, scale.bar_px)
    mid = round(MARGIN + FONT_SIZE + 6 + _oblique(scale.depth_px) + tallest / 2, 1)
    first_row = mid + tallest / 2 + 8 + FONT_SIZE
    shapes, labels, arrows = [], [], []
    x, right = float(MARGIN), None
    for data, lines in zip(items, texts):
        item = _place(data, 0.0, mid, scale)
        extent = _extent(item)
        column = max([extent] + [_text_width(text) for _, _, text in lines])
        item = _place(data, round(x + (column - extent) / 2, 1), mid, scale)
        centre = round(item.x + extent / 2, 1)
        labels += [Label(centre, round(first_row + ROW * r, 1), _clip(t), role) for r, role, t in lines]
        if data.kind == "conv":
            labels.append(Label(centre, round(item.y - _oblique(item.depth) - 4, 1), f"×{data.repeat}", "mark"))
        if right is not None and (arrow := _arrow(right, item.x, mid)):
            arrows.append(arrow)
        shapes.append(item)
        x, right = x + column + GAP, item.x + extent
    width = math.ceil(x - GAP + MARGIN)
    if width > MAX_WIDTH:
        raise DiagramError(f"the diagram would be {width} pixels wide; at most {MAX_WIDTH} can be drawn")
    rows = max(r for lines in texts for r, _, _ in lines) + 1
    height = math.ceil(first_row + ROW * (rows - 1) + 4 + MARGIN)
    boxes = tuple(s for s in shapes if isinstance(s, Box))
    bars = tuple(s for s in shapes if isinstance(s, Bar))
    return Diagram(width, height, scale, boxes, bars, tuple(labels), tuple(arrows))


def _round(points: Sequence[Point]) -> tuple[Point, ...]:
    return tuple((round(px, 1), round(py, 1)) for px, py in points)


def _shade(colour: str, factor: float) -> str:
    """Lighter (>1, towards white) or darker (<1) version of ``#rrggbb``: the cuboid's top and side."""
    rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    if factor >= 1:
        rgb = [round(c + (255 - c) * (factor - 1)) for c in rgb]
    else:
        rgb = [round(c * factor) for c in rgb]
    return "#" + "".join(f"{min(max(c, 0), 255):02X}" for c in rgb)


# --- hover text ----------------------------------------------------------------------------------


def _place_name(block: str, text: DiagramText) -> str:
    if block == CLASSIFIER:
        return text.classifier
    m = re.fullmatch(r"block (\d+)", block)
    return text.block.replace("{n}", m.group(1)) if m else block


def hover_text(data: ItemData, text: DiagramText = ENGLISH) -> str:
    """The tooltip: name, output shape, exact parameters with separators, MACs, activation memory."""
    if data.kind == "input":
        lines = [f"{text.input}"]
    else:
        kind_word = {"conv": text.conv, "pool": text.pool, "fc": text.fc}[data.kind]
        mark = f" ×{data.repeat}" if data.kind == "conv" else ""
        lines = [f"{_place_name(data.block, text)} · {kind_word}{mark}", data.label]
    lines.append(f"{text.output}: {shape_text(data.output_shape)}")
    if data.kernel:
        lines.append(f"{text.kernel}: {data.kernel}")
    lines += [
        f"{text.parameters}: {data.params:,}",
        f"{text.macs}: {data.macs:,} ({human(data.macs)})",
        f"{text.activation_memory}: {human_bytes(data.activation_bytes)} ({data.activation_bytes:,} B)",
    ]
    return "\n".join(lines)


# --- SVG -----------------------------------------------------------------------------------------


def _points(points: Sequence[Point], k: float = 1.0) -> str:
    return " ".join(f"{x * k:g},{y * k:g}" for x, y in points)


def _svg_item(item: Box | Bar, text: DiagramText) -> str:
    d = item.data
    attrs = {
        "class": d.kind, "data-block": d.block, "data-label": d.label, "data-repeat": d.repeat,
        "data-shape": shape_text(d.output_shape), "data-params": d.params, "data-macs": d.macs,
        "data-activation-bytes": d.activation_bytes,
    }
    if d.kernel:
        attrs["data-kernel"] = d.kernel
    head = " ".join(f"{k}={quoteattr(str(v))}" for k, v in attrs.items())
    faces = "".join(
        f'<polygon points="{_points(f.points)}" fill="{f.fill}" stroke="{EDGE}" stroke-width="0.8" '
        'stroke-linejoin="round"/>'
        for f in item.faces
    )
    return f"<g {head}><title>{escape(hover_text(d, text))}</title>{faces}</g>"


@_only_diagram_errors
def to_svg(diagram: Diagram, text: DiagramText = ENGLISH) -> str:
    """Self-contained SVG (no script, no external resources); each item's ``<title>`` is its tooltip."""
    w, h = diagram.width, diagram.height
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
        f'font-family={quoteattr(FONT_FAMILY)} font-size="{FONT_SIZE}">',
        f'<rect x="0" y="0" width="{w}" height="{h}" fill="{BACKGROUND}"/>',
    ]
    for a in diagram.arrows:
        (x1, y1), (x2, y2) = a.start, a.end
        parts.append(f'<line x1="{x1:g}" y1="{y1:g}" x2="{x2:g}" y2="{y2:g}" stroke="{ARROW}" stroke-width="1.2"/>')
        parts.append(f'<polygon points="{_points(a.head.points)}" fill="{a.head.fill}"/>')
    parts += [_svg_item(item, text) for item in diagram.items]
    parts += [
        f'<text x="{lb.x:g}" y="{lb.y:g}" text-anchor="middle" fill="{TEXT}" class="{lb.role}">{escape(lb.text)}</text>'
        for lb in diagram.labels
    ]
    parts.append("</svg>")
    return "\n".join(parts)


# --- PNG -----------------------------------------------------------------------------------------

# Pillow's default font (Aileron) has no "×": the PNG writes "x" there; the SVG keeps "×".
_PNG_TEXT = str.maketrans({"×": "x"})


@functools.lru_cache(maxsize=8)
def _font(size: float) -> Any:
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


@_only_diagram_errors
def to_png(diagram: Diagram, scale_factor: float = 2.0) -> bytes:
    """The same geometry through Pillow, for a download or a page without SVG; ``scale_factor`` sharpens."""
    from PIL import Image, ImageDraw, ImageFont

    k = scale_factor
    if isinstance(k, bool) or not isinstance(k, (int, float)) or not 0.25 <= k <= 8:
        raise DiagramError(f"scale_factor must be a number from 0.25 to 8, got {k!r}")
    size = (max(1, round(diagram.width * k)), max(1, round(diagram.height * k)))
    if size[0] * size[1] > MAX_PNG_PIXELS:
        raise DiagramError(f"a {size[0]}×{size[1]} PNG is too large; use a smaller scale_factor")
    image = Image.new("RGB", size, BACKGROUND)
    draw = ImageDraw.Draw(image)
    for a in diagram.arrows:
        draw.line([(a.start[0] * k, a.start[1] * k), (a.end[0] * k, a.end[1] * k)], fill=ARROW, width=max(1, round(1.2 * k)))
        draw.polygon([(x * k, y * k) for x, y in a.head.points], fill=a.head.fill)
    for item in diagram.items:
        for f in item.faces:
            draw.polygon([(x * k, y * k) for x, y in f.points], fill=f.fill, outline=EDGE)
    font = _font(FONT_SIZE * k)
    freetype = isinstance(font, ImageFont.FreeTypeFont)
    for lb in diagram.labels:
        t = lb.text.translate(_PNG_TEXT)
        if freetype:
            draw.text((lb.x * k, lb.y * k), t, font=font, fill=TEXT, anchor="ms")
        else:  # a Pillow without FreeType: its bitmap font takes no anchor
            draw.text((lb.x * k - draw.textlength(t, font=font) / 2, lb.y * k - 10), t, font=font, fill=TEXT)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
