"""The results table of many runs, as the Train and Compare pages show it: filters, table, CSV, charts.

One row per run from the core's ``results_frame`` (a column for every setting and every result),
with translated headers; numbers stay numbers so every column sorts. The filters (sweep, states,
a text search) are fields of the page's own state, so each page keeps its own and a link keeps
them. The charts draw the rows the filters leave: accuracy against parameters, MACs and training
time with the Pareto front, and the settings that vary against accuracy.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import streamlit as st

from vgg_core.data import SPLITS
from vgg_core.results import COLUMNS, RESOURCE_COLUMNS, results_frame
from vgg_core.runs import STATES, RunRecord

from .charts import state_text
from .i18n import duration, option_labels, t, tn
from .results_charts import SCORE, accuracy_against, settings_to_accuracy, varying_axes
from .session import PageState
from .views import STATE_KEYS

# Column -> header key, written out in full; a column the core adds later shows under its own name.
HEADERS = {
    "run": "train.h_run", "state": "train.h_state", "name": "train.results.h.name",
    "sweep": "train.results.h.sweep", "queue_position": "train.results.h.queue",
    "best_test_acc": "train.results.h.best_acc", "last_test_acc": "train.results.h.last_acc",
    "params": "col.params", "macs": "col.macs", "train_seconds": "train.results.h.train_time",
    "examples_per_sec": "train.h_speed", "epochs_done": "train.results.h.epochs_done", "epochs": "train.h_epochs",
    "conv_arch": "train.h_arch", "ratio": "train.results.h.ratio", "input_size": "train.h_input",
    "fc_width": "train.results.h.fc_width", "batch_norm": "train.h_bn", "dropout": "train.results.h.dropout",
    "family": "train.results.h.family", "learning_rate": "train.h_lr", "optimizer": "train.h_optimizer",
    "momentum": "train.results.h.momentum", "weight_decay": "train.results.h.weight_decay",
    "batch_size": "train.h_batch", "max_train_examples": "train.h_examples",
    "max_test_examples": "train.results.h.test_examples", "seed": "train.results.h.seed",
    "devices": "train.h_device", "device": "train.results.h.device_asked", "amp": "train.results.h.amp",
    "compile": "train.results.h.compile", "channels_last": "train.results.h.channels_last",
    "in_channels": "train.results.h.in_channels", "num_classes": "train.results.h.num_classes",
    "log_every": "train.results.h.log_every", "data_dir": "train.results.h.data_dir",
    "last_test_loss": "train.results.h.test_loss", "train_loss": "train.h_loss",
    "train_acc": "train.results.h.train_acc", "examples": "train.results.h.examples", "note": "train.results.h.note",
    "started": "train.results.h.started", "peak_rss_mib": "train.results.h.peak_rss",
    "mean_cpu_percent": "train.results.h.mean_cpu", "mean_gpu_util": "train.results.h.mean_gpu",
    "peak_gpu_mem_mib": "train.results.h.peak_gpu_mem", "energy_j": "train.results.h.energy_j",
    "energy_wh": "train.results.h.energy_wh", "energy_per_epoch_j": "train.results.h.energy_epoch",
}
# `lr` is the setting as given (None: the network's default); `learning_rate` is what the run used.
HIDDEN = ("lr",)
ORDER = tuple(HEADERS) + tuple(c for c in COLUMNS if c not in HEADERS and c not in HIDDEN)
COSTS = {"params": "train.results.vs_params", "macs": "train.results.vs_macs", "train_seconds": "train.results.vs_time"}
# Results and bookkeeping, never a setting: not a parallel axis.
RESULT_ONLY = ("queue_position", "best_test_acc", "last_test_acc", "params", "macs", "train_seconds",
               "examples_per_sec", "epochs_done", "last_test_loss", "train_loss", "train_acc", "examples", "devices",
               *RESOURCE_COLUMNS)
SEARCHED = ("run", "name", "note", "sweep", "conv_arch", "optimizer", "devices", "family")


def header(column: str) -> str:
    return t(HEADERS[column]) if column in HEADERS else column


def with_defaults(frame: pd.DataFrame) -> pd.DataFrame:
    """What a missing limit means: all 60,000 training and 10,000 test images."""
    out = frame.copy()
    for column, whole in (("max_train_examples", SPLITS["train"]), ("max_test_examples", SPLITS["t10k"])):
        known = out["epochs"].notna()  # a run whose request was read
        out[column] = out[column].astype("Int64").where(~(known & out[column].isna()), whole)
    return out


def sweep_labels(records: list[RunRecord]) -> dict[str, str]:
    """Sweep id -> its name (the part its runs' names share before ': ') and run count, else the id."""
    found: dict[str, list[RunRecord]] = {}
    for r in records:
        if r.sweep:
            found.setdefault(r.sweep, []).append(r)
    labels = {}
    for sweep, runs in found.items():
        bases = {(r.request.name or "").rpartition(": ")[0] if r.request else "" for r in runs}
        base = bases.pop() if len(bases) == 1 else ""
        labels[sweep] = f"{base or sweep} · {tn('train.results.n_runs', len(runs))}"
    return labels


def filter_frame(frame: pd.DataFrame, sweep: str = "", states: list[str] | None = None, search: str = "",
                 also: dict[str, str] | None = None) -> pd.DataFrame:
    """The rows of one sweep ("" = any), in one of ``states`` (none = any), whose text holds ``search``.

    ``also``: more text per run id that the search looks in (the state and sweep as the page words them)."""
    keep = pd.Series(True, index=frame.index)
    if sweep:
        keep &= frame["sweep"] == sweep
    if states:
        keep &= frame["state"].isin(states)
    words = search.strip().lower()
    if words:
        columns = [frame[c].tolist() for c in SEARCHED if c in frame]
        text = [" ".join("" if _missing(v) else str(v) for v in row) + " " + (also or {}).get(run, "")
                for run, *row in zip(frame["run"], *columns)]
        keep &= pd.Series([words in x.lower() for x in text], index=frame.index, dtype=bool)
    return frame[keep]


def _missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA


def _typed_column(values: pd.Series) -> pd.Series | list:
    """A column of numbers and gaps as numbers, so it sorts as numbers (the table writes a gap "–")."""
    known = [v for v in values if not _missing(v)]
    numbers = known and all(isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_))
                            for v in known)
    if numbers:
        whole = all(float(v).is_integer() and isinstance(v, (int, np.integer)) for v in known)
        return pd.to_numeric(values).astype("Int64" if whole else "float64")
    return values


def display_frame(frame: pd.DataFrame, records: list[RunRecord], sweeps: dict[str, str]) -> pd.DataFrame:
    """The table as shown: translated headers, the state and sweep in words, numbers left as numbers."""
    by_id = {r.run_id: r for r in records}
    out = with_defaults(frame)
    out["state"] = [state_text(by_id[i]) if i in by_id else s for i, s in zip(out["run"], out["state"])]
    out["sweep"] = [sweeps.get(s, s) if isinstance(s, str) else None for s in out["sweep"]]
    out["started"] = [dt.datetime.fromtimestamp(v) if v else None for v in out["started"]]
    columns = [c for c in ORDER if c in out]
    for c in columns:
        if out[c].dtype == object:
            out[c] = _typed_column(out[c])
    return out[columns].rename(columns={c: header(c) for c in columns})


def column_config() -> dict:
    """Accuracies to 3 places, counts compact (exact on hover in the CSV), times as durations."""
    n = st.column_config.NumberColumn
    config = {header("run"): st.column_config.TextColumn(pinned=True)}
    for c in ("best_test_acc", "last_test_acc", "train_acc"):
        config[header(c)] = n(format="%.3f")
    for c in ("last_test_loss", "train_loss"):
        config[header(c)] = n(format="%.4f")
    for c in ("params", "macs"):
        config[header(c)] = n(format="compact")
    config[header("train_seconds")] = n(format="duration")
    config[header("examples_per_sec")] = n(format="%.0f")
    config[header("learning_rate")] = n(format="%g")
    config[header("started")] = st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")
    for c in ("peak_rss_mib", "mean_cpu_percent", "mean_gpu_util", "peak_gpu_mem_mib", "energy_j", "energy_per_epoch_j"):
        config[header(c)] = n(format="%.0f")
    config[header("energy_wh")] = n(format="%.3f")
    return config


def _filters(page: PageState, sweeps: dict[str, str]) -> None:
    """The sweep, state and search widgets, bound to the page's ``results_*`` fields."""
    options = ["", *sweeps]
    if page.results_sweep not in options:  # its runs were deleted, or a link named another folder's
        page.set("results_sweep", "")
    labels = {"": t("train.results.all_sweeps"), **sweeps}
    a, b, c = st.columns([2, 2, 2])
    a.selectbox(t("train.results.sweep"), options, format_func=labels.__getitem__, **page.bind("results_sweep"))
    b.multiselect(t("train.results.states"), list(STATES), format_func=option_labels({s: STATE_KEYS[s] for s in STATES}),
                  placeholder=t("train.results.states_all"), **page.bind("results_states"))
    c.text_input(t("train.results.search"), placeholder=t("train.results.search_hint"), **page.bind("results_search"))


def results_section(page: PageState, records: list[RunRecord]) -> pd.DataFrame:
    """Filters, the table, its CSV and the charts of the rows left; returns those rows (the core's frame)."""
    sweeps = sweep_labels(records)
    _filters(page, sweeps)
    frame = results_frame(records)
    also = {r.run_id: f"{state_text(r)} {sweeps.get(r.sweep or '', '')}" for r in records}
    shown = filter_frame(frame, page.results_sweep, page.results_states, page.results_search, also)
    with st.container(key=page.key("history")):
        st.dataframe(display_frame(shown, records, sweeps), hide_index=True, width="stretch",
                     column_config=column_config(), placeholder="–")
    a, b = st.columns([1, 3])
    a.download_button(t("train.results.csv"), data=shown.to_csv(index=False), file_name="runs.csv", mime="text/csv",
                      key=page.key("results_csv"), icon=":material/download:", help=t("train.results.csv_help"))
    b.caption(tn("train.results.count", len(shown), total=len(frame)))
    results_charts(page, shown)
    return shown


def results_charts(page: PageState, frame: pd.DataFrame) -> None:
    """Accuracy against each cost, and the settings that vary to accuracy, for the runs given."""
    scored = with_defaults(frame[frame[SCORE].notna()])
    if scored.empty:
        st.caption(t("train.results.no_scores"))
        return
    score_title = header(SCORE)
    tabs = st.tabs([*(t(key) for key in COSTS.values()), t("train.results.parcoords")])
    for tab, cost in zip(tabs, COSTS):
        with tab, st.container(key=page.key(f"chart_{cost}")):
            st.plotly_chart(accuracy_against(scored, cost, header(cost), score_title), width="stretch",
                            key=page.key(f"results_{cost}"))
    with tabs[-1], st.container(key=page.key("chart_parcoords")):
        axes = varying_axes(scored, [c for c in ORDER if c not in ("run", "name", "note", "state", "started", "sweep")
                                     and c not in RESULT_ONLY])
        if not axes or len(scored) < 2:
            st.caption(t("train.results.parcoords_none"))
        else:
            st.plotly_chart(settings_to_accuracy(scored, axes, {c: header(c) for c in axes}, score_title),
                            width="stretch", key=page.key("results_parcoords"))
    st.caption(t("train.results.front_explain"))



# Side by side (Compare): these rows always, then every setting the chosen runs differ in, then results.
ALWAYS = ("name", "state", "conv_arch", "input_size", "learning_rate", "batch_size", "optimizer", "epochs",
          "max_train_examples")
OUTCOME = ("best_test_acc", "last_test_acc", "last_test_loss", "train_acc", "train_loss", "params", "macs",
           "train_seconds", "examples_per_sec", "epochs_done", *RESOURCE_COLUMNS)
NOT_COMPARED = ("run", "started", "note", *HIDDEN, *RESULT_ONLY)
DIGITS = {"last_test_loss": 4, "train_loss": 4, "examples_per_sec": 1, "peak_rss_mib": 0, "mean_cpu_percent": 0,
          "mean_gpu_util": 0, "peak_gpu_mem_mib": 0, "energy_j": 0, "energy_wh": 3, "energy_per_epoch_j": 0}  # accuracies: 3


def _cell(column: str, value: object) -> str:
    """One value of the side-by-side table as text (st.table shows every cell as it is given)."""
    if value is None or (not isinstance(value, (str, list, tuple)) and pd.isna(value)):
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "✓" if value else "✗"
    if column == "train_seconds":
        return duration(float(value))
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return f"{value:.{DIGITS.get(column, 3)}f}" if column in OUTCOME else f"{value:g}"
    return str(value)


def side_by_side(records: list[RunRecord]) -> pd.DataFrame:
    """The chosen runs as columns (by id, the folder), one row per setting that matters or differs, then results."""
    frame = with_defaults(results_frame(records))
    frame["state"] = [state_text(r) for r in records]
    frame["sweep"] = [sweep_labels(records).get(v, v) if isinstance(v, str) else None for v in frame["sweep"]]
    differ = [c for c in ORDER if c in frame and c not in NOT_COMPARED and c not in ALWAYS and c not in OUTCOME
              and frame[c].astype(str).nunique(dropna=False) > 1]
    rows = [c for c in (*ALWAYS, *differ, *OUTCOME) if c in frame]
    return pd.DataFrame({run: [_cell(c, frame.iloc[i][c]) for c in rows] for i, run in enumerate(frame["run"])},
                        index=[header(c) for c in rows])


__all__ = ["side_by_side", "results_section", "results_charts", "display_frame", "filter_frame", "sweep_labels", "header", "HEADERS"]
