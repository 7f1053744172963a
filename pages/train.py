"""Train: launch the current architecture on Fashion-MNIST and watch it learn, live.

The run is its own process (vgg_core.launch); this page only reads its run folder, once a second
inside a fragment, so a reload, a second tab or a server restart shows the same runs.
"""

from __future__ import annotations

import streamlit as st

from pages import charts, downloads, resource_chart, routing, session, state
from pages.gpu_panel import compact_panel
from pages.i18n import duration, option_labels, say, t
from pages.queue_view import queue_section
from pages.results_view import results_section
from pages.run_actions import manage_notice, rename_row, resume_row
from pages.run_picker import pick_run, pick_runs, run_label, short_name
from pages.sweep_form import sweep_section
from pages.train_speed import estimate, speed
from pages.train_state import several_gpus, FIELDS, TrainPage
from pages.views import figure, md_escape, summary_of
from vgg_core.device import available_devices, resolve_device
from vgg_core.launch import LaunchError, busy_runs, delete_run, start_run, stop_run
from vgg_core.problems import Problem, ProblemsError
from vgg_core.queue import ensure_scheduler, queue_position, queue_runs, scheduler_pid
from vgg_core.resources import summarize as summarize_resources
from vgg_core.report import human, human_bytes, human_macs
from vgg_core.request import MAX_NAME, MAX_NOTE, TrainRequest, default_lr
from vgg_core.run_folder import METRICS, MODEL, run_file, runs_root
from vgg_core.run_report import metrics_csv, progress
from vgg_core.runs import RunRecord, list_runs
from vgg_core.spec import SpecError, arch_text, preset

HOURS_WARNING_S = 3600
OPTIMIZERS = {"sgd": "train.opt.sgd", "adam": "train.opt.adam"}
HISTORY_EVERY_S = 5.0  # the results table and charts: a live run's row moves this often


def render() -> None:
    s = TrainPage.get()
    spec = state.current_spec()
    summary = summary_of(spec)
    st.title(t("train.title"))
    st.caption(t("train.caption"))
    st.markdown(t("train.arch", arch=f"`{arch_text(spec)}`", size=spec.input_size,
                  params=human(summary.total_params), macs=human_macs(summary.total_macs)))
    left, right = st.columns([3, 2], gap="large")
    with left:
        problems = _hyperparameters(s)
    device = _device(s)
    with right:
        if not problems:
            _estimate(_request(s), device)
    busy = busy_runs(device, runs_root()) if device else []
    _buttons(s, ready=not problems, busy=busy)
    base = TrainRequest(spec, s.settings(), name=s.sweep_name.strip() or None)
    sweep_section(s, base, device if not problems else None)
    runs = list_runs(runs_root())
    waiting = any(r.state.state == "queued" for r in runs) and scheduler_pid(runs_root()) is not None
    fast = waiting or any(r.state.live for r in runs)
    st.fragment(run_every=_tick_s(runs, fast))(_live)(fast)
    st.fragment(run_every=HISTORY_EVERY_S)(_history)()
    _finished(s, runs)


def _tick_s(runs: list[RunRecord], fast: bool) -> float:
    """Seconds between live updates: every second while something trains or a scheduler is about to
    start a run, every two while a run trains on the CPU (the page's drawing takes the cores it trains
    on), every five when nothing is live."""
    if not fast:
        return 5.0
    on_cpu = any(r.state.live and r.config is not None and r.config.device == "cpu" for r in runs)
    return 2.0 if on_cpu else 1.0


def _request(s: TrainPage) -> TrainRequest:
    """The run the page describes: the current architecture, the settings, the name and note given."""
    return TrainRequest(state.current_spec(), s.settings(), name=s.name.strip() or None, note=s.note.strip() or None)


def _device(s: TrainPage) -> str | None:
    """The device the run would use now ('auto' resolved), or None if it is not here (the estimate says why)."""
    try:
        return str(resolve_device(s.device))
    except ProblemsError:
        return None


def _hyperparameters(s: TrainPage) -> list[Problem]:
    """The widgets, then one line per value the core refuses (nothing launches until they are fixed)."""
    st.subheader(t("train.settings"))
    a, b, c = st.columns(3)
    a.number_input(t("train.epochs"), step=1, **s.bind("epochs"))
    b.number_input(t("train.batch_size"), step=1, **s.bind("batch_size"))
    network_lr = TrainRequest(state.current_spec(), s.settings()).learning_rate if s.lr is None else None
    c.number_input(t("train.lr"), step=0.01, format="%g", help=t("train.lr.help"),
                   placeholder=f"{network_lr:g}" if network_lr else None, **s.bind("lr"))
    a, b, c = st.columns(3)
    a.selectbox(t("train.optimizer"), tuple(OPTIMIZERS), format_func=option_labels(OPTIMIZERS), **s.bind("optimizer"))
    b.number_input(t("train.momentum"), step=0.1, format="%.3f", disabled=s.optimizer != "sgd", **s.bind("momentum"))
    devices = ("auto", *available_devices().split(", "))
    if s.device not in devices:
        s.set("device", "auto")
    c.selectbox(t("train.device"), devices, help=t("train.device.help"), **s.bind("device"))
    st.number_input(t("train.max_train"), step=1000, help=t("train.max_train.help"), **s.bind("max_train_examples"))
    if (gpus := several_gpus()) and s.device in ("auto", "cuda"):  # one run over several GPUs, DDP through torchrun
        st.selectbox(t("train.gpus"), tuple(range(1, gpus + 1)), help=t("train.gpus.help"), **s.bind("nproc"))
    if network_lr:  # the empty lr box trains at the network's own d2l rate: say which
        st.caption(t("train.lr.default", lr=f"{network_lr:g}", network=arch_text(state.current_spec())
                     if state.current_spec().family != "vgg" else "VGG"))
    a, b = st.columns(2)
    a.text_input(t("train.name"), max_chars=MAX_NAME, placeholder=t("train.name_hint"), **s.bind("name"))
    b.text_input(t("train.note"), max_chars=MAX_NOTE, placeholder=t("train.note_hint"), **s.bind("note"))
    problems = _request(s).problems()  # the core's own checks
    if problems:
        with st.container(key="train_input_errors"):
            st.error("  \n".join(say(_named(p)) for p in problems))
    return problems


def _named(p: Problem) -> Problem:
    """A refusal about a setting, naming it with the page's label instead of its code name."""
    name = p.args.get("name")
    if name in FIELDS:
        return Problem(p.code, tuple((k, t(FIELDS[name]) if k == "name" else v) for k, v in p.params))
    return p


def _estimate(request: TrainRequest, device: str | None) -> None:
    st.subheader(t("train.estimate"))
    if device is None:  # a device that is not here: the Train button says so too
        try:
            resolve_device(request.settings.device)
        except ProblemsError as e:
            st.warning(md_escape(say(e)))
        return
    measured, why_not = speed(device)
    est = estimate(request, device, measured)
    per_epoch = est.seconds_per_epoch
    with st.container(key="train_estimate"):
        # A row that wraps: at 1024 px two columns would cut the figures ("86.…").
        a = b = st.container(horizontal=True, wrap=True, gap="medium")
        a.metric(t("train.est_memory"), human_bytes(est.total_bytes),
                 help=t("train.est_memory.help", params=human_bytes(est.param_bytes), grads=human_bytes(est.grad_bytes),
                        opt=human_bytes(est.optimizer_bytes), acts=human_bytes(est.activation_bytes)), width="content")
        b.metric(t("train.est_epoch"), duration(per_epoch), width="content",
                 help=t("train.est_epoch.help", device=est.device) if per_epoch is not None
                 else t("train.est_epoch.unmeasured", reason=say(why_not)))
        if est.available_bytes is not None:
            st.caption(t("train.est_free", free=human_bytes(est.available_bytes), device=est.device))
    if est.fits is False:
        st.warning(t("train.warn_memory", need=human_bytes(est.total_bytes), free=human_bytes(est.available_bytes or 0)))
    if per_epoch is not None and per_epoch * request.settings.epochs > HOURS_WARNING_S:
        st.warning(t("train.warn_hours", total=duration(per_epoch * request.settings.epochs), device=est.device))


def _apply_d2l() -> None:
    """d2l 7.2.3's setting: its own VGG-11 with ratio 4 at 224x224, lr 0.05, 10 epochs, batch 128.

    The help cites the book's network, so the button sets the book's network.
    """
    s = TrainPage.get()
    defaults = TrainPage()
    for name in ("epochs", "batch_size", "optimizer", "momentum", "max_train_examples"):
        s.set(name, getattr(defaults, name))
    s.set("lr", default_lr("sgd"))  # d2l 7.2.3's 0.05, written out: the button sets the book's VGG
    current = state.current_spec()
    try:
        spec = preset("d2l").replace(in_channels=current.in_channels)
    except SpecError:
        spec = preset("d2l")
    state.adopt(spec)


def _start() -> None:
    s = TrainPage.get()
    try:
        run_dir = start_run(_request(s), runs_root())
    except (LaunchError, ProblemsError) as e:
        s.message = ("error", say(e))
        return
    s.set("run", run_dir.name)
    s.follow = None
    _named_once(s)
    s.message = ("success", t("train.started", run=run_dir.name))


def _queue() -> None:
    """The device is busy: queue the run (after every run waiting) and make sure a scheduler serves the queue."""
    s = TrainPage.get()
    root = runs_root()
    try:
        (run_id,) = queue_runs([_request(s)], root)
        ensure_scheduler(root)
    except (LaunchError, ProblemsError) as e:
        s.message = ("error", say(e))
        return
    _named_once(s)
    s.message = ("success", t("train.queued", run=run_id, place=queue_position(root).get(run_id, "–")))


def _named_once(s: TrainPage) -> None:
    """A name and note belong to the run just launched or queued, not to the next one."""
    s.set("name", "")
    s.set("note", "")


def _buttons(s: TrainPage, ready: bool, busy: list[str]) -> None:
    """Train when the device is free; while it is busy, Queue (the run starts when it is free)."""
    a = b = c = st.container(horizontal=True, vertical_alignment="center")  # each button as wide as its words
    a.button(t("train.d2l"), key="train_d2l", on_click=_apply_d2l, help=t("train.d2l.help"), icon=":material/menu_book:")
    if busy:
        b.button(t("train.queue_it"), key="train_queue", type="primary", on_click=_queue, icon=":material/queue:",
                 disabled=not ready)
        c.caption(t("train.busy", device=_device(s) or s.device, run=busy[0]))
    else:
        b.button(t("train.start"), key="train_start", type="primary", on_click=_start, icon=":material/play_arrow:",
                 disabled=not ready)
    kind, text = s.message or (None, None)
    s.message = None
    if kind == "error":
        st.error(t("train.refused", reason=md_escape(text)))
    elif kind == "success":
        st.success(text)


def _history() -> None:
    """Every run's row and the results charts, in a fragment of its own that ticks every few seconds:
    a live run's row still moves, but the table and its four charts are not redrawn every second
    (the browser drawing them competes with a CPU run for its cores; docs/BENCHMARKS.md)."""
    s = TrainPage.get()
    runs = list_runs(runs_root())
    if not runs:
        return
    st.subheader(t("train.history"))
    results_section(s, runs)
    state.sync_url(session.current_url_params())  # a filter changed in this fragment's own rerun


def _live(fast: bool) -> None:
    """The selected run, re-read from its folder on every tick; ``fast``: ticking at the live rate."""
    s = TrainPage.get()
    runs = list_runs(runs_root())
    if not fast and any(r.state.live for r in runs):
        st.rerun(scope="app")  # a run started in another tab: tick every second from now on
    if not runs:
        st.info(t("train.no_runs"))
        return
    queue_section(s, runs)
    st.subheader(t("train.live"))
    shown = _shown(s, runs)
    if s.shown_label not in (None, run_label(shown)):
        s.set("run", s.run)  # the run's state changed: send its new label, not the one first sent
    s.shown_label = run_label(shown)
    run = pick_run(runs, t("train.run"), s, "run", then=_stop_following)
    _live_run(run)
    live = run.state.live
    if s.was_live.get(run.run_id) and not live:
        s.was_live.pop(run.run_id)
        st.rerun(scope="app")  # the run just ended: refresh the finished runs and the polling rate
    s.was_live[run.run_id] = live


def _shown(s: TrainPage, runs: list[RunRecord]) -> RunRecord:
    """The run to show: the one chosen; while a sweep just queued runs, its live run; by default a live
    run, else the newest that trained (a queued run has nothing to draw yet)."""
    by_id = {r.run_id: r for r in runs}
    shown = by_id.get(s.run)
    if s.follow:
        mine = [r for r in runs if r.sweep == s.follow]
        live = [r for r in mine if r.state.live]
        if live and (shown is None or not shown.state.live):
            s.set("run", live[0].run_id)
            return live[0]
        if not live and not any(r.state.state == "queued" for r in mine):
            s.follow = None  # the sweep is over
    if shown is None:
        shown = next((r for r in runs if r.state.live), None) or next(
            (r for r in runs if r.state.state != "queued"), runs[0])
        s.set("run", shown.run_id)
    return shown


def _stop_following() -> None:
    """A person chose a run: show that one, not the sweep's next."""
    TrainPage.get().follow = None


def _live_run(run: RunRecord) -> None:
    live = run.state.live
    with st.container(key="train_status"):
        _status(run)
    if run.state.state == "queued":  # nothing trained yet: the queue above shows its place
        return
    p = progress(run.config, run.metrics)
    eta = t("train.eta", eta=duration(p.eta_s)) if live and p.eta_s is not None else ""
    if p.total_steps:
        st.progress(p.fraction, text=t("train.progress", pct=f"{100 * p.fraction:.0f}", epoch=f"{p.epoch:.2f}",
                                       epochs=p.epochs) + eta)
    if live:
        st.button(t("train.stop"), key="train_stop", on_click=stop_run, args=(run.path,), icon=":material/stop:")
    device = run.config.device if run.config else ""
    chart_col, gpu_col = st.columns([3, 1]) if live and device.startswith("cuda") else (st.container(), None)
    with chart_col:
        _metrics(run)
        with st.container(key="train_chart"):
            st.plotly_chart(charts.training([(run.run_id, run.metrics)]), width="stretch")
        st.caption(t("train.c_explain"))
        _resources(run)
    if gpu_col is not None:
        with gpu_col:
            # The PCI address names the card for NVML whatever CUDA's numbering; older runs lack it.
            index = int(device.split(":")[1]) if ":" in device else 0
            compact_panel(index, bus_id=run.config.pci_bus_id, key="train_gpu")


def _resources(run: RunRecord) -> None:
    """The run's CPU, memory and GPU on the loss chart's epoch axis, and what it used in all."""
    figure = resource_chart.chart(run.metrics)
    with st.container(key="train_resources"):
        st.markdown(f"**{t('train.r_title')}**")
        if figure is None:
            st.caption(t("train.r_none"))
            return
        st.plotly_chart(figure, width="stretch")
        used = summarize_resources(run.metrics.system, len(run.metrics.evals) or None)
        st.caption(resource_chart.summary_text(used))


def _status(run: RunRecord) -> None:
    who = f"{md_escape(run.name)} · {run.run_id}" if run.name else run.run_id
    text = t("train.state", run=who, state=charts.state_text(run))
    where = (run.config.device_name or run.config.device) if run.config else None
    if where:
        text += " · " + where
    if run.unreadable:
        st.error(text + "  \n" + md_escape(say(run.problem)))
    elif run.state.state == "failed":
        st.error(text + "  \n" + t("train.reason", reason=md_escape(say(run.state.reason) or "?")))
    elif run.state.state == "lost":
        st.warning(text + "  \n" + md_escape(say(run.state.reason)))
    elif run.state.state == "stopped":
        st.warning(text)
    elif run.state.state == "completed":
        st.success(text)
    elif run.state.state == "queued":
        st.info(text + "  \n" + t("train.state_queued"))
    else:
        st.info(text + ("  \n" + md_escape(say(run.state.reason)) if run.state.reason else ""))


def _metrics(run: RunRecord) -> None:
    last, last_eval = run.last_train, run.last_eval
    a, b, c, d = st.columns(4)
    a.metric(t("train.m_loss"), figure(last.train_loss if last else None))
    b.metric(t("train.m_train_acc"), figure(last.train_acc if last else None))
    c.metric(t("train.m_test_acc"), figure(last_eval.test_acc if last_eval else None))
    d.metric(t("train.m_speed"), figure(last.examples_per_sec if last else None, 1))


def _finished(s: TrainPage, runs: list[RunRecord]) -> None:
    """Finished runs: overlay, download, delete (drawn on full runs; they do not change)."""
    manage_notice(s)  # first: a run just resumed is live now, and may have been the only finished one
    finished = [r for r in runs if not r.state.live]
    if not finished:
        return
    trained = [r for r in finished if not r.unreadable and r.state.state != "queued"]
    chosen = pick_runs(trained, t("train.overlay"), s, "overlay")
    by_id = {r.run_id: r for r in finished}
    if chosen:
        st.plotly_chart(charts.training([(short_name(by_id[i]), by_id[i].metrics) for i in chosen], overlay=True),
                        width="stretch", key="train_overlay_chart")
    finished.sort(key=lambda r: r.state.state == "queued")  # runs that trained first: they have most to do
    _manage(s, pick_run(finished, t("train.manage"), s, "manage"))


def _manage(s: TrainPage, run: RunRecord) -> None:
    """Download, resume or extend, rename and delete the chosen run that is not live."""
    resume_row(s, run)
    rename_row(s, run)
    a, b, c = st.columns(3)
    if run_file(run.path, METRICS) is not None:
        a.download_button(t("train.dl_metrics"), data=lambda: metrics_csv(run.metrics),
                          file_name=f"{run.run_id}-metrics.csv", mime="text/csv", key="train_dl_metrics",
                          icon=":material/download:")
    if run_file(run.path, MODEL) is not None:  # streamed from disk by the app's own route, never held in memory
        with b.container(key="train_dl_weights"):
            st.link_button(t("train.dl_weights"), downloads.url(run.run_id, MODEL), icon=":material/download:")
    c.button(t("train.delete"), key="train_delete", on_click=_ask_delete, args=(run.run_id,), icon=":material/delete:")
    if s.confirm_delete == run.run_id:
        with st.container(key="train_delete_ask"):
            st.warning(t("train.delete_ask", run=run.run_id))
            yes, no = st.columns([1, 4])
            yes.button(t("train.delete_yes"), key="train_delete_yes", type="primary", on_click=_delete, args=(run.run_id,))
            no.button(t("train.delete_no"), key="train_delete_no", on_click=_ask_delete, args=(None,))


def _ask_delete(run_id: str | None) -> None:
    """Deleting removes the folder and its weights for good: the first click only asks."""
    TrainPage.get().confirm_delete = run_id


def _delete(run_id: str) -> None:
    s = TrainPage.get()
    s.confirm_delete = None
    try:
        delete_run(runs_root(), run_id)
    except ProblemsError as e:
        s.message = ("error", say(e))
    else:
        s.message = ("success", t("train.deleted", run=run_id))


routing.show(render)
