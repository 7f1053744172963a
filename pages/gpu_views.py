"""GPU snapshots as the GPU page shows them: nvidia-smi's spelling, N/A, glossary tooltips, history.

Plain functions over ``vgg_core.gpu``'s dataclasses; the only Streamlit they touch is the session's
language (through ``pages.i18n``), so the tests can call them directly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

import pandas as pd

from vgg_core import glossary
from vgg_core.gpu_history import GIB
from vgg_core.gpu import GPU_FIELDS, GpuInfo, on_off

from .i18n import lang, t

NA_TEXT = "N/A"
TABLE_FIELDS = tuple(f for f in GPU_FIELDS if f != "processes")  # processes get their own table
# Figures first and the name last, as nvitop orders them: on a narrow screen only text is cut.
PROCESS_COLUMNS = ("gpu", "processes.pid", "processes.type", "processes.used_memory_mib", "processes.sm_percent",
                   "processes.name")
# NVML's figures beyond nvidia-smi's table (vgg_core.gpu.GPU_DETAIL_FIELDS) as a table; the clock limits,
# words that a narrow column would cut, go on a line of their own (``limits_line``).
DETAIL_FIELDS = ("index", "sm_clock_mhz", "memory_clock_mhz", "pcie_tx_kb_s", "pcie_rx_kb_s")


# --- one figure as text ------------------------------------------------------------------


def _count(value: int) -> str:
    return f"{value:,}"


# How nvidia-smi writes each field (with a space before units, for reading on a projector).
_FORMATS: dict[str, Callable[[Any], str]] = {
    "index": str,
    "name": str,
    "fan_percent": lambda v: f"{v}%",
    "temperature_c": lambda v: f"{v} °C",
    "performance_state": str,
    "persistence_mode": on_off,
    "power_draw_w": lambda v: f"{v:.0f} W",
    "power_limit_w": lambda v: f"{v:.0f} W",
    "bus_id": str,
    "display_active": on_off,
    "memory_used_mib": lambda v: f"{v:,} MiB",
    "memory_total_mib": lambda v: f"{v:,} MiB",
    "utilization_percent": lambda v: f"{v}%",
    "ecc_enabled": on_off,
    "ecc_uncorrected": _count,
    "compute_mode": str,
    "sm_clock_mhz": lambda v: f"{v:,} MHz",
    "memory_clock_mhz": lambda v: f"{v:,} MHz",
    "pcie_tx_kb_s": lambda v: f"{v:,} KB/s",
    "pcie_rx_kb_s": lambda v: f"{v:,} KB/s",
    "processes.sm_percent": lambda v: f"{v}%",
}


def show(key: str, value: Any) -> str:
    """One field as nvidia-smi prints it; ``None`` is N/A."""
    return NA_TEXT if value is None else _FORMATS[key](value)


def limits(reasons: list[str] | None) -> str:
    """Why the clocks are held down, in the session's language ('power cap, thermal slowdown'); none: 'none'."""
    if reasons is None:
        return NA_TEXT
    if not reasons:
        return t("gpu.limits.none")
    return t("gpu.limits.join").join(glossary.throttle_reason(name, lang()) for name in reasons)


def na_or(value: Any, fmt: Callable[[Any], str]) -> str:
    return NA_TEXT if value is None else fmt(value)


def share(part: float | None, whole: float | None) -> str:
    return f"{100 * part / whole:.0f}%" if part is not None and whole else NA_TEXT


def gib(mib: int | None) -> str:
    return na_or(mib, lambda v: f"{v / GIB:.1f}")


# --- tooltips ----------------------------------------------------------------------------


def tip(key: str, gpus: list[GpuInfo] | tuple[GpuInfo, ...] = ()) -> str:
    """The glossary's text in the session's language, plus NVML's reason where a GPU shows N/A."""
    text = glossary.explain(key, lang())
    reasons = [(g.index, g.na_reasons[key]) for g in gpus if key in g.na_reasons]
    if reasons:
        why = "; ".join(f"GPU {i}: {r}" for i, r in reasons) if len(gpus) > 1 else reasons[0][1]
        text += f"\n\n{glossary.na(lang())} (NVML: {why})"
    return text


column = glossary.label  # a table header: the column nvidia-smi prints


# --- tables ------------------------------------------------------------------------------


def gpu_table(gpus: list[GpuInfo]) -> pd.DataFrame:
    """nvidia-smi's table, one row per GPU, every field as text (N/A where NVML has none)."""
    return pd.DataFrame(
        [{column(k): show(k, getattr(g, k)) for k in TABLE_FIELDS} for g in gpus],
        columns=[column(k) for k in TABLE_FIELDS],
    )


def gpu_table_config(gpus: list[GpuInfo]) -> dict[str, Any]:
    import streamlit as st

    return {column(k): st.column_config.TextColumn(column(k), help=tip(k, gpus)) for k in TABLE_FIELDS}


def na_reasons(gpus: list[GpuInfo]) -> list[str]:
    """'GPU 0 Fan: Not Supported', one per N/A field, for the caption under the table."""
    return [f"GPU {g.index} {column(k)}: {why}" for g in gpus for k, why in g.na_reasons.items() if k in glossary.KEYS]


def details_table(gpus: list[GpuInfo]) -> pd.DataFrame:
    """NVML's figures beyond nvidia-smi's table, one row per GPU: the SM and memory clocks, PCIe TX/RX."""
    return pd.DataFrame([{column(k): show(k, getattr(g, k)) for k in DETAIL_FIELDS} for g in gpus],
                        columns=[column(k) for k in DETAIL_FIELDS])


def details_table_config(gpus: list[GpuInfo]) -> dict[str, Any]:
    """Each column's glossary text, with NVML's reason where a GPU shows N/A."""
    import streamlit as st

    return {column(k): st.column_config.TextColumn(column(k), help=tip(k, gpus)) for k in DETAIL_FIELDS}


def limits_line(gpus: list[GpuInfo]) -> str:
    """Every GPU's clock limits in words: 'power cap, thermal slowdown (driver)', or 'GPU 0: idle · GPU 1: none'."""
    if len(gpus) == 1:
        return limits(gpus[0].throttle_reasons)
    return " · ".join(t("gpu.limits.gpu", index=g.index, reasons=limits(g.throttle_reasons)) for g in gpus)


def process_table(gpus: list[GpuInfo]) -> pd.DataFrame:
    """nvidia-smi's Processes section, every GPU's processes in one table, with each one's SM share."""
    rows = [
        {
            column("index"): str(g.index),
            column("processes.pid"): str(p.pid),
            column("processes.type"): p.type,
            column("processes.used_memory_mib"): show("memory_used_mib", p.used_memory_mib),
            column("processes.sm_percent"): show("processes.sm_percent", p.sm_percent),
            column("processes.name"): na_or(p.name, str),
        }
        for g in gpus
        for p in g.processes or ()
    ]
    return pd.DataFrame(rows, columns=[column("index"), *(column(k) for k in PROCESS_COLUMNS[1:])])


def process_table_config(gpus: list[GpuInfo] | tuple[GpuInfo, ...] = ()) -> dict[str, Any]:
    """Each column's glossary text; with ``gpus``, NVML's reason where a figure (the SM share) is N/A."""
    import streamlit as st

    keys = ("index", *PROCESS_COLUMNS[1:])
    return {column(k): st.column_config.TextColumn(column(k), help=tip(k, gpus)) for k in keys}


def glossary_rows(keys: list[str] | tuple[str, ...]) -> str:
    """The glossary as Markdown lines, in the session's language."""
    return "\n".join(f"- **{glossary.label(k)}**: {glossary.explain(k, lang())}" for k in keys)


def clock(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%H:%M:%S")
