"""``python -m vgg_core queue``: serve the runs folder's queue in the foreground until it is done.

What ``vgg_core.queue.ensure_scheduler`` starts in the background (the app, ``sweep``); run by
hand it also picks up a queue whose scheduler died. If a scheduler already serves the folder this
one exits at once (status 0). Ctrl-C ends the scheduler only: the run in progress goes on in its
own session, and the next ``queue`` (or ``ensure_scheduler``) starts the rest.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..queue import queued_runs, scheduler_pid
from ..run_folder import runs_root
from ..scheduler import serve


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("queue", help="start queued runs as devices come free (the scheduler, in the foreground)",
                       description="Serve the queue of a runs folder: start each queued run, oldest first, when its "
                                   "device is free; exit when the queue is empty and the runs started have ended.")
    add_runs_dir_argument(p)
    p.add_argument("--lock-fd", type=int, help=argparse.SUPPRESS)  # the lock ensure_scheduler took for us
    p.set_defaults(run=run)


def add_runs_dir_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs-dir", metavar="DIR", help="the runs folder (default: $VGG_RUNS_DIR or ./runs)")


def root_of(args: argparse.Namespace) -> Path:
    return Path(args.runs_dir).expanduser().resolve() if args.runs_dir else runs_root()


def run(args: argparse.Namespace) -> int:
    root = root_of(args)
    waiting = len(queued_runs(root))
    print(f"serving {root}: {waiting} queued", file=sys.stderr, flush=True)
    if not serve(root, say=lambda line: print(line, file=sys.stderr, flush=True), lock_fd=args.lock_fd):
        print(f"a scheduler already serves {root} (pid {scheduler_pid(root)}); this one exits", file=sys.stderr)
        return 0
    print(f"queue of {root} is done", file=sys.stderr)
    return 0
