"""vgg_core.gpu on the pynvml stand-in: every field, N/A field by field, several GPUs, each failure."""

from __future__ import annotations

import json
import threading

import fake_pynvml as fake
import pytest
from fake_pynvml import GIB, MIB, FakeGpu

from vgg_core import gpu

NOT_SUPPORTED = fake.NVML_ERROR_NOT_SUPPORTED
# pids far above Linux's pid_max, so psutil's fallback can never name a real process here
PID_A, PID_B, PID_C = 90_000_001, 90_000_002, 90_000_003


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    """Each test: a default machine, NVML state forgotten, the stand-in as the default binding."""
    fake.configure()
    gpu.shutdown()
    monkeypatch.setattr(gpu, "_import_pynvml", lambda: fake)
    yield
    gpu.shutdown()


def snap_gpu(**kwargs) -> dict:
    fake.configure(gpus=[FakeGpu(**kwargs)])
    s = gpu.snapshot()
    assert s.available, s.reason
    return s.gpus[0].to_dict()


def test_every_field_with_units() -> None:
    fake.configure(
        gpus=[
            FakeGpu(
                name="NVIDIA H100 80GB HBM3", fan=41, temperature=67, pstate=2,
                persistence=fake.NVML_FEATURE_ENABLED, power_mw=312_456, limit_mw=700_000,
                bus_id="00000000:19:00.0", display=fake.NVML_FEATURE_DISABLED,
                total=85_520_809_984, used=4_321 * MIB + 12345, reserved=527 * MIB, util_gpu=88,
                ecc_mode=fake.NVML_FEATURE_ENABLED, ecc_uncorrected_volatile=3,
                compute_mode=fake.NVML_COMPUTEMODE_EXCLUSIVE_PROCESS,
                compute_procs=[(PID_A, 3 * GIB + 5)], process_util=[(PID_A, 90), (PID_A, 70)],
                sm_clock=1_755, mem_clock=2_619, clock_reasons=fake.nvmlClocksEventReasonSwPowerCap,
                pcie_tx=1_234, pcie_rx=56_789,
            )
        ],
        driver_version="550.54.15", cuda_version=12040, process_names={PID_A: "/usr/bin/python3"},
    )
    s = gpu.snapshot()
    d = s.to_dict()
    assert d["available"] is True and d["reason"] is None
    assert d["driver_version"] == "550.54.15" and d["cuda_version"] == "12.4"
    g = d["gpus"][0]
    assert g == {
        "index": 0,
        "name": "NVIDIA H100 80GB HBM3",
        "fan_percent": 41,
        "temperature_c": 67,
        "performance_state": "P2",
        "persistence_mode": True,
        "power_draw_w": pytest.approx(312.456),  # mW -> W
        "power_limit_w": pytest.approx(700.0),
        "bus_id": "00000000:19:00.0",  # bytes from the ctypes struct -> str
        "display_active": False,
        "memory_used_mib": 4321,  # v2 used (without the reserve), bytes -> whole MiB, as nvidia-smi
        "memory_total_mib": 81559,
        "utilization_percent": 88,
        "ecc_enabled": True,
        "ecc_uncorrected": 3,
        "compute_mode": "Exclusive Process",
        "processes": [{"pid": PID_A, "name": "/usr/bin/python3", "used_memory_mib": 3072, "type": "C",
                       "sm_percent": 80}],  # the mean of its samples
        "sm_clock_mhz": 1755,
        "memory_clock_mhz": 2619,
        "throttle_reasons": ["sw_power_cap"],
        "pcie_tx_kb_s": 1234,
        "pcie_rx_kb_s": 56789,
        "lost": False,
        "reason": None,
        "na_reasons": {},
    }
    assert set(d) >= {"available", "reason", "driver_version", "gpus", "host"}
    assert set(gpu.GPU_FIELDS) <= set(g)
    json.dumps(d)  # plain data


@pytest.mark.parametrize("value,text", [(0, "P0"), (8, "P8"), (12, "P12"), (15, "P15"), (32, None)])
def test_performance_state_text(value: int, text: str | None) -> None:
    assert snap_gpu(pstate=value)["performance_state"] == text


@pytest.mark.parametrize(
    "mode,text",
    [(0, "Default"), (1, "Exclusive Thread"), (2, "Prohibited"), (3, "Exclusive Process")],
)
def test_compute_modes(mode: int, text: str) -> None:
    assert snap_gpu(compute_mode=mode)["compute_mode"] == text


def test_flags_on_and_off() -> None:
    g = snap_gpu(persistence=fake.NVML_FEATURE_DISABLED, display=fake.NVML_FEATURE_ENABLED)
    assert g["persistence_mode"] is False and g["display_active"] is True


# Each NVML query alone answering "Not Supported": its field(s) N/A, every other field still there.
FIELD_OF = {
    "nvmlDeviceGetName": ["name"],
    "nvmlDeviceGetFanSpeed": ["fan_percent"],
    "nvmlDeviceGetTemperature": ["temperature_c"],
    "nvmlDeviceGetPerformanceState": ["performance_state"],
    "nvmlDeviceGetPersistenceMode": ["persistence_mode"],
    "nvmlDeviceGetPowerUsage": ["power_draw_w"],
    "nvmlDeviceGetPciInfo": ["bus_id"],
    "nvmlDeviceGetDisplayActive": ["display_active"],
    "nvmlDeviceGetMemoryInfo": ["memory_used_mib", "memory_total_mib"],
    "nvmlDeviceGetUtilizationRates": ["utilization_percent"],
    "nvmlDeviceGetEccMode": ["ecc_enabled", "ecc_uncorrected"],
    "nvmlDeviceGetTotalEccErrors": ["ecc_uncorrected"],
    "nvmlDeviceGetComputeMode": ["compute_mode"],
}


@pytest.mark.parametrize("function", sorted(FIELD_OF))
def test_one_unsupported_field_hides_nothing_else(function: str) -> None:
    full = snap_gpu(compute_procs=[(PID_A, GIB)])
    gpu.shutdown()
    g = snap_gpu(compute_procs=[(PID_A, GIB)], errors={function: NOT_SUPPORTED})
    for key in gpu.GPU_FIELDS:
        if key in FIELD_OF[function]:
            assert g[key] is None, key
            assert g["na_reasons"][key] == "Not Supported"
        else:
            assert g[key] == full[key], key
            assert g[key] is not None, key
    assert not g["lost"]


def test_power_cap_falls_back_to_management_limit_and_then_na() -> None:
    g = snap_gpu(errors={"nvmlDeviceGetEnforcedPowerLimit": NOT_SUPPORTED}, management_limit_mw=450_000)
    assert g["power_limit_w"] == pytest.approx(450.0)
    gpu.shutdown()
    g = snap_gpu(
        errors={"nvmlDeviceGetEnforcedPowerLimit": NOT_SUPPORTED, "nvmlDeviceGetPowerManagementLimit": NOT_SUPPORTED}
    )
    assert g["power_limit_w"] is None and g["power_draw_w"] is not None


def test_memory_falls_back_to_v1_on_an_old_driver() -> None:
    g = snap_gpu(errors={"nvmlDeviceGetMemoryInfo_v2": fake.NVML_ERROR_FUNCTION_NOT_FOUND}, used=100 * MIB, reserved=500 * MIB)
    assert g["memory_used_mib"] == 600  # v1 counts the driver's reserve as used
    gpu.shutdown()
    assert snap_gpu(used=100 * MIB, reserved=500 * MIB)["memory_used_mib"] == 100


def test_everything_unsupported_like_a_consumer_card_in_a_vm() -> None:
    errors = {f: NOT_SUPPORTED for f in FIELD_OF} | {
        "nvmlDeviceGetComputeRunningProcesses": NOT_SUPPORTED,
        "nvmlDeviceGetGraphicsRunningProcesses": NOT_SUPPORTED,
        "nvmlDeviceGetEnforcedPowerLimit": NOT_SUPPORTED,
        "nvmlDeviceGetPowerManagementLimit": NOT_SUPPORTED,
    }
    g = snap_gpu(errors=errors)
    assert g["index"] == 0 and not g["lost"]
    assert all(g[k] is None for k in gpu.GPU_FIELDS if k != "index")
    assert g["na_reasons"]["processes"] == "Not Supported"


def test_ecc_disabled_is_na_like_nvidia_smi() -> None:
    g = snap_gpu(ecc_mode=fake.NVML_FEATURE_DISABLED, ecc_uncorrected_volatile=7)
    assert g["ecc_enabled"] is False and g["ecc_uncorrected"] is None
    assert g["na_reasons"]["ecc_uncorrected"] == "ECC is disabled"


def test_other_nvml_errors_are_na_with_their_message() -> None:
    g = snap_gpu(errors={"nvmlDeviceGetPowerUsage": fake.NVML_ERROR_NO_PERMISSION, "nvmlDeviceGetFanSpeed": fake.NVML_ERROR_UNKNOWN})
    assert g["power_draw_w"] is None and g["na_reasons"]["power_draw_w"] == "Insufficient Permissions"
    assert g["fan_percent"] is None and g["na_reasons"]["fan_percent"] == "Unknown Error"
    assert g["temperature_c"] is not None


def test_processes_compute_graphics_merged_and_missing_memory() -> None:
    fake.configure(
        gpus=[
            FakeGpu(
                compute_procs=[(PID_A, 2 * GIB), (PID_B, None)],
                graphics_procs=[(PID_A, 2 * GIB), (PID_C, 20 * MIB)],
            )
        ],
        process_names={PID_A: "python", PID_C: "Xorg"},
    )
    procs = gpu.snapshot().to_dict()["gpus"][0]["processes"]
    assert procs == [  # no process ran a kernel lately (NVML: Not Found): every SM share is 0
        {"pid": PID_A, "name": "python", "used_memory_mib": 2048, "type": "C+G", "sm_percent": 0},
        {"pid": PID_B, "name": None, "used_memory_mib": None, "type": "C", "sm_percent": 0},  # usedGpuMemory None
        {"pid": PID_C, "name": "Xorg", "used_memory_mib": 20, "type": "G", "sm_percent": 0},
    ]


def test_no_processes_is_an_empty_list_not_na() -> None:
    assert snap_gpu()["processes"] == []


def test_one_process_list_unsupported_still_shows_the_other() -> None:
    g = snap_gpu(
        compute_procs=[(PID_A, GIB)], errors={"nvmlDeviceGetGraphicsRunningProcesses": NOT_SUPPORTED}
    )
    assert [p["pid"] for p in g["processes"]] == [PID_A]
    assert "processes" not in g["na_reasons"]


def test_process_name_from_psutil_when_nvml_cannot_name_it() -> None:
    import os

    import psutil

    me = os.getpid()
    g = snap_gpu(compute_procs=[(me, GIB)])
    assert g["processes"][0]["name"] == psutil.Process(me).name()


@pytest.mark.parametrize("legacy", [False, True])
def test_bytes_or_str_from_the_binding(legacy: bool) -> None:
    fake.configure(
        gpus=[FakeGpu(name="Tesla T4", compute_procs=[(PID_A, GIB)])],
        driver_version="535.104.05", process_names={PID_A: "python"}, legacy_bytes=legacy,
    )
    d = gpu.snapshot().to_dict()
    assert d["driver_version"] == "535.104.05"
    assert d["gpus"][0]["name"] == "Tesla T4"
    assert d["gpus"][0]["processes"][0]["name"] == "python"
    assert isinstance(d["gpus"][0]["bus_id"], str)


def test_three_gpus_each_its_own() -> None:
    fake.configure(
        gpus=[
            FakeGpu(name="A", bus_id="00000000:19:00.0", util_gpu=10, fan=0),
            FakeGpu(name="B", bus_id="00000000:3B:00.0", util_gpu=20, errors={"nvmlDeviceGetFanSpeed": NOT_SUPPORTED}),
            FakeGpu(name="C", bus_id="00000000:4C:00.0", util_gpu=30, temperature=80),
        ]
    )
    d = gpu.snapshot().to_dict()
    assert [g["index"] for g in d["gpus"]] == [0, 1, 2]
    assert [g["name"] for g in d["gpus"]] == ["A", "B", "C"]
    assert [g["bus_id"] for g in d["gpus"]] == ["00000000:19:00.0", "00000000:3B:00.0", "00000000:4C:00.0"]
    assert [g["utilization_percent"] for g in d["gpus"]] == [10, 20, 30]
    assert [g["fan_percent"] for g in d["gpus"]] == [0, None, 0]
    assert d["gpus"][2]["temperature_c"] == 80


@pytest.mark.parametrize("where", [True, "query"])
def test_lost_gpu_marked_others_report(where) -> None:
    fake.configure(gpus=[FakeGpu(name="A"), FakeGpu(name="B", lost=where), FakeGpu(name="C")])
    s = gpu.snapshot()
    assert s.available
    a, b, c = s.to_dict()["gpus"]
    assert not a["lost"] and not c["lost"] and a["name"] == "A" and c["name"] == "C"
    assert a["utilization_percent"] == 97 and c["memory_total_mib"] == 81559
    assert b["lost"] is True and "GPU is lost" in b["reason"]
    assert all(b[k] is None for k in gpu.GPU_FIELDS if k != "index")
    assert "GPU 1 lost" in str(s.reason) and "others still report" in str(s.reason)


def test_every_gpu_lost() -> None:
    fake.configure(gpus=[FakeGpu(lost=True)])
    s = gpu.snapshot()
    assert s.gpus[0].lost and str(s.reason) == "GPU 0 lost (NVML: GPU is lost)"


def test_handle_refused_for_another_reason() -> None:
    fake.configure(gpus=[FakeGpu(name="A"), FakeGpu(name="B")])
    real = fake.nvmlDeviceGetHandleByIndex

    def refuse_second(index):
        if index == 1:
            raise fake.NVMLError(fake.NVML_ERROR_NO_PERMISSION)
        return real(index)

    fake.nvmlDeviceGetHandleByIndex = refuse_second
    try:
        a, b = gpu.snapshot().to_dict()["gpus"]
    finally:
        fake.nvmlDeviceGetHandleByIndex = real
    assert a["name"] == "A" and b["lost"] is False and "Insufficient Permissions" in b["reason"]


@pytest.mark.parametrize(
    "code,words",
    [
        (fake.NVML_ERROR_LIBRARY_NOT_FOUND, "No NVIDIA driver found"),
        (fake.NVML_ERROR_DRIVER_NOT_LOADED, "driver is not loaded"),
        (fake.NVML_ERROR_NO_PERMISSION, "No permission"),
        (fake.NVML_ERROR_LIB_RM_VERSION_MISMATCH, "do not match"),
        (fake.NVML_ERROR_UNKNOWN, "NVML could not start (NVML: Unknown Error)"),
    ],
)
def test_init_failure_is_available_false_with_reason(code: int, words: str) -> None:
    fake.configure(init_error=code)
    s = gpu.snapshot()
    assert s.available is False and s.gpus == []
    assert words in str(s.reason) and str(s.reason).endswith("showing host CPU and RAM only")
    assert s.host.ram_total_mib > 0 and s.host.cpu_count >= 1
    json.dumps(s.to_dict())


def test_no_gpu_found() -> None:
    fake.configure(gpus=[])
    s = gpu.snapshot()
    assert s.available is False and "found no NVIDIA GPU" in str(s.reason) and s.driver_version == "550.54.15"


def test_missing_binding_is_a_reason_not_an_exception(monkeypatch) -> None:
    def no_module():
        raise ModuleNotFoundError("No module named 'pynvml'")

    monkeypatch.setattr(gpu, "_import_pynvml", no_module)
    s = gpu.snapshot()
    assert s.available is False and "nvidia-ml-py (pynvml) is not installed" in str(s.reason)


def test_a_broken_binding_never_raises(monkeypatch) -> None:
    def boom(handle):
        raise RuntimeError("ctypes went wrong")

    monkeypatch.setattr(fake, "nvmlDeviceGetName", boom)
    s = gpu.snapshot()
    assert s.available is False and "RuntimeError: ctypes went wrong" in str(s.reason)


def test_init_once_across_many_snapshots() -> None:
    fake.configure(gpus=[FakeGpu(), FakeGpu()])
    for _ in range(50):
        assert gpu.snapshot().available
    assert fake.machine.init_calls == 1 and fake.machine.shutdown_calls == 0


def test_init_once_across_threads() -> None:
    fake.configure(gpus=[FakeGpu()])
    results: list[bool] = []

    def poll():
        for _ in range(20):
            results.append(gpu.snapshot().available)

    threads = [threading.Thread(target=poll) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 160 and fake.machine.init_calls == 1


def test_failed_init_retried_only_after_a_while(monkeypatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(gpu, "_clock", lambda: now[0])
    fake.configure(init_error=fake.NVML_ERROR_DRIVER_NOT_LOADED)
    for _ in range(10):
        assert not gpu.snapshot().available
    assert fake.machine.init_calls == 1  # polling a GPU-less machine stays cheap
    now[0] += gpu.RETRY_SECONDS - 1
    gpu.snapshot()
    assert fake.machine.init_calls == 1
    fake.machine.init_error = None  # the driver came up
    now[0] += 2
    s = gpu.snapshot()
    assert s.available and fake.machine.init_calls == 2


def test_reinit_when_someone_else_shut_nvml_down() -> None:
    fake.configure(gpus=[FakeGpu()])
    assert gpu.snapshot().available
    fake.nvmlShutdown()  # another library in the process closed NVML
    s = gpu.snapshot()
    assert s.available and s.gpus[0].name and fake.machine.init_calls == 2


def test_explicit_binding_argument() -> None:
    fake.configure(gpus=[FakeGpu(name="Given")])
    assert gpu.snapshot(nvml=fake).gpus[0].name == "Given"


def test_host_figures() -> None:
    h = gpu.host_stats()
    assert 0.0 <= h.cpu_percent <= 100.0
    assert h.cpu_count >= 1
    assert 0 < h.ram_used_mib < h.ram_total_mib
    assert 0.0 < h.ram_percent < 100.0
    assert set(gpu.HOST_FIELDS) == set(h.to_dict())


# --- beyond nvidia-smi's table: clocks, clock limits, PCIe, each process's SM share -------------------

DETAIL_OF = {
    "nvmlDeviceGetClockInfo": ["sm_clock_mhz", "memory_clock_mhz"],
    "nvmlDeviceGetCurrentClocksEventReasons": ["throttle_reasons"],
    "nvmlDeviceGetPcieThroughput": ["pcie_tx_kb_s", "pcie_rx_kb_s"],
}


@pytest.mark.parametrize("function", sorted(DETAIL_OF))
def test_each_detail_is_na_on_its_own(function: str) -> None:
    full = snap_gpu(clock_reasons=fake.nvmlClocksEventReasonGpuIdle)
    gpu.shutdown()
    g = snap_gpu(clock_reasons=fake.nvmlClocksEventReasonGpuIdle, errors={function: NOT_SUPPORTED})
    for key in (*gpu.GPU_FIELDS, *gpu.GPU_DETAIL_FIELDS):
        if key in DETAIL_OF[function]:
            assert g[key] is None and g["na_reasons"][key] == "Not Supported", key
        else:
            assert g[key] == full[key] and g[key] is not None, key


def test_clock_reasons_as_names_with_unknown_bits_kept() -> None:
    bits = fake.nvmlClocksEventReasonHwThermalSlowdown | fake.nvmlClocksEventReasonSwPowerCap | 0x8000
    assert snap_gpu(clock_reasons=bits)["throttle_reasons"] == ["sw_power_cap", "hw_thermal", "other_0x8000"]
    gpu.shutdown()
    assert snap_gpu(clock_reasons=fake.nvmlClocksEventReasonNone)["throttle_reasons"] == []  # clocks run free


def test_clock_reasons_from_the_older_call_on_an_old_driver() -> None:
    g = snap_gpu(old_driver=True, clock_reasons=fake.nvmlClocksEventReasonGpuIdle)
    assert g["throttle_reasons"] == ["gpu_idle"] and "throttle_reasons" not in g["na_reasons"]


def test_reason_bits_are_nvmls() -> None:
    """THROTTLE_REASONS' bits are the real binding's constants of the same meaning."""
    import pynvml

    names = {"gpu_idle": "GpuIdle", "applications_clocks": "ApplicationsClocksSetting", "sw_power_cap": "SwPowerCap",
             "hw_slowdown": "HwSlowdown", "sync_boost": "SyncBoost", "sw_thermal": "SwThermalSlowdown",
             "hw_thermal": "HwThermalSlowdown", "hw_power_brake": "HwPowerBrakeSlowdown",
             "display_clocks": "DisplayClockSetting", "board_limit": "BoardLimit", "reliability": "Reliability"}
    for bit, name in gpu.THROTTLE_REASONS.items():
        assert getattr(pynvml, f"nvmlClocksThrottleReason{names[name]}") == bit, name


def test_process_sm_share_unsupported_is_na_and_the_rest_stays() -> None:
    g = snap_gpu(compute_procs=[(PID_A, GIB)], errors={"nvmlDeviceGetProcessUtilization": NOT_SUPPORTED})
    assert g["processes"][0]["sm_percent"] is None and g["processes"][0]["used_memory_mib"] == 1024
    assert g["na_reasons"]["processes.sm_percent"] == "Not Supported"


def test_process_without_a_sample_ran_no_kernel() -> None:
    g = snap_gpu(compute_procs=[(PID_A, GIB), (PID_B, GIB)], process_util=[(PID_B, 40), (PID_C, 99)])
    assert [p["sm_percent"] for p in g["processes"]] == [0, 40]  # PID_C is not on the list: not shown
