"""Compare: several architectures side by side, on the same input and classifier."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages import charts, diagram_view, routing, state
from pages.exercises import compare_answer
from pages.i18n import option_labels, say, t
from pages.results_view import results_section, side_by_side
from pages.run_picker import pick_runs, short_name
from pages.compare_state import CHOICES, CURRENT, ComparePage
from pages.views import PRESET_KEYS, block_label, exact, md_escape, pct, summary_of
from vgg_core.report import human, human_bytes, human_macs, shape_text
from vgg_core.run_folder import runs_root
from vgg_core.runs import list_runs
from vgg_core.spec import ArchSpec, SpecError, arch_text, parse_conv_arch
from vgg_core.summary import Summary

def render() -> None:
    s = ComparePage.get()
    current = state.current_spec()
    st.title(t("compare.title"))
    st.caption(
        t(
            "compare.caption",
            input=f"{current.in_channels}×{current.input_size}×{current.input_size}",
            classes=current.num_classes,
            fc=current.fc_width,
        )
    )
    entries = _choose(s, current)
    if len(entries) < 2:
        st.info(t("compare.need_two"))
    if entries:
        _architectures(s, [(label, summary_of(spec)) for label, spec in entries])
    _finished_runs(s)  # runs are compared on their own, whatever architectures are chosen


def _architectures(s: ComparePage, summaries: list[tuple[str, Summary]]) -> None:
    st.subheader(t("compare.totals"))
    with st.container(key="compare_totals"):
        st.table(_totals_frame(summaries))
    if s.exercise:
        compare_answer(summaries)
    st.subheader(t("compare.shapes"))
    with st.container(key="compare_shapes"):
        st.table(_shapes_frame(summaries))
    st.subheader(t("compare.charts"))
    log = st.checkbox(t("charts.log"), **s.bind("log"))
    df, order = _per_block(summaries)
    a, b = st.columns(2)
    a.plotly_chart(charts.grouped(df, "params", t("compare.params"), order, log), key="compare_params")
    b.plotly_chart(charts.grouped(df, "macs", t("compare.macs"), order, log), key="compare_macs")
    st.subheader(t("compare.diagrams"))
    st.caption(t("compare.diagrams.caption"))
    diagram_view.stack(summaries, "compare_diagrams", log=log)


def _finished_runs(s: ComparePage) -> None:
    """Every run's results (filtered, sorted, charted), then chosen finished runs side by side with their curves."""
    st.subheader(t("compare.runs"))
    records = list_runs(runs_root())
    if not records:
        st.caption(t("compare.runs.none"))
        return
    results_section(s, records)
    finished = [r for r in records if not r.state.live and not r.unreadable and r.state.state != "queued"]
    if not finished:
        return
    by_id = {r.run_id: r for r in finished}
    chosen = pick_runs(finished, t("compare.runs.choose"), s, "runs")
    if not chosen:
        return
    with st.container(key="compare_runs_table"):
        st.table(side_by_side([by_id[i] for i in chosen]))
    st.caption(t("compare.runs.differ"))
    st.plotly_chart(charts.training([(short_name(by_id[i]), by_id[i].metrics) for i in chosen], overlay=True),
                    key="compare_runs_chart")


def _choose(s: ComparePage, current: ArchSpec) -> list[tuple[str, ArchSpec]]:
    """The chosen presets (on the current input and classifier) and the valid custom lines."""
    label = option_labels({c: PRESET_KEYS[c] for c in CHOICES})
    chosen = st.multiselect(t("compare.choose"), CHOICES, format_func=label, **s.bind("archs"))
    custom = st.text_area(t("compare.custom"), help=t("compare.custom.help"), height=90, **s.bind("custom"))
    entries: list[tuple[str, ArchSpec]] = []
    for name in chosen:
        if name == CURRENT:
            entries.append((label(name), current))
            continue
        try:
            entries.append((label(name), state.named_on(current, name)))
        except SpecError as err:
            st.error(t("compare.preset.error", name=label(name), problem=md_escape(say(err))))
    for n, line in enumerate(custom.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            spec = current.replace(family="vgg", conv_arch=parse_conv_arch(line), ratio=1)
            entries.append((t("compare.custom.name", n=n), spec))
        except SpecError as err:
            st.error(t("compare.custom.error", n=n, problem=md_escape(say(err))))
    return entries


def _totals_frame(summaries: list[tuple[str, Summary]]) -> pd.DataFrame:
    rows = {
        t("row.conv_arch"): lambda s: arch_text(s.spec),
        t("row.conv_layers"): lambda s: str(sum(len(stage.convs) for stage in s.spec.stages)),
        t("row.kernels"): _kernels,
        t("row.receptive_fields"): _receptive_fields,
        t("row.flatten"): lambda s: exact(s.flatten_size),
        t("row.params"): lambda s: exact(s.total_params),
        t("row.params_h"): lambda s: human(s.total_params),
        t("row.macs"): lambda s: exact(s.total_macs),
        t("row.macs_h"): lambda s: human_macs(s.total_macs),
        t("row.param_mem"): lambda s: human_bytes(s.param_bytes),
        t("row.act_mem"): lambda s: human_bytes(s.activation_bytes),
        t("row.fc_pct"): lambda s: pct(s.fc_params, s.total_params),
        t("row.conv_macs_pct"): lambda s: pct(s.conv_macs, s.total_macs),
    }
    return pd.DataFrame({label: [f(s) for f in rows.values()] for label, s in summaries}, index=list(rows))


def _kernels(s: Summary) -> str:
    """Each block's kernel sides (AlexNet: 11, 5, 3)."""
    return " · ".join("/".join(dict.fromkeys(str(c.kernel) for c in stage.convs)) for stage in s.spec.stages)


def _receptive_fields(s: Summary) -> str:
    """The receptive field after each block's pool: the same for a stack of 3x3s and one larger kernel."""
    return " · ".join(str(r.receptive_field) for r in s.layers if r.type == "MaxPool2d")


def _shapes_frame(summaries: list[tuple[str, Summary]]) -> pd.DataFrame:
    """One row per block (the longest architecture sets the count), then the classifier's output."""
    n_blocks = max(len(s.spec.stages) for _, s in summaries)
    index = [block_label(f"block {i}") for i in range(1, n_blocks + 1)] + ["Flatten", block_label("classifier")]
    columns = {}
    for label, s in summaries:
        shapes = [shape_text(b.output_shape) for b in s.blocks[:-1]]
        shapes += ["—"] * (n_blocks - len(shapes))
        columns[label] = shapes + [exact(s.flatten_size), shape_text(s.blocks[-1].output_shape)]
    return pd.DataFrame(columns, index=index)


def _per_block(summaries: list[tuple[str, Summary]]) -> tuple[pd.DataFrame, list[str]]:
    rows, order = [], []
    for label, s in summaries:
        for b in s.blocks:
            name = block_label(b.block)
            rows.append({"architecture": label, "block": name, "params": b.params, "macs": b.macs})
            if name not in order:
                order.append(name)
    classifier = block_label("classifier")
    order = [o for o in order if o != classifier] + [classifier]
    return pd.DataFrame(rows), order


routing.show(render)
