"""The current architecture: URL query parameters <-> session state <-> ArchSpec.

One valid ``ArchSpec`` lives in session state and in the URL, so a reload or a shared link
reproduces the view. The Explore page's inputs are widgets seeded from it; their callbacks
build a candidate spec from all inputs at once and either make it current or remember the
core's error messages for the input just edited, leaving the last valid spec in place.
Other pages (Train, Compare) read it with ``current_spec()``.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import streamlit as st

from vgg_core.spec import (
    MAX_CHANNELS,
    MAX_CONVS_PER_BLOCK,
    PRESETS,
    ArchSpec,
    SpecError,
    format_compact,
    format_conv_arch,
    parse_conv_arch,
)

SPEC = "arch_spec"  # the current, valid ArchSpec
ERRORS = "arch_errors"  # (input key, [problem, ...]) of the last edit that failed, or None
URL_WARNING = "url_warning"  # the problems with a shared link's parameters (a list), or None
EDITOR_VERSION = "blocks_editor_version"
LANG = "lang"

LANGS = ("en", "zh")
UI_MAX_RATIO = 64
CUSTOM = "custom"
PRESET_CHOICES = (*PRESETS, CUSTOM)
NUMBER_INPUTS = ("ratio", "input_size", "in_channels", "num_classes", "fc_width")
INPUTS = ("preset", "conv_arch", *NUMBER_INPUTS, "batch_norm")
EDITOR_LIMITS = {"num_convs": MAX_CONVS_PER_BLOCK, "out_channels": MAX_CHANNELS}

# URL name of each spec field; only fields that differ from the default spec are written.
URL_NAMES = {
    "conv_arch": "arch",
    "ratio": "ratio",
    "input_size": "size",
    "in_channels": "in",
    "num_classes": "classes",
    "fc_width": "fc",
    "batch_norm": "bn",
}
_DEFAULT = ArchSpec()


# --- pure helpers (no Streamlit) ---------------------------------------------------------


def spec_to_query(spec: ArchSpec) -> dict[str, str]:
    """Only what differs from d2l's VGG-11, so the first screen's URL stays clean."""
    query: dict[str, str] = {}
    for field, name in URL_NAMES.items():
        value = getattr(spec, field)
        if value == getattr(_DEFAULT, field):
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
    problems: list[str] = []
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
                problems.append(f"URL parameter {name}={text[:20]!r} must be 0 or 1")
            changes[field] = text == "1"
        elif re.fullmatch(r"\d{1,9}", text):
            changes[field] = int(text)
        else:
            problems.append(f"URL parameter {name}={text[:20]!r} is not a whole number")
    problems += _ratio_problems(changes.get("ratio"))
    if problems:
        raise SpecError(problems)
    return _DEFAULT.replace(**changes) if changes else _DEFAULT


def preset_of(spec: ArchSpec) -> str:
    """The preset whose blocks and ratio the spec has (inputs and classes may differ), else 'custom'."""
    for name, p in PRESETS.items():
        if p.conv_arch == spec.conv_arch and p.ratio == spec.ratio:
            return name
    return CUSTOM


def blocks_after_edit(base: list[tuple[int, int]], delta: Mapping[str, Any]) -> list[tuple[Any, Any]]:
    """Apply ``st.data_editor``'s edit record (edited/added/deleted rows) to the blocks it was shown."""
    edited = {int(i): row for i, row in (delta.get("edited_rows") or {}).items()}
    deleted = {int(i) for i in delta.get("deleted_rows") or ()}
    rows = []
    for i, (n, c) in enumerate(base):
        if i in deleted:
            continue
        row = {"num_convs": n, "out_channels": c, **edited.get(i, {})}
        rows.append((_whole(row.get("num_convs")), _whole(row.get("out_channels"))))
    for row in delta.get("added_rows") or ():
        rows.append((_whole(row.get("num_convs")), _whole(row.get("out_channels"))))
    return rows


def _whole(value: Any) -> Any:
    # The grid sends JSON numbers; 2.0 means 2. Anything else goes on to the spec's own check.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# --- session state -----------------------------------------------------------------------


def init() -> None:
    """First run of a session: take the architecture and language from the URL."""
    ss = st.session_state
    if SPEC in ss:
        return
    params = st.query_params.to_dict()
    try:
        ss[SPEC] = spec_from_query(params)
        ss[URL_WARNING] = None
    except SpecError as err:
        ss[SPEC] = _DEFAULT
        ss[URL_WARNING] = err.problems
    ss[ERRORS] = None
    ss[EDITOR_VERSION] = 0
    lang = params.get("lang", "en")
    if LANG not in ss:
        ss[LANG] = lang if lang in LANGS else "en"


def current_spec() -> ArchSpec:
    """The architecture every page shows and the Train page trains."""
    return st.session_state.get(SPEC, _DEFAULT)


def set_spec(spec: ArchSpec) -> None:
    st.session_state[SPEC] = spec
    st.session_state[URL_WARNING] = None


def sync_url() -> None:
    """Write the current spec and language to the URL (only when they changed)."""
    ours = {*URL_NAMES.values(), "lang"}
    have = st.query_params.to_dict()
    # Parameters of other features (a page's own, e.g. a run id) pass through untouched.
    want = {k: v for k, v in have.items() if k not in ours} | spec_to_query(current_spec())
    if st.session_state.get(LANG, "en") != "en":
        want["lang"] = st.session_state[LANG]
    if have != want:
        st.query_params.from_dict(want)


def errors_for(key: str) -> list[str]:
    """The core's messages, if the last edit of this input left the architecture invalid."""
    errors = st.session_state.get(ERRORS)
    return list(errors[1]) if errors and errors[0] == key else []


def has_errors() -> bool:
    return bool(st.session_state.get(ERRORS))


def seed_inputs() -> None:
    """Give the Explore inputs the current spec's values, for those the session lost or never had."""
    ss = st.session_state
    values = _input_values(current_spec())
    lost = [key for key in INPUTS if key not in ss]
    for key in lost:
        ss[key] = values[key]
    if lost:  # the inputs now show the valid spec, so an error about what was typed before is stale
        ss[ERRORS] = None


def _input_values(spec: ArchSpec) -> dict[str, Any]:
    return {
        "preset": preset_of(spec),
        "conv_arch": format_conv_arch(spec.conv_arch),
        **{key: getattr(spec, key) for key in NUMBER_INPUTS},
        "batch_norm": spec.batch_norm,
    }


def on_input(key: str) -> None:
    """Callback of every Explore input: all inputs together make the candidate spec."""
    ss = st.session_state
    if problems := _ratio_problems(ss["ratio"]):
        ss[ERRORS] = (key, problems)
        return
    try:
        spec = current_spec().replace(
            conv_arch=parse_conv_arch(ss["conv_arch"]),
            batch_norm=bool(ss["batch_norm"]),
            **{k: ss[k] for k in NUMBER_INPUTS},
        )
    except SpecError as err:
        ss[ERRORS] = (key, err.problems)
        return
    ss[ERRORS] = None
    set_spec(spec)
    # Show the accepted spec in d2l's spelling, name its preset, and redraw the block table.
    ss["conv_arch"] = format_conv_arch(spec.conv_arch)
    ss["preset"] = preset_of(spec)
    ss[EDITOR_VERSION] = ss.get(EDITOR_VERSION, 0) + 1


def _ratio_problems(ratio: Any) -> list[str]:
    """The page's own ratio limit, for the inputs and for a shared link alike (the core allows more;
    past 64, VGG's first block is one channel wide). A non-integer is left to the core's check."""
    if isinstance(ratio, int) and not 1 <= ratio <= UI_MAX_RATIO:
        return [f"ratio must be from 1 to {UI_MAX_RATIO}, got {ratio}"]
    return []


def on_preset() -> None:
    """A preset sets the blocks and ratio; input size, channels, classes and FC width stay."""
    ss = st.session_state
    name = ss["preset"]
    if name == CUSTOM:
        return
    p = PRESETS[name]
    ss["conv_arch"] = format_conv_arch(p.conv_arch)
    ss["ratio"] = p.ratio
    on_input("preset")


# Keyed widgets whose option labels come from the UI language (format_func).
LABELLED_WIDGETS = ("preset", "optimizer", "train_run", "train_overlay", "train_manage", "compare_archs", "table_view")


def relabel(keys: tuple[str, ...] = LABELLED_WIDGETS) -> None:
    """Re-set the widgets' values so the browser shows them under their new labels.

    A select keeps showing the label it was sent when only ``format_func`` changes (its value on
    the wire is the label); a value set through session state is sent again, newly formatted.
    """
    ss = st.session_state
    for key in keys:
        if key in ss:
            ss[key] = ss[key]


def editor_key() -> str:
    """The block table's widget key changes whenever the spec does, so it redraws from the spec."""
    return f"blocks_editor_{st.session_state.get(EDITOR_VERSION, 0)}"


def on_blocks(key: str) -> None:
    """Callback of the block table: its rows become the conv_arch text, then the usual check."""
    ss = st.session_state
    rows = blocks_after_edit(list(current_spec().conv_arch), ss.get(key) or {})
    ss["conv_arch"] = format_conv_arch(rows)
    on_input("blocks")


def adopt(spec: ArchSpec) -> None:
    """Make ``spec`` current from outside the Explore inputs (reset, the Train page's d2l button).

    The inputs reseed from it on the Explore page's next run.
    """
    ss = st.session_state
    set_spec(spec)
    ss[ERRORS] = None
    for key in INPUTS:
        ss.pop(key, None)
    ss[EDITOR_VERSION] = ss.get(EDITOR_VERSION, 0) + 1


def reset() -> None:
    """Back to the book's VGG-11."""
    adopt(_DEFAULT)
