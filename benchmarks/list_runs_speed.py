"""The Train page's live tick: listing a runs folder, re-reading everything (the app before) vs ours.

Every open Train tab lists the runs folder once a second. The earlier reader parsed every run's
metrics.jsonl and config.json on every tick; ours keeps a record per folder and rereads a finished
run only when its folder changes (one stat), a live one only for the bytes it appended.

    python benchmarks/list_runs_speed.py [--runs 1000] [--rows 470] [--ticks 20]

Both readers list the same folder of finished runs (each with d2l-sized logs: 470 train rows) and
one live run that appends a row between ticks; the script prints milliseconds per tick and the ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vgg_core.runs import list_runs  # noqa: E402

REQUEST = {"spec": {"conv_arch": [[1, 16], [1, 32]], "input_size": 28, "fc_width": 256}, "settings": {}}


def make_runs(root: Path, runs: int, rows: int) -> Path:
    lines = ['{"kind": "status", "state": "running", "pid": 1, "time": 1000.0}']
    for i in range(rows):
        lines.append(json.dumps({"kind": "train", "epoch": i / 47, "step": 10 * i, "examples": 1280 * i,
                                 "elapsed_s": 0.1 * i, "train_loss": 1.0, "train_acc": 0.5, "examples_per_sec": 1e3}))
    lines.append('{"kind": "status", "state": "completed", "time": 2000.0}')
    text = "\n".join(lines) + "\n"
    for i in range(runs):
        d = root / f"20260101-000000-{i:06d}"
        d.mkdir()
        (d / "metrics.jsonl").write_text(text)
        (d / "request.json").write_text(json.dumps(REQUEST))
    live = root / "20270101-000000-live00"
    live.mkdir()
    (live / "request.json").write_text(json.dumps(REQUEST))
    (live / "metrics.jsonl").write_text(f'{{"kind": "status", "state": "running", "pid": {__import__("os").getpid()}}}\n')
    return live


def reread_everything(root: Path) -> int:
    """What the app did before: every file of every run, parsed afresh."""
    count = 0
    for path in root.iterdir():
        rows = []
        for line in (path / "metrics.jsonl").read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:
                pass
        json.loads((path / "request.json").read_text())
        count += len(rows)
    return count


def ticks(reader, root: Path, live: Path, n: int) -> list[float]:
    times = []
    for i in range(n):
        with open(live / "metrics.jsonl", "a") as f:  # the live run logs a row between ticks
            f.write(json.dumps({"kind": "train", "epoch": i / 47, "step": i, "examples": 128 * i}) + "\n")
        t0 = time.perf_counter()
        reader(root)
        times.append(1e3 * (time.perf_counter() - t0))
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--rows", type=int, default=470)
    ap.add_argument("--ticks", type=int, default=20)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        live = make_runs(root, a.runs, a.rows)
        list_runs(root)  # ours reads everything once, as the first tick of a new server does
        ours = ticks(list_runs, root, live, a.ticks)
        theirs = ticks(reread_everything, root, live, max(3, a.ticks // 5))
    o, t = statistics.median(ours), statistics.median(theirs)
    print(f"{a.runs} finished runs of {a.rows} rows, one live run appending")
    print(f"re-read everything (before): {t:8.1f} ms per tick (median of {len(theirs)})")
    print(f"ours (stat, appended bytes): {o:8.1f} ms per tick (median of {len(ours)}, max {max(ours):.1f})")
    print(f"ratio: {t / o:.0f}x")


if __name__ == "__main__":
    main()
