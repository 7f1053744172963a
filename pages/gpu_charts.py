"""Plotly history charts of the GPU page: one line per GPU, since the page opened."""

from __future__ import annotations

from typing import Callable

import plotly.graph_objects as go

from vgg_core.gpu_history import History, gpu_value, latest_gpu
from .i18n import t

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
HEIGHT = 230


def line_chart(
    history: History,
    lines: list[tuple[str, Callable[[dict], float | None]]],
    title: str,
    *,
    gap: float,
    y_range: tuple[float, float] | None = None,
    refs: list[tuple[str, float]] = (),
) -> go.Figure:
    """Lines over time (broken where sampling stopped), with dotted reference lines (a cap, a total).

    Built in one go from plain dicts: plotly validates a figure once that way, where a chain of
    ``update_*`` calls costs tens of milliseconds, and this runs every second.
    """
    traces = []
    for i, (name, value) in enumerate(lines):
        x, y = history.series(value, gap)
        traces.append(dict(
            type="scatter", x=x, y=y, name=name, mode="lines", connectgaps=False,
            line=dict(color=COLORS[i % len(COLORS)], width=2), hovertemplate="%{y:.1f}<extra>" + name + "</extra>",
        ))
    shapes, notes = [], []
    for i, (name, value) in enumerate(refs):
        color = COLORS[i % len(COLORS)]
        shapes.append(dict(type="line", xref="paper", x0=0, x1=1, y0=value, y1=value,
                           line=dict(color=color, dash="dot", width=1)))
        notes.append(dict(xref="paper", x=0, y=value, text=name, showarrow=False, xanchor="left", yanchor="bottom",
                          font=dict(size=11, color=color)))
    yaxis = dict(range=list(y_range)) if y_range is not None else dict(rangemode="tozero")
    layout = dict(
        title=dict(text=title, font=dict(size=14)), height=HEIGHT, margin=dict(t=40, b=10, l=10, r=10),
        showlegend=len(lines) > 1, legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1),
        hovermode="x unified", xaxis=dict(tickformat="%H:%M:%S"), yaxis=yaxis, shapes=shapes, annotations=notes,
    )
    return go.Figure(data=traces, layout=layout)


def gpu_charts(history: History, gap: float) -> dict[str, go.Figure]:
    """Utilisation, memory, temperature and power of every GPU that answered."""
    indices = history.gpu_indices()
    several = len(indices) > 1

    def lines(name: str) -> list[tuple[str, Callable[[dict], float | None]]]:
        return [(f"GPU {i}", gpu_value(i, name)) for i in indices]

    def refs(name: str, label_key: str) -> list[tuple[str, float]]:
        """One dotted line per GPU; one unnamed line when they all share it (same cards: labels on top of each other)."""
        values = {i: v for i in indices if (v := latest_gpu(history, i, name)) is not None}
        if several and len(values) == len(indices) and len(set(values.values())) == 1:
            return [(t(label_key), next(iter(values.values())))]
        return [(t(label_key) + (f" GPU {i}" if several else ""), v) for i, v in values.items()]

    return {
        "util": line_chart(history, lines("util"), t("gpu.chart.util"), gap=gap, y_range=(0, 100)),
        "mem": line_chart(
            history, lines("mem"), t("gpu.chart.memory"), gap=gap, refs=refs("mem_total", "gpu.chart.total")
        ),
        "temp": line_chart(history, lines("temp"), t("gpu.chart.temp"), gap=gap),
        "power": line_chart(
            history, lines("power"), t("gpu.chart.power"), gap=gap, refs=refs("power_cap", "gpu.chart.cap")
        ),
    }


def host_charts(history: History, gap: float) -> dict[str, go.Figure]:
    """Host CPU % and RAM used, with the RAM total as a dotted line."""
    total = next((s["ram_total_gib"] for s in reversed(history.samples) if s["ram_total_gib"]), None)
    return {
        "cpu": line_chart(
            history, [(t("gpu.host.cpu"), lambda s: s["cpu"])], t("gpu.chart.cpu"), gap=gap, y_range=(0, 100)
        ),
        "ram": line_chart(
            history, [(t("gpu.host.ram"), lambda s: s["ram_gib"])], t("gpu.chart.ram"), gap=gap,
            refs=[(t("gpu.chart.total"), total)] if total else [],
        ),
    }
