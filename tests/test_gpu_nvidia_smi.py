"""On a machine with an NVIDIA GPU: ``python -m vgg_core gpu`` against nvidia-smi, field by field.

Skipped where nvidia-smi is absent. Run as a script (``python tests/test_gpu_nvidia_smi.py``) it prints
nvidia-smi's CSV, our JSON and a side-by-side table for the issue's closing note; best run while a
training run keeps the GPU busy.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# nvidia-smi's query name -> our key, in the order
QUERY = {
    "index": "index",
    "name": "name",
    "fan.speed": "fan_percent",
    "temperature.gpu": "temperature_c",
    "pstate": "performance_state",
    "persistence_mode": "persistence_mode",
    "power.draw": "power_draw_w",
    "power.limit": "power_limit_w",
    "pci.bus_id": "bus_id",
    "display_active": "display_active",
    "memory.used": "memory_used_mib",
    "memory.total": "memory_total_mib",
    "utilization.gpu": "utilization_percent",
    "ecc.errors.uncorrected.volatile.total": "ecc_uncorrected",
    "compute_mode": "compute_mode",
}
# Fields that move from one instant to the next, and how far apart two readings may be.
MOVING = {"temperature.gpu": 5, "power.draw": 100.0, "memory.used": 1024, "utilization.gpu": 50}
# Can change between two readings while a run warms up or winds down.
STATE = {"pstate"}

needs_gpu = pytest.mark.skipif(shutil.which("nvidia-smi") is None, reason="no nvidia-smi: no NVIDIA GPU here")


def smi(fields: list[str], units: bool = False) -> str:
    fmt = "csv" if units else "csv,noheader,nounits"
    return subprocess.run(
        ["nvidia-smi", f"--query-gpu={','.join(fields)}", f"--format={fmt}"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout


def _smi_value(text: str) -> str | None:
    text = text.strip()
    return None if text.startswith("[") or text in ("N/A", "") else text


def ours_as_smi(key: str, value) -> str | None:
    """Our JSON value written as nvidia-smi's CSV writes it, so the two compare as text or numbers."""
    if value is None:
        return None
    if key in ("persistence_mode", "display_active"):
        return "Enabled" if value else "Disabled"
    if key == "compute_mode":
        return value.replace(" ", "_")
    return str(value)


def compare(smi_csv: str, ours: dict) -> list[dict]:
    """One row per GPU and field: nvidia-smi's value, ours, and whether they agree."""
    rows = []
    for line, g in zip(smi_csv.strip().splitlines(), ours["gpus"]):
        values = [v.strip() for v in line.split(", ")]
        for (field, key), raw in zip(QUERY.items(), values):
            theirs, mine = _smi_value(raw), ours_as_smi(key, g[key])
            if theirs is None or mine is None:
                ok = theirs is None and mine is None
            elif field in MOVING:
                ok = abs(float(theirs) - float(mine)) <= MOVING[field]
            elif field in ("power.limit",):
                ok = abs(float(theirs) - float(mine)) < 0.01
            elif field in STATE:
                ok = True
            else:
                ok = theirs == mine
            rows.append({"gpu": g["index"], "field": field, "nvidia_smi": raw, "ours": g[key], "agree": ok})
    return rows


def ours_json() -> dict:
    p = subprocess.run(
        [sys.executable, "-m", "vgg_core", "gpu", "--format", "json"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@needs_gpu
@pytest.mark.timeout(300)
def test_every_field_agrees_with_nvidia_smi() -> None:
    ours = ours_json()
    theirs = smi(list(QUERY))
    assert ours["available"], ours["reason"]
    assert len(ours["gpus"]) == len(theirs.strip().splitlines())
    bad = [r for r in compare(theirs, ours) if not r["agree"]]
    assert not bad, bad


@needs_gpu
@pytest.mark.timeout(300)
def test_driver_and_processes_agree_with_nvidia_smi() -> None:
    ours = ours_json()
    driver = smi(["driver_version"]).strip().splitlines()[0]
    assert ours["driver_version"] == driver
    apps = subprocess.run(
        ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    theirs = {int(p): m for p, m in (ln.split(", ") for ln in apps.strip().splitlines() if ln.strip())}
    mine = {p["pid"]: p for g in ours["gpus"] for p in g["processes"] or [] if "C" in p["type"]}
    assert set(theirs) <= set(mine), (theirs, mine)
    for pid, used in theirs.items():
        if used.strip().isdigit() and mine[pid]["used_memory_mib"] is not None:
            assert abs(int(used) - mine[pid]["used_memory_mib"]) <= 1024


def main() -> None:
    ours = ours_json()
    print("$ nvidia-smi --query-gpu=" + ",".join(QUERY) + " --format=csv")
    print(smi(list(QUERY), units=True))
    print("$ python -m vgg_core gpu --format json")
    print(json.dumps(ours, indent=2))
    theirs = smi(list(QUERY))
    print("| GPU | nvidia-smi field | nvidia-smi | python -m vgg_core gpu | agree |")
    print("| --- | --- | --- | --- | --- |")
    for r in compare(theirs, ours):
        print(f"| {r['gpu']} | {r['field']} | {r['nvidia_smi']} | {json.dumps(r['ours'])} | {'yes' if r['agree'] else 'NO'} |")


if __name__ == "__main__":
    main()
