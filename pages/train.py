"""Train: launch the current architecture on Fashion-MNIST and watch it learn, live.

The run is its own process (vgg_core.launch); this page only reads its run folder, once a second
inside a fragment, so a reload, a second tab or a server restart shows the same runs.
"""

from __future__ import annotations

import math
import threading

import streamlit as st

from pages import charts, routing, state
from pages.core_text import localized, localized_error
from pages.gpu_panel import compact_panel
from pages.i18n import labels, t
from pages.views import figure, md_escape, summary_of
from vgg_core.device import available_devices, resolve_device
from vgg_core.estimate import estimate_training
from vgg_core.launch import (
    LIVE_STATES, LaunchError, TrainRequest, busy_runs, delete_run, measure_speed, start_run, stop_run,
)
from vgg_core.report import human, human_bytes, human_macs
from vgg_core.run_report import blocks_text, duration_text, metrics_csv, progress
from vgg_core.runs import MODEL, RunDirError, RunInfo, list_runs, read_metrics, run_state, runs_root
from vgg_core.spec import ArchSpec, SpecError, format_compact, preset

# Widget keys and their defaults: d2l's train_ch6 (lr 0.05, 10 epochs, batch 128, plain SGD).
D2L = {"epochs": 10, "batch_size": 128, "lr": 0.05, "optimizer": "sgd", "momentum": 0.0, "max_train_examples": 0}
DEFAULTS = {**D2L, "device": "auto"}
SELECTED = "train_run"  # the run shown live
MESSAGE = "train_message"  # (kind, text) left by the last button press
CONFIRM_DELETE = "train_confirm_delete"  # the run whose Delete button was pressed once
FULL_TRAIN = 60_000
HOURS_WARNING_S = 3600


def render() -> None:
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)
    spec = state.current_spec()
    summary = summary_of(spec)
    st.title(t("train.title"))
    st.caption(t("train.caption"))
    st.markdown(
        t("train.arch", arch=f"`{format_compact(spec.blocks)}`", size=spec.input_size,
          params=human(summary.total_params), macs=human_macs(summary.total_macs))
    )
    left, right = st.columns([3, 2], gap="large")
    with left:
        problems = _hyperparameters()
    with right:
        if not problems:
            _estimate(spec, _request())
    _buttons(ready=not problems)
    runs = list_runs(runs_root())
    fast = any(r.state.state in LIVE_STATES for r in runs)
    # Poll every second while something trains; slowly otherwise, to notice runs started elsewhere.
    st.fragment(run_every=1.0 if fast else 5.0)(_live)(fast)
    _finished(runs)


# The page's own limits (the engine takes more): widgets carry none, so a value out of range gets
# a message naming the range instead of a red border and a silently kept old value.
LIMITS = {"epochs": (1, 200), "batch_size": (1, 4096), "lr": (1e-6, 10.0), "momentum": (0.0, 0.999),
          "max_train_examples": (0, FULL_TRAIN)}


def _hyperparameters() -> list[str]:
    """The widgets, then one line per value out of range (nothing launches until they are fixed)."""
    st.subheader(t("train.settings"))
    a, b, c = st.columns(3)
    a.number_input(t("train.epochs"), step=1, key="epochs")
    b.number_input(t("train.batch_size"), step=1, key="batch_size")
    c.number_input(t("train.lr"), step=0.01, format="%g", key="lr")
    a, b, c = st.columns(3)
    a.selectbox(t("train.optimizer"), ("sgd", "adam"), key="optimizer", format_func=labels("train.opt", ("sgd", "adam")))
    b.number_input(t("train.momentum"), step=0.1, format="%.3f", key="momentum",
                   disabled=st.session_state["optimizer"] != "sgd")
    devices = ("auto", *available_devices().split(", "))
    if st.session_state["device"] not in devices:
        st.session_state["device"] = "auto"
    c.selectbox(t("train.device"), devices, key="device", help=t("train.device.help"))
    st.number_input(t("train.max_train"), step=1000, key="max_train_examples", help=t("train.max_train.help"))
    problems = [
        t("train.out_of_range", name=t(f"train.{key}"), low=f"{low:g}", high=f"{high:,g}", got=f"{value:g}")
        for key, (low, high) in LIMITS.items()
        if not low <= (value := st.session_state[key]) <= high
    ]
    if problems:
        with st.container(key="train_input_errors"):
            st.error("  \n".join(problems))
    return problems


def _request() -> TrainRequest:
    ss = st.session_state
    examples = ss["max_train_examples"] or FULL_TRAIN
    steps = math.ceil(examples / ss["batch_size"])
    return TrainRequest(
        epochs=int(ss["epochs"]), batch_size=int(ss["batch_size"]), lr=float(ss["lr"]), optimizer=ss["optimizer"],
        momentum=float(ss["momentum"]) if ss["optimizer"] == "sgd" else 0.0, device=ss["device"],
        max_train_examples=int(ss["max_train_examples"]) or None,
        # About 25 chart points per epoch at least; d2l's Animator draws 5.
        log_every=max(1, min(10, steps // 25)),
    )


@st.cache_data(max_entries=64, show_spinner=False)
def _estimate_cached(spec_dict: dict, batch: int, optimizer: str, momentum: float, device: str, examples: int,
                     speed: tuple[float, float] | None):
    return estimate_training(ArchSpec.from_dict(spec_dict), batch, optimizer=optimizer, momentum=momentum,
                             device=device, train_examples=examples, measure_speed=False, speed=speed)


@st.cache_resource(show_spinner=False)
def _speeds() -> tuple[threading.Lock, dict[str, tuple[tuple[float, float] | None, str | None]]]:
    """Each device's training speed (or why it could not be measured), once per server, for every session."""
    return threading.Lock(), {}


def _speed(device: str) -> tuple[tuple[float, float] | None, str | None]:
    """((MACs per second, seconds per step), None) or (None, why not). A child process measures it, so the server never
    holds a CUDA context; never while a run trains there (it would slow the run and skew the figure).
    A failure is kept too, so a broken device does not cost a child process on every rerun."""
    lock, speeds = _speeds()
    with lock:
        if device not in speeds:
            if busy_runs(device, runs_root()):
                return None, t("train.est_busy", device=device)
            try:
                with st.spinner(t("train.est_measuring", device=device)):
                    speeds[device] = measure_speed(device), None
            except LaunchError as e:
                speeds[device] = None, str(e)
        return speeds[device]


def _estimate(spec, request: TrainRequest) -> None:
    st.subheader(t("train.estimate"))
    try:
        device = str(resolve_device(request.device))
    except ValueError as e:  # a device that is not here: the Train button says so too
        st.warning(md_escape(localized_error(e)))
        return
    speed, why_not = _speed(device)
    est = _estimate_cached(spec.to_dict(), request.batch_size, request.optimizer, request.momentum,
                           device, request.max_train_examples or FULL_TRAIN, speed)
    with st.container(key="train_estimate"):
        a, b = st.columns(2)
        a.metric(t("train.est_memory"), human_bytes(est.total_bytes),
                 help=t("train.est_memory.help", params=human_bytes(est.param_bytes), grads=human_bytes(est.grad_bytes),
                        opt=human_bytes(est.optimizer_bytes), acts=human_bytes(est.activation_bytes)))
        per_epoch = est.seconds_per_epoch
        b.metric(t("train.est_epoch"), duration_text(per_epoch),
                 help=t("train.est_epoch.help", device=est.device) if per_epoch is not None
                 else t("train.est_epoch.unmeasured", reason=localized(why_not or "")))
        if est.available_bytes is not None:
            st.caption(t("train.est_free", free=human_bytes(est.available_bytes), device=est.device))
    if est.fits is False:
        st.warning(t("train.warn_memory", need=human_bytes(est.total_bytes), free=human_bytes(est.available_bytes or 0)))
    if per_epoch is not None and per_epoch * request.epochs > HOURS_WARNING_S:
        st.warning(t("train.warn_hours", total=duration_text(per_epoch * request.epochs), device=est.device))


def _apply_d2l() -> None:
    """d2l 7.2.3's setting: the current blocks with ratio 4 at 224x224, lr 0.05, 10 epochs, batch 128.

    Blocks too narrow for ratio 4 (or too many for 224) give way to d2l's own VGG-11.
    """
    st.session_state.update(D2L)
    try:
        spec = state.current_spec().replace(ratio=4, input_size=224)
    except SpecError:
        spec = preset("d2l")
    state.adopt(spec)


def _start() -> None:
    ss = st.session_state
    try:
        run_dir = start_run(state.current_spec(), _request(), runs_root())
    except (LaunchError, RunDirError) as e:
        ss[MESSAGE] = ("error", localized_error(e))
        return
    ss[SELECTED] = run_dir.name
    ss[MESSAGE] = ("success", t("train.started", run=run_dir.name))


def _buttons(ready: bool) -> None:
    a, b, _ = st.columns([1, 1, 3])
    a.button(t("train.d2l"), key="d2l_settings", on_click=_apply_d2l, help=t("train.d2l.help"),
             icon=":material/menu_book:")
    b.button(t("train.start"), key="train_start", type="primary", on_click=_start, icon=":material/play_arrow:",
             disabled=not ready)
    kind, text = st.session_state.pop(MESSAGE, (None, None))
    if kind == "error":
        st.error(t("train.refused", reason=md_escape(text)))
    elif kind == "success":
        st.success(text)


def _live(fast: bool) -> None:
    """The selected run, re-read from its folder on every tick; ``fast``: ticking every second."""
    ss = st.session_state
    runs = list_runs(runs_root())
    if not fast and any(r.state.state in LIVE_STATES for r in runs):
        st.rerun(scope="app")  # a run started in another tab: tick every second from now on
    if not runs:
        st.info(t("train.no_runs"))
        return
    ids = [r.run_id for r in runs]
    if ss.get(SELECTED) not in ids:
        ss[SELECTED] = ids[0]
    by_id = {r.run_id: r for r in runs}
    st.subheader(t("train.live"))
    label = _run_label(by_id[ss[SELECTED]])
    if ss.get("_train_run_label") not in (None, label):
        state.relabel((SELECTED,))  # the run's state changed: show its new label, not the one first sent
    ss["_train_run_label"] = label
    st.selectbox(t("train.run"), ids, key=SELECTED, format_func=lambda i: _run_label(by_id[i]))
    run = by_id[ss[SELECTED]]
    rows = read_metrics(run.path)
    run_now = run_state(run.path, rows)
    live = run_now.state in LIVE_STATES

    with st.container(key="train_status"):
        _status(run, run_now.state, run_now.reason)
    p = progress(run.config, rows)
    eta = t("train.eta", eta=duration_text(p.eta_s)) if live else ""
    st.progress(p.fraction, text=t("train.progress", pct=f"{100 * p.fraction:.0f}", epoch=f"{p.epoch:.2f}",
                                   epochs=(run.config or {}).get("hyperparameters", {}).get("epochs", "?")) + eta)
    if live:
        st.button(t("train.stop"), key="train_stop", on_click=stop_run, args=(run.path,), icon=":material/stop:")
    device = (run.config or {}).get("device", "")
    if live and str(device).startswith("cuda"):
        chart_col, gpu_col = st.columns([3, 1])
    else:
        chart_col, gpu_col = st.container(), None
    with chart_col:
        _metrics(rows)
        with st.container(key="train_chart"):
            st.plotly_chart(charts.training([(run.run_id, rows)]), width="stretch")
    if gpu_col is not None:
        with gpu_col:
            # The PCI address names the card for NVML whatever CUDA's numbering; older runs lack it.
            index = int(str(device).split(":")[1]) if ":" in str(device) else 0
            compact_panel(index, bus_id=(run.config or {}).get("pci_bus_id"), key="train_gpu")
    _history_table(runs)
    if ss.get("_train_was_live", {}).get(run.run_id) and not live:
        ss["_train_was_live"].pop(run.run_id)
        st.rerun(scope="app")  # the run just ended: refresh the finished runs and the polling rate
    ss.setdefault("_train_was_live", {})[run.run_id] = live


def _status(run: RunInfo, state_name: str, reason: str | None) -> None:
    text = t("train.state", run=run.run_id, state=t(f"train.state.{state_name}"))
    cfg = run.config or {}
    where = cfg.get("device_name") or cfg.get("device")
    if where:
        text += " · " + str(where)
    if state_name == "failed":
        st.error(text + "  \n" + t("train.reason", reason=md_escape(localized(reason or "?"))))
    elif state_name == "lost":
        st.warning(text + "  \n" + md_escape(localized(reason or "")))
    elif state_name == "stopped":
        st.warning(text)
    elif state_name == "completed":
        st.success(text)
    else:
        st.info(text)


def _metrics(rows: list[dict]) -> None:
    last = next((r for r in reversed(rows) if r.get("kind") == "train"), {})
    last_eval = next((r for r in reversed(rows) if r.get("kind") == "eval"), {})
    a, b, c, d = st.columns(4)
    a.metric(t("train.m_loss"), figure(last.get("train_loss")))
    b.metric(t("train.m_train_acc"), figure(last.get("train_acc")))
    c.metric(t("train.m_test_acc"), figure(last_eval.get("test_acc")))
    d.metric(t("train.m_speed"), figure(last.get("examples_per_sec"), 1))


def _run_label(run: RunInfo) -> str:
    acc = (run.last_eval or {}).get("test_acc")
    acc_text = " · " + t("train.label_acc", acc=f"{acc:.3f}") if isinstance(acc, (int, float)) else ""
    return f"{run.run_id} · {t('train.state.' + run.state.state)} · {blocks_text(run.config)}{acc_text}"


def _history_table(runs: list[RunInfo]) -> None:
    """Inside the live fragment, so live runs' rows move too."""
    st.subheader(t("train.history"))
    with st.container(key="train_history"):
        st.dataframe(charts.runs_table(runs), hide_index=True, width="stretch")


def _finished(runs: list[RunInfo]) -> None:
    """Finished runs: overlay, download, delete (drawn on full runs; they do not change)."""
    finished = [r for r in runs if r.state.state not in LIVE_STATES]
    if not finished:
        return
    ids = [r.run_id for r in finished]
    by_id = {r.run_id: r for r in finished}
    chosen = st.multiselect(t("train.overlay"), ids, default=ids[: min(3, len(ids))], key="train_overlay",
                            format_func=lambda i: _run_label(by_id[i]))
    if chosen:
        st.plotly_chart(charts.training([(i, read_metrics(by_id[i].path)) for i in chosen], overlay=True),
                        width="stretch", key="train_overlay_chart")
    pick = st.selectbox(t("train.manage"), ids, key="train_manage", format_func=lambda i: _run_label(by_id[i]))
    run = by_id[pick]
    a, b, c = st.columns(3)
    a.download_button(t("train.dl_metrics"), data=lambda: metrics_csv(read_metrics(run.path)),
                      file_name=f"{run.run_id}-metrics.csv", mime="text/csv", key="train_dl_metrics",
                      icon=":material/download:")
    if (run.path / MODEL).exists():
        b.download_button(t("train.dl_weights"), data=lambda: (run.path / MODEL).read_bytes(),
                          file_name=f"{run.run_id}-model.pt", mime="application/octet-stream",
                          key="train_dl_weights", icon=":material/download:")
    c.button(t("train.delete"), key="train_delete", on_click=_ask_delete, args=(run.run_id,), icon=":material/delete:")
    if st.session_state.get(CONFIRM_DELETE) == run.run_id:
        with st.container(key="train_delete_ask"):
            st.warning(t("train.delete_ask", run=run.run_id))
            yes, no = st.columns([1, 4])
            yes.button(t("train.delete_yes"), key="train_delete_yes", type="primary", on_click=_delete, args=(run.run_id,))
            no.button(t("train.delete_no"), key="train_delete_no", on_click=_ask_delete, args=(None,))


def _ask_delete(run_id: str | None) -> None:
    """Deleting removes the folder and its weights for good: the first click only asks."""
    st.session_state[CONFIRM_DELETE] = run_id


def _delete(run_id: str) -> None:
    st.session_state[CONFIRM_DELETE] = None
    try:
        delete_run(runs_root(), run_id)
    except RunDirError as e:
        st.session_state[MESSAGE] = ("error", localized_error(e))
    else:
        st.session_state[MESSAGE] = ("success", t("train.deleted", run=run_id))


routing.show(render)
