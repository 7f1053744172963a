"""GPU: every nvidia-smi figure, live and explained; host CPU and RAM where there is no NVIDIA GPU."""

from __future__ import annotations

import streamlit as st

from pages import gpu_panel, routing
from pages.i18n import option_labels, t
from pages.gpu_state import REFRESH, REFRESH_KEYS, GpuPage

def render() -> None:
    s = GpuPage.get()
    head, control = st.columns([3, 2], vertical_alignment="bottom")
    head.title(t("gpu.title"))
    choice = control.radio(t("gpu.refresh"), tuple(REFRESH), horizontal=True, format_func=option_labels(REFRESH_KEYS),
                           **s.bind("refresh"))
    st.caption(t("gpu.caption"))
    gpu_panel.full_panel(REFRESH[choice])
    gpu_panel.glossary()


routing.show(render)
