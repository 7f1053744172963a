"""A run's own resource record under its loss curve: CPU, memory and (on CUDA) GPU, on the epoch axis.

The training process samples itself every 2 s (``vgg_core.resources``: ``system`` rows by elapsed
time); the rows are placed on the loss chart's axis, fractional epochs, by the train rows' own
(elapsed time, epoch) pairs, so a dip in GPU use lines up with what the loss did at that moment.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from vgg_core.resources import ResourceSummary
from vgg_core.run_rows import Metrics

from .i18n import t

# (value in the system row, legend key, axis): percentages left, MiB right.
LINES = (("cpu_percent", "train.r_cpu", "y"), ("gpu_util", "train.r_gpu_util", "y"),
         ("rss_mib", "train.r_rss", "y2"), ("gpu_mem_mib", "train.r_gpu_mem", "y2"))
FEW_SAMPLES = 20  # below this many samples each is marked, so a short run's chart is not empty
COLORS = {"cpu_percent": "#1f77b4", "gpu_util": "#2ca02c", "rss_mib": "#ff7f0e", "gpu_mem_mib": "#d62728"}


def epochs_of(metrics: Metrics, elapsed: list[float]) -> list[float]:
    """Each time as the fractional epoch the run had reached then (0 before its first logged step)."""
    known = [(r.elapsed_s, r.epoch) for r in metrics.train if r.elapsed_s is not None]
    if not known:
        return [0.0 for _ in elapsed]
    times, epochs = zip(*sorted([(0.0, 0.0), *known]))
    return [float(e) for e in np.interp(elapsed, times, epochs)]


def chart(metrics: Metrics) -> go.Figure | None:
    """CPU % and GPU-Util % (left), resident and GPU memory in MiB (right); None without samples."""
    rows = metrics.system
    if not rows:
        return None
    x = epochs_of(metrics, [r.elapsed_s for r in rows])
    mode = "lines+markers" if len(rows) < FEW_SAMPLES else "lines"  # one sample as a line would draw nothing
    traces = []
    for key, label, axis in LINES:
        y = [r.values.get(key) for r in rows]
        if any(v is not None for v in y):
            traces.append(go.Scatter(x=x, y=y, name=t(label), mode=mode, yaxis=axis,
                                     line=dict(color=COLORS[key], width=2, dash="dot" if axis == "y2" else "solid")))
    fig = go.Figure(traces)
    fig.update_layout(height=230, margin=dict(t=30, b=10, l=10, r=10), uirevision="keep",
                      xaxis=dict(title=t("train.c_epoch")),
                      yaxis=dict(title=t("train.r_percent"), rangemode="tozero"),
                      yaxis2=dict(title=t("train.r_mib"), overlaying="y", side="right", rangemode="tozero"),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1))
    return fig


def summary_text(used: ResourceSummary) -> str:
    """One line: peak memory, mean CPU, and, where NVML gave them, GPU use and energy."""
    parts = []
    if used.peak_rss_mib is not None:
        parts.append(t("train.r_sum_rss", mib=f"{used.peak_rss_mib:,.0f}"))
    if used.mean_cpu_percent is not None:
        parts.append(t("train.r_sum_cpu", pct=f"{used.mean_cpu_percent:.0f}"))
    if used.mean_gpu_util is not None:
        parts.append(t("train.r_sum_gpu", pct=f"{used.mean_gpu_util:.0f}"))
    if used.energy_j is not None:
        parts.append(t("train.r_sum_energy", j=f"{used.energy_j:,.0f}", wh=f"{used.energy_wh:.3f}"))
    if used.energy_per_epoch_j is not None:
        parts.append(t("train.r_sum_epoch", j=f"{used.energy_per_epoch_j:,.0f}"))
    return " · ".join(parts)
