"""The queue's overhead between runs, against running the same runs from a shell loop.

The figure is the time from one run's final status row to the next run's first row, read from the
runs' own ``metrics.jsonl`` (both written with ``time.time()``). Beside ours (``python -m vgg_core
sweep``: the scheduler starts each queued run when the one before has ended), the plain way: a
loop that runs ``python -m vgg_core train`` once per setting, each after the other returns. Both
pay a new Python process per run (interpreter, PyTorch import, request checks) before the first
row; the loop also waits for the previous process to exit, as the scheduler does before it gives
the device to the next run. Also printed: each run's start-up (process start to first row) and
teardown (final row to process exit, the loop's side only).

    python benchmarks/queue_overhead.py            # 4 tiny CPU runs each way
    python benchmarks/queue_overhead.py --runs 6 --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TINY = ["--arch", "1x16 1x32", "--input-size", "28", "--fc-width", "64", "--max-train-examples", "1500",
        "--max-test-examples", "500", "--epochs", "1", "--seed", "1"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=4, help="runs each way (default 4; the gaps are one fewer)")
    p.add_argument("--device", default="cpu", help="the device every run uses (default cpu)")
    return p.parse_args(argv)


def env(root: Path) -> dict[str, str]:
    return {**os.environ, "VGG_RUNS_DIR": str(root), "PYTHONPATH": str(ROOT)}


def first_and_final(run_dir: Path) -> tuple[float, float]:
    from vgg_core.run_rows import read_metrics

    statuses = read_metrics(run_dir).statuses
    return statuses[0].time, statuses[-1].time


def shell_loop(root: Path, ratios: list[int], device: str) -> tuple[list[float], list[float], list[float]]:
    """(gaps, start-ups, teardowns) of the runs one after another, as a ``for`` loop in a shell runs them."""
    gaps, startups, teardowns, previous_final = [], [], [], None
    for i, ratio in enumerate(ratios):
        run_dir = root / f"loop-{i}"
        started = time.time()
        subprocess.run([sys.executable, "-m", "vgg_core", "train", *TINY, "--ratio", str(ratio), "--device", device,
                        "--run-dir", str(run_dir)], cwd=ROOT, env=env(root), check=True, capture_output=True)
        ended = time.time()
        first, final = first_and_final(run_dir)
        startups.append(first - started)
        teardowns.append(ended - final)
        if previous_final is not None:
            gaps.append(first - previous_final)
        previous_final = final
    return gaps, startups, teardowns


def queued(root: Path, ratios: list[int], device: str) -> tuple[list[float], list[float]]:
    """(gaps, start-ups) of the same runs as one sweep, started by the scheduler."""
    from vgg_core.queue import scheduler_pid
    from vgg_core.runs import read_launch

    done = subprocess.run([sys.executable, "-m", "vgg_core", "sweep", *TINY, "--device", device, "--format", "json",
                           "--vary", "ratio=" + ",".join(map(str, ratios))], cwd=ROOT, env=env(root), check=True,
                          capture_output=True, text=True)
    ids = json.loads(done.stdout)["runs"]
    while scheduler_pid(root) is not None:
        time.sleep(0.5)
    spans = [first_and_final(root / i) for i in ids]
    startups = [first - read_launch(root / i)[1] for i, (first, _) in zip(ids, spans)]
    return [b[0] - a[1] for a, b in zip(spans, spans[1:])], startups


def line(name: str, values: list[float]) -> str:
    return f"{name:<34} " + ", ".join(f"{v:.2f}" for v in values) + f"   (median {statistics.median(values):.2f} s)"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ratios = [16, 8, 4, 2, 1, 16, 8, 4][: args.runs]
    import platform

    import torch

    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"device {args.device}, {args.runs} runs each way, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        loop_gaps, loop_start, loop_end = shell_loop(Path(tmp) / "loop", ratios, args.device)
        queue_gaps, queue_start = queued(Path(tmp) / "queue", ratios, args.device)
    print(line("shell loop: gap between runs", loop_gaps))
    print(line("  start-up (process -> first row)", loop_start))
    print(line("  teardown (final row -> exit)", loop_end))
    print(line("queue: gap between runs", queue_gaps))
    print(line("  start-up (launch -> first row)", queue_start))
    ratio = statistics.median(queue_gaps) / statistics.median(loop_gaps)
    print(f"queue / shell loop (median gaps): {ratio:.2f}x; load average now {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
