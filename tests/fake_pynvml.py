"""A stand-in for ``pynvml`` (nvidia-ml-py 13.x) for a machine without an NVIDIA driver.

Faithful where the code under test can tell: the same function names and signatures, the same
constants, the same ``NVMLError`` machinery (``NVMLError(code)`` builds the matching subclass, the
subclasses are generated from the ``NVML_ERROR_*`` names exactly as pynvml does), the same return
types (ctypes structures whose char arrays come back as ``bytes``, friendly objects for processes with
``usedGpuMemory=None`` when NVML says "not available"), the same units (mW, bytes, percent), and
``NVML_ERROR_UNINITIALIZED`` before ``nvmlInit`` or after ``nvmlShutdown``. tests/test_gpu_fake.py
checks the names, signatures and constants against the real pynvml.

Configure a machine with ``configure(...)``; every function then answers from it. Per GPU, ``errors``
maps a function name to the NVML error code it raises (e.g. NVML_ERROR_NOT_SUPPORTED); ``lost=True``
makes every call about that GPU raise NVML_ERROR_GPU_IS_LOST (``lost="query"``: the handle opens,
the queries fail).
"""

from __future__ import annotations

import string
import sys
from ctypes import Structure, c_char, c_uint, c_ulonglong
from dataclasses import dataclass, field
from typing import Any

# ---- constants (values as in pynvml / nvml.h) ----
NVML_FEATURE_DISABLED = 0
NVML_FEATURE_ENABLED = 1
NVML_TEMPERATURE_GPU = 0
NVML_COMPUTEMODE_DEFAULT = 0
NVML_COMPUTEMODE_EXCLUSIVE_THREAD = 1
NVML_COMPUTEMODE_PROHIBITED = 2
NVML_COMPUTEMODE_EXCLUSIVE_PROCESS = 3
NVML_MEMORY_ERROR_TYPE_CORRECTED = 0
NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
NVML_VOLATILE_ECC = 0
NVML_AGGREGATE_ECC = 1
NVML_PSTATE_0 = 0
NVML_PSTATE_2 = 2
NVML_PSTATE_8 = 8
NVML_PSTATE_12 = 12
NVML_PSTATE_UNKNOWN = 32
NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE = 32
NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE = 16
NVML_VALUE_NOT_AVAILABLE_ulonglong = c_ulonglong(-1)
nvmlMemory_v2 = 0x02000028
NVML_CLOCK_GRAPHICS = 0
NVML_CLOCK_SM = 1
NVML_CLOCK_MEM = 2
NVML_CLOCK_VIDEO = 3
NVML_PCIE_UTIL_TX_BYTES = 0
NVML_PCIE_UTIL_RX_BYTES = 1
nvmlClocksEventReasonGpuIdle = 0x0000000000000001
nvmlClocksEventReasonApplicationsClocksSetting = 0x0000000000000002
nvmlClocksEventReasonSwPowerCap = 0x0000000000000004
nvmlClocksEventReasonHwSlowdown = 0x0000000000000008
nvmlClocksEventReasonSyncBoost = 0x0000000000000010
nvmlClocksEventReasonSwThermalSlowdown = 0x0000000000000020
nvmlClocksEventReasonHwThermalSlowdown = 0x0000000000000040
nvmlClocksEventReasonHwPowerBrakeSlowdown = 0x0000000000000080
nvmlClocksEventReasonDisplayClockSetting = 0x0000000000000100
nvmlClocksEventReasonNone = 0x0000000000000000
nvmlClocksThrottleReasonBoardLimit = 0x0000000000000200
nvmlClocksThrottleReasonReliability = 0x0000000000000400

NVML_SUCCESS = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_ALREADY_INITIALIZED = 5
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_INSUFFICIENT_SIZE = 7
NVML_ERROR_INSUFFICIENT_POWER = 8
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_TIMEOUT = 10
NVML_ERROR_IRQ_ISSUE = 11
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_CORRUPTED_INFOROM = 14
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_RESET_REQUIRED = 16
NVML_ERROR_OPERATING_SYSTEM = 17
NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18
NVML_ERROR_IN_USE = 19
NVML_ERROR_MEMORY = 20
NVML_ERROR_NO_DATA = 21
NVML_ERROR_VGPU_ECC_NOT_SUPPORTED = 22
NVML_ERROR_INSUFFICIENT_RESOURCES = 23
NVML_ERROR_FREQ_NOT_SUPPORTED = 24
NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25
NVML_ERROR_DEPRECATED = 26
NVML_ERROR_NOT_READY = 27
NVML_ERROR_GPU_NOT_FOUND = 28
NVML_ERROR_INVALID_STATE = 29
NVML_ERROR_RESET_TYPE_NOT_SUPPORTED = 30
NVML_ERROR_UNKNOWN = 999


# ---- errors, built as pynvml builds them ----
class NVMLLibraryMismatchError(Exception):
    pass


class NVMLError(Exception):
    _valClassMapping: dict = dict()
    _errcode_to_string = {
        NVML_ERROR_UNINITIALIZED: "Uninitialized",
        NVML_ERROR_INVALID_ARGUMENT: "Invalid Argument",
        NVML_ERROR_NOT_SUPPORTED: "Not Supported",
        NVML_ERROR_NO_PERMISSION: "Insufficient Permissions",
        NVML_ERROR_ALREADY_INITIALIZED: "Already Initialized",
        NVML_ERROR_NOT_FOUND: "Not Found",
        NVML_ERROR_INSUFFICIENT_SIZE: "Insufficient Size",
        NVML_ERROR_INSUFFICIENT_POWER: "Insufficient External Power",
        NVML_ERROR_DRIVER_NOT_LOADED: "Driver Not Loaded",
        NVML_ERROR_TIMEOUT: "Timeout",
        NVML_ERROR_IRQ_ISSUE: "Interrupt Request Issue",
        NVML_ERROR_LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
        NVML_ERROR_FUNCTION_NOT_FOUND: "Function Not Found",
        NVML_ERROR_CORRUPTED_INFOROM: "Corrupted infoROM",
        NVML_ERROR_GPU_IS_LOST: "GPU is lost",
        NVML_ERROR_RESET_REQUIRED: "GPU requires restart",
        NVML_ERROR_OPERATING_SYSTEM: "The operating system has blocked the request.",
        NVML_ERROR_LIB_RM_VERSION_MISMATCH: "RM has detected an NVML/RM version mismatch.",
        NVML_ERROR_MEMORY: "Insufficient Memory",
        NVML_ERROR_UNKNOWN: "Unknown Error",
    }

    def __new__(typ, value):
        if typ == NVMLError:
            typ = NVMLError._valClassMapping.get(value, typ)
        obj = Exception.__new__(typ)
        obj.value = value
        return obj

    def __str__(self):
        # The real one asks the C library (nvmlErrorString) for codes it has no text for.
        return NVMLError._errcode_to_string.get(self.value, "NVML Error with code %d" % self.value)

    def __eq__(self, other):
        return self.value == other.value


def nvmlExceptionClass(nvmlErrorCode):
    if nvmlErrorCode not in NVMLError._valClassMapping:
        raise ValueError("nvmlErrorCode %s is not valid" % nvmlErrorCode)
    return NVMLError._valClassMapping[nvmlErrorCode]


def _extractNVMLErrorsAsClasses():
    this_module = sys.modules[__name__]
    for err_name in [x for x in dir(this_module) if x.startswith("NVML_ERROR_")]:
        class_name = "NVMLError_" + string.capwords(err_name.replace("NVML_ERROR_", ""), "_").replace("_", "")
        err_val = getattr(this_module, err_name)

        def gen_new(val):
            def new(typ, *args):
                return NVMLError.__new__(typ, val)

            return new

        new_error_class = type(class_name, (NVMLError,), {"__new__": gen_new(err_val)})
        new_error_class.__module__ = __name__
        setattr(this_module, class_name, new_error_class)
        NVMLError._valClassMapping[err_val] = new_error_class


_extractNVMLErrorsAsClasses()


# ---- return structures, as pynvml defines them ----
class nvmlPciInfo_t(Structure):
    _fields_ = [
        ("busIdLegacy", c_char * NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE),
        ("domain", c_uint),
        ("bus", c_uint),
        ("device", c_uint),
        ("pciDeviceId", c_uint),
        ("pciSubSystemId", c_uint),
        ("busId", c_char * NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE),
    ]


class c_nvmlMemory_t(Structure):
    _fields_ = [("total", c_ulonglong), ("free", c_ulonglong), ("used", c_ulonglong)]


class c_nvmlMemory_v2_t(Structure):
    _fields_ = [
        ("version", c_uint),
        ("total", c_ulonglong),
        ("reserved", c_ulonglong),
        ("free", c_ulonglong),
        ("used", c_ulonglong),
    ]


class c_nvmlUtilization_t(Structure):
    _fields_ = [("gpu", c_uint), ("memory", c_uint)]


class c_nvmlProcessInfo_v2_t(Structure):
    _fields_ = [
        ("pid", c_uint),
        ("usedGpuMemory", c_ulonglong),
        ("gpuInstanceId", c_uint),
        ("computeInstanceId", c_uint),
    ]


class c_nvmlProcessUtilizationSample_t(Structure):
    _fields_ = [
        ("pid", c_uint),
        ("timeStamp", c_ulonglong),
        ("smUtil", c_uint),
        ("memUtil", c_uint),
        ("encUtil", c_uint),
        ("decUtil", c_uint),
    ]


class nvmlFriendlyObject(object):
    def __init__(self, dictionary):
        for x in dictionary:
            setattr(self, x, dictionary[x])

    def __str__(self):
        return self.__dict__.__str__()


def nvmlStructToFriendlyObject(struct):
    d = {}
    for x in struct._fields_:
        key = x[0]
        value = getattr(struct, key)
        d[key] = value.decode() if isinstance(value, bytes) else value
    return nvmlFriendlyObject(d)


class c_nvmlDevice_t:
    """An opaque handle (a ctypes pointer in pynvml); here it remembers its index."""

    def __init__(self, index: int) -> None:
        self.index = index


# ---- the configurable machine ----
GIB = 1024**3
MIB = 1024**2


@dataclass
class FakeGpu:
    name: str = "NVIDIA H100 80GB HBM3"
    fan: int = 0
    temperature: int = 33
    pstate: int = 0
    persistence: int = NVML_FEATURE_ENABLED
    power_mw: int = 71_234
    limit_mw: int = 700_000
    management_limit_mw: int = 700_000
    bus_id: str = "00000000:19:00.0"
    display: int = NVML_FEATURE_DISABLED
    total: int = 85_520_809_984  # bytes, as NVML reports an 80 GB H100
    used: int = 1_234 * MIB  # v2 "used": without the driver's reserve
    reserved: int = 527 * MIB
    util_gpu: int = 97
    util_memory: int = 41
    ecc_mode: int = NVML_FEATURE_ENABLED
    ecc_uncorrected_volatile: int = 0
    compute_mode: int = NVML_COMPUTEMODE_DEFAULT
    compute_procs: list = field(default_factory=list)  # [(pid, used bytes or None)]
    graphics_procs: list = field(default_factory=list)
    process_util: list = field(default_factory=list)  # [(pid, smUtil %)]: NVML's recent samples
    sm_clock: int = 1_980  # MHz
    mem_clock: int = 2_619
    clock_reasons: int = 0  # bits, nvmlClocksEventReason*
    pcie_tx: int = 12_345  # KB/s
    pcie_rx: int = 67_890
    energy_mj: int = 123_456_789  # mJ since the driver loaded
    uuid: str = "GPU-8d8f3b4c-0000-4000-8000-000000000000"
    old_driver: bool = False  # no nvmlDeviceGetCurrentClocksEventReasons (only the throttle-reasons name)
    errors: dict = field(default_factory=dict)  # function name -> NVML error code
    lost: bool | str = False  # True: handle and queries fail; "query": only the queries


@dataclass
class FakeMachine:
    gpus: list = field(default_factory=lambda: [FakeGpu()])
    driver_version: str = "550.54.15"
    cuda_version: int = 12040
    init_error: int | None = None  # NVML error code nvmlInit raises, e.g. NVML_ERROR_LIBRARY_NOT_FOUND
    process_names: dict = field(default_factory=dict)  # pid -> name
    legacy_bytes: bool = False  # pynvml before 11.5 returned names as bytes
    initialized: int = 0  # NVML's reference count
    init_calls: int = 0
    shutdown_calls: int = 0
    calls: int = 0  # device queries answered


machine = FakeMachine()


def configure(**kwargs: Any) -> FakeMachine:
    """Replace the machine: ``configure(gpus=[FakeGpu(...), ...], init_error=..., ...)``."""
    global machine
    machine = FakeMachine(**kwargs)
    return machine


def _raise(code: int) -> None:
    raise NVMLError(code)


def _str(value: str) -> Any:
    return value.encode() if machine.legacy_bytes else value


def _gpu(handle: Any, fn: str) -> FakeGpu:
    if not machine.initialized:
        _raise(NVML_ERROR_UNINITIALIZED)
    if not isinstance(handle, c_nvmlDevice_t) or not 0 <= handle.index < len(machine.gpus):
        _raise(NVML_ERROR_INVALID_ARGUMENT)
    gpu = machine.gpus[handle.index]
    if gpu.lost:
        _raise(NVML_ERROR_GPU_IS_LOST)
    if fn in gpu.errors:
        _raise(gpu.errors[fn])
    machine.calls += 1
    return gpu


def _check_init() -> None:
    if not machine.initialized:
        _raise(NVML_ERROR_UNINITIALIZED)


# ---- the API, signatures as in pynvml ----
def nvmlInit():
    machine.init_calls += 1
    if machine.init_error is not None:
        _raise(machine.init_error)
    machine.initialized += 1
    return None


def nvmlShutdown():
    machine.shutdown_calls += 1
    _check_init()
    machine.initialized -= 1
    return None


def nvmlSystemGetDriverVersion():
    _check_init()
    return _str(machine.driver_version)


def nvmlSystemGetCudaDriverVersion():
    _check_init()
    return machine.cuda_version


def nvmlSystemGetProcessName(pid):
    _check_init()
    if pid not in machine.process_names:
        _raise(NVML_ERROR_NOT_FOUND)
    return _str(machine.process_names[pid])


def nvmlDeviceGetCount():
    _check_init()
    return len(machine.gpus)


def nvmlDeviceGetHandleByIndex(index):
    _check_init()
    if not 0 <= index < len(machine.gpus):
        _raise(NVML_ERROR_INVALID_ARGUMENT)
    if machine.gpus[index].lost is True:
        _raise(NVML_ERROR_GPU_IS_LOST)
    return c_nvmlDevice_t(index)


def nvmlDeviceGetName(handle):
    return _str(_gpu(handle, "nvmlDeviceGetName").name)


def nvmlDeviceGetFanSpeed(handle):
    return _gpu(handle, "nvmlDeviceGetFanSpeed").fan


def nvmlDeviceGetTemperature(handle, sensor):
    gpu = _gpu(handle, "nvmlDeviceGetTemperature")
    if sensor != NVML_TEMPERATURE_GPU:
        _raise(NVML_ERROR_NOT_SUPPORTED)
    return gpu.temperature


def nvmlDeviceGetPerformanceState(handle):
    return _gpu(handle, "nvmlDeviceGetPerformanceState").pstate


def nvmlDeviceGetPersistenceMode(handle):
    return _gpu(handle, "nvmlDeviceGetPersistenceMode").persistence


def nvmlDeviceGetPowerUsage(handle):
    return _gpu(handle, "nvmlDeviceGetPowerUsage").power_mw


def nvmlDeviceGetEnforcedPowerLimit(handle):
    return _gpu(handle, "nvmlDeviceGetEnforcedPowerLimit").limit_mw


def nvmlDeviceGetPowerManagementLimit(handle):
    return _gpu(handle, "nvmlDeviceGetPowerManagementLimit").management_limit_mw


def nvmlDeviceGetPciInfo(handle):
    gpu = _gpu(handle, "nvmlDeviceGetPciInfo")
    info = nvmlPciInfo_t()
    info.busId = gpu.bus_id.encode()
    info.busIdLegacy = gpu.bus_id[4:].encode()
    domain, bus, rest = gpu.bus_id.split(":")
    info.domain, info.bus, info.device = int(domain, 16), int(bus, 16), int(rest.split(".")[0], 16)
    return info


def nvmlDeviceGetDisplayActive(handle):
    return _gpu(handle, "nvmlDeviceGetDisplayActive").display


def nvmlDeviceGetMemoryInfo(handle, version=None):
    gpu = _gpu(handle, "nvmlDeviceGetMemoryInfo")
    if not version:
        mem = c_nvmlMemory_t()
        mem.total, mem.used = gpu.total, gpu.used + gpu.reserved  # v1 counts the reserve as used
        mem.free = gpu.total - mem.used
        return mem
    if "nvmlDeviceGetMemoryInfo_v2" in gpu.errors:  # an old driver without the v2 entry point
        _raise(gpu.errors["nvmlDeviceGetMemoryInfo_v2"])
    mem = c_nvmlMemory_v2_t()
    mem.version, mem.total, mem.reserved, mem.used = version, gpu.total, gpu.reserved, gpu.used
    mem.free = gpu.total - gpu.reserved - gpu.used
    return mem


def nvmlDeviceGetUtilizationRates(handle):
    gpu = _gpu(handle, "nvmlDeviceGetUtilizationRates")
    util = c_nvmlUtilization_t()
    util.gpu, util.memory = gpu.util_gpu, gpu.util_memory
    return util


def nvmlDeviceGetEccMode(handle):
    gpu = _gpu(handle, "nvmlDeviceGetEccMode")
    return [gpu.ecc_mode, gpu.ecc_mode]


def nvmlDeviceGetTotalEccErrors(handle, errorType, counterType):
    gpu = _gpu(handle, "nvmlDeviceGetTotalEccErrors")
    if gpu.ecc_mode != NVML_FEATURE_ENABLED:  # "Requires ECC Mode to be enabled"
        _raise(NVML_ERROR_NOT_SUPPORTED)
    if (errorType, counterType) != (NVML_MEMORY_ERROR_TYPE_UNCORRECTED, NVML_VOLATILE_ECC):
        return 0
    return gpu.ecc_uncorrected_volatile


def nvmlDeviceGetComputeMode(handle):
    return _gpu(handle, "nvmlDeviceGetComputeMode").compute_mode


def _procs(entries):
    out = []
    for pid, used in entries:
        c = c_nvmlProcessInfo_v2_t()
        c.pid = pid
        c.usedGpuMemory = NVML_VALUE_NOT_AVAILABLE_ulonglong.value if used is None else used
        c.gpuInstanceId = c.computeInstanceId = 0xFFFFFFFF
        obj = nvmlStructToFriendlyObject(c)
        if obj.usedGpuMemory == NVML_VALUE_NOT_AVAILABLE_ulonglong.value:
            obj.usedGpuMemory = None  # as pynvml does (WDDM, or no permission to see the figure)
        out.append(obj)
    return out


def nvmlDeviceGetComputeRunningProcesses(handle):
    return _procs(_gpu(handle, "nvmlDeviceGetComputeRunningProcesses").compute_procs)


def nvmlDeviceGetGraphicsRunningProcesses(handle):
    return _procs(_gpu(handle, "nvmlDeviceGetGraphicsRunningProcesses").graphics_procs)


def _pci_parts(text):
    """(domain, bus, device, function) of 'domain:bus:device.function' (any digits, hex), or None."""
    try:
        domain, bus, rest = str(text).lower().split(":")
        dev, function = rest.split(".")
        return int(domain, 16), int(bus, 16), int(dev, 16), int(function, 16)
    except ValueError:
        return None


def nvmlDeviceGetHandleByPciBusId(pciBusId):
    _check_init()
    want = _pci_parts(pciBusId.decode() if isinstance(pciBusId, bytes) else pciBusId)
    if want is None:
        _raise(NVML_ERROR_INVALID_ARGUMENT)
    for index, gpu in enumerate(machine.gpus):
        if _pci_parts(gpu.bus_id) == want:
            if gpu.lost is True:
                _raise(NVML_ERROR_GPU_IS_LOST)
            return c_nvmlDevice_t(index)
    _raise(NVML_ERROR_NOT_FOUND)


def nvmlDeviceGetHandleByUUID(uuid):
    _check_init()
    for index, gpu in enumerate(machine.gpus):
        if gpu.uuid == (uuid.decode() if isinstance(uuid, bytes) else uuid):
            return c_nvmlDevice_t(index)
    _raise(NVML_ERROR_NOT_FOUND)


def nvmlDeviceGetClockInfo(handle, type):
    gpu = _gpu(handle, "nvmlDeviceGetClockInfo")
    clocks = {NVML_CLOCK_SM: gpu.sm_clock, NVML_CLOCK_GRAPHICS: gpu.sm_clock, NVML_CLOCK_MEM: gpu.mem_clock}
    if type not in clocks:
        _raise(NVML_ERROR_NOT_SUPPORTED)
    return clocks[type]


def nvmlDeviceGetCurrentClocksEventReasons(handle):
    gpu = _gpu(handle, "nvmlDeviceGetCurrentClocksEventReasons")
    if gpu.old_driver:  # pynvml looks the entry point up in the driver's library: absent there
        _raise(NVML_ERROR_FUNCTION_NOT_FOUND)
    return gpu.clock_reasons


def nvmlDeviceGetCurrentClocksThrottleReasons(handle):
    return _gpu(handle, "nvmlDeviceGetCurrentClocksThrottleReasons").clock_reasons


def nvmlDeviceGetPcieThroughput(device, counter):
    gpu = _gpu(device, "nvmlDeviceGetPcieThroughput")
    if counter not in (NVML_PCIE_UTIL_TX_BYTES, NVML_PCIE_UTIL_RX_BYTES):
        _raise(NVML_ERROR_INVALID_ARGUMENT)
    return gpu.pcie_tx if counter == NVML_PCIE_UTIL_TX_BYTES else gpu.pcie_rx


def nvmlDeviceGetTotalEnergyConsumption(handle):
    return _gpu(handle, "nvmlDeviceGetTotalEnergyConsumption").energy_mj


def nvmlDeviceGetProcessUtilization(handle, timeStamp):
    """As pynvml: a list of samples, or NVML_ERROR_NOT_FOUND when no process has one since ``timeStamp``."""
    gpu = _gpu(handle, "nvmlDeviceGetProcessUtilization")
    if not gpu.process_util:
        _raise(NVML_ERROR_NOT_FOUND)
    samples = (c_nvmlProcessUtilizationSample_t * len(gpu.process_util))()
    for sample, (pid, sm) in zip(samples, gpu.process_util):
        sample.pid, sample.timeStamp, sample.smUtil = pid, timeStamp + 1, sm
    return samples[0:len(gpu.process_util)]

