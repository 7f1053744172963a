"""What predictions.npz costs the training process: one epoch with and without it, side by side.

Both sides are the train command's own loop and saver: ``fit`` for one epoch with its test
evaluation, then ``EpochSaver`` writing model.pt in the background, each from the same seed on
the same data. "with" also keeps every test example's softmax during that evaluation and writes
predictions.npz beside model.pt (what ``job.run_job`` does); "without" does neither. The sides
alternate (with, without, without, with, ...) so a change in the machine's load falls on both;
the median epoch of each and their ratio are printed (wall and CPU time), then the added work on its
own, which a busy machine's noise cannot hide: the softmax of each test batch, one concatenation,
and writing the file.

    python benchmarks/predictions_cost.py                  # the tiny net, the worst case: short epochs
    python benchmarks/predictions_cost.py --device cuda --preset d2l
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from vgg_core.data import load_fashion_mnist  # noqa: E402
from vgg_core.epoch_saver import EpochSaver  # noqa: E402
from vgg_core.predictions import save_predictions  # noqa: E402
from vgg_core.request import TrainSettings  # noqa: E402
from vgg_core.run_writer import RunWriter  # noqa: E402
from vgg_core.spec import ArchSpec, parse_conv_arch, preset  # noqa: E402
from vgg_core.speed import tune_process  # noqa: E402
from vgg_core.train import fit, make_optimizer, prepare_model  # noqa: E402

TINY = ArchSpec(conv_arch=parse_conv_arch("1x16 1x32"), input_size=28, fc_width=256)


def epoch(spec: ArchSpec, settings: TrainSettings, data, device: torch.device, keep: bool,
          folder: Path) -> tuple[float, float]:
    """One epoch as the train command runs it, until the epoch's files are on disk: (wall, CPU) seconds."""
    torch.manual_seed(settings.seed)
    model, net = prepare_model(spec, settings, device)
    writer = RunWriter(folder)
    saver = EpochSaver(writer, spec)
    saver.watch(model, data.test_labels)
    t0, c0 = time.perf_counter(), time.process_time()
    result = fit(net, data, spec, settings, seed=settings.seed, on_epoch=saver.epoch_done, keep_predictions=keep,
                 optimizer=make_optimizer(model, settings, device))
    saver.finish(result)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    writer.close()
    assert (folder / "predictions.npz").exists() == keep
    return seconds, cpu


def added_work(settings: TrainSettings, test_labels: torch.Tensor, device: torch.device, folder: Path,
               repeats: int = 20) -> tuple[float, float]:
    """Exactly what keeping predictions adds, timed on its own (fastest and median of ``repeats``):
    a softmax of each evaluation batch's logits, one concatenation, and writing the file."""
    logits = torch.randn(len(test_labels), 10, device=device)
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        kept = [batch.softmax(dim=1) for batch in logits.split(settings.batch_size)]
        save_predictions(folder / "predictions.npz", 1, test_labels, torch.cat(kept).cpu())
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--preset", help="a preset instead of the tiny net (1x16 1x32 at 28x28, FC 256)")
    p.add_argument("--pairs", type=int, default=3, help="epochs per side (default 3)")
    p.add_argument("--max-train-examples", type=int, default=None, help="a shorter epoch (default: all 60,000)")
    args = p.parse_args()
    device = torch.device(args.device)
    spec = preset(args.preset) if args.preset else TINY
    settings = TrainSettings(epochs=1, seed=0, device=args.device)
    tune_process(device)
    data = load_fashion_mnist(device=device).subset(args.max_train_examples)
    print(f"{os.cpu_count()} cores, torch {torch.__version__}, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
          + f"; load average {os.getloadavg()[0]:.2f}")
    print(f"net {spec.conv_arch} ratio {spec.ratio} at {spec.input_size}, {len(data.train_labels):,} training images")
    with tempfile.TemporaryDirectory() as tmp:
        sides: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
        epoch(spec, settings, data.subset(settings.batch_size * 4), device, True, Path(tmp) / "warm-up")
        for i in range(args.pairs):
            for keep in ((True, False) if i % 2 == 0 else (False, True)):
                sides[keep].append(epoch(spec, settings, data, device, keep, Path(tmp) / f"{i}-{keep}"))
                wall, cpu = sides[keep][-1]
                print(f"  pair {i + 1}, {'with' if keep else 'without'} predictions: {wall:.2f} s wall, {cpu:.2f} s CPU")
        for what, at in (("wall", 0), ("CPU (all threads)", 1)):
            with_ = statistics.median(s[at] for s in sides[True])
            without = statistics.median(s[at] for s in sides[False])
            print(f"epoch {what}, median of {args.pairs}: {without:.2f} s without, {with_:.2f} s with predictions.npz; "
                  f"ratio {with_ / without:.4f} ({100 * (with_ / without - 1):+.2f}%)")
        fastest, median = added_work(settings, data.test_labels, device, Path(tmp))
        without = statistics.median(s[0] for s in sides[False])
        print(f"the added work alone (softmax per test batch, one concatenation, writing predictions.npz of "
              f"{(Path(tmp) / 'predictions.npz').stat().st_size / 1024:.0f} KiB): fastest {fastest * 1e3:.1f} ms, "
              f"median {median * 1e3:.1f} ms = {100 * median / without:.3f}% of the median epoch without it")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
