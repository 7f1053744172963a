"""Plotly figures for the Inside page: the softmax, feature maps and filters as grids of heatmaps,
the confusion matrix and per-class accuracy. Class names come in the page's language.

A grid of maps is one heatmap of tiles (``inside_mosaic``), not a subplot per map; maps go to the
browser as float32 arrays (plotly sends NumPy arrays as binary), a few hundred KB for d2l's net.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch

from vgg_core.inspect import BlockView, RunErrors

from . import inside_mosaic as mosaic
from .i18n import t
from .inside_mosaic import Mosaic

# Class index -> text key, written out in full (tests check every key exists and is used).
CLASS_KEYS = ("class.tshirt", "class.trouser", "class.pullover", "class.dress", "class.coat", "class.sandal",
              "class.shirt", "class.sneaker", "class.bag", "class.ankle_boot")
PLAIN, RIGHT, WRONG, TRUE = "#9aa5b1", "#2e7d32", "#c62828", "#2e7d32"
LABEL_PX = 14  # room above each map for its channel and largest value
_NO_BAR = {"displayModeBar": False}
CONFIG = _NO_BAR  # what the page passes as ``config`` to st.plotly_chart


def class_names() -> list[str]:
    return [t(key) for key in CLASS_KEYS]


def softmax(probabilities: tuple[float, ...], predicted: int, label: int | None, height: int = 320) -> go.Figure:
    """Horizontal bars, one per class: the predicted class coloured right or wrong, the true one green."""
    names = class_names()
    colors = [PLAIN] * len(probabilities)
    if label is not None:
        colors[label] = TRUE
    colors[predicted] = RIGHT if label in (None, predicted) else WRONG
    fig = go.Figure(go.Bar(
        x=list(probabilities), y=names, orientation="h", marker_color=colors, name="softmax",
        text=[f"{100 * p:.1f}%" for p in probabilities], textposition="outside", cliponaxis=False,
        hovertemplate="%{y}: %{x:.4f}<extra></extra>",
    ))
    fig.update_layout(height=height, margin=dict(t=10, b=10, l=10, r=50), showlegend=False,
                      xaxis=dict(range=[0, 1.0], tickformat=".0%", title=t("inside.probability")),
                      yaxis=dict(autorange="reversed", automargin=True))
    return fig


def _grid(m: Mosaic, width: int, top_px: int = 0) -> dict:
    """The layout of a mosaic: square cells, no axes, the tiles exactly ``width`` pixels wide."""
    rows, cols = m.z.shape
    return dict(width=width, height=m.height_px + top_px, margin=dict(t=top_px, b=0, l=0, r=0),
                plot_bgcolor="rgba(0,0,0,0)", paper_bgcolor="rgba(0,0,0,0)",
                xaxis=dict(range=[-0.5, cols - 0.5], visible=False, constrain="domain", fixedrange=True),
                yaxis=dict(range=[rows - 0.5, -0.5], visible=False, scaleanchor="x", constrain="domain", fixedrange=True))


def _unchecked(heatmap: dict, layout: dict) -> go.Figure:
    """A mosaic's figure from plain dicts, without plotly's property-by-property checks: checking a
    block's 16 labels took about 10 ms per grid, seven grids on every rerun, for dicts whose shape
    is fixed here (the browser tests draw them)."""
    return go.Figure(data=[heatmap], layout=layout, _validate=False)


def shape_text(shape: tuple[int, ...]) -> str:
    return " × ".join(str(v) for v in shape)


def block_maps(block: BlockView, cols: int = 4, width: int = 300) -> go.Figure:
    """The block's most active maps, most active first, each scaled to its own largest value (a
    channel's pattern is the point, not its size next to the others), labelled with its channel and
    largest value; hover gives a cell's share of that largest value. The title is the block's output
    C x H x W, and the size drawn when the maps were averaged down to fit."""
    maps = block.maps.numpy()
    m = mosaic.layout(maps, cols, width, label_px=LABEL_PX, normalize=True)
    labels = [dict(x=x - 0.5, y=y - 0.5, text=t("inside.tile", c=channel, v=f"{float(tile.max()):.3g}"),
                   showarrow=False, xanchor="left", yanchor="bottom", font=dict(size=10), xref="x", yref="y")
              for (y, x), channel, tile in zip(m.origins, block.top_channels, maps)]
    title = dict(text=t("inside.block", n=block.index, shape=shape_text(block.shape)), x=0, xanchor="left",
                 y=1, yanchor="top", yref="container", pad=dict(t=4), font=dict(size=14))
    shown = tuple(maps.shape[-2:])
    if shown != tuple(block.shape[-2:]):
        title["subtitle"] = dict(text=t("inside.block.shown", h=shown[0], w=shown[1]), font=dict(size=11))
    title_px = 54 if "subtitle" in title else 36
    heatmap = dict(type="heatmap", z=m.z, colorscale="Viridis", zmin=0, zmax=1, showscale=False, hoverongaps=False,
                   hovertemplate=t("inside.hover.share", share="%{z:.0%}") + "<extra></extra>")
    return _unchecked(heatmap, {**_grid(m, width, title_px), "annotations": labels, "title": title})


def filters(weights: torch.Tensor, cols: int = 8, width: int = 420) -> go.Figure:
    """The first conv's kernels [out, in, k, k] (the mean over input channels), on one colour scale
    centred on zero: red excites, blue inhibits, as a kernel's sign does."""
    w = weights.float().mean(dim=1).numpy() if weights.numel() else np.zeros((1, 1, 1), np.float32)
    bound = float(np.abs(w).max()) or 1.0
    m = mosaic.layout(w, cols, width, gap_px=6)
    heatmap = dict(type="heatmap", z=m.z, colorscale="RdBu", reversescale=True, zmin=-bound, zmax=bound,
                   showscale=False, hoverongaps=False, hovertemplate="%{z:.3f}<extra></extra>")
    return _unchecked(heatmap, _grid(m, width))


def confusion(errors: RunErrors, height: int = 460) -> go.Figure:
    """Counts written in the cells, coloured by the row's share (a class's mistakes stand out even
    next to a diagonal of about a thousand); hover gives both."""
    names = class_names()
    counts = errors.confusion
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(100.0 * counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    hover = (f"{t('inside.true')}: %{{y}}<br>{t('inside.predicted')}: %{{x}}<br>"
             + t("inside.hover.cell", count="%{text}", pct="%{z:.1f}") + "<extra></extra>")
    fig = go.Figure(go.Heatmap(
        z=share, x=names, y=names, text=counts.astype(str), texttemplate="%{text}", textfont=dict(size=12),
        colorscale="Blues",
        zmin=0, zmax=100, hovertemplate=hover, colorbar=dict(title="%", thickness=12),
    ))
    fig.update_layout(height=height, margin=dict(t=10, b=10, l=10, r=10),
                      xaxis=dict(title=t("inside.predicted"), tickangle=-45, automargin=True, side="bottom"),
                      yaxis=dict(title=t("inside.true"), autorange="reversed", automargin=True))
    return fig


def per_class(errors: RunErrors, height: int = 300) -> go.Figure:
    """Each class's accuracy on the test set, worst visible at a glance."""
    names = class_names()
    acc = [a if a is not None else 0.0 for a in errors.per_class_acc]
    fig = go.Figure(go.Bar(
        x=acc, y=names, orientation="h", marker_color="#1f77b4", cliponaxis=False,
        text=[f"{100 * a:.1f}%" if a is not None else "–" for a in errors.per_class_acc], textposition="outside",
        hovertemplate="%{y}: %{x:.3f}<extra></extra>",
    ))
    fig.update_layout(height=height, margin=dict(t=10, b=10, l=10, r=50), showlegend=False,
                      xaxis=dict(range=[0, 1.0], tickformat=".0%", title=t("inside.accuracy")),
                      yaxis=dict(autorange="reversed", automargin=True))
    return fig
