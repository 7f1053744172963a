"""Choosing runs, the same way on every page: one label per run, one list per purpose."""

from __future__ import annotations

from typing import Callable

import streamlit as st

from vgg_core.run_report import blocks_text
from vgg_core.runs import RunRecord

from .charts import state_text
from .i18n import t
from .session import PageState


def run_label(record: RunRecord) -> str:
    """'wide fc · 20261130-… · completed · 1x16 1x32 · test acc 0.812': its name first where it has
    one, then the id (its folder); an unreadable folder says so."""
    acc = record.last_eval.test_acc if record.last_eval else None
    acc_text = " · " + t("train.label_acc", acc=f"{acc:.3f}") if acc is not None else ""
    spec = record.request.spec if record.request else None
    named = f"{record.name} · " if record.name else ""
    return f"{named}{record.run_id} · {state_text(record)} · {blocks_text(spec)}{acc_text}"


def short_name(record: RunRecord) -> str:
    """A run in a chart's legend: its name, else its id."""
    return record.name or record.run_id


def labeller(records: list[RunRecord]) -> Callable[[str], str]:
    """A ``format_func`` for run ids, fixed now (the labels of this run's records)."""
    labels = {r.run_id: run_label(r) for r in records}
    return lambda run_id: labels.get(run_id, run_id)


def pick_runs(records: list[RunRecord], label: str, page: PageState, name: str, default: int = 3) -> list[str]:
    """A multiselect of runs bound to ``page.<name>``.

    Until a person picks, the field is None and the choice follows the newest ``default`` runs
    (a run that finishes later joins it); after that the pick stays, less runs that are gone.
    """
    ids = [r.run_id for r in records]
    picked = getattr(page, name)
    key = page.key(name)
    if picked is None:
        st.session_state[key] = ids[:default]
    elif [i for i in picked if i in ids] != picked or key not in st.session_state:
        page.set(name, [i for i in picked if i in ids])
    return st.multiselect(label, ids, format_func=labeller(records), **page.bind(name))


def pick_run(records: list[RunRecord], label: str, page: PageState, name: str,
             then: Callable[[], None] | None = None) -> RunRecord:
    """A select of one run bound to ``page.<name>`` (the newest when its run is gone); ``then()``
    runs after a person picks one."""
    ids = [r.run_id for r in records]
    if getattr(page, name) not in ids:
        page.set(name, ids[0])
    chosen = st.selectbox(label, ids, format_func=labeller(records), **page.bind(name, then))
    return records[ids.index(chosen)]
