"""The scheduler: one process per runs folder that starts queued runs as their devices come free.

It holds the runs folder's ``.scheduler.lock`` (``queue.SchedulerLock``) for its life and loops:
under the launch lock, it takes the queue in order and starts every run whose device is free
(one run per device, as for runs started by hand; a request of "auto" or "cuda" may take any
free GPU, so on a machine with several GPUs each is kept busy), then waits for one of its runs to
end or half a second. A device counts as busy while a live run holds it (whoever started it) and
until the process the scheduler started there has exited, so a run's GPU memory is free before
the next run starts there.

It exits when the queue is empty and no run it started is still running: it releases its lock
while still holding the launch lock, so a run queued after that moment finds no scheduler and
``ensure_scheduler`` starts a new one; none is ever left waiting with no scheduler. A scheduler
killed in any way (SIGKILL included) loses nothing: the queue is the folders, the runs it started
go on in their own sessions, and the next scheduler treats their devices as busy until they end.
A queued run that can no longer start (its device is gone, its request unreadable) is marked
``failed`` with the reason, so it leaves the queue instead of blocking it.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable

import torch

from .device import resolve_device
from .launch import LaunchError, busy_devices, launch_lock, start_prepared
from .problems import Problem, ProblemsError, problem
from .queue import SchedulerLock, queued_runs
from .request import TrainRequest
from .run_folder import REQUEST, RunDirError
from .run_writer import RunWriter
from .runs import RunRecord

POLL_S = 0.5  # how often the queue is looked at when no run of ours ends first
STALE_TMP_S = 3600.0  # a half-made queue folder (a crash while queueing) older than this is removed


def device_options(setting: str) -> list[str]:
    """The devices a run asking for ``setting`` may take, in order: 'auto' and 'cuda' take any CUDA GPU."""
    text = (setting or "auto").strip().lower()
    if text in ("auto", "cuda") and torch.cuda.is_available():
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return [str(resolve_device(text))]


def devices_needed(request: TrainRequest, options: list[str] | None = None) -> int:
    """How many devices the run holds at once: one GPU per process on CUDA (processes on the CPU share it)."""
    cuda = any(d.startswith("cuda") for d in (options or device_options(request.settings.device)))
    return request.settings.nproc if cuda else 1


class Scheduler:
    def __init__(self, root: Path, say: Callable[[str], None] = print, poll_s: float = POLL_S,
                 lock_fd: int | None = None):
        self.root, self.say, self.poll_s = Path(root), say, poll_s
        self.lock = SchedulerLock(self.root, lock_fd)
        self.started: dict[str, tuple[subprocess.Popen, tuple[str, ...]]] = {}  # run id -> (process, devices)
        self.wake = threading.Event()

    def serve(self) -> bool:
        """Run until the queue is done; False at once if another scheduler serves this folder."""
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.lock.acquire():
            return False
        try:
            _remove_stale_tmp(self.root)
            while self.step():
                self.wake.wait(self.poll_s)
                self.wake.clear()
        finally:
            self.lock.release()
        return True

    def step(self) -> bool:
        """Start what can start; False when there is nothing left to do (the lock is then released)."""
        with launch_lock(self.root):
            waiting = queued_runs(self.root)
            if not waiting and not self._ours_alive():
                self.lock.release()  # inside the launch lock: see the module's docstring
                return False
            busy = set(busy_devices(self.root)) | self._ours_holding()
            for record in waiting:
                devices = self._pick(record, busy)
                if devices and self._start(record, devices):
                    busy.update(devices)
        return True

    def _ours_alive(self) -> bool:
        return any(proc.poll() is None for proc, _ in self.started.values())

    def _ours_holding(self) -> set[str]:
        return {d for proc, devices in self.started.values() if proc.poll() is None for d in devices}

    def _pick(self, record: RunRecord, busy: set[str]) -> tuple[str, ...] | None:
        """Free devices for this run, or None (wait); a run that can never start is failed."""
        request = record.request
        try:
            if request is None:
                missing = problem("request_unreadable", path=str(record.path / REQUEST), why=os.strerror(errno.ENOENT))
                raise RunDirError(record.problem or missing)
            if problems := request.problems():
                raise LaunchError(problems)
            options = device_options(request.settings.device)
        except ProblemsError as e:
            self._fail(record, e.problems[0])
            return None
        free = [d for d in options if d not in busy]
        needed = devices_needed(request, options)
        return tuple(free[:needed]) if len(free) >= needed else None

    def _start(self, record: RunRecord, devices: tuple[str, ...]) -> bool:
        try:
            proc = start_prepared(record.path, record.request, devices, on_exit=self.wake.set)
        except LaunchError as e:
            self._fail(record, e.problems[0])
            return False
        except OSError as e:
            self._fail(record, problem("disk_error", path=str(e.filename or record.path), why=e.strerror or str(e)))
            return False
        self.started[record.run_id] = (proc, devices)
        self.say(f"{time.strftime('%H:%M:%S')} started {record.run_id} on {', '.join(devices)}")
        return True

    def _fail(self, record: RunRecord, why: Problem) -> None:
        """Out of the queue, with the reason in its folder, as a run that failed before it began."""
        try:
            writer = RunWriter(record.path)
            writer.status("failed", problem=why)
            writer.close()
        except (OSError, ProblemsError):
            return
        self.say(f"{time.strftime('%H:%M:%S')} {record.run_id} cannot start: {why}")


def _remove_stale_tmp(root: Path) -> None:
    now = time.time()
    for tmp in root.glob(".queue-*.tmp"):
        try:
            if now - tmp.stat().st_mtime > STALE_TMP_S:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError:
            pass


def serve(root: Path, say: Callable[[str], None] = print, poll_s: float = POLL_S, lock_fd: int | None = None) -> bool:
    """``python -m vgg_core queue``: serve ``root``'s queue in this process until it is done
    (``lock_fd``: the scheduler lock, already taken by ``ensure_scheduler``)."""
    return Scheduler(root, say, poll_s, lock_fd).serve()


__all__ = ["Scheduler", "serve", "device_options", "devices_needed", "POLL_S"]
