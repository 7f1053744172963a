"""The run's resource record: rows built from readings, NVML through the stand-in (failing mid-run
too), and a real CPU run whose record matches what psutil says of the same process."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import fake_pynvml as fake
import psutil
import pytest
from fake_pynvml import MIB, FakeGpu

from test_engine_train import check_rows, read_metrics
from vgg_core import gpu
from vgg_core.data import DEBIAN_DIR
from vgg_core.job import StopRequest, run_job
from vgg_core.request import TrainRequest, TrainSettings
from vgg_core.resources import (INTERVAL_S, GpuProbe, GpuSample, ProcessSample, ResourceSampler, live_processes,
                                run_summary, summarize, system_row)
from vgg_core.run_folder import request_stop
from vgg_core.run_writer import RunWriter
from vgg_core.run_rows import SystemRow
from vgg_core.spec import ArchSpec

BUS = "00000000:19:00.0"


@pytest.fixture
def nvml(monkeypatch):
    fake.configure(gpus=[FakeGpu(bus_id=BUS)])
    gpu.shutdown()
    monkeypatch.setattr(gpu, "_import_pynvml", lambda: fake)
    yield fake
    gpu.shutdown()


# --- rows from readings ----------------------------------------------------------------------------------


def test_one_process_row() -> None:
    row = system_row(2.0004, [(0, ProcessSample(97.5, 812.25))], [])
    assert row == SystemRow(2.0, {"cpu_percent": 97.5, "rss_mib": 812.25})


def test_ranks_and_gpus_are_summed_and_kept_each() -> None:
    a = GpuSample(util=90, mem_mib=1000, power_w=300.5, temperature_c=61, sm_clock_mhz=1980, energy_j=10)
    b = GpuSample(util=70, mem_mib=3000, power_w=250, temperature_c=66, sm_clock_mhz=1755, energy_j=5.5)
    row = system_row(4, [(0, ProcessSample(100, 900)), (1, ProcessSample(95, 880))], [(0, a), (1, b)])
    v = row.values
    assert (v["cpu_percent"], v["rss_mib"], v["rank1_cpu_percent"], v["rank0_rss_mib"]) == (195, 1780, 95, 900)
    assert (v["gpu_util"], v["gpu_mem_mib"], v["power_w"]) == (80, 4000, 550.5)
    assert (v["temperature_c"], v["sm_clock_mhz"], v["energy_j"]) == (66, 1755, 15.5)  # hottest, slowest, total
    assert (v["gpu1_util"], v["gpu0_energy_j"], v["gpu1_sm_clock_mhz"]) == (70, 10, 1755)


def test_an_unknown_figure_is_never_passed_off_as_a_total() -> None:
    row = system_row(2, [(0, ProcessSample(100, 900)), (1, ProcessSample(None, None))],
                     [(0, GpuSample(util=90)), (1, GpuSample(util=None))])
    v = row.values
    assert v["cpu_percent"] is None and v["rss_mib"] is None and v["rank0_cpu_percent"] == 100
    assert v["gpu_util"] is None and v["gpu0_util"] == 90 and v["energy_j"] is None


# --- NVML, through the stand-in --------------------------------------------------------------------------


def test_gpu_probe_finds_the_card_by_pci_address_and_counts_energy_from_its_start(nvml) -> None:
    card = fake.machine.gpus[0]
    card.util_gpu, card.used, card.power_mw, card.temperature, card.sm_clock = 93, 2048 * MIB, 312_456, 71, 1_410
    probe = GpuProbe("0000:19:00.0", nvml=fake)  # torch writes the domain in 4 digits, NVML in 8
    card.energy_mj += 45_678
    s = probe.read()
    assert s == GpuSample(util=93, mem_mib=2048, power_w=312.456, temperature_c=71, sm_clock_mhz=1410, energy_j=45.678)


def test_nvml_failing_mid_run_makes_fields_null_and_the_run_goes_on(nvml) -> None:
    rows: list[SystemRow] = []
    sampler = ResourceSampler(rows.append, [(0, os.getpid())], [(0, BUS)], interval=0.05, nvml=fake).start()
    try:
        wait_until(lambda: len(rows) >= 2)
        assert rows[-1].values["gpu_util"] == 97 and rows[-1].values["energy_j"] == 0
        fake.machine.gpus[0].errors = {"nvmlDeviceGetUtilizationRates": fake.NVML_ERROR_UNKNOWN,
                                       "nvmlDeviceGetTotalEnergyConsumption": fake.NVML_ERROR_NOT_SUPPORTED}
        seen = len(rows)
        wait_until(lambda: len(rows) >= seen + 2)
        v = rows[-1].values
        assert v["gpu_util"] is None and v["energy_j"] is None  # those two alone
        assert v["power_w"] == pytest.approx(71.234) and v["gpu_mem_mib"] == 1234 and v["rss_mib"] > 10
        fake.machine.gpus[0].lost = True  # the card falls off the bus
        seen = len(rows)
        wait_until(lambda: len(rows) >= seen + 2)
        assert all(rows[-1].values[k] is None for k in ("gpu_util", "gpu_mem_mib", "power_w", "temperature_c",
                                                       "sm_clock_mhz", "energy_j"))
        assert rows[-1].values["cpu_percent"] is not None
        fake.machine.gpus[0].lost, fake.machine.gpus[0].errors = False, {}
        fake.nvmlShutdown()  # someone shuts NVML down under us: the next query starts it again
        seen = len(rows)
        wait_until(lambda: len(rows) >= seen + 2)
        assert rows[-1].values["gpu_util"] == 97
    finally:
        sampler.stop()
    assert sampler.samples == len(rows)


def test_no_nvml_at_all_gives_nulls(monkeypatch) -> None:
    fake.configure(init_error=fake.NVML_ERROR_LIBRARY_NOT_FOUND)
    gpu.shutdown()
    monkeypatch.setattr(gpu, "_import_pynvml", lambda: fake)
    try:
        assert GpuProbe(BUS).read() == GpuSample()
    finally:
        gpu.shutdown()


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.02)


# --- a real run on the CPU -------------------------------------------------------------------------------


@pytest.mark.timeout(180)
@pytest.mark.skipif(not DEBIAN_DIR.is_dir(), reason="needs Debian's dataset-fashion-mnist")
def test_a_cpu_run_records_its_own_process_as_psutil_sees_it(tmp_path: Path) -> None:
    """A run stopped after ~7 s: rows every 2 s; its CPU time and memory agree with psutil's own count."""
    spec = ArchSpec(conv_arch=((1, 8), (1, 16)), input_size=28, fc_width=64)
    request = TrainRequest(spec, TrainSettings(epochs=200, max_train_examples=2000, max_test_examples=200,
                                               device="cpu", seed=1))
    run_dir = tmp_path / "run"
    import torchvision  # noqa: F401 - run_job imports it (for its version) before its record starts: not in the window

    me = psutil.Process()
    timer = threading.Timer(7.0, lambda: request_stop(run_dir))
    cpu_before, wall_before = sum(me.cpu_times()[:2]), time.monotonic()
    timer.start()
    result = run_job(request, request.check(), run_dir, stop=StopRequest())
    cpu_used, wall = sum(me.cpu_times()[:2]) - cpu_before, time.monotonic() - wall_before
    timer.cancel()
    rss_after = me.memory_info().rss / MIB
    assert result.state == "stopped"
    rows = read_metrics(run_dir)
    check_rows(rows)
    system = [r for r in rows if r["kind"] == "system"]
    times = [r["elapsed_s"] for r in system]
    assert len(system) >= 3 and all(abs(b - a - INTERVAL_S) < 0.6 for a, b in zip(times, times[1:-1]))
    assert times[-1] <= wall
    # CPU: the percentages over their intervals add up to the CPU seconds psutil counts for this process.
    recorded = sum(r["cpu_percent"] / 100 * (b - a) for r, a, b in zip(system, [0.0, *times], times))
    assert recorded == pytest.approx(cpu_used, rel=0.25, abs=0.5), (recorded, cpu_used)
    assert all(0 < r["cpu_percent"] <= 100 * psutil.cpu_count() + 1 for r in system)
    # Memory: the last sample is this process's resident size at the end, as psutil has it now.
    assert system[-1]["rss_mib"] == pytest.approx(rss_after, rel=0.15)
    summary = run_summary(run_dir)
    assert summary.samples == len(system) and summary.peak_rss_mib == max(r["rss_mib"] for r in system)
    assert summary.energy_j is None and summary.mean_gpu_util is None  # no GPU: unknown, not zero


def test_summary_of_a_gpu_run() -> None:
    rows = [SystemRow(2.0 * i, {"rss_mib": r, "cpu_percent": c, "gpu_util": u, "gpu_mem_mib": m, "energy_j": e})
            for i, (r, c, u, m, e) in enumerate([(900, 100, 80, 4000, 500), (950, 98, 90, 4100, 1100),
                                                  (940, 96, None, 4050, 1800)], start=1)]
    s = summarize(rows, epochs=3)
    assert (s.samples, s.peak_rss_mib, s.mean_cpu_percent, s.mean_gpu_util, s.peak_gpu_mem_mib) == (3, 950, 98, 85, 4100)
    assert (s.energy_j, s.energy_wh, s.energy_per_epoch_j) == (1800, 0.5, 600)
    assert summarize([], epochs=0).energy_per_epoch_j is None


def test_live_processes_of_a_runs_folder(tmp_path: Path) -> None:
    """A live one-process run (this very process says it trains): pid, run, CPU, memory and age, from psutil."""
    writer = RunWriter(tmp_path / "run-a")
    writer.status("running", pid=os.getpid())
    writer.close()
    finished = RunWriter(tmp_path / "run-b")
    finished.status("completed", pid=os.getpid())
    finished.close()
    me = psutil.Process()
    (first,) = live_processes(tmp_path)
    assert (first.pid, first.run_id, first.rank) == (os.getpid(), "run-a", None)
    assert first.rss_mib == pytest.approx(me.memory_info().rss / MIB, rel=0.2)
    assert first.run_seconds == pytest.approx(time.time() - me.create_time(), abs=2)
    lifetime = 100 * sum(me.cpu_times()[:2]) / (time.time() - me.create_time())
    assert first.cpu_percent == pytest.approx(lifetime, rel=0.2, abs=5)  # the first listing: since it started
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:  # busy for a moment: the next listing's CPU is since the last one
        pass
    (second,) = live_processes(tmp_path)
    assert second.cpu_percent > 20
