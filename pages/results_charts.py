"""Plotly figures of many runs' results: accuracy against a cost with the Pareto front, and settings to accuracy.

Drawn from the results table's rows (``vgg_core.results.results_frame`` with the page's defaults
filled in), so a sweep, a filter or any chosen runs draw the same way on Train and on Compare.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from vgg_core.report import human, human_macs

from .i18n import t
from .pareto import front_order, pareto_mask

SCORE = "best_test_acc"
POINT, FRONT = "#1f77b4", "#ff7f0e"
# Columns never drawn as a parallel axis: the seed differs between unseeded runs by chance, and
# `lr` is the setting as given (None = the network's default); `learning_rate` is what was used.
NOT_AXES = ("seed", "lr", "data_dir", "log_every")


def point_names(frame: pd.DataFrame) -> list[str]:
    """Each run's name where it has one, else its id (the folder)."""
    names = frame["name"] if "name" in frame else pd.Series([None] * len(frame), index=frame.index)
    return [str(n) if isinstance(n, str) and n else str(r) for n, r in zip(names, frame["run"])]


def _cost_text(column: str, value: float) -> str:
    if column == "macs":
        return human_macs(int(value))
    if column == "params":
        return human(int(value))
    return f"{value:.1f} s"


def accuracy_against(frame: pd.DataFrame, cost: str, cost_title: str, score_title: str) -> go.Figure:
    """Best test accuracy against ``cost`` (params, macs, train_seconds), one point per run, the
    Pareto front (no other run is cheaper and at least as accurate) marked and joined by a step line."""
    rows = frame[frame[cost].notna() & frame[SCORE].notna()]
    costs, scores = rows[cost].astype(float).tolist(), rows[SCORE].astype(float).tolist()
    names = point_names(rows)
    mask = pareto_mask(costs, scores)
    hover = [f"{n}<br>{cost_title}: {_cost_text(cost, c)}<br>{score_title}: {s:.4f}"
             for n, c, s in zip(names, costs, scores)]
    fig = go.Figure()
    fig.add_scatter(x=costs, y=scores, mode="markers", name=t("train.results.runs_legend"), customdata=names,
                    marker=dict(size=[13 if m else 9 for m in mask], color=[FRONT if m else POINT for m in mask],
                                symbol=["diamond" if m else "circle" for m in mask], line=dict(width=1, color="white")),
                    hovertext=hover, hoverinfo="text")
    order = front_order(costs, scores)
    if order:
        fig.add_scatter(x=[costs[i] for i in order], y=[scores[i] for i in order], mode="lines",
                        line=dict(color=FRONT, shape="hv", width=2), name=t("train.results.front_legend"),
                        hoverinfo="skip")
    spread = max(costs) / min(costs) if costs and min(costs) > 0 else 1
    fig.update_xaxes(title_text=cost_title, type="log" if spread > 20 else "linear",
                     tickformat="~s" if cost != "train_seconds" else None,
                     range=[0.9 * costs[0], 1.1 * costs[0]] if costs and min(costs) == max(costs) > 0 else None)  # one cost: ±10 %
    fig.update_yaxes(title_text=score_title, tickformat=".3f", range=score_range(scores))
    fig.update_layout(height=400, margin=dict(t=40, b=10, l=10, r=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1))
    return fig


def score_range(scores: list[float]) -> list[float] | None:
    """The accuracy axis: the scores with a margin, never below 0 or above 1 (one run alone
    would otherwise be centred in an axis from -0.5 to 1.5)."""
    if not scores:
        return None
    lo, hi = min(scores), max(scores)
    pad = max(0.02, 0.1 * (hi - lo))
    return [max(0.0, lo - pad), min(1.0, hi + pad)]


def varying_axes(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """The settings that differ among the rows, in table order: the axes worth a parallel line."""
    out = []
    for c in columns:
        if c in NOT_AXES or c == SCORE or c not in frame:
            continue
        if frame[c].astype(str).nunique(dropna=False) > 1:
            out.append(c)
    return out


def _dimension(values: pd.Series, label: str) -> dict:
    """A numeric axis as it is; text, yes/no and mixed values as categories in sorted order."""
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric and values.notna().all():
        return dict(label=label, values=values.astype(float).tolist())
    text = ["–" if pd.isna(v) else str(v) for v in values.astype(object)]
    cats = sorted(set(text))
    return dict(label=label, values=[cats.index(v) for v in text], tickvals=list(range(len(cats))), ticktext=cats,
                range=[-0.2, len(cats) - 0.8] if len(cats) > 1 else [-1, 1])


def settings_to_accuracy(frame: pd.DataFrame, axes: list[str], titles: dict[str, str], score_title: str) -> go.Figure:
    """A parallel-coordinates chart: one line per run through the settings that vary, ending at its accuracy."""
    rows = frame[frame[SCORE].notna()]
    dims = [_dimension(rows[c], titles.get(c, c)) for c in axes]
    score = rows[SCORE].astype(float)
    dims.append(dict(label=score_title, values=score.tolist()))
    fig = go.Figure(go.Parcoords(
        dimensions=dims, labelangle=-15 if len(dims) > 4 else 0, labelside="top",
        line=dict(color=score.tolist(), colorscale="Viridis", showscale=True,
                  colorbar=dict(title=dict(text=score_title, side="right"), thickness=12, x=1.06)),
    ))
    fig.update_layout(height=400, margin=dict(t=80, b=30, l=60, r=110))  # room for the last axis' ticks and the bar
    return fig


__all__ = ["accuracy_against", "settings_to_accuracy", "varying_axes", "point_names", "SCORE"]
