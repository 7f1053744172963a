"""Explore: edit a VGG architecture and see every layer's shape, parameters and MACs at once, drawn to
scale, with each layer's arithmetic, a training step's memory and d2l 7.2's exercises."""

from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from pages import charts, diagram_view, exercises, layer_explain, memory_view, routing, state
from pages.explore_inputs import (
    PRESET_CHOICES, WITH_INPUT, ExplorePage, fixed, on_blocks, on_input, on_layer_row, on_preset, page,
)
from pages.i18n import option_labels, say, t
from pages.views import (
    PRESET_KEYS, block_label, blocks_table, count_columns, exact, fit_columns, layer_names, layers_table, md_escape,
    pct, summary_of,
)
from vgg_core.model import model_code
from vgg_core.report import human, human_bytes, human_macs, to_csv
from vgg_core.spec import (
    KERNEL_SIZES, MAX_FC_WIDTH, MAX_IN_CHANNELS, MAX_INPUT_SIZE, MAX_NUM_CLASSES, ArchSpec, SpecError, arch_text,
)
from vgg_core.stages import unpack_block
from vgg_core.summary import Summary

_ROW_PX = 35  # st.dataframe's default row height
_MAX_TABLE_ROWS = 30  # VGG-11's 29 layers fit without scrolling
# Exact totals run to 14 characters (VGG-19: 19,632,062,464 MACs); a smaller figure keeps them
# whole on a 1280-pixel projector instead of cutting them off with an ellipsis, smaller still at
# 1024 pixels, where the sidebar leaves each figure about 150 pixels; labels wrap rather than end in "…".
_METRIC_CSS = (
    "<style>.st-key-totals [data-testid='stMetricValue'], .st-key-split [data-testid='stMetricValue']"
    " { font-size: 1.6rem; }"
    " @media (max-width: 1200px) { .st-key-totals [data-testid='stMetricValue'],"
    " .st-key-split [data-testid='stMetricValue'] { font-size: 1.2rem; } }"
    " .st-key-totals [data-testid='stMetricLabel'] *, .st-key-split [data-testid='stMetricLabel'] *"
    " { white-space: normal !important; overflow: visible !important; }</style>"
)
LAYER_ROWS = "explore_layer_rows"  # the layer table's row selection: the row whose arithmetic is worded


TABLE_VIEWS = {"layers": "table.view.layers", "blocks": "table.view.blocks"}
NUMBER_LABELS = {"ratio": "input.ratio", "input_size": "input.input_size", "in_channels": "input.in_channels",
                 "num_classes": "input.num_classes", "fc_width": "input.fc_width"}


def render() -> None:
    s = page()
    spec = state.current_spec()
    summary = summary_of(spec)

    st.html(_METRIC_CSS)
    st.title(t("explore.title"))
    st.caption(t("explore.caption"))
    left, right = st.columns([2, 3], gap="large")
    with left:
        _inputs(s, spec)
    with right:
        if s.errors:
            st.info(t("explore.last_valid", arch=f"`{arch_text(spec)}`"))
        _totals(summary)
        _split(summary)
    # The blocks go under both columns: three columns do not fit beside the totals at 1024 pixels.
    if fixed(spec):
        _fixed_blocks(spec)
    else:
        _block_editor(s, spec)
    _errors(s, "blocks")
    exercises.panel(s)
    if state.preset_of(spec) in WITH_INPUT:
        _pair_note(spec)
    _diagram(s, summary)
    _table(s, summary)
    _memory(s, summary)
    _charts(s, summary)
    # A toggle, not an expander: an expander's code is highlighted by the browser even while closed.
    if st.toggle(t("code.title"), **s.bind("show_code")):
        st.code(model_code(spec), language="python")


def _errors(s: ExplorePage, *names: str) -> None:
    """The core's messages, right under the input whose edit they refuse."""
    for name in names:
        problems = s.errors_for(name)
        if problems:
            with st.container(key=f"error_{name}"):
                st.error("  \n".join(t("spec.invalid", problem=md_escape(say(p))) for p in problems))


def _inputs(s: ExplorePage, spec: ArchSpec) -> None:
    st.subheader(t("explore.inputs"))
    st.selectbox(t("input.preset"), PRESET_CHOICES, format_func=option_labels(PRESET_KEYS),
                 **s.bind("preset", on_preset))
    _errors(s, "preset")
    locked = fixed(spec)
    st.text_input(t("input.conv_arch"), help=t("input.conv_arch.help"), disabled=locked,
                  **s.bind("conv_arch", on_input, ("conv_arch",)))
    _errors(s, "conv_arch")

    def number(column, name: str, high: int) -> None:
        # No min/max on the widget: out of range, it would only turn red and drop the value; the
        # core's check names the limit instead, and the last valid table stays.
        column.number_input(
            t(NUMBER_LABELS[name]), step=1.0, format="%.10g", disabled=locked and name == "ratio",
            help=(t("input.ratio.help") + " " if name == "ratio" else "") + t("input.range", high=f"{high:,}"),
            **s.bind(name, on_input, (name,)),
        )

    a, b = st.columns(2)
    number(a, "ratio", state.UI_MAX_RATIO)
    number(b, "input_size", MAX_INPUT_SIZE)
    _errors(s, "ratio", "input_size")
    a, b = st.columns(2)
    number(a, "in_channels", MAX_IN_CHANNELS)
    number(b, "num_classes", MAX_NUM_CLASSES)
    _errors(s, "in_channels", "num_classes")
    a, _ = st.columns(2)
    number(a, "fc_width", MAX_FC_WIDTH)
    # A row of its own: beside the FC width, "BatchNorm" ends in "…" at 1024 pixels.
    st.checkbox(t("input.batch_norm"), help=t("input.batch_norm.help"),
                **s.bind("batch_norm", on_input, ("batch_norm",)))
    _errors(s, "fc_width", "batch_norm")


def _block_editor(s: ExplorePage, spec: ArchSpec) -> None:
    """The blocks as a grid, kept in step with the conv_arch text through the spec."""
    key = s.editor_key()
    blocks = [unpack_block(b) for b in spec.conv_arch]
    data = pd.DataFrame({"num_convs": [n for n, _, _ in blocks], "out_channels": [c for _, c, _ in blocks],
                         "kernel": [k for _, _, k in blocks]})
    number = st.column_config.NumberColumn
    allowed = ", ".join(str(k) for k in KERNEL_SIZES)
    config = {
        # No min/max: a value out of range goes on to the core, which names the limit (a grid with
        # limits would silently keep the old value instead).
        "num_convs": number(t("input.num_convs"), step=1, default=2, required=True),
        "out_channels": number(t("input.out_channels"), step=1, default=blocks[-1][1], required=True),
        "kernel": number(t("input.kernel"), step=1, default=3, required=True,
                         help=t("input.kernel.help", allowed=allowed)),
    }
    with st.container(key="blocks"):
        st.data_editor(
            data, key=key, num_rows="dynamic", hide_index=True, width="content",
            on_change=on_blocks, args=(key,), column_config=fit_columns(data, config, editable=True),
        )
        st.caption(t("input.blocks"))
        if spec.ratio != 1:
            built = ", ".join(str(unpack_block(b)[1]) for b in spec.blocks)
            st.caption(t("input.built_channels", ratio=spec.ratio, channels=built))


def _fixed_blocks(spec: ArchSpec) -> None:
    """AlexNet's layers, read-only: one row per convolution, with its window, and a line saying why."""
    rows = [(i, c.out_channels, c.kernel, c.stride, c.padding)
            for i, stage in enumerate(spec.stages, start=1) for c in stage.convs]
    data = pd.DataFrame(rows, columns=["block", "out_channels", "kernel", "stride", "padding"])
    with st.container(key="blocks"):
        config = {"block": st.column_config.NumberColumn(t("col.block"))}
        st.data_editor(data, key="explore_fixed_blocks", disabled=True, hide_index=True, width="content",
                       column_config=fit_columns(data, config))
        st.caption(t("input.fixed_note", network=arch_text(spec)))


def _totals(s: Summary) -> None:
    with st.container(key="totals"):
        a, b = st.columns(2)
        a.metric(t("totals.params"), exact(s.total_params))
        a.caption(f"≈ {human(s.total_params)}")
        b.metric(t("totals.macs"), exact(s.total_macs), help=t("totals.macs.help"))
        b.caption(t("totals.macs.caption", macs=human_macs(s.total_macs), flops=human_macs(s.total_flops)))
        a, b, c = st.columns(3)
        a.metric(t("totals.flatten"), exact(s.flatten_size))
        a.caption(t("totals.flatten.caption", c=s.spec.stages[-1].convs[-1].out_channels, s=s.spec.feature_size))
        b.metric(t("totals.param_mem"), human_bytes(s.param_bytes))
        b.caption(t("totals.param_mem.caption"))
        c.metric(t("totals.act_mem"), human_bytes(s.activation_bytes))
        c.caption(t("totals.act_mem.caption"))


def _split(s: Summary) -> None:
    with st.container(key="split"):
        st.markdown(f"**{t('split.title')}**")
        a, b = st.columns(2)
        a.metric(t("split.params_fc"), pct(s.fc_params, s.total_params))
        a.caption(t("split.params_caption", conv=human(s.conv_params), fc=human(s.fc_params)))
        b.metric(t("split.macs_conv"), pct(s.conv_macs, s.total_macs))
        b.caption(t("split.macs_caption", conv=human_macs(s.conv_macs), fc=human_macs(s.fc_macs)))
        st.plotly_chart(charts.split(s), key="split_chart", config={"displayModeBar": False})


def _table(page_state: ExplorePage, s: Summary) -> None:
    st.subheader(t("table.title"))
    with st.container(horizontal=True, vertical_alignment="center", gap="medium"):
        view = st.radio(
            t("table.view"), tuple(TABLE_VIEWS), horizontal=True, format_func=option_labels(TABLE_VIEWS),
            label_visibility="collapsed", width="content", **page_state.bind("table_view"),
        )
        flops = st.toggle(t("table.flops"), help=t("table.flops.help"), width="content", **page_state.bind("flops"))
        st.download_button(
            t("table.download"), to_csv(s, bom=True), file_name=f"{_file_stem(s.spec)}.csv", mime="text/csv",
            key="download_csv", on_click="ignore", icon=":material/download:",
        )
    table = layers_table(s, flops) if view == "layers" else blocks_table(s, flops)
    rows = min(len(table), _MAX_TABLE_ROWS)
    config = fit_columns(table, count_columns(table))
    for name in (t("col.block"), t("col.layer")):  # kept in view while the figures scroll sideways
        if name in config:
            config[name]["pinned"] = True
    explained = [r.name if r.arithmetic else "" for r in s.layers]  # a click on a row without formulas: no change
    with st.container(key="layer_table"):
        if view == "layers":
            st.dataframe(table, hide_index=True, column_config=config, height=(rows + 1) * _ROW_PX + 3,
                         key=LAYER_ROWS, selection_mode="single-row",
                         on_select=partial(on_layer_row, LAYER_ROWS, explained))
        else:
            st.dataframe(table, hide_index=True, column_config=config, height=(rows + 1) * _ROW_PX + 3)
    if view == "layers":
        _explain(page_state, s)
    else:
        st.caption(t("table.blocks_caption"))


def _explain(page_state: ExplorePage, s: Summary) -> None:
    """The chosen layer's formulas with its own numbers (click a row above, or pick one here)."""
    rows = layer_explain.explained(s)
    if page_state.explain not in rows:
        page_state.set("explain", next(iter(rows)))
    with st.container(key="layer_explain", border=True):
        st.selectbox(t("explain.pick"), tuple(rows), format_func=lambda name: f"{rows[name][0]} · {rows[name][1].type}",
                     help=t("explain.pick.help"), **page_state.bind("explain"))
        st.markdown("  \n".join(layer_explain.lines(rows[page_state.explain][1])))


def _diagram(page_state: ExplorePage, s: Summary) -> None:
    st.subheader(t("diagram.title"))
    log = st.toggle(t("diagram.log"), help=t("diagram.log.help"), **page_state.bind("diagram_log"))
    diagram_view.show(s, "arch_diagram", _file_stem(s.spec), log)


def _memory(page_state: ExplorePage, s: Summary) -> None:
    st.subheader(t("memory.title"))
    amp = st.toggle(t("memory.amp_toggle"), help=t("memory.amp_toggle.help"), **page_state.bind("memory_amp"))
    memory_view.show(s, amp)


def _pair_note(spec: ArchSpec) -> None:
    """The pair presets' point in numbers: the same receptive field after every pool, fewer weights."""
    rows = {}
    for name in WITH_INPUT:
        try:
            other = summary_of(state.named_on(spec, name))
        except SpecError:
            return
        fields = [str(r.receptive_field) for r in other.layers if r.type == "MaxPool2d"]
        rows[t(PRESET_KEYS[name])] = [arch_text(other.spec), " · ".join(fields), exact(other.conv_params),
                                      exact(other.total_params)]
    with st.container(key="pair_note", border=True):
        st.markdown(t("pair.note", size=spec.input_size, fc=spec.fc_width))
        st.table(pd.DataFrame(rows, index=[t("row.conv_arch"), t("row.receptive_fields"), t("pair.conv_params"),
                                           t("row.params")]))


def _charts(page_state: ExplorePage, s: Summary) -> None:
    st.subheader(t("charts.title"))
    log = st.checkbox(t("charts.log"), **page_state.bind("charts_log"))
    a, b = st.columns(2)
    a.plotly_chart(charts.per_layer(s, "params", t("charts.params"), log), key="chart_params")
    b.plotly_chart(charts.per_layer(s, "macs", t("charts.macs"), log), key="chart_macs")
    first = next((name, r) for name, r in zip(layer_names(s), s.layers) if r.type == "Linear")
    st.markdown(
        t(
            "charts.lesson",
            layer=f"`{first[0]}`, {block_label(first[1].block)}",
            first=human(first[1].params),
            total=human(s.total_params),
            first_pct=pct(first[1].params, s.total_params),
            fc_pct=pct(s.fc_params, s.total_params),
            conv_macs_pct=pct(s.conv_macs, s.total_macs),
        )
    )


def _file_stem(spec: ArchSpec) -> str:
    """``vgg_vgg11_1x224``, ``alexnet_1x224``: the downloads' names (CSV, SVG, PNG)."""
    name = state.preset_of(spec)
    prefix = f"vgg_{name}" if spec.family == "vgg" else spec.family
    return f"{prefix}_{spec.in_channels}x{spec.input_size}"


routing.show(render)
