"""``python -m vgg_core train``: train an architecture on Fashion-MNIST into a run folder.

Ends with d2l's two lines (``loss …, train acc …, test acc …`` and ``… examples/sec on DEVICE``).
Exit status: 0 completed or stopped (SIGTERM, Ctrl-C or a STOP file in the run folder), 1 the run
failed (its one-line reason is in the run folder and on stderr), 2 the input was refused.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from ..device import DEVICE_HELP, DeviceError
from ..job import run_job
from ..runs import RunDirError, RunWriter, new_run_id, refuse_used_run_dir, runs_root
from ..spec import SpecError
from ..train import COMPILE_MODES, DEFAULT_LR, OPTIMIZERS, ConfigError, TrainConfig, check_setup
from .arch_args import add_arch_arguments, spec_from_args

EPILOG = """\
d2l's training setting (section 7.2.3) is --preset d2l: VGG-11 with every width divided by 4,
trained with SGD lr 0.05, batch 128, 10 epochs on 224x224 inputs, which are this command's defaults.
Without --preset/--arch the architecture is the full-width VGG-11, as `summary` shows it.
Quick demo on a CPU (a minute): --arch "1x16 1x32" --input-size 28 --fc-width 256 --epochs 1
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train on Fashion-MNIST into a run folder (d2l's train_ch6, faster)",
        description="Train an architecture on Fashion-MNIST into a run folder, as d2l's train_ch6 does.", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arch_arguments(p)
    g = p.add_argument_group("training (defaults: d2l's train_ch6)")
    g.add_argument("--epochs", type=int, default=10, help="passes over the training set (default 10)")
    g.add_argument("--batch-size", type=int, default=128, help="examples per step (default 128)")
    g.add_argument("--lr", type=float, help=f"learning rate (default {DEFAULT_LR['sgd']} for sgd, {DEFAULT_LR['adam']} for adam)")
    g.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd", help="sgd (d2l's) or adam (default sgd)")
    g.add_argument("--momentum", type=float, default=0.0, help="SGD momentum (default 0, as d2l)")
    g.add_argument("--weight-decay", type=float, default=0.0, help="L2 weight decay (default 0)")
    g.add_argument("--seed", type=int, help="seed for init, shuffling and dropout (default: random, recorded)")
    g.add_argument("--max-train-examples", type=int, help="train on the first N training images only (quick demos)")
    g.add_argument("--max-test-examples", type=int, help="evaluate on the first N test images only")
    r = p.add_argument_group("run")
    r.add_argument("--device", default="auto", help=f"{DEVICE_HELP} (default auto: CUDA, else MPS, else CPU)")
    r.add_argument("--no-amp", dest="amp", action="store_false", help="no bf16 autocast on CUDA (float32 throughout)")
    r.add_argument("--compile", nargs="?", const="default", choices=COMPILE_MODES, metavar="MODE",
                   help="torch.compile the model, optionally naming a mode: " + ", ".join(COMPILE_MODES)
                   + " (slow start; for long GPU runs)")
    r.add_argument("--no-channels-last", dest="channels_last", action="store_false", help="keep NCHW memory layout")
    r.add_argument("--log-every", type=int, default=10, help="write a train row every N steps (default 10)")
    r.add_argument("--data-dir", help="folder with the four Fashion-MNIST files (default: $VGG_DATA_DIR, "
                   "then /usr/share/datasets/fashion-mnist, then a download into ~/.cache/vgg-explorer)")
    r.add_argument("--run-dir", help="run folder to write (default: a new folder under $VGG_RUNS_DIR or ./runs)")
    p.set_defaults(run=run)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer, momentum=args.momentum,
        weight_decay=args.weight_decay, seed=args.seed, device=args.device, amp=args.amp, compile=args.compile,
        channels_last=args.channels_last, max_train_examples=args.max_train_examples,
        max_test_examples=args.max_test_examples, log_every=args.log_every, data_dir=args.data_dir,
    )


def run(args: argparse.Namespace) -> int:
    named_dir = Path(args.run_dir).expanduser() if args.run_dir else None
    try:
        if named_dir is not None:
            refuse_used_run_dir(named_dir)
        spec = spec_from_args(args)
        config = config_from_args(args)
        device = check_setup(spec, config)
    except RunDirError as e:
        return _refuse(str(e), None)
    except (SpecError, ConfigError, DeviceError) as e:
        return _refuse(str(e), named_dir)

    run_dir = named_dir or runs_root() / new_run_id()
    progress = Progress(config.epochs, sys.stderr)
    print(f"training on {device}, run folder {run_dir}", file=sys.stderr)
    try:
        result = run_job(spec, config, device, run_dir, on_row=progress.row, on_config=progress.config)
    except (OSError, RunDirError) as e:
        print(f"error: cannot write the run folder: {e}", file=sys.stderr)
        return 1
    progress.close()
    if result.exit_code:
        print(f"error: {result.error}", file=sys.stderr)
        return result.exit_code
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


def _refuse(message: str, run_dir: Path | None) -> int:
    """Input refused: one line, status 2, and a 'failed' record where a run folder was named (the app's case)."""
    print(f"error: {message}", file=sys.stderr)
    if run_dir is not None:
        try:
            writer = RunWriter(run_dir)
            writer.status("failed", error=message)
            writer.close()
        except (OSError, RunDirError):
            pass
    return 2


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
        self.last_train: dict[str, Any] | None = None
        self.test_acc: float | None = None
        self.eval_s = 0.0  # the last evaluation's duration, for the ETA
        self._dirty = False

    def config(self, record: dict[str, Any]) -> None:
        self.train_examples = record.get("data", {}).get("train_examples", 0)

    def row(self, row: dict[str, Any]) -> None:
        if row["kind"] == "train":
            self.last_train = row
            self._line(force=False)
        elif row["kind"] == "eval" and self.last_train is not None:
            self.test_acc = row["test_acc"]
            self.eval_s = max(row["elapsed_s"] - self.last_train["elapsed_s"], 0.0)
            self._line(force=True)

    def _line(self, force: bool) -> None:
        now = time.monotonic()
        if self.last_train is None or (not force and now - self.last_print < self.every_s):
            return
        self.last_print = now
        row = self.last_train
        total = max(self.train_examples * self.epochs, 1)
        frac = min(row["examples"] / total, 1.0)
        rate = row.get("examples_per_sec") or 0.0
        evals_left = self.epochs - int(row["epoch"] + 1e-9)
        eta = (total - row["examples"]) / rate + evals_left * self.eval_s if rate else None
        bar = "#" * int(frac * 20) + "." * (20 - int(frac * 20))
        text = (
            f"epoch {min(int(row['epoch']) + 1, self.epochs)}/{self.epochs} [{bar}] {100 * frac:5.1f}% "
            f"{rate:8.1f} ex/s  ETA {_hms(eta)}  loss {_fmt(row['train_loss'])} train acc {row['train_acc']:.3f}"
            + (f" test acc {self.test_acc:.3f}" if self.test_acc is not None else "")
        )
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


def _hms(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
