"""``python -m vgg_core train``: train an architecture on Fashion-MNIST into a run folder.

The run is described by a ``TrainRequest``: the architecture and training flags, or
``--request FILE`` (what the app writes), with any flag given laid over the file's values.
Ends with d2l's two lines (``loss …, train acc …, test acc …`` and ``… examples/sec on DEVICE``).
``--resume RUN_DIR [--epochs TOTAL]`` continues a stopped, lost or completed run in its folder
(``vgg_core.resume``); only the total epochs and how the run is carried out may change.
Exit status: 0 completed or stopped (SIGTERM, Ctrl-C or a STOP file in the run folder), 1 the run
failed (its one-line reason is in the run folder and on stderr), 2 the input was refused.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TextIO

from ..data import locate
from ..job import run_job
from ..problems import ProblemsError, problem
from ..request import RUN_SETTINGS, SETTINGS, TrainRequest
from ..resume import ResumeError, plan_resume, resumable_record
from ..run_config import RunConfig
from ..run_folder import RunDirError, check_new_run_dir, new_run_id, probe_writable, runs_root
from ..run_rows import EvalRow, Row, TrainRow
from ..run_report import duration_text
from ..run_writer import RunWriter
from .arch_args import ARCH_FIELDS, add_arch_arguments, spec_from_args
from .settings_args import add_settings_arguments, flag, settings_from_args

EPILOG = """\
d2l's training setting (section 7.2.3) is --preset d2l: VGG-11 with every width divided by 4,
trained with SGD lr 0.05, batch 128, 10 epochs on 224x224 inputs, which are this command's defaults.
Without --preset/--arch the architecture is the full-width VGG-11, as `summary` shows it.
Quick demo on a CPU (a minute): --arch "1x16 1x32" --input-size 28 --fc-width 256 --epochs 1
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train on Fashion-MNIST into a run folder (d2l's train_ch6, faster)",
        description="Train an architecture on Fashion-MNIST into a run folder, as d2l's train_ch6 does.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arch_arguments(p)
    add_settings_arguments(p.add_argument_group("training (defaults: d2l's train_ch6)"),
                           [n for n in SETTINGS if n not in RUN_SETTINGS])
    r = p.add_argument_group("run")
    add_settings_arguments(r, RUN_SETTINGS)
    r.add_argument("--request", metavar="FILE", help="a request.json (as the app writes); flags given override it")
    r.add_argument("--name", help="a name for the run, shown beside its id")
    r.add_argument("--note", help="a note on the run (what it tries, what came of it)")
    r.add_argument("--resume", metavar="RUN_DIR",
                   help="continue this stopped, lost or completed run from its last finished epoch, "
                        "up to --epochs in all (default: the epochs it asked for)")
    r.add_argument("--run-dir", help="a new or empty folder to write (default: a new folder under $VGG_RUNS_DIR or ./runs)")
    p.set_defaults(run=run)


def request_from_args(args: argparse.Namespace) -> TrainRequest:
    """The request file (if any) with every flag given laid over it; raises ProblemsError."""
    base = TrainRequest.read(args.request) if args.request else TrainRequest()
    request = base.replace(spec=spec_from_args(args, base.spec), settings=settings_from_args(args, base.settings))
    given = {k: getattr(args, k) for k in ("name", "note") if getattr(args, k) is not None}
    return request.replace(**given) if given else request


def run(args: argparse.Namespace) -> int:
    if args.resume is not None:
        return run_resume(args)
    named_dir = Path(args.run_dir).expanduser() if args.run_dir else None
    try:
        if named_dir is not None:
            named_dir = check_new_run_dir(named_dir)
        request = request_from_args(args)
        device = request.check()
        locate(request.settings.data_dir)  # missing data: refused here, before a run folder exists
    except RunDirError as e:
        return _refuse(e, None)
    except ProblemsError as e:
        return _refuse(e, named_dir)
    run_dir = named_dir or runs_root() / new_run_id()
    try:
        probe_writable(run_dir)  # a read-only or full disk is refused here, in one line
    except OSError as e:
        return _refuse(e, None)
    progress = Progress(request.settings.epochs, sys.stderr)
    print(f"training on {device}, run folder {run_dir}", file=sys.stderr)
    result = run_job(request, device, run_dir, on_row=progress.row, on_config=progress.config)
    progress.close()
    if result.exit_code:
        print(f"error: {result.error}", file=sys.stderr)
        return result.exit_code
    return _report(result, run_dir)


def run_resume(args: argparse.Namespace) -> int:
    """``--resume``: the folder is opened first (its lock keeps a second resume out), then checked;
    any refusal leaves it as it was."""
    run_dir = Path(os.path.abspath(Path(args.resume).expanduser()))
    try:
        _refuse_resume_flags(args)
        resumable_record(run_dir)  # a run that trained, before its metrics file is opened
        writer = RunWriter(run_dir, resume=True)
    except ProblemsError as e:
        return _refuse(e, None)
    try:
        given = {n: getattr(args, n) for n in RUN_SETTINGS if getattr(args, n, None) is not None}
        plan = plan_resume(run_dir, args.epochs, given)
        device = plan.request.check()
        locate(plan.request.settings.data_dir)
    except ProblemsError as e:
        writer.close()
        return _refuse(e, None)
    progress = Progress(plan.request.settings.epochs, sys.stderr)
    print(f"resuming {run_dir.name} after epoch {plan.checkpoint.epoch} on {device}, up to epoch "
          f"{plan.request.settings.epochs}", file=sys.stderr)
    result = run_job(plan.request, device, run_dir, on_row=progress.row, on_config=progress.config, resume=plan,
                     writer=writer)
    progress.close()
    if result.exit_code:
        print(f"error: {result.error}", file=sys.stderr)
        return result.exit_code
    return _report(result, run_dir)


def _refuse_resume_flags(args: argparse.Namespace) -> None:
    """With --resume only --epochs and the run settings may be given: the rest is the run's own."""
    fixed = [n for n in SETTINGS if n not in RUN_SETTINGS and n != "epochs"]
    named = [f"--{n.replace('_', '-')}" for n in (*ARCH_FIELDS, "arch", "preset") if getattr(args, n, None) is not None]
    named += [flag(n) for n in fixed if getattr(args, n, None) is not None]
    named += [f"--{n.replace('_', '-')}" for n in ("request", "run_dir", "name", "note") if getattr(args, n) is not None]
    if named:
        raise ResumeError(problem("resume_flags", flags=", ".join(named),
                                  allowed=", ".join(flag(n) for n in RUN_SETTINGS)))


def _report(result, run_dir: Path) -> int:
    f = result.fit
    if result.state == "stopped":
        print(f"stopped after {f.steps} steps ({f.epochs_completed} full epochs); weights saved in {run_dir}", file=sys.stderr)
    # d2l's closing lines, in its format.
    parts = [f"loss {_fmt(f.train_loss)}", f"train acc {_fmt(f.train_acc)}"]
    if f.test_acc is not None:
        parts.append(f"test acc {f.test_acc:.3f}")
    print(", ".join(parts))
    print(f"{f.examples_per_sec:.1f} examples/sec on {result.device}")
    return 0


def _refuse(error: Exception, run_dir: Path | None) -> int:
    """Input refused: one line, status 2, and a 'failed' record where a run folder was named (the app's case)."""
    if isinstance(error, OSError):
        error = RunDirError(problem("disk_error", path=str(error.filename or "?"), why=error.strerror or str(error)))
    print(f"error: {error}", file=sys.stderr)
    if run_dir is not None and isinstance(error, ProblemsError) and not isinstance(error, RunDirError):
        _record_refusal(run_dir, error)
    return 2


def _record_refusal(run_dir: Path, error: ProblemsError) -> None:
    try:
        writer = RunWriter(run_dir)
        writer.status("failed", problem=error.problems[0])
        writer.close()
    except (OSError, RunDirError):
        pass


def _fmt(v: float | None) -> str:
    return "nan" if v is None else f"{v:.3f}"


class Progress:
    """A one-line bar on a terminal; on a log file, a plain line every few seconds and at each eval."""

    def __init__(self, epochs: int, out: TextIO, every_s: float | None = None):
        self.out, self.epochs = out, epochs
        self.tty = out.isatty()
        self.every_s = every_s if every_s is not None else (0.2 if self.tty else 5.0)
        self.train_examples = 0
        self.last_print = 0.0
        self.last_train: TrainRow | None = None
        self.test_acc: float | None = None
        self.eval_s = 0.0  # the last evaluation's duration, for the ETA
        self._dirty = False

    def config(self, config: RunConfig) -> None:
        self.train_examples = config.data.train_examples if config.data else 0

    def row(self, row: Row) -> None:
        if isinstance(row, TrainRow):
            self.last_train = row
            self._line(force=False)
        elif isinstance(row, EvalRow) and self.last_train is not None:
            self.test_acc = row.test_acc
            self.eval_s = max((row.elapsed_s or 0.0) - (self.last_train.elapsed_s or 0.0), 0.0)
            self._line(force=True)

    def _line(self, force: bool) -> None:
        now = time.monotonic()
        if self.last_train is None or (not force and now - self.last_print < self.every_s):
            return
        self.last_print = now
        self._write(self._text(self.last_train))

    def _text(self, row: TrainRow) -> str:
        total = max(self.train_examples * self.epochs, 1)
        frac = min(row.examples / total, 1.0)
        rate = row.examples_per_sec or 0.0
        evals_left = self.epochs - int(row.epoch + 1e-9)
        eta = (total - row.examples) / rate + evals_left * self.eval_s if rate else None
        bar = "#" * int(frac * 20) + "." * (20 - int(frac * 20))
        return (
            f"epoch {min(int(row.epoch) + 1, self.epochs)}/{self.epochs} [{bar}] {100 * frac:5.1f}% "
            f"{rate:8.1f} ex/s  ETA {duration_text(eta)}  loss {_fmt(row.train_loss)} train acc {_fmt(row.train_acc)}"
            + (f" test acc {self.test_acc:.3f}" if self.test_acc is not None else "")
        )

    def _write(self, text: str) -> None:
        if self.tty:
            self.out.write("\r" + text.ljust(112))
            self._dirty = True
        else:
            self.out.write(text + "\n")
        self.out.flush()

    def close(self) -> None:
        if self._dirty:
            self.out.write("\n")
            self.out.flush()
