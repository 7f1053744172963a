"""GPU: every nvidia-smi figure, live and explained; host CPU and RAM where there is no NVIDIA GPU."""

from __future__ import annotations

import streamlit as st

from pages import gpu_panel, routing
from pages.i18n import labels, t

REFRESH = {"1": 1.0, "2": 2.0, "pause": None}  # seconds between live updates; None: paused


def render() -> None:
    head, control = st.columns([3, 2], vertical_alignment="bottom")
    head.title(t("gpu.title"))
    choice = control.radio(
        t("gpu.refresh"), tuple(REFRESH), key="gpu_refresh", horizontal=True,
        format_func=labels("gpu.refresh", REFRESH),
    )
    st.caption(t("gpu.caption"))
    gpu_panel.full_panel(REFRESH[choice])
    gpu_panel.glossary()


routing.show(render)
