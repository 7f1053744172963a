"""On a CUDA machine: launch d2l's run exactly as the Train page does, and read the GPU beside it.

The page calls ``vgg_core.launch.start_run`` (the ``train`` CLI in its own process); while it
trains, this script takes ``vgg_core.gpu.snapshot()`` and nvidia-smi's own query side by side.
Usage: python benchmarks/gpu_app_check.py DATA_DIR [--epochs 10] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vgg_core import gpu  # noqa: E402
from vgg_core.launch import TrainRequest, start_run  # noqa: E402
from vgg_core.runs import read_config, read_metrics, run_state  # noqa: E402
from vgg_core.spec import preset  # noqa: E402

QUERY = ("index,name,fan.speed,temperature.gpu,pstate,persistence_mode,power.draw,power.limit,pci.bus_id,"
         "display_active,memory.used,memory.total,utilization.gpu,ecc.errors.uncorrected.volatile.total,compute_mode")


def side_by_side(out: Path, tag: str) -> None:
    ours = gpu.snapshot().to_dict()
    smi = subprocess.run(["nvidia-smi", f"--query-gpu={QUERY}", "--format=csv"], capture_output=True, text=True).stdout
    apps = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,process_name,used_memory", "--format=csv"],
                          capture_output=True, text=True).stdout
    (out / f"gpu_{tag}.json").write_text(json.dumps(ours, indent=1))
    print(f"--- {tag}: nvidia-smi\n{smi}{apps}--- {tag}: vgg_core gpu")
    for g in ours["gpus"]:
        print({k: g[k] for k in gpu.GPU_FIELDS if k != "processes"})
        print("processes:", g["processes"])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("data_dir")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--out", default=os.environ.get("OUT", "/tmp/gpu_app_check"))
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ["VGG_DATA_DIR"] = str(Path(args.data_dir).resolve())
    side_by_side(out, "idle")
    # The page's "d2l settings": VGG-11 ratio 4 at 224, lr 0.05, 10 epochs, batch 128, device auto.
    t0 = time.time()
    run_dir = start_run(preset("d2l"), TrainRequest(epochs=args.epochs, lr=0.05, batch_size=128, device="auto"),
                        out / "runs")
    snapped = False
    while run_state(run_dir).state in ("starting", "running"):
        rows = read_metrics(run_dir)
        if not snapped and sum(r["kind"] == "train" for r in rows) >= 20:
            side_by_side(out, "training")
            snapped = True
        time.sleep(0.5)
    wall = time.time() - t0
    rows = read_metrics(run_dir)
    cfg = read_config(run_dir) or {}
    print(f"--- run {run_dir.name}: {run_state(run_dir)}, {wall:.1f} s wall from launch to final status")
    print("device:", cfg.get("device"), cfg.get("device_name"), "amp:", cfg.get("amp_dtype"), "versions:", cfg.get("versions"))
    print("evals:", [(r["epoch"], r["test_acc"]) for r in rows if r["kind"] == "eval"])
    print("final:", rows[-1])
    print((run_dir / "log.txt").read_text()[-400:])
    (out / "metrics.jsonl").write_text((run_dir / "metrics.jsonl").read_text())


if __name__ == "__main__":
    main()
