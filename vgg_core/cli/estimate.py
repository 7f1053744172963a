"""``python -m vgg_core estimate``: memory and time per epoch of a run, before starting it.

The time comes from a few real training steps on the device, so this command is also how the
app measures a GPU's speed without giving the web server a CUDA context of its own.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..data import SPLITS
from ..device import DEVICE_HELP, DeviceError
from ..estimate import estimate_training
from ..report import human, human_bytes, human_macs
from ..run_report import duration_text
from ..speed import tune_process
from ..train import OPTIMIZERS, ConfigError, TrainConfig, check_setup
from .arch_args import add_arch_arguments, spec_from_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("estimate", help="memory and time per epoch of a training run, before it starts",
                       description="Memory a training run needs and the time an epoch takes, on a device.")
    add_arch_arguments(p)
    g = p.add_argument_group("training (defaults: d2l's train_ch6)")
    g.add_argument("--batch-size", type=int, default=128, help="examples per step (default 128)")
    g.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd", help="sgd or adam (default sgd)")
    g.add_argument("--momentum", type=float, default=0.0, help="SGD momentum (default 0)")
    g.add_argument("--weight-decay", type=float, default=0.0, help="L2 weight decay (default 0)")
    g.add_argument("--max-train-examples", type=int, help="an epoch of the first N training images only")
    g.add_argument("--device", default="auto", help=f"{DEVICE_HELP} (default auto)")
    g.add_argument("--no-amp", dest="amp", action="store_false", help="as train --no-amp: float32 on CUDA")
    g.add_argument("--no-speed", dest="speed", action="store_false",
                   help="memory only: skip the few training steps that measure the device's speed")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    spec = spec_from_args(args)
    train_examples = args.max_train_examples or SPLITS["train"]
    try:
        # Checked as `train` checks it, so both commands refuse the same input with the same line.
        config = TrainConfig(batch_size=args.batch_size, optimizer=args.optimizer, momentum=args.momentum,
                             weight_decay=args.weight_decay, device=args.device, amp=args.amp,
                             max_train_examples=args.max_train_examples)
        device = check_setup(spec, config)
        if args.speed:
            tune_process(device)  # measure the steps as a training process runs them (cuDNN autotuning, malloc)
        est = estimate_training(spec, args.batch_size, optimizer=args.optimizer, momentum=args.momentum,
                                weight_decay=args.weight_decay, device=device, amp=args.amp,
                                train_examples=min(train_examples, SPLITS["train"]), measure_speed=args.speed)
    except (ConfigError, DeviceError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps(est.to_dict(), indent=2))
        return 0
    free = "unknown" if est.available_bytes is None else human_bytes(est.available_bytes)
    fits = {True: "fits", False: "does NOT fit", None: "free memory unknown"}[est.fits]
    rate = ("not measured" if est.calibration_macs_per_sec is None else
            f"{human(est.calibration_macs_per_sec)} MACs/s and {1e3 * (est.step_overhead_s or 0):.1f} ms fixed per step")
    lines = [
        f"device            {est.device}, batch {est.batch_size}, {human_macs(est.macs_per_example)} MACs per example",
        f"weights           {human_bytes(est.param_bytes)}",
        f"gradients         {human_bytes(est.grad_bytes)}",
        f"optimizer state   {human_bytes(est.optimizer_bytes + est.optimizer_workspace_bytes)}",
        f"bf16 weights      {human_bytes(est.amp_weight_bytes)}",
        f"activations       {human_bytes(est.activation_bytes)} (saved for backward, whole batch)",
        f"backward working  {human_bytes(est.workspace_bytes)}",
        f"dataset           {human_bytes(est.dataset_bytes)}",
        f"total             {human_bytes(est.total_bytes)}: {fits} (free now: {free})",
        f"time per epoch    {duration_text(est.seconds_per_epoch)} (training speed {rate})",
    ]
    print("\n".join(lines))
    return 0
