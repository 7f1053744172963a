"""GPU snapshots as the GPU page shows them: nvidia-smi's spelling, N/A, glossary tooltips, history.

Plain functions over ``vgg_core.gpu``'s dataclasses; the only Streamlit they touch is the session's
language (through ``pages.i18n``), so the tests can call them directly.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

import pandas as pd

from vgg_core.glossary import GLOSSARY, NA, explain
from vgg_core.gpu import GPU_FIELDS, GpuInfo, Snapshot, on_off

from .i18n import lang

NA_TEXT = "N/A"
GIB = 1024  # MiB per GiB
HISTORY_LEN = 300  # samples kept per panel: five minutes at one a second
TABLE_FIELDS = tuple(f for f in GPU_FIELDS if f != "processes")  # processes get their own table
PROCESS_COLUMNS = ("gpu", "processes.pid", "processes.type", "processes.name", "processes.used_memory_mib")


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
}


def show(key: str, value: Any) -> str:
    """One field as nvidia-smi prints it; ``None`` is N/A."""
    return NA_TEXT if value is None else _FORMATS[key](value)


def na_or(value: Any, fmt: Callable[[Any], str]) -> str:
    return NA_TEXT if value is None else fmt(value)


def share(part: float | None, whole: float | None) -> str:
    return f"{100 * part / whole:.0f}%" if part is not None and whole else NA_TEXT


def gib(mib: int | None) -> str:
    return na_or(mib, lambda v: f"{v / GIB:.1f}")


def same_pci(a: str | None, b: str | None) -> bool:
    """Whether two PCI addresses name one device: NVML writes 00000000:19:00.0, torch and lspci
    0000:19:00.0 or 19:00.0, in either case."""
    pa, pb = _pci(a), _pci(b)
    return pa is not None and pa == pb


def _pci(text: str | None) -> tuple[int, int, int, int] | None:
    m = re.fullmatch(r"(?:([0-9a-fA-F]{1,8}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])", (text or "").strip())
    if not m:
        return None
    domain, bus, device, function = m.groups()
    return int(domain or "0", 16), int(bus, 16), int(device, 16), int(function)


# --- tooltips ----------------------------------------------------------------------------


def tip(key: str, gpus: list[GpuInfo] | tuple[GpuInfo, ...] = ()) -> str:
    """The glossary's text in the session's language, plus NVML's reason where a GPU shows N/A."""
    text = explain(key, lang())
    reasons = [(g.index, g.na_reasons[key]) for g in gpus if key in g.na_reasons]
    if reasons:
        why = "; ".join(f"GPU {i}: {r}" for i, r in reasons) if len(gpus) > 1 else reasons[0][1]
        text += f"\n\n{NA[lang()]} (NVML: {why})"
    return text


def column(key: str) -> str:
    """A table header: the column nvidia-smi prints."""
    return GLOSSARY[key]["label"]


# --- tables ------------------------------------------------------------------------------


def working(snap: Snapshot) -> list[GpuInfo]:
    """The GPUs that answered (a lost GPU, or one NVML cannot open, is reported on its own)."""
    return [g for g in snap.gpus if not g.lost and g.reason is None]


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
    return [f"GPU {g.index} {column(k)}: {why}" for g in gpus for k, why in g.na_reasons.items() if k in GLOSSARY]


def process_table(gpus: list[GpuInfo]) -> pd.DataFrame:
    """nvidia-smi's Processes section: every GPU's processes in one table."""
    rows = [
        {
            column("index"): str(g.index),
            column("processes.pid"): str(p.pid),
            column("processes.type"): p.type,
            column("processes.name"): na_or(p.name, str),
            column("processes.used_memory_mib"): show("memory_used_mib", p.used_memory_mib),
        }
        for g in gpus
        for p in g.processes or ()
    ]
    return pd.DataFrame(rows, columns=[column("index"), *(column(k) for k in PROCESS_COLUMNS[1:])])


def process_table_config() -> dict[str, Any]:
    import streamlit as st

    keys = ("index", *PROCESS_COLUMNS[1:])
    return {column(k): st.column_config.TextColumn(column(k), help=tip(k)) for k in keys}


def glossary_rows(keys: list[str] | tuple[str, ...]) -> str:
    """The glossary as Markdown lines, in the session's language."""
    return "\n".join(f"- **{GLOSSARY[k]['label']}**: {GLOSSARY[k][lang()]}" for k in keys)


# --- history since the panel opened -------------------------------------------------------


@dataclass
class History:
    """Samples of one panel, oldest first; bounded, so a panel left open all day stays small."""

    opened: float
    samples: deque = field(default_factory=lambda: deque(maxlen=HISTORY_LEN))
    paused: bool = False  # the panel was last drawn paused: a long gap is no reason to start afresh
    count: int = 0  # readings since it opened (the samples keep only the last HISTORY_LEN)

    def add(self, snap: Snapshot) -> None:
        if self.samples and self.samples[-1]["t"] >= snap.timestamp:
            return  # the same snapshot drawn twice in one run
        self.count += 1
        h = snap.host
        self.samples.append(
            {
                "t": snap.timestamp,
                "cpu": h.cpu_percent,
                "ram_gib": None if h.ram_used_mib is None else h.ram_used_mib / GIB,
                "ram_total_gib": None if h.ram_total_mib is None else h.ram_total_mib / GIB,
                "gpus": {
                    g.index: {
                        "name": g.name,
                        "util": g.utilization_percent,
                        "mem": g.memory_used_mib,
                        "mem_total": g.memory_total_mib,
                        "temp": g.temperature_c,
                        "power": g.power_draw_w,
                        "power_cap": g.power_limit_w,
                    }
                    for g in working(snap)
                },
            }
        )

    @property
    def last(self) -> float | None:
        return self.samples[-1]["t"] if self.samples else None

    def series(self, value: Callable[[dict], float | None], gap: float) -> tuple[list[datetime], list[float | None]]:
        """Times and values, with a None wherever sampling stopped for more than ``gap`` seconds
        (paused, or the page left and opened again), so a chart breaks its line there."""
        times: list[datetime] = []
        values: list[float | None] = []
        prev = None
        for s in self.samples:
            if prev is not None and s["t"] - prev > gap:
                times.append(datetime.fromtimestamp((s["t"] + prev) / 2))
                values.append(None)
            times.append(datetime.fromtimestamp(s["t"]))
            values.append(value(s))
            prev = s["t"]
        return times, values

    def gpu_indices(self) -> list[int]:
        seen: dict[int, None] = {}
        for s in self.samples:
            seen.update(dict.fromkeys(s["gpus"]))
        return sorted(seen)


def gpu_value(index: int, name: str) -> Callable[[dict], float | None]:
    return lambda s: s["gpus"].get(index, {}).get(name)


def latest_gpu(history: History, index: int, name: str) -> float | None:
    """The newest sample's figure (a cap or total line on a chart)."""
    for s in reversed(history.samples):
        value = s["gpus"].get(index, {}).get(name)
        if value is not None:
            return value
    return None


def clock(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%H:%M:%S")

