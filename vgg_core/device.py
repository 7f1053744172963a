"""Turn a ``--device`` string into a torch.device that exists here, or one line saying what does."""

from __future__ import annotations

import platform
import re

import torch

from .problems import Count, ProblemsError, problem

DEVICE_HELP = "auto, cpu, cuda, cuda:N or mps"


class DeviceError(ProblemsError):
    """A device that is not here, with what is."""


def resolve_device(text: str = "auto") -> torch.device:
    """``auto`` = the first CUDA GPU, else Apple's MPS, else the CPU."""
    text = (text or "auto").strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "mps":
        if not _mps_available():
            raise DeviceError(problem("device_mps_missing", available=available_devices()))
        return torch.device("mps")
    m = re.fullmatch(r"cuda(?::(\d{1,3}))?", text)
    if m:
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(m.group(1) or 0)
        if count == 0:
            raise DeviceError(problem("device_no_cuda", device=text, available=available_devices()))
        if index >= count:
            raise DeviceError(
                problem("device_missing", device=text, gpus=Count("cuda_gpus", count), available=available_devices())
            )
        return torch.device("cuda", index)
    raise DeviceError(problem("device_unknown", device=repr(text), allowed="auto, cpu, cuda, cuda:N, mps", available=available_devices()))


def check_processes(nproc: int, device: torch.device, gpus: int | None = None) -> None:
    """Several processes for one run: one CUDA GPU each (so no more than are visible), or the CPU.

    ``gpus`` is how many CUDA GPUs this machine shows (default: ask CUDA). MPS cannot be shared out.
    """
    if not isinstance(nproc, int) or nproc <= 1:
        return
    if device.type == "mps":
        raise DeviceError(problem("nproc_mps", n=nproc))
    if device.type == "cuda":
        count = gpus if gpus is not None else torch.cuda.device_count()
        if nproc > count:
            raise DeviceError(problem("nproc_gpus", n=nproc, gpus=Count("cuda_gpus", count)))


def available_devices() -> str:
    names = ["cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if _mps_available():
        names.append("mps")
    return ", ".join(names)


def device_name(device: torch.device) -> str:
    """The hardware's own name, for run records: 'NVIDIA H100 80GB HBM3', 'AMD EPYC', ..."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return f"Apple MPS ({platform.machine()})"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"


def pci_bus_id(device: torch.device) -> str | None:
    """The GPU's PCI address ('0000:1a:00.0'): how NVML names the same card whatever CUDA's numbering."""
    if device.type != "cuda":
        return None
    try:
        p = torch.cuda.get_device_properties(device)
        return f"{p.pci_domain_id:04x}:{p.pci_bus_id:02x}:{p.pci_device_id:02x}.0"
    except (AttributeError, RuntimeError):  # an older torch: the run record goes without it
        return None


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())
