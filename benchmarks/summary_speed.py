"""How long the explorer waits for a summary: meta-device summary vs a real forward pass.

Run: python benchmarks/summary_speed.py [--preset vgg19] [--repeats 5]
The real pass is what a summary tool that runs the model (torchinfo's way) must do on the CPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vgg_core import build_model, preset, summarize  # noqa: E402


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up: first-call dispatch and registration costs
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _real_forward(spec) -> None:
    model = build_model(spec).eval()
    with torch.no_grad():
        model(torch.randn(1, spec.in_channels, spec.input_size, spec.input_size))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--preset", default="vgg19")
    p.add_argument("--input-size", type=int, default=224)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    spec = preset(args.preset).replace(input_size=args.input_size)
    ours = _median_seconds(lambda: summarize(spec), args.repeats)
    real = _median_seconds(lambda: _real_forward(spec), max(1, args.repeats // 2))
    print(f"{args.preset} at {args.input_size}x{args.input_size}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"  meta-device summary (ours):        {ours * 1e3:8.1f} ms")
    print(f"  build + real forward on the CPU:   {real * 1e3:8.1f} ms")
    print(f"  ratio: summary is {real / ours:.1f}x faster")
    print(json.dumps({"preset": args.preset, "summary_ms": round(ours * 1e3, 2), "real_forward_ms": round(real * 1e3, 2),
                      "ratio": round(real / ours, 2)}))


if __name__ == "__main__":
    main()
