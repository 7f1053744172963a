"""The processes a benchmark measures: the app's server (found by its port) and chromium's, and
the CPU time they have used, with psutil."""

from __future__ import annotations

import psutil


def server_process(port: int) -> psutil.Process:
    """The ``streamlit run`` process serving ``port``."""
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if "streamlit" in " ".join(cmd) and str(port) in cmd:
            return proc
    raise RuntimeError(f"no streamlit server on port {port}")


def chromium_processes() -> list[psutil.Process]:
    """Every chromium process now running (a browser is several: renderer, GPU, network...)."""
    return [p for p in psutil.process_iter(["name"]) if "chrom" in (p.info["name"] or "")]


def cpu_seconds(procs: list[psutil.Process]) -> float:
    """CPU seconds (user + system) the processes have used so far; a process gone counts 0."""
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total
