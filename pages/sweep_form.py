"""The Train page's "what-if" sweep: pick settings to vary and their values, see the runs and the time, queue them.

The grid is the core's (``vgg_core.sweep.plan_sweep``): any architecture field or training setting,
checked whole before anything is queued, so every refusal shows here in one line and nothing is
queued until there is none. The base run is the page's own: the current architecture and the
hyperparameters above. Axes and values live in the page's state (not the URL: they are a draft).
"""

from __future__ import annotations

from typing import Callable

import pandas as pd
import streamlit as st

from vgg_core.launch import LaunchError
from vgg_core.problems import Problem, ProblemsError
from vgg_core.request import TrainRequest
from vgg_core.sweep import MAX_RUNS, SEPARATORS, VARY_NAMES, SweepPlan, format_value, plan_sweep, queue_sweep
from vgg_core.run_folder import runs_root

from . import notice
from .i18n import duration, say, t, tn
from .session import PageState
from .train_speed import run_seconds, speed
from .views import md_escape

# Every name the core's sweep takes, with the page's words for it (written out in full).
AXES = {
    "conv_arch": "train.sweep.axis.conv_arch", "ratio": "train.sweep.axis.ratio",
    "in_channels": "train.sweep.axis.in_channels", "input_size": "train.sweep.axis.input_size",
    "num_classes": "train.sweep.axis.num_classes", "fc_width": "train.sweep.axis.fc_width",
    "dropout": "train.sweep.axis.dropout", "batch_norm": "train.sweep.axis.batch_norm",
    "family": "train.sweep.axis.family", "epochs": "train.sweep.axis.epochs",
    "batch_size": "train.sweep.axis.batch_size", "lr": "train.sweep.axis.lr",
    "optimizer": "train.sweep.axis.optimizer", "momentum": "train.sweep.axis.momentum",
    "weight_decay": "train.sweep.axis.weight_decay", "seed": "train.sweep.axis.seed",
    "device": "train.sweep.axis.device", "amp": "train.sweep.axis.amp", "compile": "train.sweep.axis.compile",
    "channels_last": "train.sweep.axis.channels_last", "max_train_examples": "train.sweep.axis.max_train_examples",
    "max_test_examples": "train.sweep.axis.max_test_examples", "log_every": "train.sweep.axis.log_every",
    "data_dir": "train.sweep.axis.data_dir",
}
# What a first try of an axis usually is in class; other axes start from the base run's value.
SUGGESTED = {"ratio": "16, 8, 4", "input_size": "28, 56", "fc_width": "256, 1024", "batch_norm": "false, true",
             "lr": "0.1, 0.05, 0.01", "batch_size": "64, 128", "optimizer": "sgd, adam", "dropout": "0, 0.5",
             "momentum": "0, 0.9", "epochs": "1, 2"}
# The page's words for the core's sweep refusals, which name the CLI's --vary flag.
WORDING = {"sweep_none": "train.sweep.r.none", "vary_unknown": "train.sweep.r.unknown",
           "vary_twice": "train.sweep.r.twice", "vary_empty": "train.sweep.r.empty",
           "vary_empty_value": "train.sweep.r.empty_value", "vary_duplicate": "train.sweep.r.duplicate",
           "vary_value": "train.sweep.r.value"}


def axis_labels() -> Callable[[str], str]:
    """The axes' ``format_func``, fixed in this run's language (Streamlit may call it later, elsewhere);
    a name typed in that is not an axis shows as typed, for the core to refuse."""
    table = {name: t(key) for name, key in AXES.items()}
    return lambda name: table.get(name, name)


def refusal(error: ProblemsError) -> str:
    """Every problem of a refused sweep, in one line, in the page's words."""
    return t("refusal.separator").join(_say(p) for p in error.problems)


def _say(p: Problem) -> str:
    key = WORDING.get(p.code)
    if key is None:
        return say(p)
    return t(key, **{k: say(v) if isinstance(v, Problem) else v for k, v in p.params})


def first_values(base: TrainRequest, name: str) -> str:
    """The text an axis starts with: a usual first try, else the base run's own value."""
    if name in SUGGESTED:
        return SUGGESTED[name]
    if name == "lr":
        return format_value(base.learning_rate)
    for source in (base.spec, base.settings):
        if hasattr(source, name):
            return format_value(getattr(source, name))
    return ""


def split_values(name: str, text: str) -> list[str]:
    """The values typed for one axis: comma-separated, conv_arch's by ';' (its values hold commas)."""
    return [v.strip() for v in str(text).split(SEPARATORS.get(name, ","))]


def plan(page: PageState, base: TrainRequest) -> tuple[SweepPlan | None, str | None]:
    """The grid the page's axes describe, or None and the refusal in one line."""
    vary = [(name, split_values(name, page.sweep_values.get(name, ""))) for name in page.sweep_axes]
    try:
        return plan_sweep(base, vary), None
    except ProblemsError as e:
        return None, refusal(e)


def sweep_section(page: PageState, base: TrainRequest, device: str | None) -> None:
    """The expander: axes, their values, the runs, their time, a name and the Queue button."""
    with st.expander(t("train.sweep.title"), icon=":material/grid_view:", **page.bind("sweep_open")) as box:
        if box.open is False:  # closed: no planning on every rerun
            return
        st.caption(t("train.sweep.caption", most=MAX_RUNS))
        st.multiselect(t("train.sweep.axes"), list(VARY_NAMES), format_func=axis_labels(), accept_new_options=True,
                       select_all=False, placeholder=t("train.sweep.axes_hint"), help=t("train.sweep.axes_help"),
                       **page.bind("sweep_axes"))
        _values(page, base)
        st.text_input(t("train.sweep.name"), max_chars=60, placeholder=t("train.sweep.name_hint"),
                      **page.bind("sweep_name"))
        notice.show(page, "sweep_message")
        if not page.sweep_axes:
            st.info(t("train.sweep.pick"))
            return
        found, why = plan(page, base)
        if found is None:
            with st.container(key="train_sweep_errors"):
                st.error(t("train.sweep.refused", reason=md_escape(why)))
            return
        _planned(found, device)
        st.button(tn("train.sweep.queue", found.count), key="train_sweep_queue", type="primary",
                  on_click=queue_planned, args=(page, base), icon=":material/queue:")


def _values(page: PageState, base: TrainRequest) -> None:
    """One text input per axis, bound by hand to ``page.sweep_values[name]`` (the axes come and go)."""
    if not page.sweep_axes:
        return
    columns = st.columns(min(len(page.sweep_axes), 3))
    for i, name in enumerate(page.sweep_axes):
        key = page.key(f"sweep_v_{name}")
        if name not in page.sweep_values:
            page.sweep_values[name] = first_values(base, name)
        if key not in st.session_state:
            st.session_state[key] = page.sweep_values[name]
        help_key = "train.sweep.values_help_arch" if name == "conv_arch" else "train.sweep.values_help"
        columns[i % len(columns)].text_input(t("train.sweep.values", name=name), key=key, help=t(help_key),
                                             on_change=_typed, args=(page, name, key))


def _typed(page: PageState, name: str, key: str) -> None:
    page.sweep_values[name] = st.session_state[key]


def _planned(found: SweepPlan, device: str | None) -> None:
    """How many runs, each run's values and time, and the whole sweep's time on the device."""
    measured, why_not = speed(device) if device else (None, None)
    times = [run_seconds(r.request, device, measured) if device else None for r in found.runs]
    total = None if any(x is None for x in times) else sum(times)
    if total is not None:
        text = t("train.sweep.total", runs=tn("train.sweep.runs", found.count), time=duration(total), device=device)
    else:
        text = t("train.sweep.total_unknown", runs=tn("train.sweep.runs", found.count),
                 reason=md_escape(say(why_not)) if why_not else "–")
    with st.container(key="train_sweep_plan"):
        st.markdown(text)
        table = pd.DataFrame({t("train.sweep.h_run"): [r.label for r in found.runs],
                              t("train.sweep.h_time"): [duration(x) if x is not None else "–" for x in times]})
        st.dataframe(table, hide_index=True, width="stretch", height=min(38 + 35 * len(table), 250))


def queue_planned(page: PageState, base: TrainRequest) -> None:
    """Queue the sweep as it stands now (planned again: the inputs may have changed since the last draw)."""
    found, why = plan(page, base)
    if found is None:
        page.sweep_message = ("error", t("train.sweep.refused", reason=md_escape(why)))
        return
    try:
        queued = queue_sweep(found, runs_root())
    except (LaunchError, ProblemsError) as e:
        page.sweep_message = ("error", t("train.sweep.refused", reason=md_escape(say(e))))
        return
    page.set("results_sweep", queued.sweep)
    page.follow = queued.sweep
    page.set("run", queued.runs[0])
    page.sweep_message = ("success", t("train.sweep.queued", runs=tn("train.sweep.runs", len(queued.runs)),
                                       sweep=queued.sweep))
