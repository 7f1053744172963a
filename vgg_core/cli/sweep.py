"""``python -m vgg_core sweep``: queue one run per point of a grid of settings, under one sweep id.

The architecture and training flags give the base run; each ``--vary NAME=V1,V2,...`` varies one
spec field or training setting (conv_arch values are separated by ';', as they hold commas). The
grid is checked whole first (``vgg_core.sweep``): one bad value, an unknown name, a duplicate, an
empty list or more than 64 runs refuses all of it in one line, with nothing queued. Then the runs
are queued in grid order and the scheduler is started (``--no-start``: queue only, and start it
later with ``python -m vgg_core queue``).
"""

from __future__ import annotations

import argparse
import json
import sys

from ..request import SETTINGS, TrainRequest
from ..run_report import duration_text
from ..sweep import MAX_RUNS, SweepPlan, axes_text, parse_vary, plan_sweep, queue_sweep
from .arch_args import add_arch_arguments, spec_from_args
from .queue import add_runs_dir_argument, root_of
from .settings_args import add_settings_arguments, settings_from_args

EPILOG = """\
examples:
  python -m vgg_core sweep --arch "1x16 1x32" --input-size 28 --fc-width 64 --epochs 1 --vary ratio=16,8,4
  python -m vgg_core sweep --preset d2l --epochs 5 --vary lr=0.1,0.05,0.01 --vary batch_size=64,128
  python -m vgg_core sweep --input-size 28 --epochs 1 --vary "conv_arch=1x16 1x32;((1, 32), (1, 64))"
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="queue a grid of runs varying any settings (one sweep id)",
                       description=f"Queue one training run per point of a grid of settings (at most {MAX_RUNS}).",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arch_arguments(p)
    add_settings_arguments(p.add_argument_group("training (the base run; defaults: d2l's train_ch6)"), SETTINGS)
    g = p.add_argument_group("sweep")
    g.add_argument("--vary", action="append", default=[], metavar="NAME=V1,V2,...",
                   help="a setting and its values; repeat for a grid (conv_arch values separated by ';')")
    g.add_argument("--name", help="a name for the sweep's runs (each gets its values after it)")
    g.add_argument("--note", help="a note on every run of the sweep")
    g.add_argument("--no-start", dest="start", action="store_false",
                   help="queue only: start the scheduler later with `python -m vgg_core queue`")
    g.add_argument("--dry-run", action="store_true",
                   help="queue nothing: list the runs and their estimated time (measures the device's speed)")
    g.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")
    add_runs_dir_argument(g)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    base = TrainRequest(spec_from_args(args), settings_from_args(args), args.name, args.note)
    plan = plan_sweep(base, [parse_vary(text) for text in args.vary])
    if args.dry_run:
        return _dry_run(plan, args.format)
    queued = queue_sweep(plan, root_of(args), start=args.start)
    if args.format == "json":
        print(json.dumps({"sweep": queued.sweep, "runs": queued.runs}))
        return 0
    print(f"queued {plan.count} runs as {queued.sweep} ({axes_text(plan.axes)}) in {root_of(args)}")
    for run_id, sweep_run in zip(queued.runs, plan.runs):
        print(f"  {run_id}  {sweep_run.label}")
    if not args.start:
        print("not started: run `python -m vgg_core queue` to start them", file=sys.stderr)
    return 0


def _dry_run(plan: SweepPlan, fmt: str) -> int:
    """The plan with each run's time, at the speed measured here on the first run's device."""
    from ..estimate import calibrate, step_overhead
    from ..speed import tune_process

    device = plan.runs[0].request.check()
    amp = plan.runs[0].request.settings.amp and device.type == "cuda"
    tune_process(device)
    seconds = plan.seconds((calibrate(device, amp), step_overhead(device, amp)))
    total = None if any(s is None for s in seconds) else sum(seconds)
    if fmt == "json":
        runs = [{"values": r.values_json(), "seconds": s} for r, s in zip(plan.runs, seconds)]
        print(json.dumps({"count": plan.count, "runs": runs, "total_seconds": total}))
        return 0
    print(f"{plan.count} runs ({axes_text(plan.axes)}), about {duration_text(total)} one after another on {device}")
    for sweep_run, s in zip(plan.runs, seconds):
        print(f"  {sweep_run.label}: {duration_text(s)}")
    return 0
