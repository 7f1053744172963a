"""Inside: one image through a network, block by block, and what a trained run gets wrong.

Choose a run (or the current architecture, untrained) and an image (a test image from the gallery
or by index, or an uploaded picture); see the input as the network gets it, the softmax, every
block's most active feature maps, the first block's filters, the untrained network beside the
trained one, and the run's confusion matrix and most confident mistakes, which open in the viewer.
"""

from __future__ import annotations

import streamlit as st

from pages import inside_data as data
from pages import inside_views as views
from pages import routing, state
from pages.i18n import option_labels, say, t
from pages.inside_state import SOURCES, TEST, UNTRAINED, UPLOAD, InsidePage
from pages.run_picker import labeller
from pages.views import md_escape
from vgg_core.images import PreparedImage
from vgg_core.inspect import Network
from vgg_core.problems import ProblemsError
from vgg_core.run_folder import runs_root
from vgg_core.runs import RunRecord, list_runs
from vgg_core.spec import format_compact

MAX_UPLOAD_MB = 64  # the core refuses files over 50 MB in one line; far beyond, the browser refuses


def render() -> None:
    s = InsidePage.get()
    st.title(t("inside.title"))
    st.caption(t("inside.caption"))
    records = data.inspectable(list_runs(runs_root()))
    left, right = st.columns(2, gap="large")
    with left:
        record, network = _network(s, records)
    with right:
        image = _image(s)
    if s.source == TEST:
        _gallery(s)
    if network is not None and image is not None:
        views.viewer(s, network, image, record)
    if record is not None:
        views.run_errors(s, record)


def _network(s: InsidePage, records: list[RunRecord]) -> tuple[RunRecord | None, Network | None]:
    """The run (or the untrained network) to look inside; a refusal is one line under the choice."""
    ids = [r.run_id for r in records]
    if s.run not in (UNTRAINED, *ids):
        if s.run:
            s.missing_run = s.run
        s.set("run", data.default_choice(records))
    run_label = labeller(records)
    choice = st.selectbox(t("inside.network"), (UNTRAINED, *ids), **s.bind("run", _picked_run),
                          format_func=lambda c: t("inside.untrained") if c == UNTRAINED else run_label(c))
    if s.missing_run:
        st.caption(t("inside.run_missing", run=md_escape(s.missing_run)))
    if not ids:
        st.caption(t("inside.no_runs"))
    try:
        if choice == UNTRAINED:
            spec = state.current_spec()
            st.number_input(t("inside.seed"), step=1, help=t("inside.seed.help"), **s.bind("seed"))
            st.caption(t("inside.untrained.arch", arch=f"`{format_compact(spec.blocks)}`", size=spec.input_size))
            return None, data.untrained(spec, s.seed)
        record = records[ids.index(choice)]
        return record, data.run_network(record)
    except ProblemsError as e:
        with st.container(key="inside_network_error"):
            st.error(md_escape(say(e)))
        return (None if choice == UNTRAINED else records[ids.index(choice)]), None


def _picked_run() -> None:
    InsidePage.get().missing_run = ""


def _image(s: InsidePage) -> PreparedImage | None:
    """The image chosen, or None with one line saying why."""
    source = st.radio(t("inside.source"), tuple(SOURCES), horizontal=True, format_func=option_labels(SOURCES),
                      **s.bind("source"))
    try:
        if source == UPLOAD:
            return _upload(s)
        st.number_input(t("inside.index"), step=1, help=t("inside.index.help"), **s.bind("index"))
        return data.test_image(s.index)
    except ProblemsError as e:
        with st.container(key="inside_image_error"):
            st.error(md_escape(say(e)))
        return None


def _upload(s: InsidePage) -> PreparedImage | None:
    """An uploaded picture, prepared from its bytes in memory (never written anywhere)."""
    up = st.file_uploader(t("inside.upload"), help=t("inside.upload.help"), key=s.key("upload"),
                          max_upload_size=MAX_UPLOAD_MB)
    if up is None:
        st.caption(t("inside.upload.none"))
        return None
    return data.uploaded_image(up.getvalue(), up.name)


def _gallery(s: InsidePage) -> None:
    """A few test images of every class; a click shows one in the viewer."""
    try:
        items = data.gallery()
    except ProblemsError:
        return  # the index input above already says why there is no test set
    gallery = st.expander(t("inside.gallery", n=data.GALLERY_PER_CLASS), key=s.key("gallery"), on_change="rerun")
    if not gallery.open:
        return  # 30 thumbnails and buttons are drawn only when someone looks at them
    with gallery, st.container(horizontal=True, gap="small", key="inside_gallery_tiles"):
        for index, label in items:
            views.tile(s, index, f"pick_{index}",
                       help_text=t("inside.show.class", index=index, label=views.class_name(label)))


routing.show(render)
