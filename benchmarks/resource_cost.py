"""What the run's resource record costs: the same CPU training with and without the sampler, side by side.

Both sides are ``vgg_core``'s own ``fit`` on the real Fashion-MNIST in this one process (the sampler is
a thread of the training process, as in a run), its rows written to a real ``metrics.jsonl``. The
sides alternate, without-with then with-without (ABBA), so a machine that gets busier or quieter
affects both alike; the medians and their ratio are printed. Besides the throughput, the sampler's
own CPU time is measured directly (``time.thread_time`` in its thread), which is the cost that the
throughput ratio, on a shared machine, can only bound.

    python benchmarks/resource_cost.py                      # two blocks at 28x28, 3 pairs of rounds
    python benchmarks/resource_cost.py --interval 0.05      # sampling 40x as often, to see the cost at all
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", type=int, default=3, help="rounds of each side (default 3)")
    p.add_argument("--examples", type=int, default=12_000, help="training examples per round (default 12000)")
    p.add_argument("--arch", default="1x16 1x32", help="conv_arch (default: 1x16 1x32)")
    p.add_argument("--input-size", type=int, default=28)
    p.add_argument("--fc-width", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--interval", type=float, default=2.0, help="seconds between samples (default 2, the run's)")
    p.add_argument("--threads", type=int, help="torch threads (default torch's; 1 is steadier on a busy machine)")
    return p.parse_args(argv)


def one_round(sampled: bool, args: argparse.Namespace, data, spec, folder: Path) -> tuple[float, float, int]:
    """(examples/sec, the sampler's CPU seconds, samples) of one epoch of training."""
    import torch

    from vgg_core.resources import ResourceSampler
    from vgg_core.run_writer import RunWriter
    from vgg_core.request import TrainSettings
    from vgg_core.train import fit, prepare_model

    settings = TrainSettings(epochs=1, batch_size=args.batch_size, device="cpu", seed=0)
    torch.manual_seed(0)
    model, net = prepare_model(spec, settings, torch.device("cpu"))
    writer = RunWriter(folder)
    sampler = ResourceSampler(writer.row, [(0, os.getpid())], interval=args.interval)
    if sampled:
        sampler.start()
    try:
        result = fit(net, data, spec, settings, seed=0, emit=writer.row, evaluate_each_epoch=False)
    finally:
        sampler.stop()
        writer.close()
    return result.examples_per_sec, sampler.cpu_seconds, sampler.samples


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    from vgg_core.data import load_fashion_mnist
    from vgg_core.device import device_name
    from vgg_core.spec import ArchSpec, parse_conv_arch
    from vgg_core.speed import tune_process

    tune_process(torch.device("cpu"))
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = ArchSpec(conv_arch=parse_conv_arch(args.arch), input_size=args.input_size, fc_width=args.fc_width)
    data = load_fashion_mnist().subset(args.examples, 10)
    print(f"{device_name(torch.device('cpu'))}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"python {platform.python_version()}; {args.arch} at {args.input_size}, batch {args.batch_size}, "
          f"{args.examples} examples a round, a sample every {args.interval:g} s")
    rates: dict[bool, list[float]] = {False: [], True: []}
    cpu = samples = 0
    wall_sampled = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        one_round(False, args, data, spec, Path(tmp) / "warmup")  # kernels chosen, memory allocated
        for i in range(args.pairs):
            for sampled in ((False, True) if i % 2 == 0 else (True, False)):
                t0 = time.monotonic()
                rate, used, n = one_round(sampled, args, data, spec, Path(tmp) / f"r{i}-{int(sampled)}")
                rates[sampled].append(rate)
                if sampled:
                    cpu, samples, wall_sampled = cpu + used, samples + n, wall_sampled + time.monotonic() - t0
                print(f"round {i + 1} {'with   ' if sampled else 'without'} sampler: {rate:9.1f} ex/s"
                      + (f"  ({n} samples)" if sampled else ""))
    without, with_ = statistics.median(rates[False]), statistics.median(rates[True])
    print(f"median without {without:.1f} ex/s, with {with_:.1f} ex/s: ratio with/without {with_ / without:.4f} "
          f"({100 * (1 - with_ / without):+.2f}% cost)")
    if samples:
        print(f"sampler's own CPU time: {1e3 * cpu / samples:.3f} ms per sample, {100 * cpu / wall_sampled:.4f}% "
              f"of one core over the sampled rounds' wall time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
