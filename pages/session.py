"""One typed object per page, under one namespaced session key, with the page's widgets bound to it.

Why: Streamlit forgets a widget's value when a run does not draw it (the user visits another page),
and bare ``st.session_state["x"]`` keys spread over files hide who owns what. Here each page keeps a
small dataclass (``PageState``) under ``page.<name>``; a widget's key is derived from the page and
the field (``train_epochs``), ``bind`` seeds the widget from the field when Streamlit lost it, and
the widget's change writes the field back. No page reads another page's widget keys. The fields a
reload must keep are named in ``URL`` and travel in the address bar.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, TypeVar

import streamlit as st

from .i18n import lang

S = TypeVar("S", bound="PageState")
T = TypeVar("T")
CURRENT = "page.current"  # the page drawn in this run, whose parameters go in the URL


def typed(key: str, cls: type[T]) -> T:
    """The session's one ``cls`` object under ``key`` (a namespaced key per concern), made on first use."""
    found = st.session_state.get(key)
    if not isinstance(found, cls):
        found = st.session_state[key] = cls()
    return found


@dataclass
class PageState:
    """Base of a page's state: subclasses set ``PAGE`` and add their fields with defaults."""

    PAGE: ClassVar[str] = ""
    LABELLED: ClassVar[tuple[str, ...]] = ()  # fields whose widgets show translated option labels
    URL: ClassVar[dict[str, str]] = {}  # field -> query parameter, for what a reload must keep
    drawn_in: str = field(default="", repr=False)  # the language the labelled widgets were last sent in

    @classmethod
    def get(cls: type[S]) -> S:
        """This session's state of the page, made on first use (from the URL's parameters)."""
        key = f"page.{cls.PAGE}"
        found = st.session_state.get(key)
        if not isinstance(found, cls):
            found = st.session_state[key] = cls.from_url(st.query_params.to_dict())
        found.relabel()
        st.session_state[CURRENT] = found
        return found

    @classmethod
    def from_url(cls: type[S], params: dict[str, str]) -> S:
        """Defaults, with each URL parameter that parses as its field's type and that ``accepts``
        allows; anything else in a link is ignored (a link can never break a page)."""
        made = cls()
        for name, param in cls.URL.items():
            if param in params:
                value = _parse(params[param], getattr(made, name))
                if value is not None and made.accepts(name, value):
                    setattr(made, name, value)
        return made

    def accepts(self, name: str, value: Any) -> bool:
        """A page's own check of a value read from a link (its limits, its choices)."""
        return True

    def url_params(self) -> dict[str, str]:
        """The URL fields that differ from their defaults, as text."""
        defaults = type(self)()
        return {param: _text(getattr(self, name)) for name, param in self.URL.items()
                if getattr(self, name) != getattr(defaults, name)}

    def key(self, name: str) -> str:
        """The widget key of a field: ``<page>_<field>`` (also its CSS class ``.st-key-<page>_<field>``)."""
        return f"{self.PAGE}_{name}"

    def bind(self, name: str, then: Callable[..., None] | None = None, args: tuple = ()) -> dict[str, Any]:
        """Widget arguments that keep field ``name`` and its widget in step.

        ``then(*args)`` runs after the field took the widget's new value (a page's own reaction).
        """
        key = self.key(name)
        if key not in st.session_state:
            st.session_state[key] = getattr(self, name)
        return {"key": key, "on_change": self._changed, "args": (name, then, args)}

    def set(self, name: str, value: Any) -> None:
        """Change a field from code; its widget shows the new value on the next run."""
        setattr(self, name, value)
        st.session_state[self.key(name)] = value

    def _changed(self, name: str, then: Callable[..., None] | None, args: tuple) -> None:
        setattr(self, name, st.session_state[self.key(name)])
        if then is not None:
            then(*args)

    def relabel(self) -> None:
        """After a language switch, re-send the labelled widgets' values so they show the new labels.

        A select keeps showing the label it was sent when only ``format_func`` changes (its value on
        the wire is the label); a value set through session state is sent again, newly formatted.
        """
        now = lang()
        if self.drawn_in and self.drawn_in != now:
            for name in self.LABELLED:
                key = self.key(name)
                if key in st.session_state:
                    st.session_state[key] = st.session_state[key]
        self.drawn_in = now


def current_url_params() -> dict[str, str]:
    """The parameters of the page drawn in this run (none if it keeps no state)."""
    found = st.session_state.get(CURRENT)
    return found.url_params() if isinstance(found, PageState) else {}


def start_run() -> None:
    """Called by the router before a page draws, so a page without state leaves no parameters."""
    st.session_state.pop(CURRENT, None)


def _parse(text: str, like: Any) -> Any:
    """``text`` as a value of ``like``'s type, or None; lists are comma-separated."""
    text = str(text)[:2000]
    try:
        if isinstance(like, bool):
            return {"1": True, "0": False}.get(text)
        if isinstance(like, int):
            return int(text) if text.isdigit() and len(text) <= 12 else None
        if isinstance(like, float):
            value = float(text)
            return value if math.isfinite(value) else None
        if isinstance(like, list):
            return [part for part in text.split(",") if part][:50]
        if isinstance(like, str) or like is None:
            return text
    except ValueError:
        return None
    return None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
