"""The app-wide state: the current architecture and the address bar.

One valid ``ArchSpec`` is shared by every page (``current_spec``) and lives in the URL with the
language, so a reload or a shared link reproduces the view; the current page adds its own
parameters (see ``PageState.URL``). A shared link is read with the core's own parser: nothing in
it is evaluated, and a bad parameter gives the default architecture and a warning naming it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

import streamlit as st

from vgg_core.problems import Problem, problem
from vgg_core.spec import NAMED, ArchSpec, SpecError, format_compact, parse_conv_arch

from .i18n import LANG_KEY, LANGS

UI_MAX_RATIO = 64  # past 64, VGG's first block is one channel wide; the core allows more
CUSTOM = "custom"
KEY = "app"
_DEFAULT = ArchSpec()

# URL name of each spec field; only fields that differ from the default spec are written.
URL_NAMES = {
    "conv_arch": "arch",
    "ratio": "ratio",
    "input_size": "size",
    "in_channels": "in",
    "num_classes": "classes",
    "fc_width": "fc",
    "batch_norm": "bn",
    "family": "family",
}
FIXED = ("conv_arch", "ratio")  # what a fixed family (AlexNet) does not take: written to no link


@dataclass
class AppState:
    spec: ArchSpec = _DEFAULT
    version: int = 0  # bumped when the spec is set from outside the Explore inputs, which then reseed
    url_warning: list[Problem] | None = None  # what was wrong with a shared link
    lang: str = "en"  # the language radio's value, kept here too (st.switch_page drops widget values)


# --- pure helpers (no Streamlit) ---------------------------------------------------------


def spec_to_query(spec: ArchSpec) -> dict[str, str]:
    """Only what differs from d2l's VGG-11, so the first screen's URL stays clean."""
    query: dict[str, str] = {}
    fixed = spec.family_info.stages is not None
    for field, name in URL_NAMES.items():
        value = getattr(spec, field)
        if value == getattr(_DEFAULT, field) or (fixed and field in FIXED):
            continue
        if field == "conv_arch":
            query[name] = format_compact(value)
        elif field == "batch_norm":
            query[name] = "1"
        else:
            query[name] = str(value)
    return query


def spec_from_query(params: Mapping[str, str]) -> ArchSpec:
    """Read a shared link with the core's parser; raises SpecError naming every bad parameter."""
    changes: dict[str, Any] = {}
    problems: list[Problem] = []
    for field, name in URL_NAMES.items():
        if name not in params:
            continue
        text = str(params[name]).strip()
        if field == "conv_arch":
            try:
                changes[field] = parse_conv_arch(text)
            except SpecError as err:
                problems.extend(err.problems)
        elif field == "batch_norm":
            if text not in ("0", "1"):
                problems.append(problem("url_not_bool", param=f"{name}={text[:20]!r}"))
            changes[field] = text == "1"
        elif field == "family":
            changes[field] = text[:40]  # the core names an unknown family and the ones it knows
        elif re.fullmatch(r"\d{1,9}", text):
            changes[field] = int(text)
        else:
            problems.append(problem("url_not_int", param=f"{name}={text[:20]!r}"))
    problems += ratio_problems(changes.get("ratio"))
    if problems:
        raise SpecError(problems)
    # Made afresh, not replaced on the default: a fixed family has no blocks unless the link gives some
    # (then the core refuses them by name).
    return ArchSpec(**changes) if changes else _DEFAULT


def ratio_problems(ratio: Any) -> list[Problem]:
    """The page's own ratio limit, for the inputs and for a shared link alike. A non-integer is
    left to the core's check."""
    if isinstance(ratio, int) and not isinstance(ratio, bool) and not 1 <= ratio <= UI_MAX_RATIO:
        return [problem("out_of_range", name="ratio", low=1, high=UI_MAX_RATIO, got=ratio)]
    return []


def preset_of(spec: ArchSpec) -> str:
    """The named network whose blocks and ratio the spec has (inputs and classes may differ), else
    'custom'; a fixed family (AlexNet) is its own name."""
    for name, p in NAMED.items():
        if p.family == spec.family and p.conv_arch == spec.conv_arch and p.ratio == spec.ratio:
            return name
    return CUSTOM


def named_on(spec: ArchSpec, name: str) -> ArchSpec:
    """The named network (a preset or AlexNet) with ``spec``'s input, classes, classifier and BatchNorm:
    what Compare sets side by side and what an Explore preset makes. Raises SpecError if it does not fit."""
    p = NAMED[name]
    return spec.replace(family=p.family, conv_arch=p.conv_arch, ratio=p.ratio)


# --- session state -----------------------------------------------------------------------


def app() -> AppState:
    found = st.session_state.get(KEY)
    if not isinstance(found, AppState):
        found = st.session_state[KEY] = _from_url()
    # A page change by st.switch_page sends no widget values, and Streamlit then drops them all: the
    # language radio's comes back from here, before the radio is drawn.
    if st.session_state.get(LANG_KEY) not in LANGS:
        st.session_state[LANG_KEY] = found.lang
    found.lang = st.session_state[LANG_KEY]
    return found


def _from_url() -> AppState:
    """A session's first run: the architecture and the language from the URL."""
    params = st.query_params.to_dict()
    lang = params.get("lang", "en")
    st.session_state.setdefault(LANG_KEY, lang if lang in LANGS else "en")
    try:
        return AppState(spec=spec_from_query(params), lang=st.session_state[LANG_KEY])
    except SpecError as err:
        return AppState(url_warning=err.problems, lang=st.session_state[LANG_KEY])


def current_spec() -> ArchSpec:
    """The architecture every page shows and the Train page trains."""
    return app().spec


def set_spec(spec: ArchSpec) -> None:
    """A spec made from the Explore inputs themselves."""
    state = app()
    state.spec, state.url_warning = spec, None


def adopt(spec: ArchSpec) -> None:
    """Make ``spec`` current from outside the Explore inputs (reset, the Train page's d2l button);
    the inputs reseed from it on the Explore page's next run."""
    set_spec(spec)
    app().version += 1


def reset() -> None:
    """Back to the book's VGG-11."""
    adopt(_DEFAULT)


def sync_url(page_params: Mapping[str, str]) -> None:
    """Write the current spec, the language and the current page's parameters to the URL (only when
    they changed); another page's parameters are dropped."""
    want = dict(page_params) | spec_to_query(current_spec())
    if st.session_state.get(LANG_KEY, "en") != "en":
        want["lang"] = st.session_state[LANG_KEY]
    if st.query_params.to_dict() != want:
        st.query_params.from_dict(want)
