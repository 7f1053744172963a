"""VGG Explorer: the router and the sidebar every page shares.

Run with ``streamlit run app.py``. The current architecture and the language live in session
state and in the URL (see pages/state.py); each page is one file in pages/ with a render().
``app`` is the web server (``st.App``) with one route of its own: a run's files streamed from disk.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from pathlib import Path

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from pages import downloads, routing, session, state
from pages.i18n import LANG_KEY, LANG_LABELS, LANGS, say, t
from pages.views import PRESET_KEYS, exact, md_escape, summary_of
from vgg_core.report import human, human_macs
from vgg_core.spec import ArchSpec, arch_text, format_compact
from vgg_core.summary import summarize

PAGES = (
    ("pages/explore.py", "nav.explore", ":material/account_tree:", "explore"),
    ("pages/compare.py", "nav.compare", ":material/compare_arrows:", "compare"),
    ("pages/train.py", "nav.train", ":material/model_training:", "train"),
    ("pages/gpu.py", "nav.gpu", ":material/memory:", "gpu"),
    ("pages/inside.py", "nav.inside", ":material/visibility:", "inside"),
)


def sidebar() -> None:
    spec = state.current_spec()
    s = summary_of(spec)
    with st.sidebar:
        st.radio(t("lang.label"), LANGS, key=LANG_KEY, format_func=LANG_LABELS.get, horizontal=True)
        with st.container(key="sidebar_arch", border=True):
            st.markdown(f"**{t('sidebar.current')}**: {t(PRESET_KEYS[state.preset_of(spec)])}")
            ratio = f" ÷ {spec.ratio}" if spec.ratio != 1 else ""
            blocks = arch_text(spec) if spec.family_info.stages is not None else format_compact(spec.conv_arch)
            st.markdown(
                f"{t('sidebar.blocks')}: `{blocks}`{ratio}  \n"
                f"{t('sidebar.input')}: {spec.in_channels}×{spec.input_size}×{spec.input_size} · "
                f"{t('sidebar.classes')}: {spec.num_classes} · {t('sidebar.fc')}: {spec.fc_width}"
                + (" · BN" if spec.batch_norm else "")
            )
            st.markdown(
                f"{t('sidebar.params')}: **{human(s.total_params)}** ({exact(s.total_params)})  \n"
                f"{t('sidebar.macs')}: **{human_macs(s.total_macs)}**"
            )
            st.caption(t("sidebar.link"))
            st.button(t("sidebar.reset"), key="reset_arch", on_click=state.reset, icon=":material/restart_alt:")


def main() -> None:
    app = state.app()  # a session's first run reads the architecture and the language from the URL
    st.set_page_config(page_title=t("app.title"), page_icon=":material/view_in_ar:", layout="wide")
    page = st.navigation(
        [st.Page(path, title=t(title), icon=icon, url_path=url, default=(url == "explore"))
         for path, title, icon, url in PAGES]
    )
    sidebar()
    if app.url_warning:
        st.warning(t("url.warning", problem=md_escape(say(app.url_warning))))
    session.start_run()
    with routing.routed():
        page.run()
    state.sync_url(session.current_url_params())


def warm_up() -> None:
    """What the first visitor would otherwise wait for, done once as the server starts: the pages'
    helper modules imported (plotly, pandas, the estimate) and PyTorch's first summary, whose lazy
    imports and first meta pass take 1.5 s (later ones take milliseconds). ``VGG_WARM_UP=0`` skips it."""
    pages = {Path(path).stem for path, *_ in PAGES}
    try:
        for module in sorted(Path(__file__).with_name("pages").glob("*.py")):
            if module.stem not in pages:  # a page file would draw itself when imported
                importlib.import_module(f"pages.{module.stem}")
        summarize(ArchSpec())
    except Exception:  # a warm-up must never stop the server: the first visitor pays instead
        logging.getLogger(__name__).exception("warm-up failed")


if get_script_run_ctx() is None:
    # The web server importing this file (``streamlit run`` finds ``app``): Streamlit plus the route
    # that streams a run's weights from disk, and the warm-up in the background.
    app = st.App("app.py", routes=downloads.ROUTES)
    if os.environ.get("VGG_WARM_UP", "1") != "0":
        threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
else:
    main()  # a session's run of the page
