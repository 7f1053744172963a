"""One-shot messages a button's callback leaves for the next run, shown where the button is.

A callback runs before the page draws, so it cannot draw; it stores ``(kind, text)`` in a field of
the page's state and the section shows it once, next to the button that caused it.
"""

from __future__ import annotations

import streamlit as st

from .session import PageState

Notice = tuple[str, str]  # (kind: success | error | info, Markdown text, already escaped)
_SHOW = {"success": st.success, "error": st.error, "info": st.info, "warning": st.warning}


def show(page: PageState, name: str) -> None:
    """Show and forget the notice in ``page.<name>``."""
    found = getattr(page, name)
    setattr(page, name, None)
    if found and found[0] in _SHOW:
        _SHOW[found[0]](found[1])
