"""``python -m vgg_core runs``: the runs folder as a table, and what can be done to one run.

  runs [--format table|json]     every run: state, name, sweep, settings and results, newest first
  runs stop ID                   ask a live run to stop (it keeps its weights and checkpoint)
  runs remove ID                 delete a run that is not live; a queued run leaves the queue
  runs name ID NAME [--note T]   name a run (the id stays its folder's name)
  runs up ID                     move a queued run one place up in the queue
Only run ids inside the runs folder are accepted, never paths.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from ..launch import delete_run, stop_run
from ..problems import problem
from ..queue import move_up
from ..report import human
from ..results import results, to_records
from ..run_folder import RunDirError, safe_run_dir
from ..run_report import duration_text
from ..runs import read_run, set_name
from .queue import root_of

ACTIONS = ("stop", "remove", "name", "up")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="list runs (state, name, sweep, settings, results); stop, remove, name, reorder",
                       description="List the runs of a runs folder, or act on one by its id.")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format of the list")
    p.add_argument("--runs-dir", metavar="DIR", help="the runs folder (default: $VGG_RUNS_DIR or ./runs)")
    actions = p.add_subparsers(dest="action", metavar="{stop,remove,name,up}")
    for name, help_text in (("stop", "ask a live run to stop"), ("remove", "delete a run that is not live (a queued "
                            "run leaves the queue)"), ("name", "name a run and, with --note, note it"),
                            ("up", "move a queued run one place up")):
        a = actions.add_parser(name, help=help_text)
        a.add_argument("run_id", metavar="ID", help="the run's id (its folder's name)")
        if name == "name":
            a.add_argument("new_name", metavar="NAME", help="the name ('' clears it)")
            a.add_argument("--note", help="a note ('' clears it; default: keep the note)")
        a.add_argument("--runs-dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    root = root_of(args)
    if args.action is None:
        frame = results(root)
        print(json.dumps(to_records(frame), indent=2) if args.format == "json" else table(frame))
        return 0
    return _act(root, args)


def _act(root: Path, args: argparse.Namespace) -> int:
    run_id = args.run_id
    if args.action == "stop":
        path = safe_run_dir(root, run_id)
        if not path.is_dir():
            raise RunDirError(problem("run_missing", run=run_id))
        state = read_run(path).state.state
        if state == "queued":
            raise RunDirError(problem("run_queued_stop", run=run_id))
        if state not in ("starting", "running"):
            raise RunDirError(problem("run_not_live", run=run_id, state=state))
        stop_run(path)
        print(f"asked {run_id} to stop")
    elif args.action == "remove":
        delete_run(root, run_id)
        print(f"removed {run_id}")
    elif args.action == "up":
        move_up(root, run_id)
        print(f"moved {run_id} up")
    else:
        note = args.note if args.note is not None else read_run(safe_run_dir(root, run_id)).note
        set_name(root, run_id, args.new_name or None, note or None)
        print(f"named {run_id}: {args.new_name}")
    return 0


def table(frame: pd.DataFrame) -> str:
    """The columns a terminal has room for; ``--format json`` gives every column."""
    if frame.empty:
        return "no runs"
    rows = [_cells(r) for r in to_records(frame)]
    heads = list(rows[0])
    widths = {h: max(len(h), *(len(r[h]) for r in rows)) for h in heads}
    lines = ["  ".join(h.ljust(widths[h]) for h in heads).rstrip()]
    lines += ["  ".join(r[h].ljust(widths[h]) for h in heads).rstrip() for r in rows]
    return "\n".join(lines)


def _cells(r: dict) -> dict[str, str]:
    def num(v, fmt="{:.3f}"):
        return "-" if v is None else fmt.format(v)

    queued = f" #{r['queue_position']}" if r["queue_position"] else ""
    epochs = f"{r['epochs_done']}/{r['epochs']}" if r["epochs"] is not None else "-"
    return {
        "run": r["run"], "state": r["state"] + queued, "name": _clip(r["name"] or "", 28),
        "sweep": r["sweep"] or "", "arch": f"{r['conv_arch'] or '?'} /{r['ratio'] or '?'} @{r['input_size'] or '?'}",
        "lr": num(r["learning_rate"], "{:g}"), "batch": num(r["batch_size"], "{}"), "epochs": epochs,
        "params": num(r["params"], "{}") if r["params"] is None else human(r["params"]),
        "MACs": "-" if r["macs"] is None else human(r["macs"]),
        "best acc": num(r["best_test_acc"]), "last acc": num(r["last_test_acc"]),
        "time": duration_text(r["train_seconds"]), "ex/s": num(r["examples_per_sec"], "{:,.0f}"),
    }


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
