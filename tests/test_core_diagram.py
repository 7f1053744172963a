"""The diagram draws the summary's own numbers, to scale, the same in SVG and PNG, and never breaks a page."""

import dataclasses
import io
import math
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from vgg_core import ArchSpec, preset, summarize
from vgg_core.diagram import (
    ENGLISH,
    MAX_WIDTH,
    MIN_PX,
    PALETTE,
    DiagramError,
    DiagramText,
    common_scale,
    layout,
    to_png,
    to_svg,
)
from vgg_core.report import shape_text
from vgg_core.summary import CLASSIFIER

SIX_BLOCKS = ArchSpec(conv_arch=((1, 64), (1, 128), (2, 256), (2, 512), (2, 512), (1, 512)), input_size=224)
SVG = "{http://www.w3.org/2000/svg}"
PX = 0.06  # geometry is rounded to 0.1 pixel


@pytest.fixture(scope="module")
def vgg11():
    return summarize(ArchSpec())


def of_kind(diagram, kind):
    return [item for item in diagram.items if item.data.kind == kind]


def conv_blocks(summary):
    return [b for b in summary.blocks if b.block != CLASSIFIER]


def convs_per_block(summary):
    return [sum(r.type == "Conv2d" for r in summary.layers if r.block == b.block) for b in conv_blocks(summary)]


def test_vgg11_draws_one_box_per_block_one_pool_each_and_three_bars(vgg11):
    d = layout(vgg11)
    kinds = [item.data.kind for item in d.items]
    assert kinds == ["input"] + ["conv", "pool"] * 5 + ["fc"] * 3
    assert len(d.boxes) == 11 and len(d.bars) == 3
    assert [b.data.repeat for b in of_kind(d, "conv")] == convs_per_block(vgg11) == [1, 1, 2, 2, 2]
    marks = [lb.text for lb in d.labels if lb.role == "mark"]
    assert marks == [f"×{n}" for n in convs_per_block(vgg11)]
    assert of_kind(d, "input")[0].data.label == "1×224×224"
    assert [b.data.label for b in d.bars] == [f"FC {r.output_shape[-1]}" for r in vgg11.layers if r.type == "Linear"]


@pytest.mark.parametrize("spec", [ArchSpec(), ArchSpec(batch_norm=True, ratio=4), preset("vgg19")], ids=["vgg11", "bn", "vgg19"])
def test_each_item_sums_exactly_the_rows_it_collapses(spec):
    """Every row lands in one item: items of a block add up to the summary's block row, BatchNorm in the conv box."""
    s = summarize(spec)
    d = layout(s)
    for block in s.blocks:
        items = [i.data for i in d.items if i.data.block == block.block]
        assert sum(i.params for i in items) == block.params
        assert sum(i.macs for i in items) == block.macs
        assert sum(i.activation_bytes for i in items) == block.activation_bytes
        rows = [r for r in s.layers if r.block == block.block]
        assert sorted(name for i in items for name in i.layers) == sorted(r.name for r in rows)
        if block.block != CLASSIFIER:
            (conv,) = [i for i in items if i.kind == "conv"]
            convs = [r for r in rows if r.type in ("Conv2d", "BatchNorm2d")]
            assert conv.params == sum(r.params for r in convs) > 0
            assert conv.macs == sum(r.macs for r in rows if r.type == "Conv2d")
    assert sum(i.data.params for i in d.items) == s.total_params
    assert sum(i.data.macs for i in d.items) == s.total_macs


def test_shapes_between_blocks_are_the_block_outputs(vgg11):
    d = layout(vgg11)
    shapes = [lb.text for lb in d.labels if lb.role == "shape"]
    assert shapes == [shape_text(b.output_shape[1:]) for b in conv_blocks(vgg11)]
    assert shapes[0] == "64×112×112" and shapes[-1] == "512×7×7"
    assert [p.data.output_shape for p in of_kind(d, "pool")] == [b.output_shape[1:] for b in conv_blocks(vgg11)]


@pytest.mark.parametrize("log", [False, True])
def test_heights_follow_the_spatial_size(vgg11, log):
    d = layout(vgg11, log=log)
    convs, pools = of_kind(d, "conv"), of_kind(d, "pool")
    heights = [c.height for c in convs]
    assert all(a > b for a, b in zip(heights, heights[1:])), heights
    assert all(p.height < c.height for c, p in zip(convs, pools))  # the pool shows the halved size
    sides = [c.data.output_shape[1] for c in convs]
    scale = d.scale
    assert scale.max_side == 224 and convs[0].height == pytest.approx(scale.height_px, abs=PX)
    for box in convs + pools:
        assert box.height == pytest.approx(scale.height(box.data.output_shape[1]), abs=PX)
    if log:  # each halving is one equal step down
        steps = [a - b for a, b in zip(heights, heights[1:])]
        assert max(steps) - min(steps) < 0.2
    else:  # proportional while above the minimum visible size
        for side, h in zip(sides, heights):
            expected = scale.height_px * side / 224
            assert h == pytest.approx(max(expected, MIN_PX), abs=PX)


def test_depths_follow_the_channels_linear_and_log(vgg11):
    linear = {c.data.output_shape[0]: c.depth for c in of_kind(layout(vgg11), "conv")}
    assert linear[512] == pytest.approx(8 * linear[64], rel=0.01)
    assert linear[256] == pytest.approx(2 * linear[128], rel=0.01)
    log_d = layout(vgg11, log=True)
    log = {c.data.output_shape[0]: c.depth for c in of_kind(log_d, "conv")}
    steps = [log[128] - log[64], log[256] - log[128], log[512] - log[256]]
    assert max(steps) - min(steps) < 0.2 and min(steps) > 0  # every doubling adds the same depth
    assert log[512] == pytest.approx(log_d.scale.depth_px, abs=PX)
    assert log_d.scale.depth(1) == MIN_PX  # one channel: the smallest visible depth, not zero
    # The drawn side face recedes by the depth, foreshortened the same for every box.
    for box in of_kind(log_d, "conv"):
        front, top, side = box.faces
        assert side.points[1][0] - side.points[0][0] == pytest.approx(box.depth * 0.5 * math.cos(math.pi / 4), abs=0.1)
        assert front.points[2][1] - front.points[0][1] == pytest.approx(box.height, abs=0.1)


def test_bars_follow_the_linear_widths(vgg11):
    d = layout(vgg11)
    lengths = {b.data.output_shape[0]: b.height for b in d.bars}
    assert lengths[4096] == pytest.approx(d.scale.bar_px, abs=PX)
    assert lengths[10] == pytest.approx(max(d.scale.bar_px * 10 / 4096, MIN_PX), abs=PX)
    assert layout(vgg11, log=True).bars[-1].height > lengths[10]


def test_a_sixth_block_adds_a_box_and_a_common_scale_matches_sizes():
    five, six = summarize(ArchSpec()), summarize(SIX_BLOCKS)
    assert len(of_kind(layout(six), "conv")) == len(of_kind(layout(five), "conv")) + 1
    small = summarize(ArchSpec(input_size=112))
    for log in (False, True):
        scale = common_scale([five, six, small], log=log)
        drawn = [layout(s, scale) for s in (five, six, small)]
        by_side: dict[int, set[float]] = {}
        for d in drawn:
            assert d.scale == scale and d.height == drawn[0].height
            for box in d.boxes:
                by_side.setdefault(box.data.output_shape[1], set()).add(box.height)
        assert all(len(heights) == 1 for heights in by_side.values()), by_side
        assert len(by_side[112]) == 1 and len(by_side[7]) == 1
        # On its own scale the 112 input fills the full height; on the common one it does not.
        own = of_kind(layout(small, log=log), "input")[0].height
        assert own > of_kind(drawn[2], "input")[0].height


def test_svg_is_self_contained_xml_with_one_tooltip_per_item(vgg11):
    d = layout(vgg11)
    svg = to_svg(d)
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert (root.get("width"), root.get("height")) == (str(d.width), str(d.height))
    assert root.get("viewBox") == f"0 0 {d.width} {d.height}"
    assert not re.search(r"<script|href=|url\(|@import", svg)
    groups = [g for g in root.iter(f"{SVG}g") if g.find(f"{SVG}title") is not None]
    assert len(list(root.iter(f"{SVG}title"))) == len(groups) == len(d.items) == 14
    for g, item in zip(groups, d.items):
        data = item.data
        assert g.get("class") == data.kind
        assert int(g.get("data-params")) == data.params and int(g.get("data-macs")) == data.macs
        assert int(g.get("data-activation-bytes")) == data.activation_bytes
        assert int(g.get("data-repeat")) == data.repeat and g.get("data-shape") == shape_text(data.output_shape)
        title = g.find(f"{SVG}title").text
        assert f"parameters: {data.params:,}" in title and shape_text(data.output_shape) in title
        assert f"MACs: {data.macs:,}" in title and "activation memory" in title
    first_fc = next(g for g in groups if g.get("class") == "fc")
    assert "102,764,544" in first_fc.find(f"{SVG}title").text  # 25088 x 4096 + 4096
    drawn = [t.text for t in root.iter(f"{SVG}text")]
    assert drawn == [lb.text for lb in d.labels]


def test_hover_words_come_from_the_page_and_are_escaped(vgg11):
    d = layout(vgg11)
    zh = DiagramText(input="输入", conv="卷积", pool="汇聚", fc="全连接", block="第 {n} 块", classifier="分类器",
                     output="输出", kernel="卷积核", parameters="参数", macs="乘加", activation_memory="激活内存")
    root = ET.fromstring(to_svg(d, zh))
    titles = [t.text for t in root.iter(f"{SVG}title")]
    assert titles[1].startswith("第 1 块 · 卷积 ×1") and "参数: 640" in titles[1]
    assert all(not re.search(r"[\u4e00-\u9fff]", t.text) for t in root.iter(f"{SVG}text"))  # picture stays neutral
    odd = dataclasses.replace(ENGLISH, parameters='<b>"params" & co</b>')
    root = ET.fromstring(to_svg(d, odd))
    assert '<b>"params" & co</b>: 640' in [t.text for t in root.iter(f"{SVG}title")][1]


@pytest.mark.parametrize("factor", [1, 2])
def test_png_draws_the_same_geometry(vgg11, factor):
    d = layout(vgg11)
    image = Image.open(io.BytesIO(to_png(d, scale_factor=factor)))
    assert image.format == "PNG" and image.size == (round(d.width * factor), round(d.height * factor))
    image = image.convert("RGB")
    for item in d.items:  # the centre of each front face has that kind's colour
        (x0, y0), _, (x1, y1), _ = item.faces[0].points
        if min(x1 - x0, y1 - y0) >= 4:
            pixel = image.getpixel((round((x0 + x1) / 2 * factor), round((y0 + y1) / 2 * factor)))
            assert "#%02X%02X%02X" % pixel == PALETTE[item.data.kind].upper(), item.data


def test_kernel_sizes_show_when_rows_carry_them(vgg11):
    """The summary's rows carry each conv's kernel (since kernels per block): a real 5x5 block, the rest 3x3."""
    s = summarize(ArchSpec(conv_arch=((1, 64, 5), (1, 128), (2, 256), (2, 512), (2, 512))))
    d = layout(s)
    assert [c.data.kernel for c in of_kind(d, "conv")] == ["5×5"] + ["3×3"] * 4
    assert [lb.text for lb in d.labels if lb.role == "kernel"] == ["5×5"] + ["3×3"] * 4
    root = ET.fromstring(to_svg(d))
    assert [g.get("data-kernel") for g in root.iter(f"{SVG}g") if g.get("class") == "conv"] == ["5×5"] + ["3×3"] * 4
    assert [c.data.kernel for c in of_kind(layout(vgg11), "conv")] == ["3×3"] * 5  # d2l's own: 3x3 everywhere
    # A row whose kernel is a (height, width) pair, as PyTorch keeps it, is drawn the same way.
    pair = [dataclasses.replace(r, kernel_size=(7, 7)) if r.name == "0.0" else r for r in vgg11.layers]
    assert of_kind(layout(dataclasses.replace(vgg11, layers=pair)), "conv")[0].data.kernel == "7×7"


def test_convs_of_different_widths_collapse_into_one_labelled_box():
    """AlexNet's third block, 384/384/256, made from a real summary by changing its widths."""
    s = summarize(ArchSpec(conv_arch=((1, 96), (1, 256), (3, 384)), input_size=64))
    widths = iter([384, 384, 256])
    layers, width = [], None
    for r in s.layers:
        if r.block == "block 3" and r.type == "Conv2d":
            width = next(widths)
        if r.block == "block 3":
            r = dataclasses.replace(r, output_shape=(1, width, *r.output_shape[2:]))
        layers.append(r)
    d = layout(dataclasses.replace(s, layers=layers))
    convs = of_kind(d, "conv")
    assert len(convs) == 3 and convs[-1].data.label == "conv 384/384/256" and convs[-1].data.repeat == 3
    assert convs[-1].data.output_shape[0] == 256


EXTREME = {
    "12 blocks x 16384 channels, input 4096": ArchSpec(
        conv_arch=((2, 16384),) * 12, input_size=4096, fc_width=65_536, num_classes=100_000, batch_norm=True
    ),
    "12 blocks x 64 convs": ArchSpec(conv_arch=((64, 16384),) * 12, input_size=4096),
    "widths 4 to 8192": ArchSpec(conv_arch=tuple((1 + i % 3, 4 << i) for i in range(12)), input_size=4096),
    "one block at input 2": ArchSpec(conv_arch=((1, 1),), input_size=2, fc_width=1, num_classes=1),
}


@pytest.mark.parametrize("name", EXTREME)
def test_extreme_specs_draw_within_bounds(name):
    s = summarize(EXTREME[name])
    for log in (False, True):
        start = time.perf_counter()
        d = layout(s, log=log)
        svg, png = to_svg(d), to_png(d)
        print(f"{name}, log={log}: layout + SVG + PNG in {1000 * (time.perf_counter() - start):.1f} ms")
        assert d.width <= MAX_WIDTH and d.height <= 1000
        assert len(of_kind(d, "conv")) == len(EXTREME[name].conv_arch)
        for box in d.boxes:
            assert MIN_PX <= box.height <= d.scale.height_px and MIN_PX <= box.depth <= d.scale.depth_px
        for bar in d.bars:
            assert MIN_PX <= bar.height <= d.scale.bar_px
        assert len(list(ET.fromstring(svg).iter(f"{SVG}title"))) == len(d.items)
        assert Image.open(io.BytesIO(png)).size == (2 * d.width, 2 * d.height)


def broken_summaries(s):
    """(why, summary, the refusal's words or None where it still draws)."""
    rows = s.layers

    def every_shape(shape):
        return dataclasses.replace(s, layers=[dataclasses.replace(r, output_shape=shape) for r in rows])

    yield "no layers", dataclasses.replace(s, layers=[]), "no layers"
    yield "no input", dataclasses.replace(s, input_shape=()), "input shape"
    yield "flat shapes", every_shape((1,)), "output shape"
    yield "empty shapes", every_shape(()), "output shape"
    yield "text shapes", every_shape(("a", 2)), "output shape"
    yield "no classifier", dataclasses.replace(s, layers=[r for r in rows if r.block != CLASSIFIER]), None
    yield "only a ReLU", dataclasses.replace(s, layers=[next(r for r in rows if r.type == "ReLU")]), None
    yield "not a summary", None, "expected a Summary"


def test_only_diagram_errors_escape(vgg11):
    for why, broken, refusal in broken_summaries(vgg11):
        if refusal is None:
            ET.fromstring(to_svg(layout(broken)))
            continue
        with pytest.raises(DiagramError, match=refusal) as e:
            layout(broken)
        assert "\n" not in str(e.value), why
    for call in (
        lambda: common_scale([]),
        lambda: common_scale([vgg11], height_px=0),
        lambda: common_scale([vgg11], depth_px=float("nan")),
        lambda: to_png(layout(vgg11), scale_factor=0),
        lambda: to_png(layout(vgg11), scale_factor=100),
    ):
        with pytest.raises(DiagramError):
            call()
    assert issubclass(DiagramError, ValueError)


def test_the_module_needs_neither_streamlit_nor_plotly():
    code = "import sys, vgg_core.diagram; print(sorted(m for m in ('streamlit', 'plotly') if m in sys.modules))"
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "[]"
