"""GPU: a placeholder until the GPU panel's issue lands."""

from __future__ import annotations

import streamlit as st

from pages import routing
from pages.i18n import t


def render() -> None:
    st.title(t("gpu.title"))
    st.info(t("gpu.soon"))


routing.show(render)
