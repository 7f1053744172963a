"""A real training process for the GPU page's tests: a tiny CPU run on Fashion-MNIST, live until the test ends.

Launched as the Train page launches one (``vgg_core.launch.start_run``), with more epochs than a test
lasts, then stopped as the page stops one and waited for, so no process outlives its test.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import psutil

from vgg_core.launch import start_run, stop_run
from vgg_core.request import TrainRequest, TrainSettings
from vgg_core.resources import LiveProcess, live_processes
from vgg_core.runs import read_run
from vgg_core.spec import ArchSpec

TINY = ArchSpec(conv_arch=((1, 16), (1, 32)), input_size=28, fc_width=256)  # arch=1x16+1x32&size=28&fc=256


@contextmanager
def live_tiny_run(root: Path, name: str, trained: bool = True, timeout: float = 120) -> Iterator[LiveProcess]:
    """Start the run under ``root`` and yield its process once it trains (its status says running), or
    with ``trained=False`` as soon as ``live_processes`` lists it (while it starts)."""
    settings = TrainSettings(epochs=1000, device="cpu", max_train_examples=2000, max_test_examples=500, seed=0)
    run_dir = start_run(TrainRequest(TINY, settings, name=name), root)
    try:
        yield _listed(root, run_dir.name, trained, timeout)
    finally:
        _stop(run_dir, root)


def _listed(root: Path, run_id: str, trained: bool, timeout: float) -> LiveProcess:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [p for p in live_processes(root) if p.run_id == run_id]
        if found and (not trained or read_run(root / run_id).state.state == "running"):
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} never trained; its log: {(root / run_id / 'log.txt').read_text()[-2000:]}")


def _stop(run_dir: Path, root: Path) -> None:
    """Stop it as the page does; SIGKILL only if it has not ended a minute later."""
    pids = [p.pid for p in live_processes(root) if p.run_id == run_dir.name]
    stop_run(run_dir)
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            try:
                proc.wait(timeout=60)
            except psutil.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        except psutil.NoSuchProcess:
            pass
