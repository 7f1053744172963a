"""Train: a placeholder until the training issue lands."""

from __future__ import annotations

import streamlit as st

from pages import routing
from pages.i18n import t


def render() -> None:
    st.title(t("train.title"))
    st.info(t("train.soon"))


routing.show(render)
