"""GPU and host figures through NVML (``nvidia-ml-py``, imported as ``pynvml``): nvidia-smi's table as data.

Why NVML and not nvidia-smi's text: the same numbers, typed, without a subprocess per poll. NVML is
initialised once per process (lazily, under a lock, so several Streamlit sessions can poll at once); a
failed start is remembered and retried only every ``RETRY_SECONDS``, so a GPU-less laptop polls cheaply.
A field NVML cannot give is ``None`` (shown as N/A) on its own; a lost GPU is marked ``lost`` while the
others still report; no library, no driver or no GPU gives ``available=False`` and a readable ``reason``.
``snapshot()`` never raises.

Beyond nvidia-smi's table (``GPU_DETAIL_FIELDS``): the SM and memory clocks, why the clocks are held
down (NVML's clock event or throttle reasons, as names: ``THROTTLE_REASONS``), PCIe throughput, and
each process's share of the SM time (``ProcessInfo.sm_percent``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any, Callable, TypeVar

import psutil

from .problems import Problem, problem

RETRY_SECONDS = 30.0  # after a failed nvmlInit, wait this long before trying again
MIB = 1024 * 1024

# NVML's compute modes (nvmlComputeMode_t) by value; nvidia-smi prints the same names.
COMPUTE_MODES = {0: "Default", 1: "Exclusive Thread", 2: "Prohibited", 3: "Exclusive Process"}

# NVML return codes this module treats specially (the values are NVML's ABI, identical in every pynvml).
_UNINITIALIZED, _NOT_FOUND, _GPU_IS_LOST = 1, 6, 15
_PSTATE_UNKNOWN = 32

# Reasons for a failed start, by NVML error code; anything else quotes NVML's own message.
_INIT_REASONS = {
    12: "nvml_no_driver",
    9: "nvml_driver_not_loaded",
    4: "nvml_no_permission",
    18: "nvml_mismatch",
    28: "nvml_gpu_not_found",
}
LOST_REASON = problem("gpu_lost")

# NVML's clock event (throttle) reason bits, by the name the glossary explains them under
# (nvmlClocksEventReason* / nvmlClocksThrottleReason* in pynvml; the same bits under both names).
THROTTLE_REASONS = {
    0x1: "gpu_idle", 0x2: "applications_clocks", 0x4: "sw_power_cap", 0x8: "hw_slowdown", 0x10: "sync_boost",
    0x20: "sw_thermal", 0x40: "hw_thermal", 0x80: "hw_power_brake", 0x100: "display_clocks",
    0x200: "board_limit", 0x400: "reliability",
}
PROCESS_UTIL_WINDOW_S = 1.0  # a process's SM share: NVML's samples over this last stretch
_FUNCTION_NOT_FOUND = 13


@dataclass
class ProcessInfo:
    pid: int
    name: str | None
    used_memory_mib: int | None
    type: str  # "C" compute, "G" graphics, "C+G" both, as nvidia-smi's Type column
    sm_percent: int | None = None  # its share of the SM time lately (0: no kernel of its own ran)


@dataclass
class GpuInfo:
    """One row of nvidia-smi's table; ``None`` means N/A for that field alone."""

    index: int
    name: str | None = None
    fan_percent: int | None = None
    temperature_c: int | None = None
    performance_state: str | None = None
    persistence_mode: bool | None = None
    power_draw_w: float | None = None
    power_limit_w: float | None = None
    bus_id: str | None = None
    display_active: bool | None = None
    memory_used_mib: int | None = None
    memory_total_mib: int | None = None
    utilization_percent: int | None = None
    ecc_enabled: bool | None = None
    ecc_uncorrected: int | None = None
    compute_mode: str | None = None
    processes: list[ProcessInfo] | None = None
    sm_clock_mhz: int | None = None
    memory_clock_mhz: int | None = None
    throttle_reasons: list[str] | None = None  # THROTTLE_REASONS names; [] when nothing holds the clocks down
    pcie_tx_kb_s: int | None = None
    pcie_rx_kb_s: int | None = None
    lost: bool = False
    reason: Problem | None = None
    # field -> NVML's message for each field that is N/A because NVML said no ("Not Supported", ...).
    na_reasons: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["reason"] = None if self.reason is None else str(self.reason)
        return d


@dataclass
class HostInfo:
    cpu_percent: float | None
    cpu_count: int | None
    ram_used_mib: int | None
    ram_total_mib: int | None
    ram_percent: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Snapshot:
    available: bool
    reason: Problem | None
    driver_version: str | None
    cuda_version: str | None
    gpus: list[GpuInfo]
    host: HostInfo
    timestamp: float  # seconds since the epoch, when the figures were read

    def to_dict(self) -> dict[str, Any]:
        return {
            "available": self.available,
            "reason": None if self.reason is None else str(self.reason),
            "driver_version": self.driver_version,
            "cuda_version": self.cuda_version,
            "gpus": [g.to_dict() for g in self.gpus],
            "host": self.host.to_dict(),
            "timestamp": self.timestamp,
        }


# Every per-GPU figure, in nvidia-smi's reading order: the UI and the glossary walk this.
GPU_FIELDS = (
    "index", "name", "fan_percent", "temperature_c", "performance_state", "persistence_mode",
    "power_draw_w", "power_limit_w", "bus_id", "display_active", "memory_used_mib", "memory_total_mib",
    "utilization_percent", "ecc_enabled", "ecc_uncorrected", "compute_mode", "processes",
)
# What NVML tells beyond nvidia-smi's table.
GPU_DETAIL_FIELDS = ("sm_clock_mhz", "memory_clock_mhz", "throttle_reasons", "pcie_tx_kb_s", "pcie_rx_kb_s")
PROCESS_FIELDS = ("pid", "name", "used_memory_mib", "type", "sm_percent")
HOST_FIELDS = ("cpu_percent", "cpu_count", "ram_used_mib", "ram_total_mib", "ram_percent")


# ---------------------------------------------------------------------------------------------------
# NVML session: one per process, shared by every thread.


class _Session:
    """NVML's start-up state; real state shared across threads, hence a class with a lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.module: ModuleType | None = None
        self.ready = False
        self.reason: Problem | None = None
        self.failed_at: float | None = None
        self.driver_version: str | None = None
        self.cuda_version: str | None = None
        self.count = 0


_session = _Session()
T = TypeVar("T")
_clock: Callable[[], float] = time.monotonic  # tests move time forward through this


def _import_pynvml() -> ModuleType:
    """The real NVML binding; tests replace this accessor with a stand-in."""
    import pynvml

    return pynvml


def _text(value: Any) -> str:
    """pynvml returns str in recent versions and bytes in older ones (and in ctypes char arrays)."""
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _code(exc: BaseException) -> int | None:
    return getattr(exc, "value", None)


def _init_reason(nv: ModuleType | None, exc: BaseException) -> Problem:
    if nv is None:
        reason = problem("nvml_not_installed", detail=str(exc))
    elif isinstance(exc, nv.NVMLError):
        code = _INIT_REASONS.get(_code(exc))
        reason = problem(code) if code else problem("nvml_could_not_start", detail=f"NVML: {exc}")
    else:
        reason = problem("nvml_could_not_start", detail=f"{type(exc).__name__}: {exc}")
    return problem("no_gpu", reason=reason)


def _ensure(nv_given: ModuleType | None) -> tuple[ModuleType | None, Problem | None]:
    """Start NVML once; returns (module, None) when ready, else (module or None, reason)."""
    s = _session
    with s.lock:
        try:
            nv = nv_given if nv_given is not None else _import_pynvml()
        except Exception as e:  # ImportError, or a broken installation
            return None, _init_reason(None, e)
        if s.module is not nv:
            _shutdown_locked()
            s.module = nv
        if s.ready:
            return nv, None
        if s.failed_at is not None and _clock() - s.failed_at < RETRY_SECONDS:
            return nv, s.reason
        try:
            nv.nvmlInit()
        except Exception as e:
            s.reason, s.failed_at = _init_reason(nv, e), _clock()
            return nv, s.reason
        s.ready, s.reason, s.failed_at = True, None, None
        s.driver_version = _optional(lambda: _text(nv.nvmlSystemGetDriverVersion()))
        s.cuda_version = _optional(lambda: _cuda_text(nv.nvmlSystemGetCudaDriverVersion()))
        try:
            s.count = int(nv.nvmlDeviceGetCount())
        except Exception as e:
            _shutdown_locked()
            s.module = nv
            s.reason, s.failed_at = _init_reason(nv, e), _clock()
            return nv, s.reason
        return nv, None


def query(read: Callable[[ModuleType], T], nvml: ModuleType | None = None) -> T | None:
    """Every NVML call outside ``snapshot`` goes through here: the one shared session, started once,
    and None (never an exception) when NVML is missing, failing or the call is refused."""
    nv = None
    for attempt in (1, 2):
        try:
            nv, reason = _ensure(nvml)
            if reason is not None or nv is None:
                return None
            return read(nv)
        except Exception as e:  # noqa: BLE001 - a figure NVML cannot give is simply unknown
            if attempt == 1 and _code(e) == _UNINITIALIZED and nv is not None:
                _invalidate(nv)  # somebody shut NVML down under us: start it again, once
                continue
            return None
    return None


def _optional(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except Exception:  # an old driver without the call: the header shows N/A
        return None


def _cuda_text(version: int) -> str:
    """NVML gives 12040 for CUDA 12.4, the figure nvidia-smi prints as 'CUDA Version: 12.4'."""
    return f"{version // 1000}.{version % 1000 // 10}"


def _shutdown_locked() -> None:
    s = _session
    if s.ready and s.module is not None:
        try:
            s.module.nvmlShutdown()
        except Exception:
            pass
    s.reset()


def shutdown() -> None:
    """Close NVML and forget every remembered state (tests, or a host that wants a fresh start)."""
    with _session.lock:
        _shutdown_locked()


def _invalidate(nv: ModuleType) -> None:
    """Somebody shut NVML down under us (NVML_ERROR_UNINITIALIZED): start again on the next call."""
    with _session.lock:
        if _session.module is nv:
            _session.ready = False


# ---------------------------------------------------------------------------------------------------
# Reading one GPU.


class _Lost(Exception):
    pass


class _Reinit(Exception):
    pass


class _Reader:
    """Reads fields of one GPU; a field NVML refuses becomes None with NVML's message kept."""

    def __init__(self, nv: ModuleType, info: GpuInfo) -> None:
        self.nv, self.info = nv, info
        mismatch = getattr(nv, "NVMLLibraryMismatchError", None)
        self.errors: tuple[type[BaseException], ...] = (nv.NVMLError,) + ((mismatch,) if mismatch else ())

    def get(self, name: str, read: Callable[[], Any]) -> Any:
        try:
            return read()
        except self.errors as e:
            code = _code(e)
            if code == _GPU_IS_LOST:
                raise _Lost from e
            if code == _UNINITIALIZED:
                raise _Reinit from e
            self.info.na_reasons[name] = str(e)
            return None


def on_off(value: bool | None) -> str:
    """How nvidia-smi writes a switch: On, Off, or N/A where NVML has no answer."""
    return "N/A" if value is None else ("On" if value else "Off")


def _pstate(value: int) -> str | None:
    return None if value == _PSTATE_UNKNOWN or value < 0 else f"P{value}"


def memory_info(nv: ModuleType, handle: Any) -> Any:
    """A GPU's memory (total, used, ...) as nvidia-smi counts it, for ``query`` callers."""
    return _memory(nv, handle)


def _memory(nv: ModuleType, handle: Any) -> Any:
    """The v2 figures are nvidia-smi's (used excludes driver-reserved memory); v1 on older drivers."""
    version = getattr(nv, "nvmlMemory_v2", None)
    if version is not None:
        try:
            return nv.nvmlDeviceGetMemoryInfo(handle, version=version)
        except nv.NVMLError as e:
            if _code(e) in (_GPU_IS_LOST, _UNINITIALIZED):
                raise
    return nv.nvmlDeviceGetMemoryInfo(handle)


def _power_limit(nv: ModuleType, handle: Any) -> int:
    try:
        return nv.nvmlDeviceGetEnforcedPowerLimit(handle)
    except nv.NVMLError as e:
        if _code(e) in (_GPU_IS_LOST, _UNINITIALIZED):
            raise
        return nv.nvmlDeviceGetPowerManagementLimit(handle)


def _ecc_uncorrected(nv: ModuleType, handle: Any, enabled: bool | None) -> int | None:
    """NVML counts ECC errors only while ECC is on; off or absent is N/A, as in nvidia-smi."""
    if not enabled:
        return None
    return int(nv.nvmlDeviceGetTotalEccErrors(handle, nv.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, nv.NVML_VOLATILE_ECC))


def _process_name(nv: ModuleType, pid: int) -> str | None:
    try:
        return _text(nv.nvmlSystemGetProcessName(pid)) or None
    except nv.NVMLError as e:
        if _code(e) in (_GPU_IS_LOST, _UNINITIALIZED):
            raise
    try:  # NVML may not see a process of another PID namespace; psutil may
        return psutil.Process(pid).name()
    except (psutil.Error, ValueError):
        return None


def _processes(nv: ModuleType, handle: Any, reader: _Reader) -> list[ProcessInfo] | None:
    """Compute and graphics processes merged by pid, as nvidia-smi lists them."""
    compute = reader.get("processes", lambda: nv.nvmlDeviceGetComputeRunningProcesses(handle))
    graphics = reader.get("processes", lambda: nv.nvmlDeviceGetGraphicsRunningProcesses(handle))
    if compute is None and graphics is None:
        return None
    reader.info.na_reasons.pop("processes", None)
    merged: dict[int, ProcessInfo] = {}
    for kind, procs in (("C", compute or []), ("G", graphics or [])):
        for p in procs:
            used = getattr(p, "usedGpuMemory", None)
            mib = None if used is None else int(used) // MIB
            pid = int(p.pid)
            if pid in merged:
                old = merged[pid]
                old.type = "C+G"
                old.used_memory_mib = old.used_memory_mib if old.used_memory_mib is not None else mib
            else:
                merged[pid] = ProcessInfo(pid=pid, name=None, used_memory_mib=mib, type=kind)
    for proc in merged.values():
        proc.name = _process_name(nv, proc.pid)
    shares = reader.get("processes.sm_percent", lambda: _sm_shares(nv, handle))
    for proc in merged.values():
        proc.sm_percent = None if shares is None else shares.get(proc.pid, 0)
    return list(merged.values())


def _sm_shares(nv: ModuleType, handle: Any) -> dict[int, int]:
    """pid -> mean SM utilisation over NVML's samples of the last ``PROCESS_UTIL_WINDOW_S``; NVML
    says Not Found when no process ran a kernel then (every share is 0)."""
    since = int((time.time() - PROCESS_UTIL_WINDOW_S) * 1e6)
    try:
        samples = nv.nvmlDeviceGetProcessUtilization(handle, since)
    except nv.NVMLError as e:
        if _code(e) == _NOT_FOUND:
            return {}
        raise
    by_pid: dict[int, list[int]] = {}
    for sample in samples:
        by_pid.setdefault(int(sample.pid), []).append(int(sample.smUtil))
    return {pid: round(sum(v) / len(v)) for pid, v in by_pid.items()}


def _throttle_reasons(nv: ModuleType, handle: Any) -> list[str]:
    """Why the clocks are held down, as names; NVML's newer call first, its older name on older drivers."""
    try:
        bits = int(nv.nvmlDeviceGetCurrentClocksEventReasons(handle))
    except (AttributeError, nv.NVMLError) as e:
        if isinstance(e, nv.NVMLError) and _code(e) != _FUNCTION_NOT_FOUND:
            raise
        bits = int(nv.nvmlDeviceGetCurrentClocksThrottleReasons(handle))
    names = [name for bit, name in THROTTLE_REASONS.items() if bits & bit]
    rest = bits & ~sum(THROTTLE_REASONS)
    return names + ([f"other_{rest:#x}"] if rest else [])


def _read_details(nv: ModuleType, handle: Any, info: GpuInfo, r: "_Reader") -> None:
    info.sm_clock_mhz = r.get("sm_clock_mhz", lambda: int(nv.nvmlDeviceGetClockInfo(handle, nv.NVML_CLOCK_SM)))
    info.memory_clock_mhz = r.get("memory_clock_mhz", lambda: int(nv.nvmlDeviceGetClockInfo(handle, nv.NVML_CLOCK_MEM)))
    info.throttle_reasons = r.get("throttle_reasons", lambda: _throttle_reasons(nv, handle))
    info.pcie_tx_kb_s = r.get("pcie_tx_kb_s", lambda: int(nv.nvmlDeviceGetPcieThroughput(handle, nv.NVML_PCIE_UTIL_TX_BYTES)))
    info.pcie_rx_kb_s = r.get("pcie_rx_kb_s", lambda: int(nv.nvmlDeviceGetPcieThroughput(handle, nv.NVML_PCIE_UTIL_RX_BYTES)))


def _read_gpu(nv: ModuleType, index: int) -> GpuInfo:
    info = GpuInfo(index=index)
    r = _Reader(nv, info)
    try:
        handle = nv.nvmlDeviceGetHandleByIndex(index)
    except nv.NVMLError as e:
        if _code(e) == _GPU_IS_LOST:
            info.lost, info.reason = True, LOST_REASON
        elif _code(e) == _UNINITIALIZED:
            raise _Reinit from e
        else:
            info.reason = problem("gpu_cannot_open", detail=f"NVML: {e}")
        return info
    try:
        info.name = r.get("name", lambda: _text(nv.nvmlDeviceGetName(handle)))
        info.fan_percent = r.get("fan_percent", lambda: int(nv.nvmlDeviceGetFanSpeed(handle)))
        info.temperature_c = r.get(
            "temperature_c", lambda: int(nv.nvmlDeviceGetTemperature(handle, nv.NVML_TEMPERATURE_GPU))
        )
        info.performance_state = r.get(
            "performance_state", lambda: _pstate(int(nv.nvmlDeviceGetPerformanceState(handle)))
        )
        info.persistence_mode = r.get(
            "persistence_mode", lambda: nv.nvmlDeviceGetPersistenceMode(handle) == nv.NVML_FEATURE_ENABLED
        )
        info.power_draw_w = r.get("power_draw_w", lambda: nv.nvmlDeviceGetPowerUsage(handle) / 1000.0)
        info.power_limit_w = r.get("power_limit_w", lambda: _power_limit(nv, handle) / 1000.0)
        info.bus_id = r.get("bus_id", lambda: _text(nv.nvmlDeviceGetPciInfo(handle).busId))
        info.display_active = r.get(
            "display_active", lambda: nv.nvmlDeviceGetDisplayActive(handle) == nv.NVML_FEATURE_ENABLED
        )
        mem = r.get("memory", lambda: _memory(nv, handle))
        if mem is not None:
            info.memory_used_mib, info.memory_total_mib = int(mem.used) // MIB, int(mem.total) // MIB
        else:
            info.na_reasons["memory_used_mib"] = info.na_reasons["memory_total_mib"] = info.na_reasons.pop("memory")
        info.utilization_percent = r.get("utilization_percent", lambda: int(nv.nvmlDeviceGetUtilizationRates(handle).gpu))
        info.ecc_enabled = r.get(
            "ecc_enabled", lambda: nv.nvmlDeviceGetEccMode(handle)[0] == nv.NVML_FEATURE_ENABLED
        )
        info.ecc_uncorrected = r.get("ecc_uncorrected", lambda: _ecc_uncorrected(nv, handle, info.ecc_enabled))
        if info.ecc_uncorrected is None and "ecc_uncorrected" not in info.na_reasons:
            info.na_reasons["ecc_uncorrected"] = info.na_reasons.get("ecc_enabled", "ECC is disabled")
        info.compute_mode = r.get("compute_mode", lambda: COMPUTE_MODES.get(int(nv.nvmlDeviceGetComputeMode(handle))))
        info.processes = _processes(nv, handle, r)
        _read_details(nv, handle, info, r)
    except _Lost:
        return GpuInfo(index=index, name=info.name, bus_id=info.bus_id, lost=True, reason=LOST_REASON)
    return info


# ---------------------------------------------------------------------------------------------------
# Host figures.

_host_lock = threading.Lock()
_cpu_primed_at = time.monotonic()
psutil.cpu_percent(interval=None)  # psutil's first reading is a meaningless 0.0: take it now
_cpu_first = True
_CPU_MIN_INTERVAL = 0.5  # psutil measures since its previous call: two calls a moment apart read 0.0
_cpu_last: tuple[float, float | None] = (float("-inf"), None)  # (when, percent)


def host_stats() -> HostInfo:
    """CPU % since the previous reading (non-blocking) and RAM; used RAM is total minus available.

    Pollers that ask within half a second of each other (two tabs, two panels) share one reading
    instead of each getting a meaningless 0% over a few milliseconds.
    """
    global _cpu_first, _cpu_last
    with _host_lock:
        try:
            if _cpu_first:  # a one-shot CLI call comes right after import: give the sample 0.1 s
                _cpu_first = False
                time.sleep(max(0.0, 0.1 - (time.monotonic() - _cpu_primed_at)))
            now = time.monotonic()
            if now - _cpu_last[0] >= _CPU_MIN_INTERVAL or _cpu_last[1] is None:
                _cpu_last = (now, float(psutil.cpu_percent(interval=None)))
            cpu = _cpu_last[1]
        except Exception:
            cpu = None
    try:
        vm = psutil.virtual_memory()
        used, total, percent = (vm.total - vm.available) // MIB, vm.total // MIB, float(vm.percent)
    except Exception:
        used = total = percent = None
    try:
        count = psutil.cpu_count(logical=True)
    except Exception:
        count = None
    return HostInfo(cpu_percent=cpu, cpu_count=count, ram_used_mib=used, ram_total_mib=total, ram_percent=percent)


# ---------------------------------------------------------------------------------------------------


def _read_gpus(nv: ModuleType) -> list[GpuInfo]:
    return [_read_gpu(nv, i) for i in range(_session.count)]


def snapshot(nvml: ModuleType | None = None) -> Snapshot:
    """Everything nvidia-smi's table shows, plus host CPU/RAM; cheap to call every second, never raises.

    ``nvml`` is the NVML binding to use; the default is the real ``pynvml``.
    """
    stamp = time.time()
    host = host_stats()
    try:
        nv, reason = _ensure(nvml)
        if reason is not None:
            return Snapshot(False, reason, None, None, [], host, stamp)
        try:
            gpus = _read_gpus(nv)
        except _Reinit:  # NVML was shut down by someone else: start again, once
            _invalidate(nv)
            nv, reason = _ensure(nvml)
            if reason is not None:
                return Snapshot(False, reason, None, None, [], host, stamp)
            gpus = _read_gpus(nv)
    except Exception as e:  # a broken binding or a bug must not take a polling page down
        failed = problem("no_gpu", reason=problem("gpu_query_failed", detail=f"{type(e).__name__}: {e}"))
        return Snapshot(False, failed, None, None, [], host, stamp)
    s = _session
    if not gpus:
        none = problem("no_gpu", reason=problem("nvml_no_gpus"))
        return Snapshot(False, none, s.driver_version, s.cuda_version, [], host, stamp)
    lost = [g.index for g in gpus if g.lost]
    reason = None
    if lost:
        which = ", ".join(str(i) for i in lost)
        reason = problem("gpus_lost_others_report" if len(lost) < len(gpus) else "gpus_lost", which=which)
    return Snapshot(True, reason, s.driver_version, s.cuda_version, gpus, host, stamp)


__all__ = [
    "Snapshot", "GpuInfo", "HostInfo", "ProcessInfo", "snapshot", "host_stats", "shutdown", "query", "on_off",
    "memory_info",
    "GPU_FIELDS", "GPU_DETAIL_FIELDS", "PROCESS_FIELDS", "HOST_FIELDS", "COMPUTE_MODES", "RETRY_SECONDS",
    "THROTTLE_REASONS",
]
