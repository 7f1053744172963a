"""``python -m vgg_core estimate``: memory and time per epoch of a run, before starting it.

The time comes from a few real training steps on the device, so this command is also how the
app measures a GPU's speed without giving the web server a CUDA context of its own. With
``--format json`` a refusal is printed as data too (``{"problems": [...]}``), for that caller.
"""

from __future__ import annotations

import argparse
import json

from ..estimate import TrainingEstimate, estimate_training
from ..problems import ProblemsError
from ..report import human, human_bytes, human_macs
from ..request import TrainRequest
from ..run_report import duration_text
from ..speed import tune_process
from .arch_args import add_arch_arguments, spec_from_args
from .settings_args import add_settings_arguments, settings_from_args

SETTINGS_USED = ("batch_size", "optimizer", "momentum", "weight_decay", "max_train_examples", "max_test_examples",
                 "device", "amp", "nproc")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("estimate", help="memory and time per epoch of a training run, before it starts",
                       description="Memory a training run needs and the time an epoch takes, on a device.")
    add_arch_arguments(p)
    add_settings_arguments(p.add_argument_group("training (defaults: d2l's train_ch6)"), SETTINGS_USED)
    p.add_argument("--no-speed", dest="speed", action="store_false",
                   help="memory only: skip the few training steps that measure the device's speed")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        # Checked as `train` checks it, so both commands refuse the same input with the same line.
        request = TrainRequest(spec_from_args(args), settings_from_args(args))
        device = request.check()
        if args.speed:
            tune_process(device)  # measure the steps as a training process runs them (cuDNN autotuning, malloc)
        est = estimate_training(request, device=device, measure_speed=args.speed)
    except ProblemsError as e:
        if args.format == "json":
            print(json.dumps({"problems": [p.to_dict() for p in e.problems]}))
        raise
    print(json.dumps(est.to_dict(), indent=2) if args.format == "json" else table(est))
    return 0


def table(est: TrainingEstimate) -> str:
    free = "unknown" if est.available_bytes is None else human_bytes(est.available_bytes)
    fits = {True: "fits", False: "does NOT fit", None: "free memory unknown"}[est.fits]
    rate = ("not measured" if est.calibration_macs_per_sec is None else
            f"{human(est.calibration_macs_per_sec)} MACs/s and {1e3 * (est.step_overhead_s or 0):.1f} ms fixed per step")
    processes = (f", {est.nproc} processes of {est.per_process_batch} examples each (figures per process)"
                 if est.nproc > 1 else "")
    needed = (f"\nall processes     {human_bytes(est.needed_bytes)} of this machine's memory"
              if est.nproc > 1 and est.needed_bytes != est.total_bytes else "")
    return "\n".join([
        f"device            {est.device}, batch {est.batch_size}{processes}, {human_macs(est.macs_per_example)} MACs per example",
        f"weights           {human_bytes(est.param_bytes)}",
        f"gradients         {human_bytes(est.grad_bytes)}",
        f"optimizer state   {human_bytes(est.optimizer_bytes + est.optimizer_workspace_bytes)}",
        f"bf16 weights      {human_bytes(est.amp_weight_bytes)}",
        f"activations       {human_bytes(est.activation_bytes)} (saved for backward, "
        f"{'its share of the batch' if est.nproc > 1 else 'whole batch'})",
        f"backward working  {human_bytes(est.workspace_bytes)}",
        f"dataset           {human_bytes(est.dataset_bytes)}",
        f"total             {human_bytes(est.total_bytes)}{needed}: {fits} (free now: {free})",
        f"time per epoch    {duration_text(est.seconds_per_epoch)} (training speed {rate})",
    ])


__all__ = ["add_parser", "run", "table"]
