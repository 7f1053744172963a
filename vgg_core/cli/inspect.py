"""``python -m vgg_core inspect``: one image through a run's network (or an untrained one), block by
block, and with a run folder what the run gets wrong on the test set."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..images import PreparedImage, load_test_image, read_image_file
from ..inspect import Inside, Network, RunErrors, look_inside, network_for, run_errors
from ..predictions import PredictionsError
from ..problems import Problem
from . import UsageError
from .arch_args import ARCH_FLAGS, add_arch_arguments, spec_from_args

EPILOG = """\
examples:
  python -m vgg_core inspect --run-dir runs/ID --image 0
  python -m vgg_core inspect --untrained --arch "1x16 1x32" --input-size 28 --fc-width 256 --image-file shoe.png
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "inspect", help="what a network sees of one image, and what a run gets wrong",
        description="Run one image through a run's network (or an untrained one) and show each block's output; "
                    "with a run folder, also the test set's confusion matrix and most confident mistakes.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    net = p.add_mutually_exclusive_group(required=True)
    net.add_argument("--run-dir", metavar="DIR", help="a run folder: its model.pt and predictions.npz")
    net.add_argument("--untrained", action="store_true",
                     help="the architecture given by the flags below, with d2l's Xavier init from --seed")
    img = p.add_mutually_exclusive_group(required=True)
    img.add_argument("--image", type=int, metavar="N", help="the N-th test image (0-based, 0..9999)")
    img.add_argument("--image-file", metavar="PATH", help="a PNG or JPEG: made grey, square, light on black, 28x28")
    add_arch_arguments(p)
    p.add_argument("--seed", type=int, default=None, help="seed of the untrained network's init (default 0)")
    p.add_argument("--data-dir", help="folder with the Fashion-MNIST files (default: as training finds them)")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.run_dir is not None:
        given = [f"--{name.replace('_', '-')}" for name in (*ARCH_FLAGS, "seed") if getattr(args, name) is not None]
        if given:
            raise UsageError(f"python -m vgg_core inspect: {', '.join(given)} apply to --untrained only (see --help)")
    network = network_for(args.run_dir) if args.run_dir is not None else network_for(
        spec_from_args(args), seed=args.seed if args.seed is not None else 0)
    image = read_image_file(args.image_file) if args.image_file is not None else load_test_image(args.image, args.data_dir)
    inside = look_inside(network.model, network.spec, image)
    errors, why = _errors(args.run_dir)
    result = report(network, image, inside, errors, why)
    if args.format == "json":
        print(json.dumps(result, indent=2, allow_nan=False))
    else:
        print(to_table(result))
    return 0


def _errors(run_dir: str | None) -> tuple[RunErrors | None, Problem | None]:
    if run_dir is None:
        return None, None
    try:
        return run_errors(run_dir), None
    except PredictionsError as e:
        return None, e.problems[0]


def report(network: Network, image: PreparedImage, inside: Inside, errors: RunErrors | None,
           why: Problem | None) -> dict[str, Any]:
    """The JSON: the image, the answer, every block; with a run, its test-set errors (or why none)."""
    result: dict[str, Any] = {
        "run_dir": str(network.run_dir) if network.run_dir is not None else None,
        "epoch": network.epoch, "seed": network.seed, "spec": network.spec.to_dict(),
        "image": image.source, "label": image.label, "inverted": image.inverted,
        "preprocessing": [n.to_dict() for n in image.notes],
        **inside.to_dict(),
    }
    if network.run_dir is None:
        return result
    empty = {"predictions_epoch": None, "confusion": None, "per_class_acc": None, "test_examples": None,
             "test_acc": None, "most_confident_wrong": None}
    result.update(errors.to_dict() if errors is not None else empty)
    result["errors_missing"] = {**why.to_dict(), "text": str(why)} if why is not None else None
    return result


def to_table(r: dict[str, Any]) -> str:
    classes = r["classes"]
    weights = f"run {r['run_dir']}, weights of epoch {r['epoch']}" if r["run_dir"] else f"untrained, seed {r['seed']}"
    label = f", true class {r['label']} {classes[r['label']]}" if r["label"] is not None else ""
    lines = [f"network: {weights}", f"image: {r['image']}{label}"]
    lines += [f"  {n['text']}" for n in r["preprocessing"]]
    p = r["probabilities"]
    lines += ["", f"predicted: {r['predicted']} {classes[r['predicted']]} ({_num(p[r['predicted']], '.3f')})"]
    lines += [f"  {i}  {name:<12} {_num(prob, '.4f')}" for i, (name, prob) in enumerate(zip(classes, p))]
    lines += ["", f"{'block':<9} {'shape':<14} {'mean':>8} {'max':>8} {'>0':>7}  most active channels"]
    for b in r["blocks"]:
        shape = "x".join(map(str, b["shape"]))
        lines.append(f"{b['name']:<9} {shape:<14} {_num(b['mean'], '8.4f')} {_num(b['max'], '8.4f')} "
                     f"{b['positive_fraction']:7.1%}  " + " ".join(map(str, b["top_channels"][:8])))
    if r["run_dir"] is not None:
        lines += ["", *_errors_table(r)]
    return "\n".join(lines)


def _errors_table(r: dict[str, Any]) -> list[str]:
    if r["confusion"] is None:
        return [f"test-set errors: none yet ({r['errors_missing']['text']})"]
    n = len(r["classes"])
    lines = [f"test set, predictions of epoch {r['predictions_epoch']}: {r['test_examples']:,} examples, "
             f"accuracy {r['test_acc']:.4f}", "confusion (rows: true class, columns: predicted):",
             "      " + "".join(f"{j:>6}" for j in range(n)) + "   class acc"]
    for i, row in enumerate(r["confusion"]):
        acc = r["per_class_acc"][i]
        lines.append(f"{i:>4}  " + "".join(f"{v:>6}" for v in row) + f"   {'–' if acc is None else f'{acc:.3f}'}"
                     + f"  {r['classes'][i]}")
    lines += ["most confident mistakes (test image: true -> predicted, confidence):"]
    lines += [f"  {w['index']:>5}: {r['classes'][w['label']]} -> {r['classes'][w['predicted']]}, {w['confidence']:.3f}"
              for w in r["most_confident_wrong"]]
    return lines


def _num(v: float | None, spec: str) -> str:
    """A figure, or nan where the JSON holds null (a diverged run's output)."""
    return format(v, spec) if v is not None else format("nan", f">{spec.split('.')[0] or 0}")
