"""Explore: edit a VGG architecture and see every layer's shape, parameters and MACs at once."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages import charts, routing, state
from pages.explore_inputs import PRESET_CHOICES, ExplorePage, on_blocks, on_input, on_preset, page
from pages.i18n import option_labels, say, t
from pages.views import (
    PRESET_KEYS, block_label, blocks_table, count_columns, exact, layer_names, layers_table, md_escape, pct, summary_of,
)
from vgg_core.model import model_code
from vgg_core.report import human, human_bytes, human_macs, to_csv
from vgg_core.spec import MAX_FC_WIDTH, MAX_IN_CHANNELS, MAX_INPUT_SIZE, MAX_NUM_CLASSES, ArchSpec, format_conv_arch
from vgg_core.summary import Summary

_ROW_PX = 35  # st.dataframe's default row height
_MAX_TABLE_ROWS = 30  # VGG-11's 29 layers fit without scrolling
# Exact totals run to 14 characters (VGG-19: 19,632,062,464 MACs); a smaller figure keeps them
# whole on a 1280-pixel projector instead of cutting them off with an ellipsis.
_METRIC_CSS = (
    "<style>.st-key-totals [data-testid='stMetricValue'], .st-key-split [data-testid='stMetricValue']"
    " { font-size: 1.6rem; }</style>"
)


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
            st.info(t("explore.last_valid", arch=f"`{format_conv_arch(spec.conv_arch)}`"))
        _totals(summary)
        _split(summary)
    _table(s, summary)
    _charts(s, summary)
    with st.expander(t("code.title"), expanded=False):
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
    st.text_input(t("input.conv_arch"), help=t("input.conv_arch.help"), **s.bind("conv_arch", on_input, ("conv_arch",)))
    _errors(s, "conv_arch")
    _block_editor(s, spec)
    _errors(s, "blocks")

    def number(column, name: str, high: int) -> None:
        # No min/max on the widget: out of range, it would only turn red and drop the value; the
        # core's check names the limit instead, and the last valid table stays.
        column.number_input(
            t(NUMBER_LABELS[name]), step=1.0, format="%.10g",
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
    a, b = st.columns(2, vertical_alignment="bottom")
    number(a, "fc_width", MAX_FC_WIDTH)
    b.checkbox(t("input.batch_norm"), help=t("input.batch_norm.help"), **s.bind("batch_norm", on_input, ("batch_norm",)))
    _errors(s, "fc_width", "batch_norm")


def _block_editor(s: ExplorePage, spec: ArchSpec) -> None:
    """The blocks as a grid, kept in step with the conv_arch text through the spec."""
    key = s.editor_key()
    data = pd.DataFrame(
        {"num_convs": [n for n, _ in spec.conv_arch], "out_channels": [c for _, c in spec.conv_arch]}
    )
    number = st.column_config.NumberColumn
    config = {
        # No min/max: a value out of range goes on to the core, which names the limit (a grid with
        # limits would silently keep the old value instead).
        "num_convs": number(t("input.num_convs"), step=1, default=2, required=True),
        "out_channels": number(t("input.out_channels"), step=1, default=spec.conv_arch[-1][1], required=True),
    }
    with st.container(key="blocks"):
        st.data_editor(
            data, key=key, num_rows="dynamic", hide_index=True, width="stretch",
            on_change=on_blocks, args=(key,), column_config=config,
        )
        st.caption(t("input.blocks"))
        if spec.ratio != 1:
            built = ", ".join(str(c) for _, c in spec.blocks)
            st.caption(t("input.built_channels", ratio=spec.ratio, channels=built))


def _totals(s: Summary) -> None:
    with st.container(key="totals"):
        a, b = st.columns(2)
        a.metric(t("totals.params"), exact(s.total_params))
        a.caption(f"≈ {human(s.total_params)}")
        b.metric(t("totals.macs"), exact(s.total_macs), help=t("totals.macs.help"))
        b.caption(f"≈ {human_macs(s.total_macs)} MACs")
        a, b, c = st.columns(3)
        a.metric(t("totals.flatten"), exact(s.flatten_size))
        a.caption(t("totals.flatten.caption", c=s.spec.blocks[-1][1], s=s.spec.feature_size))
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
    head, view_col, download = st.columns([3, 2, 1], vertical_alignment="bottom")
    head.subheader(t("table.title"))
    view = view_col.radio(
        t("table.view"), tuple(TABLE_VIEWS), horizontal=True, format_func=option_labels(TABLE_VIEWS),
        label_visibility="collapsed", **page_state.bind("table_view"),
    )
    download.download_button(
        t("table.download"), to_csv(s, bom=True), file_name=_csv_name(s.spec), mime="text/csv",
        key="download_csv", on_click="ignore", icon=":material/download:",
    )
    table = layers_table(s) if view == "layers" else blocks_table(s)
    rows = min(len(table), _MAX_TABLE_ROWS)
    with st.container(key="layer_table"):
        st.dataframe(table, hide_index=True, column_config=count_columns(table), height=(rows + 1) * _ROW_PX + 3)


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


def _csv_name(spec: ArchSpec) -> str:
    name = state.preset_of(spec)
    return f"vgg_{name if name != state.CUSTOM else 'custom'}_{spec.in_channels}x{spec.input_size}.csv"


routing.show(render)
