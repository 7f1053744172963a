"""Summaries as the pages show them: cached, with translated headers and readable layer names."""

from __future__ import annotations

import re
import unicodedata

import pandas as pd
import streamlit as st

from vgg_core.report import blocks_frame, human_bytes, layers_frame
from vgg_core.spec import ArchSpec
from vgg_core.summary import CLASSIFIER, Summary, summarize

from .i18n import t

CONV, FC = "conv", "fc"
# Option -> text key, written out in full so every key in use can be found and checked.
PRESET_KEYS = {"current": "preset.current", "vgg11": "preset.vgg11", "vgg13": "preset.vgg13", "vgg16": "preset.vgg16",
               "vgg19": "preset.vgg19", "d2l": "preset.d2l", "pair_3x3": "preset.pair_3x3",
               "pair_5x5": "preset.pair_5x5", "alexnet": "preset.alexnet", "custom": "preset.custom"}
COLUMN_KEYS = {"params": "col.params", "macs": "col.macs", "flops": "col.flops"}
# The layer table's window columns: (row field, header key, help key), as the chapter's formula names them.
WINDOW_COLUMNS = (("kernel_size", "col.kernel", "col.kernel.help"), ("stride", "col.stride", "col.stride.help"),
                  ("padding", "col.padding", "col.padding.help"),
                  ("receptive_field", "col.receptive_field", "col.receptive_field.help"))
STATE_KEYS = {"queued": "train.state.queued", "starting": "train.state.starting", "running": "train.state.running",
              "completed": "train.state.completed", "stopped": "train.state.stopped", "failed": "train.state.failed",
              "lost": "train.state.lost", "unreadable": "train.state.unreadable"}


@st.cache_data(max_entries=256, show_spinner=False)
def _summary(spec_dict: dict) -> Summary:
    return summarize(ArchSpec.from_dict(spec_dict))


def summary_of(spec: ArchSpec) -> Summary:
    """Cheap anyway (milliseconds on the meta device), but every rerun asks for it."""
    return _summary(spec.to_dict())


def layer_names(summary: Summary) -> list[str]:
    """Caffe-style names as the VGG paper's models use them: conv3_2, pool3, fc6 -> here fc1..fc3."""
    names, counts = [], {}
    for row in summary.layers:
        if row.block == CLASSIFIER:
            stem, group = row.type.lower().replace("linear", "fc"), "fc"
        else:
            stem = {"Conv2d": "conv", "BatchNorm2d": "bn", "ReLU": "relu", "MaxPool2d": "pool"}.get(row.type, row.type)
            group = row.block.split()[-1]
        key = (group, stem)
        counts[key] = counts.get(key, 0) + 1
        if row.block == CLASSIFIER:
            names.append(stem if stem == "flatten" else f"{stem}{counts[key]}")
        elif stem == "pool":
            names.append(f"pool{group}")
        else:
            names.append(f"{stem}{group}_{counts[key]}")
    return names


def kind(block: str) -> str:
    return FC if block == CLASSIFIER else CONV


def block_label(block: str) -> str:
    if block == CLASSIFIER:
        return t("block.classifier")
    return t("block.n", n=block.split()[-1])


SAFE_INT = 2**53  # a browser's numbers are doubles: larger counts are shown as text, digit for digit


def _counts(values: list[int]) -> list[int] | list[str]:
    return list(values) if max(values, default=0) < SAFE_INT else [exact(v) for v in values]


def layers_table(summary: Summary, flops: bool = False) -> pd.DataFrame:
    """The layer table with translated headers; counts stay integers (exact, sortable) below 2**53.

    Each window layer shows its kernel, stride and padding and every pixel layer its receptive field
    (empty where a layer has none); ``flops`` adds FLOPs beside MACs.
    """
    df = layers_frame(summary)
    return pd.DataFrame(
        {
            t("col.block"): [block_label(b) for b in df["block"]],
            t("col.layer"): layer_names(summary),
            t("col.type"): df["type"],
            t("col.output_shape"): df["output_shape"],
            **{t(key): [_blank(v) for v in df[field]] for field, key, _ in WINDOW_COLUMNS},
            t("col.params"): _counts(df["params"].tolist()),
            t("col.macs"): _counts(df["macs"].tolist()),
            **({t("col.flops"): _counts(df["flops"].tolist())} if flops else {}),
            t("col.activation"): [human_bytes(b) for b in df["activation_bytes"]],
            t("col.module"): df["layer"],  # last: the lesson reads left to right, the code name is for copying
        }
    )


def blocks_table(summary: Summary, flops: bool = False) -> pd.DataFrame:
    df = blocks_frame(summary)
    return pd.DataFrame(
        {
            t("col.block"): [block_label(b) for b in df["block"]],
            t("col.output_shape"): df["output_shape"],
            t("col.params"): _counts(df["params"].tolist()),
            t("col.macs"): _counts(df["macs"].tolist()),
            **({t("col.flops"): _counts(df["flops"].tolist())} if flops else {}),
            t("col.activation"): [human_bytes(b) for b in df["activation_bytes"]],
        }
    )


def count_columns(table: pd.DataFrame) -> dict:
    """Exact integers with thousands separators in the grid (text columns are already written out);
    every figure's header explains it on hover."""
    config = {}
    for _, key, help_key in WINDOW_COLUMNS:
        if t(key) in table:  # text: "–" where a layer has no window (a grid would print "None")
            config[t(key)] = st.column_config.TextColumn(help=t(help_key), alignment="right")
    for key, help_key in (("col.params", "col.params.help"), ("col.macs", "col.macs.help"),
                          ("col.flops", "col.flops.help")):
        name = t(key)
        if name not in table:
            continue
        if pd.api.types.is_numeric_dtype(table[name]):
            config[name] = st.column_config.NumberColumn(format="localized", help=t(help_key))
        else:
            config[name] = st.column_config.TextColumn(help=t(help_key))
    return config


NONE = "–"


def _blank(value: object) -> str:
    """A window figure as text, "–" where the layer has none (ReLU, Flatten, Linear)."""
    return NONE if value is None or pd.isna(value) else str(int(value))


def _char_px(ch: str) -> float:
    """One character's width in the grid's 14 px Source Sans, rounded up (checked in chromium by
    tests/test_app_explore_browser.py): wide (CJK) characters, capitals, narrow punctuation, the rest."""
    if unicodedata.east_asian_width(ch) in "WF":
        return 14.5
    if ch in ",.:;'|!iljt ":
        return 4.0
    if ch.isupper() or ch in "×mwMW%":
        return 9.5
    return 7.5


def _text_px(text: str) -> float:
    return sum(_char_px(ch) for ch in text)


def fit_columns(table: pd.DataFrame, config: dict, editable: bool = False) -> dict:
    """Every column as wide as its longest cell or header, so no number is cut off.

    The grid sizes columns from a sample of the first rows, which cut ``102,764,544`` (VGG-11's
    first Linear, row 23) to ``2,764,544``; a width from every cell cannot. Counts are measured as
    the grid shows them, with thousands separators; an editable grid's headers carry a pencil icon.
    """
    fitted = dict(config)
    for name in table.columns:
        cells = [f"{v:,}" if isinstance(v, int) else str(v) for v in table[name].tolist()]
        entry = dict(fitted.get(name) or {})
        header = _text_px(str(entry.get("label") or name)) + (20 if entry.get("help") else 0) + (24 if editable else 0)
        entry["width"] = int(max([header] + [_text_px(c) for c in cells]) + 22)  # the grid pads 8 px a side
        fitted[name] = entry
    return fitted


def exact(n: int) -> str:
    return f"{n:,}"


def figure(value: object, digits: int = 3) -> str:
    """A logged figure (loss, accuracy, speed) as text; a missing one reads "–", not "None"."""
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "–"


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "0.0%"


def md_escape(text: str) -> str:
    """User text inside a message must not turn into Markdown, LaTeX or HTML."""
    return re.sub(r"([\\`*_{}\[\]<>()#+\-.!|$~:])", r"\\\1", text)
