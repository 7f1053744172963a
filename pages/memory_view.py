"""What one training step keeps, layer by layer, beside the forward activations the table shows.

Why on Explore: the layer table's activation memory is one image's forward outputs; training holds
far more (the weights' gradients, the optimizer's state, every tensor autograd saves for the backward
pass, for a whole batch). ``vgg_core.estimate.layer_memory`` splits the Train page's estimate by
layer, so the sums here are that page's figures; what belongs to no layer is named under the table.
Settings are d2l's (SGD without momentum, batch 128); the dtype follows a CPU (float32) or a CUDA
(bf16 autocast) run.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import torch

from vgg_core.estimate import DATASET_BYTES, LayerMemory, layer_memory, workspace_bytes_per_example
from vgg_core.report import human_bytes
from vgg_core.request import TrainRequest, TrainSettings
from vgg_core.summary import Summary

from .i18n import t
from .views import SAFE_INT, exact, fit_columns, layer_names

# LayerMemory field -> header key, in the order a step fills them; written out in full.
PARTS = {"param_bytes": "memory.weights", "grad_bytes": "memory.grads", "optimizer_bytes": "memory.optimizer",
         "amp_weight_bytes": "memory.amp", "saved_bytes": "memory.saved"}
COLOURS = {"param_bytes": "#56A0D3", "grad_bytes": "#F0B441", "optimizer_bytes": "#CC79A7",
           "amp_weight_bytes": "#999999", "saved_bytes": "#3FB08A"}
MIB = 2**20


@dataclass(frozen=True)
class StepMemory:
    """A training step's memory: the per-layer rows, their sums, and the parts that are no layer's."""

    rows: list[LayerMemory]
    sums: dict[str, int]  # LayerMemory field -> bytes over all layers
    workspace_bytes: int  # gradients in flight during the backward pass
    dataset_bytes: int  # Fashion-MNIST held on the training device
    batch_size: int

    @property
    def total_bytes(self) -> int:
        return sum(self.sums.values()) + self.workspace_bytes + self.dataset_bytes


def step_memory(summary: Summary, amp: bool) -> StepMemory:
    """d2l's settings (plain SGD, batch 128: no optimizer state, no optimizer temporaries) on a CPU
    (float32) or on CUDA with bf16 autocast; the parts of ``estimate_training``'s total."""
    device = torch.device("cuda" if amp else "cpu")  # only the device's type is read: nothing runs there
    request = TrainRequest(summary.spec, TrainSettings(amp=amp))
    rows = layer_memory(request, device=device, summary=summary)
    sums = {field: sum(getattr(r, field) for r in rows) for field in PARTS}
    batch = request.settings.batch_size
    return StepMemory(rows, sums, workspace_bytes_per_example(summary, device.type, amp) * batch, DATASET_BYTES, batch)


def show(summary: Summary, amp: bool) -> None:
    """Stacked bars per layer, the table behind them, and the sums against the estimate's parts."""
    memory = step_memory(summary, amp)
    st.caption(t("memory.caption", batch=memory.batch_size,
                 dtype=t("memory.dtype.bf16") if amp else t("memory.dtype.fp32")))
    with st.container(key="memory_chart"):
        st.plotly_chart(figure(summary, memory), key="memory_figure", config={"displayModeBar": False})
    with st.container(key="memory_table"):
        per_layer = table(summary, memory)
        st.dataframe(per_layer, hide_index=True, height=min(len(per_layer) + 1, 12) * 35 + 3,
                     column_config=fit_columns(per_layer, {}))
    with st.container(key="memory_parts"):
        parts = parts_table(memory)
        numeric = pd.api.types.is_numeric_dtype(parts[t("memory.bytes")])  # text past 2**53, digit for digit
        config = {t("memory.bytes"): st.column_config.NumberColumn(format="localized")} if numeric else {}
        st.dataframe(parts, hide_index=True, column_config=fit_columns(parts, config))
        st.caption(t("memory.not_per_layer", workspace=human_bytes(memory.workspace_bytes),
                     dataset=human_bytes(memory.dataset_bytes), total=human_bytes(memory.total_bytes)))


def _kept(summary: Summary, memory: StepMemory) -> list[tuple[str, LayerMemory]]:
    """The layers that keep anything through the step (ReLU's output is counted where it is saved)."""
    return [(name, r) for name, r in zip(layer_names(summary), memory.rows) if r.total_bytes or r.output_bytes]


def figure(summary: Summary, memory: StepMemory) -> go.Figure:
    kept = _kept(summary, memory)
    fig = go.Figure()
    names = [name for name, _ in kept]
    for field, key in PARTS.items():
        values = [getattr(r, field) / MIB for _, r in kept]
        if any(values):
            fig.add_bar(x=names, y=values, name=t(key), marker_color=COLOURS[field],
                        hovertemplate="%{x}: %{y:,.2f} MiB<extra>" + t(key) + "</extra>")
    fig.update_layout(barmode="stack", height=320, margin=dict(t=30, b=10, l=10, r=10), xaxis_tickangle=-45,
                      yaxis_title="MiB", legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1,
                                                     traceorder="normal"))
    return fig


def table(summary: Summary, memory: StepMemory) -> pd.DataFrame:
    """Each layer's parts in binary units; the forward output beside them for the activation column."""
    kept = _kept(summary, memory)
    columns = {t("col.layer"): [name for name, _ in kept], t("col.type"): [r.type for _, r in kept],
               t("memory.output"): [human_bytes(r.output_bytes) for _, r in kept]}
    for field, key in PARTS.items():
        if memory.sums[field]:
            columns[t(key)] = [human_bytes(getattr(r, field)) for _, r in kept]
    columns[t("memory.total")] = [human_bytes(r.total_bytes) for _, r in kept]
    return pd.DataFrame(columns)


def parts_table(memory: StepMemory) -> pd.DataFrame:
    """The sums over layers, then the parts that belong to no layer, then the Train page's total."""
    rows = [(t(key), memory.sums[field]) for field, key in PARTS.items()]
    rows += [(t("memory.workspace"), memory.workspace_bytes), (t("memory.dataset"), memory.dataset_bytes),
             (t("memory.step_total"), memory.total_bytes)]
    exact_bytes = [b for _, b in rows] if max(b for _, b in rows) < SAFE_INT else [exact(b) for _, b in rows]
    return pd.DataFrame({t("memory.part"): [name for name, _ in rows], t("memory.bytes"): exact_bytes,
                         t("memory.human"): [human_bytes(b) for _, b in rows]})

