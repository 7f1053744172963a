"""The stand-in must be the real pynvml's twin wherever vgg_core.gpu can tell, or the other tests prove nothing."""

from __future__ import annotations

import inspect

import fake_pynvml as fake
import pynvml
import pytest

# Every pynvml name vgg_core.gpu touches (grep 'nv\.' in vgg_core/gpu.py).
USED_FUNCTIONS = [
    "nvmlInit", "nvmlShutdown", "nvmlSystemGetDriverVersion", "nvmlSystemGetCudaDriverVersion",
    "nvmlSystemGetProcessName", "nvmlDeviceGetCount", "nvmlDeviceGetHandleByIndex", "nvmlDeviceGetName",
    "nvmlDeviceGetFanSpeed", "nvmlDeviceGetTemperature", "nvmlDeviceGetPerformanceState",
    "nvmlDeviceGetPersistenceMode", "nvmlDeviceGetPowerUsage", "nvmlDeviceGetEnforcedPowerLimit",
    "nvmlDeviceGetPowerManagementLimit", "nvmlDeviceGetPciInfo", "nvmlDeviceGetDisplayActive",
    "nvmlDeviceGetMemoryInfo", "nvmlDeviceGetUtilizationRates", "nvmlDeviceGetEccMode",
    "nvmlDeviceGetTotalEccErrors", "nvmlDeviceGetComputeMode", "nvmlDeviceGetComputeRunningProcesses",
    "nvmlDeviceGetGraphicsRunningProcesses", "nvmlDeviceGetClockInfo", "nvmlDeviceGetCurrentClocksEventReasons",
    "nvmlDeviceGetCurrentClocksThrottleReasons", "nvmlDeviceGetPcieThroughput", "nvmlDeviceGetProcessUtilization",
    # vgg_core.resources and vgg_core.estimate, through gpu.query
    "nvmlDeviceGetHandleByPciBusId", "nvmlDeviceGetHandleByUUID", "nvmlDeviceGetTotalEnergyConsumption",
]
USED_CONSTANTS = [
    "NVML_FEATURE_DISABLED", "NVML_FEATURE_ENABLED", "NVML_TEMPERATURE_GPU", "NVML_COMPUTEMODE_DEFAULT",
    "NVML_COMPUTEMODE_EXCLUSIVE_THREAD", "NVML_COMPUTEMODE_PROHIBITED", "NVML_COMPUTEMODE_EXCLUSIVE_PROCESS",
    "NVML_MEMORY_ERROR_TYPE_UNCORRECTED", "NVML_VOLATILE_ECC", "NVML_PSTATE_UNKNOWN", "nvmlMemory_v2",
    "NVML_CLOCK_SM", "NVML_CLOCK_MEM", "NVML_CLOCK_GRAPHICS", "NVML_PCIE_UTIL_TX_BYTES", "NVML_PCIE_UTIL_RX_BYTES",
    *(k for k in vars(fake) if k.startswith(("nvmlClocksEventReason", "nvmlClocksThrottleReason"))),
]
ERROR_CLASSES = [
    "NVMLError_NotSupported", "NVMLError_LibraryNotFound", "NVMLError_DriverNotLoaded", "NVMLError_GpuIsLost",
    "NVMLError_Uninitialized", "NVMLError_NoPermission", "NVMLError_NotFound", "NVMLError_FunctionNotFound",
    "NVMLError_LibRmVersionMismatch", "NVMLError_GpuNotFound", "NVMLError_Unknown",
]


@pytest.mark.parametrize("name", USED_FUNCTIONS)
def test_functions_have_pynvml_signatures(name: str) -> None:
    assert inspect.signature(getattr(fake, name)) == inspect.signature(getattr(pynvml, name))


def test_every_nvml_error_code_and_constant_matches() -> None:
    real_codes = {k: v for k, v in vars(pynvml).items() if k.startswith("NVML_ERROR_")}
    fake_codes = {k: v for k, v in vars(fake).items() if k.startswith("NVML_ERROR_")}
    assert fake_codes == real_codes
    for name in USED_CONSTANTS:
        assert getattr(fake, name) == getattr(pynvml, name), name


@pytest.mark.parametrize("name", ERROR_CLASSES)
def test_error_classes_behave_like_pynvml(name: str) -> None:
    real_cls, fake_cls = getattr(pynvml, name), getattr(fake, name)
    real_err, fake_err = real_cls(), fake_cls()
    assert issubclass(fake_cls, fake.NVMLError) and issubclass(real_cls, pynvml.NVMLError)
    assert fake_err.value == real_err.value
    if real_err.value in fake.NVMLError._errcode_to_string:  # pynvml's fixed messages
        assert str(fake_err) == str(real_err)
    else:  # pynvml asks the loaded C library (nvmlErrorString); with none, it says what the stand-in says
        assert str(fake_err) == f"NVML Error with code {real_err.value}"
    # NVMLError(code) picks the subclass, in both
    assert type(fake.NVMLError(real_err.value)) is fake_cls
    assert type(pynvml.NVMLError(real_err.value)) is real_cls


def test_return_types_match_pynvml_structures() -> None:
    fake.configure(legacy_bytes=False)
    fake.nvmlInit()
    try:
        h = fake.nvmlDeviceGetHandleByIndex(0)
        pci = fake.nvmlDeviceGetPciInfo(h)
        assert [f[0] for f in type(pci)._fields_] == [f[0] for f in pynvml.nvmlPciInfo_t._fields_]
        assert isinstance(pci.busId, bytes)  # ctypes char arrays come back as bytes, as in pynvml
        mem1, mem2 = fake.nvmlDeviceGetMemoryInfo(h), fake.nvmlDeviceGetMemoryInfo(h, version=fake.nvmlMemory_v2)
        assert [f[0] for f in type(mem1)._fields_] == [f[0] for f in pynvml.c_nvmlMemory_t._fields_]
        assert [f[0] for f in type(mem2)._fields_] == [f[0] for f in pynvml.c_nvmlMemory_v2_t._fields_]
        util = fake.nvmlDeviceGetUtilizationRates(h)
        assert [f[0] for f in type(util)._fields_] == [f[0] for f in pynvml.c_nvmlUtilization_t._fields_]
        assert [f[0] for f in fake.c_nvmlProcessInfo_v2_t._fields_] == [
            f[0] for f in pynvml.c_nvmlProcessInfo_v3_t._fields_
        ]
        assert isinstance(fake.nvmlDeviceGetName(h), str)  # pynvml 13 decodes (convertStrBytes)
        assert [f[0] for f in fake.c_nvmlProcessUtilizationSample_t._fields_] == [
            f[0] for f in pynvml.c_nvmlProcessUtilizationSample_t._fields_
        ]
        fake.machine.gpus[0].process_util = [(7, 55)]
        sample = fake.nvmlDeviceGetProcessUtilization(h, 0)[0]
        assert isinstance(sample, fake.c_nvmlProcessUtilizationSample_t) and (sample.pid, sample.smUtil) == (7, 55)
    finally:
        fake.nvmlShutdown()


def test_uninitialized_before_init_as_in_pynvml() -> None:
    fake.configure()
    with pytest.raises(fake.NVMLError_Uninitialized):
        fake.nvmlDeviceGetCount()
    # the real binding, on this driver-less machine, says the same before nvmlInit
    with pytest.raises(pynvml.NVMLError):
        pynvml.nvmlDeviceGetCount()


def test_real_pynvml_without_driver_raises_library_not_found() -> None:
    """What this machine's real NVML does: the case the no-GPU tests stand in for."""
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError_LibraryNotFound as e:
        assert e.value == fake.NVML_ERROR_LIBRARY_NOT_FOUND
    else:  # a machine with a driver
        pynvml.nvmlShutdown()
        pytest.skip("NVML started: this machine has an NVIDIA driver")
