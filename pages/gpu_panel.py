"""The live GPU panel: the GPU page's full view, and a compact block for the Train page.

Both read ``vgg_core.gpu.snapshot()`` on every run (about a millisecond; it never raises) and keep a
bounded history in session state, so a chart shows the figures since the panel opened. Liveness
comes from ``st.fragment(run_every=...)``: the browser asks for a rerun of the fragment alone, so
no thread of ours ever calls Streamlit, and leaving the page stops the polling.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import streamlit as st

from vgg_core import glossary as fields
from vgg_core import gpu
from vgg_core.gpu import GPU_DETAIL_FIELDS, GPU_FIELDS, HOST_FIELDS, PROCESS_FIELDS, GpuInfo, Snapshot
from vgg_core.gpu_history import History, gpu_value, same_pci, working
from vgg_core.run_folder import runs_root

from . import gpu_charts, gpu_training
from .gpu_views import (
    clock, details_table, details_table_config, gib, gpu_table, gpu_table_config, glossary_rows, limits_line,
    na_reasons, process_table, process_table_config, share, show, tip,
)
from .i18n import lang, say, t
from .session import typed

PAGE = "gpu_page"  # the GPU page's history; a compact panel has its own, by its key
STALE_SECONDS = 10.0  # no sample for this long: the page was left, so a new visit starts a new history
SPARK = 60  # samples in a compact panel's sparklines
CARD_FIGURE_PX = 200  # one big figure of a GPU card: '143,771 MiB' (an H200 full) fits
_CHART_CONFIG = {"displayModeBar": False}


@dataclass
class Histories:
    """Each panel's history in this session, by the panel's key."""

    by_panel: dict[str, History] = field(default_factory=dict)


def history(key: str, fresh: bool = False) -> History:
    """This session's history for one panel (created on first use, or anew when ``fresh``)."""
    panels = typed("panel.histories", Histories).by_panel
    if fresh or key not in panels:
        panels[key] = History(opened=time.time())
    return panels[key]


def _gap(every: float | None) -> float:
    """A pause longer than this between two samples breaks the chart's line."""
    return 3 * (every or 1.0) + 1.0


# --- the full panel (GPU page) -------------------------------------------------------------


def full_panel(every: float | None) -> None:
    """The GPU page's live part: every ``every`` seconds, or once per page run when ``None`` (paused).

    Call it from the page's full run (not from inside another fragment).
    """
    h = history(PAGE)
    if not h.paused and h.last is not None and time.time() - h.last > STALE_SECONDS:
        h = history(PAGE, fresh=True)
    h.paused = every is None
    st.fragment(run_every=every)(_live_full)(every)


def _live_full(every: float | None) -> None:
    snap = gpu.snapshot()
    h = history(PAGE)
    h.add(snap)
    with st.container(key="gpu_updated"):
        words = "gpu.paused" if every is None else "gpu.updated"
        st.caption(t(words, time=clock(snap.timestamp), n=h.count, since=clock(h.opened)))
    if snap.available:
        _gpus(snap)
    else:
        with st.container(key="gpu_reason"):
            st.warning(t("gpu.none", reason=say(snap.reason)), icon=":material/info:")
    _host(snap)
    gpu_training.training_processes(runs_root())
    _charts(h, _gap(every))


def _gpus(snap: Snapshot) -> None:
    ok = working(snap)
    with st.container(key="gpu_header"):
        a, b, c = st.columns(3)
        a.metric(t("gpu.driver"), snap.driver_version or "N/A", help=tip("driver_version"))
        b.metric(t("gpu.cuda"), snap.cuda_version or "N/A", help=tip("cuda_version"))
        c.metric(t("gpu.count"), len(snap.gpus), help=tip("index"))
    for g in snap.gpus:
        if g.lost or g.reason is not None:
            _unanswered(g)
    for g in ok:
        _card(g)
    if ok:
        with st.container(key="gpu_util_note"):
            st.caption(f":material/lightbulb: {fields.util_note(lang())}")
        st.markdown(f"**{t('gpu.table')}**")
        with st.container(key="gpu_table"):
            st.dataframe(gpu_table(ok), hide_index=True, column_config=gpu_table_config(ok))
        _details(ok)
        missing = na_reasons(ok)
        if missing:
            st.caption(t("gpu.na", items="; ".join(missing)))
        _processes(ok)


def _details(gpus: list[GpuInfo]) -> None:
    """Clocks, PCIe and why the clocks are held down: a second table, so nvidia-smi's keeps its width."""
    st.markdown(f"**{t('gpu.details')}**", help=t("gpu.details.help"))
    with st.container(key="gpu_details"):
        st.dataframe(details_table(gpus), hide_index=True, column_config=details_table_config(gpus))
        st.markdown(t("gpu.limits", reasons=limits_line(gpus)), help=tip("throttle_reasons", gpus))


def _unanswered(g: GpuInfo) -> None:
    """A lost GPU (or one NVML cannot open): one clear error; the other GPUs still show."""
    if g.lost:
        known = ", ".join(v for v in (g.name, g.bus_id) if v)
        text = t("gpu.lost", index=g.index, name=f" ({known})" if known else "", meaning=fields.explain("lost", lang()))
    else:
        text = t("gpu.unopened", index=g.index, reason=say(g.reason))
    st.error(text, icon=":material/error:")


def _memory_of(g: GpuInfo) -> str:
    return t("gpu.card.memory.caption", total=show("memory_total_mib", g.memory_total_mib),
             share=share(g.memory_used_mib, g.memory_total_mib))


def _power_of(g: GpuInfo) -> str:
    return t("gpu.card.power.caption", cap=show("power_limit_w", g.power_limit_w),
             share=share(g.power_draw_w, g.power_limit_w))


def _cpu_text(snap: Snapshot, digits: int) -> tuple[str, str]:
    cpu = snap.host.cpu_percent
    return ("N/A" if cpu is None else f"{cpu:.{digits}f}%"), t("gpu.host.cpu.caption", n=snap.host.cpu_count or "N/A")


def _ram_text(snap: Snapshot) -> tuple[str, str]:
    h = snap.host
    of = t("gpu.host.ram.caption", total=gib(h.ram_total_mib), share=share(h.ram_used_mib, h.ram_total_mib))
    return f"{gib(h.ram_used_mib)} GiB", of


def _card(g: GpuInfo) -> None:
    """The four figures people watch while training, big; the rest is in the table.

    Each figure is a box of fixed width in a row that wraps: four abreast on a wide screen, two by
    two at 1024 px, where four equal columns cut '40,321 MiB' short.
    """
    with st.container(key=f"gpu_card_{g.index}", border=True):
        st.markdown(f"**GPU {g.index} · {show('name', g.name)}** · `{show('bus_id', g.bus_id)}`")
        figures = (
            ("gpu.card.util", "utilization_percent", None),
            ("gpu.card.memory", "memory_used_mib", _memory_of(g)),
            ("gpu.card.temp", "temperature_c", None),
            ("gpu.card.power", "power_draw_w", _power_of(g)),
        )
        with st.container(horizontal=True, gap="medium"):
            for label, key, under in figures:
                with st.container(width=CARD_FIGURE_PX):
                    st.metric(t(label), show(key, getattr(g, key)), help=tip(key, [g]))
                    if under:
                        st.caption(under)


def _processes(gpus: list[GpuInfo]) -> None:
    st.markdown(f"**{t('gpu.processes')}**", help=tip("processes", gpus))
    with st.container(key="gpu_processes"):
        table = process_table(gpus)
        if len(table):
            st.dataframe(table, hide_index=True, column_config=process_table_config(gpus))
        else:
            st.caption(t("gpu.processes.none"))
        for g in gpus:
            if g.processes is None:
                st.caption(t("gpu.processes.na", index=g.index, reason=g.na_reasons.get("processes", "N/A")))


def _host(snap: Snapshot) -> None:
    """Host CPU and RAM: the whole story without a GPU, and with one, whether the data loading keeps up."""
    with st.container(key="gpu_host"):
        st.markdown(f"**{t('gpu.host.title')}**")
        a, b, _ = st.columns([1, 1, 2])
        (cpu, cores), (ram, ram_of) = _cpu_text(snap, 1), _ram_text(snap)
        a.metric(t("gpu.host.cpu"), cpu, help=tip("host.cpu_percent"))
        a.caption(cores)
        b.metric(t("gpu.host.ram"), ram, help=tip("host.ram_used_mib"))
        b.caption(ram_of)


def _charts(h: History, gap: float) -> None:
    st.markdown(f"**{t('gpu.history')}**")
    if h.gpu_indices():
        figs = gpu_charts.gpu_charts(h, gap)
        for row in (("util", "mem"), ("temp", "power")):
            for col, name in zip(st.columns(2), row):
                col.plotly_chart(figs[name], key=f"gpu_chart_{name}", config=_CHART_CONFIG)
    figs = gpu_charts.host_charts(h, gap)
    for col, name in zip(st.columns(2), ("cpu", "ram")):
        col.plotly_chart(figs[name], key=f"gpu_chart_{name}", config=_CHART_CONFIG)


def glossary() -> None:
    """Every field explained in the session's language; the memory-versus-utilisation note first."""
    with st.expander(t("gpu.glossary"), icon=":material/menu_book:"), st.container(key="gpu_glossary"):
        st.info(fields.note(lang()), icon=":material/lightbulb:")
        for title, keys in (
            ("gpu.glossary.header", ("driver_version", "cuda_version")),
            ("gpu.glossary.gpu", [*GPU_FIELDS, *GPU_DETAIL_FIELDS, "lost"]),
            ("gpu.glossary.process", [f"processes.{k}" for k in PROCESS_FIELDS]),
            ("gpu.glossary.host", [f"host.{k}" for k in HOST_FIELDS]),
        ):
            st.markdown(f"**{t(title)}**\n\n" + glossary_rows(keys))
        st.caption(fields.na(lang()))


# --- the compact panel (Train page) --------------------------------------------------------


def compact_panel(device_index: int | None = None, *, bus_id: str | None = None, key: str = "gpu_compact") -> None:
    """One small live block: utilisation, memory, temperature and power with sparklines.

    ``device_index`` is NVML's index (nvidia-smi's GPU column), which is CUDA's ``cuda:N`` only when
    CUDA_DEVICE_ORDER=PCI_BUS_ID and no CUDA_VISIBLE_DEVICES remaps; ``bus_id`` (a PCI address in
    any of NVML's, nvidia-smi's or torch's spellings) picks the GPU unambiguously and wins when
    given. Neither: every GPU. Without a GPU it shows the reason and the host's CPU and RAM.
    It reads a fresh snapshot on every call and creates no widgets, so it is safe inside an
    ``st.fragment`` (call it from one that reruns every second or two); ``key`` names its
    container and its history, one per call site.
    """
    snap = gpu.snapshot()
    h = history(key)
    h.add(snap)
    with st.container(key=key, border=True):
        if not snap.available:
            st.caption(t("gpu.compact.none", reason=say(snap.reason)))
            _compact_host(snap, h)
        else:
            if bus_id is not None:
                shown = [g for g in snap.gpus if same_pci(g.bus_id, bus_id)]
            else:
                shown = [g for g in snap.gpus if device_index is None or g.index == device_index]
            if not shown:
                by_bus = bus_id is not None
                here = ", ".join(str(g.bus_id if by_bus else g.index) for g in snap.gpus)
                st.warning(t("gpu.compact.missing", index=bus_id if by_bus else device_index, indices=here))
            for g in shown:
                _compact_gpu(g, h)
        st.caption(t("gpu.compact.updated", time=clock(snap.timestamp)))


def live_compact_panel(device_index: int | None = None, *, every: float = 2.0, key: str = "gpu_compact") -> None:
    """``compact_panel`` in a fragment of its own that refreshes itself, for a page without a timer."""
    st.fragment(run_every=every)(compact_panel)(device_index, key=key)


def clear_history(key: str = "gpu_compact") -> None:
    """Start a panel's sparklines afresh (e.g. when a new training run starts)."""
    typed("panel.histories", Histories).by_panel.pop(key, None)


def _spark(h: History, value) -> list[float]:
    return [v for v in (value(s) for s in list(h.samples)[-SPARK:]) if v is not None]


def _compact_gpu(g: GpuInfo, h: History) -> None:
    st.markdown(f"**GPU {g.index}** · {show('name', g.name)}")
    if g.lost or g.reason is not None:
        _unanswered(g)
        return
    rows = (  # (history name, label, glossary field, the figure under the value)
        (("util", "gpu.card.util", "utilization_percent", None),
         ("mem", "gpu.card.memory", "memory_used_mib", _memory_of(g))),
        (("temp", "gpu.card.temp", "temperature_c", None),
         ("power", "gpu.card.power", "power_draw_w", _power_of(g))),
    )
    for row in rows:
        for col, (name, label, key, of) in zip(st.columns(2), row):
            col.metric(
                t(label), show(key, getattr(g, key)), of, delta_color="off", delta_arrow="off",
                help=tip(key, [g]), chart_data=_spark(h, gpu_value(g.index, name)) or None,
            )


def _compact_host(snap: Snapshot, h: History) -> None:
    a, b = st.columns(2)
    (cpu, cores), (ram, ram_of) = _cpu_text(snap, 0), _ram_text(snap)
    a.metric(t("gpu.host.cpu"), cpu, cores, delta_color="off", delta_arrow="off", help=tip("host.cpu_percent"),
             chart_data=_spark(h, lambda s: s["cpu"]) or None)
    b.metric(t("gpu.host.ram"), ram, ram_of, delta_color="off", delta_arrow="off", help=tip("host.ram_used_mib"),
             chart_data=_spark(h, lambda s: s["ram_gib"]) or None)
