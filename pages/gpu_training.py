"""The GPU page's training processes: every process of a live run on this machine, as nvitop lists them.

Why here and not only in nvidia-smi's process table: NVML lists GPU processes only, so a CPU run (a
teacher's laptop) would be invisible, and even on a GPU the host side (CPU %, resident memory) is what
shows a run starved by its data loading. The figures come from ``vgg_core.resources.live_processes``
(psutil) and the runs' names from the run folders; the section is redrawn with the page's live part.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from vgg_core.resources import LiveProcess, live_processes
from vgg_core.runs import list_runs

from .i18n import duration, t

NA_TEXT = "N/A"
NONE_TEXT = "—"  # not applicable: a run on one process has no rank, a run may have no name


def _columns() -> dict[str, tuple[str, str]]:
    """Each column's header and tooltip in the session's language, in nvitop's order (text last)."""
    return {
        "pid": (t("gpu.training.pid"), t("gpu.training.pid.help")),
        "rank": (t("gpu.training.rank"), t("gpu.training.rank.help")),
        "cpu": (t("gpu.training.cpu"), t("gpu.training.cpu.help")),
        "rss": (t("gpu.training.rss"), t("gpu.training.rss.help")),
        "time": (t("gpu.training.time"), t("gpu.training.time.help")),
        "run": (t("gpu.training.run"), t("gpu.training.run.help")),
        "name": (t("gpu.training.name"), t("gpu.training.name.help")),
    }


def training_table(procs: list[LiveProcess], names: dict[str, str | None]) -> pd.DataFrame:
    """One row per training process, every figure as text (N/A where psutil could not read it)."""
    cols = _columns()
    rows = [
        {
            cols["pid"][0]: str(p.pid),
            cols["rank"][0]: NONE_TEXT if p.rank is None else str(p.rank),
            cols["cpu"][0]: NA_TEXT if p.cpu_percent is None else f"{p.cpu_percent:.1f}%",
            cols["rss"][0]: NA_TEXT if p.rss_mib is None else f"{p.rss_mib:,.0f} MiB",
            cols["time"][0]: NA_TEXT if p.run_seconds is None else duration(p.run_seconds),
            cols["run"][0]: p.run_id,
            cols["name"][0]: names.get(p.run_id) or NONE_TEXT,
        }
        for p in procs
    ]
    return pd.DataFrame(rows, columns=[header for header, _ in cols.values()])


def training_table_config() -> dict[str, Any]:
    return {header: st.column_config.TextColumn(header, help=why) for header, why in _columns().values()}


def training_processes(root: Path) -> None:
    """The section: a table of the live runs' processes, or how to start a run when there is none."""
    with st.container(key="gpu_training"):
        st.markdown(f"**{t('gpu.training')}**", help=t("gpu.training.help"))
        procs = live_processes(root)
        if procs:
            names = {r.run_id: r.name for r in list_runs(root)}
            st.dataframe(training_table(procs, names), hide_index=True, column_config=training_table_config())
        else:
            folder = str(root).replace("`", "")
            st.info(t("gpu.training.none", folder=folder), icon=":material/info:")
            st.page_link("pages/train.py", label=t("gpu.training.to_train"), icon=":material/model_training:")
