"""Plotly figures for the Inside page: the softmax, feature maps and filters as grids of heatmaps,
the confusion matrix and per-class accuracy. Class names come in the page's language.

Grids are laid out by hand (one pair of axes per tile) rather than with ``make_subplots``, which
takes a noticeable time for 64 cells; maps go to the browser as float32 arrays (plotly sends NumPy
arrays as binary), a few hundred KB for d2l's net.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import torch

from vgg_core.inspect import BlockView, RunErrors

from .i18n import t

# Class index -> text key, written out in full (tests check every key exists and is used).
CLASS_KEYS = ("class.tshirt", "class.trouser", "class.pullover", "class.dress", "class.coat", "class.sandal",
              "class.shirt", "class.sneaker", "class.bag", "class.ankle_boot")
PLAIN, RIGHT, WRONG, TRUE = "#9aa5b1", "#2e7d32", "#c62828", "#2e7d32"
TILE_GAP = 0.03
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


def _tiles(fig: go.Figure, n: int, cols: int, *, top: float = 1.0) -> list[tuple[str, str]]:
    """``n`` square tiles in a grid of ``cols`` columns below ``top`` (paper coordinates); the axes."""
    rows = max(1, math.ceil(n / cols))
    w = (1 - TILE_GAP * (cols - 1)) / cols
    h = (top - TILE_GAP * (rows - 1)) / rows
    axes = []
    for i in range(n):
        r, c = divmod(i, cols)
        suffix = "" if i == 0 else str(i + 1)
        x0, y1 = c * (w + TILE_GAP), top - r * (h + TILE_GAP)
        fig.layout[f"xaxis{suffix}"] = dict(domain=[x0, x0 + w], visible=False, anchor=f"y{suffix}", constrain="domain")
        fig.layout[f"yaxis{suffix}"] = dict(domain=[y1 - h, y1], visible=False, anchor=f"x{suffix}",
                                            autorange="reversed", scaleanchor=f"x{suffix}", constrain="domain")
        axes.append((f"x{suffix}", f"y{suffix}"))
    return axes


def grid_height(n: int, cols: int, width: int, title_px: int = 0) -> int:
    """The figure height that makes ``n`` tiles in ``cols`` columns square at ``width`` pixels."""
    rows = max(1, math.ceil(n / cols))
    return int(rows * width / cols) + title_px


def block_maps(block: BlockView, title: str, cols: int = 4, width: int = 300) -> go.Figure:
    """The block's most active maps, each on its own colour scale (a channel's pattern is the point,
    not how it compares in size), most active first; hover names the channel and the value."""
    maps = block.maps.numpy().astype(np.float32)
    n = len(maps)
    fig = go.Figure()
    for (xa, ya), channel, z in zip(_tiles(fig, n, cols), block.top_channels, maps):
        low = min(0.0, float(z.min()))  # zero stays dark: a dead channel reads as dead, not as mid-scale
        high = max(float(z.max()), low + 1e-6)
        fig.add_heatmap(z=z, xaxis=xa, yaxis=ya, colorscale="Viridis", zmin=low, zmax=high, showscale=False,
                        name=str(channel),
                        hovertemplate=t("inside.hover.channel", c=channel) + "<br>%{z:.3g}<extra></extra>")
    title_px = 46
    fig.update_layout(title=dict(text=title, x=0, xanchor="left", y=1, yanchor="top", pad=dict(t=6), font_size=14),
                      height=grid_height(n, cols, width, title_px), width=width,
                      margin=dict(t=title_px, b=0, l=0, r=0))
    return fig


def filters(weights: torch.Tensor, cols: int = 8, width: int = 420) -> go.Figure:
    """The first conv's kernels [out, in, k, k] (the mean over input channels), on one colour scale
    centred on zero: red excites, blue inhibits, as a kernel's sign does."""
    w = weights.float().mean(dim=1).numpy() if weights.numel() else np.zeros((0, 1, 1), np.float32)
    bound = float(np.abs(w).max()) or 1.0
    fig = go.Figure()
    for (xa, ya), i, z in zip(_tiles(fig, len(w), cols), range(len(w)), w):
        fig.add_heatmap(z=z, xaxis=xa, yaxis=ya, colorscale="RdBu", reversescale=True, zmin=-bound, zmax=bound,
                        showscale=False, hovertemplate=t("inside.hover.filter", c=i) + "<br>%{z:.3f}<extra></extra>")
    fig.update_layout(height=grid_height(len(w), cols, width), width=width, margin=dict(t=0, b=0, l=0, r=0))
    return fig


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
