"""``python -m vgg_core train``: train an architecture on Fashion-MNIST into a run folder.

The run is described by a ``TrainRequest``: the architecture and training flags, or
``--request FILE`` (what the app writes), with any flag given laid over the file's values.
Ends with d2l's two lines (``loss …, train acc …, test acc …`` and ``… examples/sec on DEVICE``).
``--resume RUN_DIR [--epochs TOTAL]`` continues a stopped, lost or completed run in its folder
(``vgg_core.resume``); only the total epochs and how the run is carried out may change.
Exit status: 0 completed or stopped (SIGTERM, Ctrl-C or a STOP file in the run folder), 1 the run
failed (its one-line reason is in the run folder and on stderr), 2 the input was refused.

Several processes: ``--nproc N`` checks everything here, then starts torchrun (``vgg_core.torchrun``),
which runs this same command once per rank. Under torchrun (``torchrun ... -m vgg_core train``, on
one machine or several) each process joins the group (``vgg_core.ddp``); rank 0 runs the job and
writes the folder, the others run ``job.run_rank``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TextIO

from ..data import locate
from ..ddp import Group, World
from ..job import JobResult, failure_reason, run_job, run_rank
from ..problems import ProblemsError, problem
from ..request import RUN_SETTINGS, SETTINGS, TrainRequest
from ..resume import ResumeError, plan_resume, resumable_record
from ..run_config import RunConfig
from ..run_folder import RunDirError, check_new_run_dir, new_run_id, probe_writable, runs_root
from ..run_rows import EvalRow, Row, TrainRow
from ..run_report import duration_text
from ..run_writer import RunWriter
from .. import torchrun
from .arch_args import ARCH_FIELDS, add_arch_arguments, spec_from_args
from .settings_args import add_settings_arguments, flag, settings_from_args

EPILOG = """\
d2l's training setting (section 7.2.3) is --preset d2l: VGG-11 with every width divided by 4,
trained with SGD lr 0.05, batch 128, 10 epochs on 224x224 inputs, which are this command's defaults.
Without --preset/--arch the architecture is the full-width VGG-11, as `summary` shows it.
Quick demo on a CPU (a minute): --arch "1x16 1x32" --input-size 28 --fc-width 256 --epochs 1
Several processes: --nproc N starts torchrun for you (one GPU each on CUDA, gloo on the CPU);
--batch-size stays the batch of all of them together. Several machines: run torchrun yourself on
each, with its --nnodes and rendezvous flags, followed by -m vgg_core train and these flags.
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
    r.add_argument("--master-port", type=_port, metavar="PORT",
                   help="with --nproc: the port the processes meet on (default: torchrun picks a free one)")
    p.set_defaults(run=run)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 1 to 65535, got {text!r}")
    return port


def request_from_args(args: argparse.Namespace) -> TrainRequest:
    """The request file (if any) with every flag given laid over it; raises ProblemsError."""
    base = TrainRequest.read(args.request) if args.request else TrainRequest()
    request = base.replace(spec=spec_from_args(args, base.spec), settings=settings_from_args(args, base.settings))
    given = {k: getattr(args, k) for k in ("name", "note") if getattr(args, k) is not None}
    return request.replace(**given) if given else request


def run(args: argparse.Namespace) -> int:
    if args.resume is not None:
        return run_resume(args)
    world = World.from_env()
    world = world if world is not None and world.size > 1 else None  # torchrun with one process: as without
    if world is not None and world.rank != 0:
        return _other_rank(args, world)
    named_dir = Path(args.run_dir).expanduser() if args.run_dir else None
    try:
        if named_dir is not None:
            named_dir = check_new_run_dir(named_dir)
        request = request_from_args(args)
        if world is not None:
            request = torchrun.adopt_world(request, world, args.nproc)
        device = request.check()
        locate(request.settings.data_dir)  # missing data: refused here, before a run folder exists
        launching = world is None and request.settings.nproc > 1
        if launching:
            torchrun.check_port(args.master_port)
    except RunDirError as e:
        return _refuse(e, None)
    except ProblemsError as e:
        return _refuse(e, named_dir)
    run_dir = named_dir or runs_root() / new_run_id()
    try:
        probe_writable(run_dir)  # a read-only or full disk is refused here, in one line
    except OSError as e:
        return _refuse(e, None)
    if launching:
        print(f"training on {device} with {request.settings.nproc} processes (torchrun), run folder {run_dir}",
              file=sys.stderr)
        return torchrun.launch(request, run_dir, args.master_port)
    group = _join(world, request, device, run_dir)
    if group is False:
        return 1
    device = group.device if group is not None else device
    progress = Progress(request.settings.epochs, sys.stderr)
    ranks = f" (rank 0 of {group.size})" if group is not None else ""
    print(f"training on {device}{ranks}, run folder {run_dir}", file=sys.stderr)
    try:
        result = run_job(request, device, run_dir, on_row=progress.row, on_config=progress.config, group=group)
    finally:
        if group is not None:
            group.close()
    progress.close()
    return _finish(result, run_dir)


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
    return _finish(result, run_dir)


def _finish(result: JobResult, run_dir: Path) -> int:
    """A failed run's one line and its exit status, or the finished run's report."""
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


def _join(world: World | None, request: TrainRequest, device, run_dir: Path | None) -> Group | None | bool:
    """This rank's process group (None for one process); False, with the reason said (and recorded
    in ``run_dir`` on rank 0), when the processes could not form it."""
    if world is None:
        return None
    try:
        return Group.setup(world, device, request.settings.ddp_timeout)
    except Exception as e:  # noqa: BLE001 - a rendezvous that fails is the run's failure, in one line
        reason = failure_reason(e, request, device)
        print(f"error: rank {world.rank}: {reason}", file=sys.stderr)
        if run_dir is not None:
            _record_refusal(run_dir, ProblemsError(reason))
        return False


def _other_rank(args: argparse.Namespace, world: World) -> int:
    """Ranks 1 and up: the same request and checks, then ``run_rank``; rank 0 writes and says the rest."""
    try:
        request = torchrun.adopt_world(request_from_args(args), world, args.nproc)
        device = request.check()
    except ProblemsError as e:
        print(f"error: rank {world.rank}: {e}", file=sys.stderr)
        return 2
    group = _join(world, request, device, None)
    if group is False:
        return 1
    try:
        result = run_rank(request, group)
    finally:
        group.close()
    if result.error is not None and result.error.args.get("rank") == world.rank:  # its own failure
        print(f"error: {result.error}", file=sys.stderr)
    return result.exit_code


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
