"""``python -m vgg_core gpu``: JSON and table on the stand-in, and the real module on this machine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import fake_pynvml as fake
import pynvml
import pytest
from fake_pynvml import GIB, FakeGpu

from vgg_core import gpu
from vgg_core.cli import gpu as gpu_cli
from vgg_core.cli import main

ROOT = Path(__file__).resolve().parents[1]
PID = 90_000_001


@pytest.fixture
def on_fake(monkeypatch):
    fake.configure(
        gpus=[
            FakeGpu(name="NVIDIA H100 80GB HBM3", compute_procs=[(PID, 3 * GIB)], power_mw=312_456),
            FakeGpu(name="Tesla T4", bus_id="00000000:3B:00.0", fan=35, ecc_mode=fake.NVML_FEATURE_DISABLED,
                    errors={"nvmlDeviceGetPowerUsage": fake.NVML_ERROR_NOT_SUPPORTED}, pstate=8,
                    compute_mode=fake.NVML_COMPUTEMODE_EXCLUSIVE_PROCESS),
        ],
        process_names={PID: "/usr/bin/python3"},
    )
    gpu.shutdown()
    monkeypatch.setattr(gpu, "_import_pynvml", lambda: fake)
    yield fake.machine
    gpu.shutdown()


def test_json_on_the_stand_in(on_fake, capsys) -> None:
    assert main(["gpu", "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["available"] is True and d["reason"] is None and d["driver_version"] == "550.54.15"
    assert set(d["host"]) == set(gpu.HOST_FIELDS)
    h100, t4 = d["gpus"]
    assert set(gpu.GPU_FIELDS) <= set(h100)
    assert h100["power_draw_w"] == pytest.approx(312.456)
    assert set(gpu.GPU_DETAIL_FIELDS) <= set(h100) and h100["sm_clock_mhz"] == 1980
    assert h100["processes"] == [{"pid": PID, "name": "/usr/bin/python3", "used_memory_mib": 3072, "type": "C",
                                  "sm_percent": 0}]
    assert t4["power_draw_w"] is None and t4["fan_percent"] == 35 and t4["ecc_uncorrected"] is None


def test_table_on_the_stand_in(on_fake, capsys) -> None:
    assert main(["gpu"]) == 0
    out = capsys.readouterr().out
    for header in ("Driver Version: 550.54.15", "CUDA Version: 12.4", "Persistence-M", "Bus-Id", "Disp.A",
                   "Volatile Uncorr. ECC", "Pwr:Usage/Cap", "Memory-Usage", "GPU-Util", "Compute M.", "Processes:"):
        assert header in out, header
    lines = out.splitlines()
    box = [ln for ln in lines if ln.startswith(("|", "+"))]
    assert len({len(ln) for ln in box}) == 1, "every box line the same width"
    row0 = next(i for i, ln in enumerate(lines) if "NVIDIA H100 80GB HBM3" in ln)
    assert "00000000:19:00.0 Off" in lines[row0] and lines[row0].rstrip("| ").endswith("0")
    assert "312W / 700W" in lines[row0 + 1] and "1234MiB / 81559MiB" in lines[row0 + 1] and "Default" in lines[row0 + 1]
    row1 = next(i for i, ln in enumerate(lines) if "Tesla T4" in ln)
    assert "Off |" in lines[row1].split("|")[3] + "|"  # ECC disabled shows Off
    assert "35%" in lines[row1 + 1] and "P8" in lines[row1 + 1] and "N/A / 700W" in lines[row1 + 1]
    assert "E. Process" in lines[row1 + 1]
    proc = next(ln for ln in lines if str(PID) in ln)
    assert "/usr/bin/python3" in proc and "3072MiB" in proc and " C " in proc
    assert lines[-1].startswith("Host  CPU ") and "RAM " in lines[-1]


def test_table_shows_a_lost_gpu_and_its_reason(on_fake, capsys) -> None:
    on_fake.gpus[1].lost = True
    assert main(["gpu"]) == 0
    out = capsys.readouterr().out
    assert "ERR!" in out and "GPU is lost" in out and "GPU 1 lost" in out
    assert "NVIDIA H100 80GB HBM3" in out


def test_table_without_gpu_gives_the_reason_in_full(on_fake, capsys) -> None:
    on_fake.init_error = fake.NVML_ERROR_DRIVER_NOT_LOADED
    assert main(["gpu"]) == 0
    out = " ".join(ln.strip("| ") for ln in capsys.readouterr().out.splitlines())
    assert "The NVIDIA driver is not loaded (NVML: Driver Not Loaded): showing host CPU and RAM only" in " ".join(out.split())
    assert "Host  CPU" in out


def test_watch_repeats_until_ctrl_c(on_fake, capsys, monkeypatch) -> None:
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(gpu_cli.time, "sleep", sleep)
    assert main(["gpu", "--format", "json", "--watch", "0.5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and sleeps == [0.5, 0.5, 0.5]
    assert all(json.loads(ln)["available"] for ln in lines)  # one JSON object per line
    assert on_fake.init_calls == 1


@pytest.mark.parametrize("bad", ["0", "-1", "abc", "nan", "inf", "3601"])
def test_watch_validated_one_line_exit_2(bad: str, capsys) -> None:
    assert main(["gpu", "--watch", bad]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--watch" in err and "3600" in err and repr(bad) in err


def test_bad_format_exit_2(capsys) -> None:
    assert main(["gpu", "--format", "xml"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_explain_prints_the_glossary(on_fake, capsys) -> None:
    assert main(["gpu", "--explain", "zh"]) == 0
    out = capsys.readouterr().out
    assert "P0（最大性能）到 P12（最小性能）" in out and "显存占用和 GPU 占用是两个不一样的东西" in out


# ---- the real module, on whatever this machine is (no NVIDIA driver here) ----


def _real_nvml_works() -> bool:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return False
    pynvml.nvmlShutdown()
    return True


def _run(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vgg_core", "gpu", *args], cwd=ROOT, capture_output=True, text=True, timeout=120, **kw
    )


@pytest.mark.timeout(180)
def test_real_module_json_exit_0() -> None:
    p = _run("--format", "json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert set(d) >= {"available", "reason", "driver_version", "gpus", "host"}
    assert d["host"]["ram_total_mib"] > 0 and d["host"]["cpu_count"] >= 1 and d["host"]["cpu_percent"] is not None
    if _real_nvml_works():
        assert d["available"] is True and d["gpus"] and d["driver_version"]
    else:
        assert d["available"] is False and d["gpus"] == []
        assert d["reason"] == "No NVIDIA driver found (the NVML library could not be loaded): showing host CPU and RAM only"


@pytest.mark.timeout(180)
def test_real_module_table_exit_0() -> None:
    p = _run()
    assert p.returncode == 0, p.stderr
    assert "Host  CPU" in p.stdout and "RAM" in p.stdout
    assert ("Driver Version:" in p.stdout) if _real_nvml_works() else ("No NVIDIA GPU:" in p.stdout)
    assert p.stderr == ""


@pytest.mark.timeout(180)
def test_real_module_watch_stops_on_ctrl_c_with_exit_0() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "vgg_core", "gpu", "--format", "json", "--watch", "0.2"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        first = proc.stdout.readline()  # the first reading is there: the loop is running
        json.loads(first)
        time.sleep(0.7)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert len([ln for ln in out.splitlines() if ln.strip()]) >= 1 and "Traceback" not in err


def test_gpu_is_a_registered_command() -> None:
    from vgg_core.cli import COMMANDS

    assert "gpu" in COMMANDS
    assert os.path.exists(ROOT / "vgg_core" / "cli" / "gpu.py")
