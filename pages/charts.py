"""Plotly figures for the Explore and Compare pages."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from vgg_core.report import human
from vgg_core.summary import Summary

from .i18n import t
from .views import CONV, FC, kind, layer_names

COLORS = {CONV: "#1f77b4", FC: "#ff7f0e"}
_LEGEND = dict(legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1), legend_title_text="")


def _kind_label(k: str) -> str:
    return t("split.conv") if k == CONV else t("split.fc")


def per_layer(summary: Summary, column: str, title: str, log: bool = False) -> go.Figure:
    """Bars for the layers that have any ``column`` (params or macs), coloured conv vs FC."""
    rows = [
        (name, getattr(r, column), _kind_label(kind(r.block)))
        for name, r in zip(layer_names(summary), summary.layers)
        if getattr(r, column) > 0
    ]
    df = pd.DataFrame(rows, columns=["layer", "value", "kind"])
    df["text"] = [human(v) for v in df["value"]]
    fig = px.bar(
        df, x="layer", y="value", color="kind", text="text", log_y=log, title=title,
        color_discrete_map={_kind_label(k): c for k, c in COLORS.items()},
        labels={"layer": t("col.layer"), "value": t(f"col.{column}"), "kind": t("charts.kind")},
        hover_data={"value": ":,", "text": False},
    )
    fig.update_traces(textposition="outside", cliponaxis=False)
    fig.update_yaxes(tickformat="~s")
    fig.update_layout(margin=dict(t=60, b=10, l=10, r=10), xaxis_tickangle=-45, **_LEGEND)
    return fig


def split(summary: Summary) -> go.Figure:
    """100%-stacked bars: the share of parameters and of MACs in the convolutions and the FC layers."""
    s = summary
    rows = [t("split.row_params"), t("split.row_macs")]
    fig = go.Figure()
    for k, values in ((CONV, (s.conv_params, s.conv_macs)), (FC, (s.fc_params, s.fc_macs))):
        totals = (s.total_params, s.total_macs)
        share = [100 * v / tot if tot else 0 for v, tot in zip(values, totals)]
        fig.add_bar(
            y=rows, x=share, orientation="h", name=_kind_label(k), marker_color=COLORS[k],
            text=[f"{p:.1f}%" if p >= 8 else "" for p in share], textposition="inside", insidetextanchor="middle",
            customdata=[f"{v:,}" for v in values], hovertemplate="%{customdata} (%{x:.1f}%)<extra></extra>",
        )
    fig.update_layout(
        barmode="stack", height=170, margin=dict(t=10, b=10, l=10, r=10),
        xaxis=dict(range=[0, 100], title=t("split.axis_share")), legend=dict(orientation="h", y=-0.5),
    )
    return fig


def grouped(df: pd.DataFrame, y: str, title: str, order: list[str], log: bool = False) -> go.Figure:
    """Grouped bars per block, one colour per architecture (Compare page)."""
    fig = px.bar(
        df, x="block", y=y, color="architecture", barmode="group", title=title, log_y=log,
        category_orders={"block": order},
        labels={"block": t("col.block"), y: t(f"col.{y}"), "architecture": t("compare.architecture")},
        hover_data={y: ":,"},
    )
    fig.update_yaxes(tickformat="~s")
    fig.update_layout(margin=dict(t=90, b=10, l=10, r=10), title_y=0.97, **_LEGEND)
    return fig
