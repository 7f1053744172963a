"""Plotly figures for the Explore, Compare and Train pages."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from vgg_core.report import human
from vgg_core.run_rows import Metrics
from vgg_core.runs import RunRecord
from vgg_core.summary import Summary

from .i18n import t
from .views import COLUMN_KEYS, CONV, FC, STATE_KEYS, kind, layer_names

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
        labels={"layer": t("col.layer"), "value": t(COLUMN_KEYS[column]), "kind": t("charts.kind")},
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
        labels={"block": t("col.block"), y: t(COLUMN_KEYS[y]), "architecture": t("compare.architecture")},
        hover_data={y: ":,"},
    )
    fig.update_yaxes(tickformat="~s")
    fig.update_layout(margin=dict(t=90, b=10, l=10, r=10), title_y=0.97, **_LEGEND)
    return fig


# --- Train page ---------------------------------------------------------------------------

_CURVES = (("train_loss", "train.c_loss", "solid"), ("train_acc", "train.c_train_acc", "dash"))


def training(runs: list[tuple[str, Metrics]], overlay: bool = False) -> go.Figure:
    """d2l's Animator: train loss, train acc and test acc against (fractional) epochs, plus examples/sec.

    ``overlay`` draws several runs at once, one colour per run.
    """
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.72, 0.28], vertical_spacing=0.06)
    palette = px.colors.qualitative.Plotly
    for i, (label, m) in enumerate(runs):
        prefix = f"{label} · " if overlay else ""
        x = [r.epoch for r in m.train]
        for j, (key, text, dash) in enumerate(_CURVES):
            color = palette[i % len(palette)] if overlay else palette[j]
            fig.add_scatter(x=x, y=[getattr(r, key) for r in m.train], name=prefix + t(text), mode="lines",
                            line=dict(color=color, dash=dash), row=1, col=1)
        color = palette[i % len(palette)] if overlay else palette[2]
        fig.add_scatter(x=[r.epoch for r in m.evals], y=[r.test_acc for r in m.evals],
                        name=prefix + t("train.c_test_acc"), mode="lines+markers",
                        line=dict(color=color, dash="dot"), row=1, col=1)
        fig.add_scatter(x=x, y=[r.examples_per_sec for r in m.train], name=prefix + t("train.c_speed"),
                        mode="lines", line=dict(color=palette[i % len(palette)] if overlay else palette[3]),
                        showlegend=not overlay, row=2, col=1)
    fig.update_xaxes(title_text=t("train.c_epoch"), row=2, col=1)
    fig.update_yaxes(title_text=t("train.c_value"), row=1, col=1)
    fig.update_yaxes(title_text=t("train.c_speed_axis"), row=2, col=1, rangemode="tozero")
    fig.update_layout(height=460, margin=dict(t=30, b=10, l=10, r=10), uirevision="keep",
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1))
    return fig


def state_text(record: RunRecord) -> str:
    """A run's state in words; a folder that cannot be read says so."""
    return t(STATE_KEYS["unreadable"]) if record.unreadable else t(STATE_KEYS[record.state.state])
