"""The results table: one row per run, a column for every setting and every result.

What the Train page's results table, its CSV and ``python -m vgg_core runs`` show. The setting
columns come from ``ArchSpec``'s fields and ``request.SETTINGS``, so a new setting gets its column
with no change here; params and MACs come from the summary of the run's architecture (cached per
architecture); the results from the run's rows: best and last test accuracy, the last training
averages, training time and examples per second (the final status's, else the last row's).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any, Iterable

import pandas as pd

from .launch import run_devices
from .resources import summarize as summarize_resources
from .request import SETTINGS
from .runs import RunRecord, list_runs
from .spec import ArchSpec, format_compact
from .summary import summarize

SPEC_COLUMNS = tuple(f.name for f in dataclasses.fields(ArchSpec))
RUN_COLUMNS = ("run", "name", "note", "state", "sweep", "queue_position", "devices", "started")
RESULT_COLUMNS = ("learning_rate", "params", "macs", "epochs_done", "best_test_acc", "last_test_acc",
                  "last_test_loss", "train_loss", "train_acc", "examples", "train_seconds", "examples_per_sec")
# The run's own resource record (``vgg_core.resources``): what it used, beside what it learnt.
RESOURCE_COLUMNS = ("peak_rss_mib", "mean_cpu_percent", "mean_gpu_util", "peak_gpu_mem_mib", "energy_j", "energy_wh",
                    "energy_per_epoch_j")
COLUMNS = (*RUN_COLUMNS, *SPEC_COLUMNS, *SETTINGS, *RESULT_COLUMNS, *RESOURCE_COLUMNS)


@functools.lru_cache(maxsize=256)
def _size(spec: ArchSpec) -> tuple[int, int]:
    s = summarize(spec)
    return s.total_params, s.total_macs


def result_row(record: RunRecord, position: int | None = None) -> dict[str, Any]:
    """One run as a flat dict with every column (None where unknown)."""
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    config, request = record.config, record.request
    row.update(run=record.run_id, name=record.name, note=record.note, state=record.state.state, sweep=record.sweep,
               queue_position=position, devices=", ".join(run_devices(record)) or None, started=record.started)
    if request is not None:
        spec = request.spec.to_dict()
        spec["conv_arch"] = format_compact(request.spec.conv_arch)
        row.update(spec)
        row.update(request.settings.to_dict())
        row["learning_rate"] = request.learning_rate  # the network's own default where none was given
        row["params"], row["macs"] = _size(request.spec)
    row.update(_results(record))
    used = summarize_resources(record.metrics.system, row["epochs_done"] or None).to_dict()
    row.update({k: used[k] for k in RESOURCE_COLUMNS})
    if config is not None:
        row["seed"] = config.seed  # the seed used (the setting says None for "random")
    return row


def _results(record: RunRecord) -> dict[str, Any]:
    m = record.metrics
    accs = [e.test_acc for e in m.evals if e.test_acc is not None]
    last_eval, last_train, final = m.last_eval, m.last_train, m.last_status
    out: dict[str, Any] = {
        "epochs_done": last_eval.epoch if last_eval else 0,
        "best_test_acc": max(accs) if accs else None,
        "last_test_acc": last_eval.test_acc if last_eval else None,
        "last_test_loss": last_eval.test_loss if last_eval else None,
        "train_loss": last_train.train_loss if last_train else None,
        "train_acc": last_train.train_acc if last_train else None,
        "examples": last_train.examples if last_train else None,
        "examples_per_sec": last_train.examples_per_sec if last_train else None,
    }
    if out["examples"] and out["examples_per_sec"]:
        out["train_seconds"] = out["examples"] / out["examples_per_sec"]
    if final is not None and final.state != "running" and final.summary.get("train_seconds") is not None:
        out["train_seconds"] = final.summary["train_seconds"]
        out["examples_per_sec"] = final.summary.get("examples_per_sec", out["examples_per_sec"])
    return out


def results_frame(records: Iterable[RunRecord]) -> pd.DataFrame:
    """Every run as a row, in the order given; ``queue_position`` numbers the queued ones from 1."""
    records = list(records)
    queued = sorted((r for r in records if r.state.state == "queued" and r.queue is not None),
                    key=lambda r: (r.queue.order, r.queue.queued, r.run_id))
    position = {r.run_id: i for i, r in enumerate(queued, start=1)}
    frame = pd.DataFrame([result_row(r, position.get(r.run_id)) for r in records], columns=list(COLUMNS))
    whole = ("queue_position", "params", "macs", "epochs_done", "examples", "seed")
    return frame.astype({c: "Int64" for c in whole})


def results(root: str | os.PathLike | None = None) -> pd.DataFrame:
    """The results table of every run under ``root``, newest first."""
    return results_frame(list_runs(root))


def to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Plain JSON-ready dicts: missing values as None, numpy numbers as Python's."""
    return [{k: (None if _missing(v) else v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in frame.astype(object).to_dict("records")]


def _missing(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


__all__ = ["results_frame", "results", "result_row", "to_records", "COLUMNS", "SPEC_COLUMNS", "RESULT_COLUMNS",
           "RESOURCE_COLUMNS"]
