"""The Inside page's sections: the viewer (input, softmax, feature maps, filters, before and after
training) and what a run gets wrong (confusion matrix, per-class accuracy, the most confident
mistakes, each a click away from the viewer)."""

from __future__ import annotations

import streamlit as st

from vgg_core.images import PreparedImage
from vgg_core.inspect import Inside, Network, RunErrors
from vgg_core.problems import ProblemsError
from vgg_core.runs import RunRecord
from vgg_core.spec import ArchSpec

from . import inside_charts as charts
from . import inside_data as data
from .i18n import lang, say, t
from .inside_state import TEST, InsidePage
from .views import exact, md_escape

TILE_PX, WIDE_TILE_PX = 72, 112  # a gallery thumbnail with its button; a mistake's, with its caption
MAP_COLS, MAP_PX = 4, 264  # a block's maps: 4 across, 264 px wide: two blocks a row at 1024 px, three at 1400


def class_name(label: int) -> str:
    return t(charts.CLASS_KEYS[label])


def _show(index: int) -> None:
    """A thumbnail's button: that test image in the viewer."""
    s = InsidePage.get()
    s.set("source", TEST)
    s.set("index", index)


def tile(s: InsidePage, index: int, name: str, caption: str | None = None, help_text: str = "") -> None:
    """A test image's thumbnail, an optional caption and a button that shows it in the viewer."""
    with st.container(width=WIDE_TILE_PX if caption else TILE_PX, gap="small"):
        st.image(data.thumbnail(index), width=data.THUMB_PX)
        if caption:
            st.caption(caption)
        shown = s.source == TEST and s.index == index
        st.button(str(index), key=s.key(name), on_click=_show, args=(index,), width="stretch",
                  type="primary" if shown else "secondary", help=help_text or t("inside.show", index=index))


# --- the viewer --------------------------------------------------------------------------------------

def viewer(s: InsidePage, network: Network, image: PreparedImage, record: RunRecord | None) -> None:
    """Everything about one image through one network."""
    try:
        inside = data.view(network, image)
    except ProblemsError as e:
        st.error(md_escape(say(e)))
        return
    with st.container(key="inside_viewer"):
        left, right = st.columns([2, 3], gap="large")
        with left:
            _input(image, inside, network.spec)
        with right:
            _answer(inside, image.label)
    _maps(inside, network.spec)
    _filters(inside)
    if record is not None:
        _before_after(s, record, network, image, inside)


def _input(image: PreparedImage, inside: Inside, spec: ArchSpec) -> None:
    st.subheader(t("inside.input"))
    if image.index is not None:
        st.markdown(t("inside.image.test", index=image.index, label=class_name(image.label or 0)))
    else:
        st.markdown(t("inside.image.upload", name=md_escape(image.name or "")))
    st.image(data.input_picture(inside.model_input), width=data.INPUT_PX)
    c, side = spec.in_channels, spec.input_size
    st.caption(t("inside.input.caption", c=c, s=side) + (" " + t("inside.input.resized", s=side) if side != 28 else ""))
    if image.notes:
        with st.container(key="inside_notes"):
            st.markdown(f"**{t('inside.notes')}**  \n" + "\n".join(f"- {md_escape(n.render(lang()))}" for n in image.notes))


def _answer(inside: Inside, label: int | None, key: str = "inside_softmax") -> None:
    st.subheader(t("inside.answer"))
    if not data.finite(inside):
        st.warning(t("inside.not_finite"))
        return
    _verdict(inside, label)
    with st.container(key=key):
        st.plotly_chart(charts.softmax(inside.probabilities, inside.predicted, label), config=charts.CONFIG)


def _verdict(inside: Inside, label: int | None, key: str = "inside_verdict") -> None:
    p = inside.probabilities[inside.predicted]
    said = t("inside.verdict", pred=class_name(inside.predicted), p=f"{100 * p:.1f}%")
    with st.container(key=key):
        if label is None:
            st.markdown(f"{said}  \n{t('inside.verdict.unlabelled')}")
        elif label == inside.predicted:
            st.markdown(f":green-badge[:material/check: {t('inside.right')}] {said}")
        else:
            st.markdown(f":red-badge[:material/close: {t('inside.wrong')}] {said}  \n"
                        + t("inside.verdict.label", label=class_name(label)))


def _maps(inside: Inside, spec: ArchSpec) -> None:
    st.subheader(t("inside.maps"))
    sides = " → ".join(str(v) for v in (spec.input_size, *(b.shape[-1] for b in inside.blocks)))
    channels = " → ".join(str(v) for v in (spec.in_channels, *(b.shape[0] for b in inside.blocks)))
    st.markdown(t("inside.maps.line", sides=sides, channels=channels))
    st.caption(t("inside.maps.caption"))
    with st.container(horizontal=True, gap="small", key="inside_maps"):
        for block in inside.blocks:
            st.plotly_chart(charts.block_maps(block, MAP_COLS, MAP_PX), width="content",
                            config=charts.CONFIG, key=f"inside_block_{block.index}")


def _filters(inside: Inside) -> None:
    f = inside.filters
    if f.dim() != 4 or not f.numel():
        return
    st.subheader(t("inside.filters", n=f.shape[0], k=f.shape[-1]))
    st.caption(t("inside.filters.caption") + (" " + t("inside.filters.mean", c=f.shape[1]) if f.shape[1] > 1 else ""))
    with st.container(key="inside_filters"):
        st.plotly_chart(charts.filters(f), width="content", config=charts.CONFIG)


def _before_after(s: InsidePage, record: RunRecord, network: Network, image: PreparedImage, after: Inside) -> None:
    """The same image through the network this run started from and through its weights now."""
    st.subheader(t("inside.before_after"))
    if not st.toggle(t("inside.before_after.show"), **s.bind("before_after")):
        return
    if record.config is None:
        st.caption(t("inside.before_after.no_seed"))
        return
    try:
        before = data.view(data.untrained(network.spec, record.config.seed), image)
    except ProblemsError as e:
        st.error(md_escape(say(e)))
        return
    st.caption(t("inside.before_after.caption", seed=record.config.seed))
    with st.container(key="inside_compare"):
        for column, inside, title, key in zip(
            st.columns(2, gap="large"), (before, after),
            (t("inside.before"), t("inside.after", epoch=network.epoch if network.epoch is not None else "?")),
            ("inside_before", "inside_after"),
        ):
            with column:
                st.markdown(f"**{title}**")
                if data.finite(inside):
                    _verdict(inside, image.label, f"{key}_verdict")
                    st.plotly_chart(charts.softmax(inside.probabilities, inside.predicted, image.label, height=280),
                                    config=charts.CONFIG, key=f"{key}_softmax")
                if inside.blocks:
                    st.plotly_chart(charts.block_maps(inside.blocks[0], MAP_COLS, MAP_PX),
                                    width="content", config=charts.CONFIG, key=f"{key}_maps")


# --- what the run gets wrong ---------------------------------------------------------------------

def run_errors(s: InsidePage, record: RunRecord) -> None:
    st.subheader(t("inside.errors"))
    try:
        errors = data.errors_of(record)
    except ProblemsError as e:
        with st.container(key="inside_errors_why"):
            st.info(md_escape(say(e)))
        return
    right = int(errors.confusion.trace())
    st.caption(t("inside.errors.caption", epoch=errors.epoch, right=exact(right), n=exact(errors.test_examples),
                 acc=f"{100 * errors.test_acc:.1f}%"))
    with st.container(key="inside_confusion"):
        st.markdown(f"**{t('inside.confusion')}**")
        st.plotly_chart(charts.confusion(errors), config=charts.CONFIG)
    with st.container(key="inside_per_class"):
        st.markdown(f"**{t('inside.per_class')}**")
        st.plotly_chart(charts.per_class(errors), config=charts.CONFIG)
    _wrong(s, errors)


def _wrong(s: InsidePage, errors: RunErrors) -> None:
    st.markdown(f"**{t('inside.most_wrong')}**")
    if not errors.most_confident_wrong:
        st.caption(t("inside.most_wrong.none"))
        return
    st.caption(t("inside.most_wrong.caption"))
    with st.container(horizontal=True, gap="small", key="inside_wrong"):
        for w in errors.most_confident_wrong:
            caption = t("inside.most_wrong.tile", label=class_name(w.label), pred=class_name(w.predicted),
                        p=f"{100 * w.confidence:.0f}%")
            tile(s, w.index, f"wrong_{w.index}", caption)
