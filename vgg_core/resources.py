"""A run's own resource record: its processes' CPU and memory, and its GPUs' figures, as ``system`` rows.

While a run trains, a ``ResourceSampler`` thread in its process (rank 0's, with several) appends a
``SystemRow`` to ``metrics.jsonl`` every 2 s, and one more when it stops. Reading and row building are
apart: ``ProcessProbe`` reads psutil, ``GpuProbe`` reads NVML (every call through ``gpu.query``, so an
NVML that fails mid-run makes its fields null and never fails the run), and ``system_row`` builds the
row from what they read. ``summarize`` turns a finished run's rows into its totals, and
``live_processes`` lists the training processes of a runs folder for the GPU page (psutil only).

A row's fields (null where unknown):
  cpu_percent     CPU time of the run's processes on this machine, % of one core (200 = two busy cores),
                  summed over the ranks
  rss_mib         their resident memory, summed
  rank{r}_cpu_percent, rank{r}_rss_mib   each rank's own, with several processes on this machine
  gpu_util        % of the last sample period in which a kernel ran (NVML), mean over the run's GPUs
  gpu_mem_mib     memory in use on the run's GPUs (each card's figure, as nvidia-smi's Memory-Usage), summed
  power_w         board power, summed
  temperature_c   the hottest of the run's GPUs
  sm_clock_mhz    the slowest SM clock of the run's GPUs (a throttled card shows here)
  energy_j        energy the run's GPUs used since the first reading (NVML's total energy counter), summed
  gpu{i}_util, gpu{i}_mem_mib, gpu{i}_power_w, gpu{i}_temperature_c, gpu{i}_sm_clock_mhz, gpu{i}_energy_j
                  each GPU's own (i: its CUDA index), with several GPUs
The processes are those on rank 0's machine: with several machines, the others' are not in the record.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterable, Sequence

import psutil

from . import gpu
from .run_rows import Metrics, SystemRow, read_metrics

INTERVAL_S = 2.0
MIB = 1024 * 1024
GPU_FIELDS = ("util", "mem_mib", "power_w", "temperature_c", "sm_clock_mhz", "energy_j")
_ROW_KEYS = {"util": "gpu_util", "mem_mib": "gpu_mem_mib", "power_w": "power_w", "temperature_c": "temperature_c",
             "sm_clock_mhz": "sm_clock_mhz", "energy_j": "energy_j"}


@dataclass(frozen=True)
class ProcessSample:
    cpu_percent: float | None
    rss_mib: float | None


@dataclass(frozen=True)
class GpuSample:
    util: float | None = None
    mem_mib: float | None = None
    power_w: float | None = None
    temperature_c: float | None = None
    sm_clock_mhz: float | None = None
    energy_j: float | None = None


# --- reading -----------------------------------------------------------------------------------------


class ProcessProbe:
    """One process's CPU (since the previous reading) and resident memory."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        try:
            self._proc: psutil.Process | None = psutil.Process(pid)
            self._proc.cpu_percent(None)  # psutil's first reading is a meaningless 0.0: take it now
        except psutil.Error:
            self._proc = None

    def read(self) -> ProcessSample:
        if self._proc is None:
            return ProcessSample(None, None)
        try:
            with self._proc.oneshot():
                if self._proc.status() == psutil.STATUS_ZOMBIE:  # ended, not yet reaped: no figures
                    return ProcessSample(None, None)
                return ProcessSample(round(self._proc.cpu_percent(None), 1),
                                     round(self._proc.memory_info().rss / MIB, 1))
        except psutil.Error:
            return ProcessSample(None, None)


class GpuProbe:
    """One GPU's figures by its PCI address, each field its own ``gpu.query``: N/A alone, never raising."""

    def __init__(self, bus_id: str, nvml: ModuleType | None = None) -> None:
        self.bus_id, self.nvml = bus_id, nvml
        self._energy_start: int | None = None
        self.read()  # the energy counter's starting point

    def _ask(self, read: Callable[[ModuleType, Any], Any]) -> Any:
        return gpu.query(lambda nv: read(nv, nv.nvmlDeviceGetHandleByPciBusId(self.bus_id)), self.nvml)

    def read(self) -> GpuSample:
        util = self._ask(lambda nv, h: nv.nvmlDeviceGetUtilizationRates(h).gpu)
        mem = self._ask(lambda nv, h: gpu.memory_info(nv, h).used)
        power = self._ask(lambda nv, h: nv.nvmlDeviceGetPowerUsage(h))
        temp = self._ask(lambda nv, h: nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU))
        clock = self._ask(lambda nv, h: nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM))
        energy_mj = self._ask(lambda nv, h: nv.nvmlDeviceGetTotalEnergyConsumption(h))
        if energy_mj is not None and self._energy_start is None:
            self._energy_start = int(energy_mj)
        energy = None if energy_mj is None or self._energy_start is None else (int(energy_mj) - self._energy_start) / 1000
        return GpuSample(
            _num(util), None if mem is None else round(int(mem) / MIB, 1), None if power is None else int(power) / 1000,
            _num(temp), _num(clock), None if energy is None else round(energy, 3),
        )


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


# --- the row -------------------------------------------------------------------------------------------


def system_row(elapsed_s: float, processes: Sequence[tuple[int, ProcessSample]],
               gpus: Sequence[tuple[int, GpuSample]]) -> SystemRow:
    """One ``system`` row from what was read: (rank, sample) per process, (CUDA index, sample) per GPU."""
    values: dict[str, float | None] = {
        "cpu_percent": _total(p.cpu_percent for _, p in processes),
        "rss_mib": _total(p.rss_mib for _, p in processes),
    }
    if len(processes) > 1:
        for rank, p in processes:
            values[f"rank{rank}_cpu_percent"], values[f"rank{rank}_rss_mib"] = p.cpu_percent, p.rss_mib
    if gpus:
        samples = [s for _, s in gpus]
        values.update({
            "gpu_util": _mean(s.util for s in samples), "gpu_mem_mib": _total(s.mem_mib for s in samples),
            "power_w": _total(s.power_w for s in samples), "temperature_c": _most(s.temperature_c for s in samples),
            "sm_clock_mhz": _least(s.sm_clock_mhz for s in samples), "energy_j": _total(s.energy_j for s in samples),
        })
        if len(gpus) > 1:
            for index, s in gpus:
                values.update({f"gpu{index}_{name}": getattr(s, name) for name in GPU_FIELDS})
    return SystemRow(round(elapsed_s, 3), values)


def _known(values: Iterable[float | None]) -> list[float] | None:
    """All the values, or None if any is unknown: a total of some ranks would pass for all of them."""
    got = list(values)
    return None if not got or any(v is None for v in got) else got  # type: ignore[return-value]


def _total(values: Iterable[float | None]) -> float | None:
    got = _known(values)
    return None if got is None else round(sum(got), 3)


def _mean(values: Iterable[float | None]) -> float | None:
    got = _known(values)
    return None if got is None else round(sum(got) / len(got), 3)


def _most(values: Iterable[float | None]) -> float | None:
    got = _known(values)
    return None if got is None else max(got)


def _least(values: Iterable[float | None]) -> float | None:
    got = _known(values)
    return None if got is None else min(got)


# --- the sampler -------------------------------------------------------------------------------------


class ResourceSampler:
    """A thread that hands ``emit`` a ``SystemRow`` every ``interval`` seconds, and one more at ``stop``.

    ``processes``: (rank, pid) of the run's processes on this machine; ``gpus``: (CUDA index, PCI
    address) of its GPUs. ``cpu_seconds`` is the CPU time the sampler itself used (its cost).
    """

    def __init__(self, emit: Callable[[SystemRow], None], processes: Sequence[tuple[int, int]],
                 gpus: Sequence[tuple[int, str]] = (), interval: float = INTERVAL_S,
                 nvml: ModuleType | None = None) -> None:
        self.emit, self.interval, self.nvml = emit, interval, nvml
        self._process_ids, self._gpu_ids = list(processes), list(gpus)
        self._processes: list[tuple[int, ProcessProbe]] = []
        self._gpus: list[tuple[int, GpuProbe]] = []
        self._quit = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = time.monotonic()
        self.samples = 0
        self.cpu_seconds = 0.0

    def start(self) -> "ResourceSampler":
        self._started = time.monotonic()
        self._processes = [(rank, ProcessProbe(pid)) for rank, pid in self._process_ids]
        self._gpus = [(index, GpuProbe(bus, self.nvml)) for index, bus in self._gpu_ids]
        self._thread = threading.Thread(target=self._run, name="resource-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """End the thread, then take the last sample (a short run still has one)."""
        if self._thread is None:
            return
        self._quit.set()
        self._thread.join()
        self._thread = None
        self._emit_one()

    def __enter__(self) -> "ResourceSampler":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def sample(self) -> SystemRow:
        return system_row(time.monotonic() - self._started, [(r, p.read()) for r, p in self._processes],
                          [(i, g.read()) for i, g in self._gpus])

    def _run(self) -> None:
        while not self._quit.wait(self.interval):
            self._emit_one()

    def _emit_one(self) -> None:
        t0 = time.thread_time()
        try:
            self.emit(self.sample())
            self.samples += 1
        except Exception:  # noqa: BLE001 - a record that cannot be written must not end the training
            pass
        self.cpu_seconds += time.thread_time() - t0


# --- a finished run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResourceSummary:
    """A run's resource use, from its ``system`` rows; None where no row had the figure."""

    samples: int
    peak_rss_mib: float | None
    mean_cpu_percent: float | None
    mean_gpu_util: float | None
    peak_gpu_mem_mib: float | None
    energy_j: float | None
    energy_wh: float | None
    energy_per_epoch_j: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(rows: Sequence[SystemRow], epochs: int | None = None) -> ResourceSummary:
    """Peak memory, mean CPU and GPU use, and the energy (J, Wh, and per finished epoch)."""
    def column(key: str) -> list[float]:
        return [v for r in rows if (v := r.values.get(key)) is not None]

    rss, cpu, util, mem, energy = (column(k) for k in ("rss_mib", "cpu_percent", "gpu_util", "gpu_mem_mib", "energy_j"))
    joules = energy[-1] if energy else None
    return ResourceSummary(
        samples=len(rows), peak_rss_mib=max(rss) if rss else None,
        mean_cpu_percent=round(sum(cpu) / len(cpu), 1) if cpu else None,
        mean_gpu_util=round(sum(util) / len(util), 1) if util else None, peak_gpu_mem_mib=max(mem) if mem else None,
        energy_j=joules, energy_wh=None if joules is None else round(joules / 3600, 4),
        energy_per_epoch_j=round(joules / epochs, 3) if joules is not None and epochs else None,
    )


def run_summary(run_dir: str | os.PathLike, metrics: Metrics | None = None) -> ResourceSummary:
    """``summarize`` for a run folder: its rows, and its epochs from the final status (or its evaluations)."""
    metrics = metrics if metrics is not None else read_metrics(Path(run_dir))
    last = metrics.last_status
    epochs = last.summary.get("epochs_completed") if last is not None else None
    done = int(epochs) if epochs is not None else len(metrics.evals)
    return summarize(metrics.system, done)


# --- the training processes of a runs folder ---------------------------------------------------------


@dataclass(frozen=True)
class LiveProcess:
    """One process of a live run, for the GPU page's process list on any machine."""

    pid: int
    run_id: str
    rank: int | None  # with several processes
    cpu_percent: float | None  # since the previous listing (the first: since the process started)
    rss_mib: float | None
    run_seconds: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_seen: dict[tuple[int, float], psutil.Process] = {}
_seen_lock = threading.Lock()


def live_processes(root: str | os.PathLike | None = None) -> list[LiveProcess]:
    """Every process training a live run under ``root`` on this machine: pid, run, CPU, memory, time."""
    from .ddp import HOST
    from .runs import list_runs

    found, keys = [], set()
    for record in list_runs(root):
        if not record.state.live or record.state.pid is None:
            continue
        ranks = record.config.ranks if record.config is not None else []
        pids = [(r.rank, r.pid) for r in ranks if r.host == HOST] or [(None, record.state.pid)]
        found += [p for rank, pid in pids if (p := _process(pid, record.run_id, rank, keys)) is not None]
    with _seen_lock:  # forget processes that ended
        for key in set(_seen) - keys:
            del _seen[key]
    return found


def _process(pid: int, run_id: str, rank: int | None, keys: set) -> LiveProcess | None:
    """A process's figures; its CPU % since the last listing needs the same psutil object, kept by
    (pid, start time) so a reused pid is a new process."""
    try:
        proc = psutil.Process(pid)
        key = (pid, proc.create_time())
        keys.add(key)
        with _seen_lock:
            first = key not in _seen
            proc = _seen.setdefault(key, proc)
        with proc.oneshot():
            age = max(time.time() - key[1], 1e-3)
            times = proc.cpu_times()
            cpu = 100 * (times.user + times.system) / age if first else proc.cpu_percent(None)
            if first:
                proc.cpu_percent(None)
            return LiveProcess(pid, run_id, rank, round(cpu, 1), round(proc.memory_info().rss / MIB, 1), round(age, 1))
    except psutil.Error:
        return None


__all__ = [
    "ResourceSampler", "ProcessProbe", "GpuProbe", "ProcessSample", "GpuSample", "system_row", "summarize",
    "run_summary", "ResourceSummary", "LiveProcess", "live_processes", "INTERVAL_S",
]
