"""The queue of runs: prepared run folders waiting for a device, and the one scheduler that starts them.

A queued run is a run folder with its ``request.json`` and a ``queue.json`` (its order, sweep and
the values the sweep gave it; see ``vgg_core.run_meta`` for why one file per folder) and no
process yet. ``queue_runs`` makes them under the runs root's lock, so two processes queueing at
the same moment get one queue in order, with nothing lost or doubled. The scheduler
(``vgg_core.scheduler``, ``python -m vgg_core queue``) starts them; ``ensure_scheduler`` starts it
in the background for the app and the CLI. One scheduler per runs folder: it holds an exclusive
``flock`` on ``.scheduler.lock`` in the root for its life, so a second one exits at once, and a
scheduler that died (even by SIGKILL) has released it, so the next ``ensure_scheduler`` starts a
new one that picks the queue up where it was.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from .launch import LaunchError, disk_errors, launch_lock, spawn_detached
from .problems import problem
from .request import TrainRequest
from .run_folder import REQUEST, RunDirError, atomic_write, new_run_id, runs_root, safe_run_dir
from .run_meta import QueueEntry, write_queue_entry
from .runs import RunRecord, list_runs, read_run

SCHEDULER_LOCK, SCHEDULER_LOG = ".scheduler.lock", ".scheduler.log"


def _root(root: str | os.PathLike | None) -> Path:
    return Path(root).expanduser().resolve() if root is not None else runs_root()


def queued_runs(root: str | os.PathLike | None = None) -> list[RunRecord]:
    """The runs waiting in the queue, first to start first."""
    waiting = [r for r in list_runs(_root(root)) if r.state.state == "queued" and r.queue is not None]
    return sorted(waiting, key=lambda r: (r.queue.order, r.queue.queued, r.run_id))


def queue_runs(requests: Sequence[TrainRequest], root: str | os.PathLike | None = None, sweep: str | None = None,
               values: Sequence[dict[str, Any]] | None = None) -> list[str]:
    """Queue ``requests`` in this order, after every run already waiting; returns their run ids.

    Each request is checked first (ConfigError/SpecError as LaunchError); nothing is queued unless
    all are valid. ``values``: per request, the settings its sweep gave it (JSON), kept in queue.json."""
    problems = [p for r in requests for p in r.problems()]
    if problems:
        raise LaunchError(problems)
    root = _root(root)
    with disk_errors(root), launch_lock(root):
        order = max((r.queue.order for r in queued_runs(root)), default=0)
        ids = []
        for i, request in enumerate(requests):
            entry = QueueEntry(order + 1 + i, round(time.time(), 6), sweep, dict(values[i]) if values else {})
            ids.append(_make_queued(root, request, entry))
    return ids


def _make_queued(root: Path, request: TrainRequest, entry: QueueEntry) -> str:
    """Made under a hidden name and renamed into place: a crash leaves a whole queued run or none."""
    run_id = new_run_id()
    final = safe_run_dir(root, run_id)
    tmp = root / f".queue-{run_id}.tmp"
    tmp.mkdir()
    try:
        atomic_write(tmp / REQUEST, request.to_json().encode())
        write_queue_entry(tmp, entry)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return run_id


def move_up(root: str | os.PathLike | None, run_id: str) -> None:
    """Swap a queued run with the one before it; refused for a run that is not queued or already first."""
    root = _root(root)
    path = safe_run_dir(root, run_id)
    with launch_lock(root):
        waiting = queued_runs(root)
        ids = [r.run_id for r in waiting]
        if run_id not in ids:
            if not path.is_dir():
                raise RunDirError(problem("run_missing", run=run_id))
            raise RunDirError(problem("run_not_queued", run=run_id, state=read_run(path).state.state))
        i = ids.index(run_id)
        if i == 0:
            raise RunDirError(problem("queue_first", run=run_id))
        before, this = waiting[i - 1], waiting[i]
        # Orders are unique among the queued (assigned under this lock), so a swap is a move up by one.
        write_queue_entry(this.path, _with_order(this.queue, before.queue.order))
        write_queue_entry(before.path, _with_order(before.queue, this.queue.order))


def _with_order(entry: QueueEntry, order: int) -> QueueEntry:
    return QueueEntry(order, entry.queued, entry.sweep, entry.values)


def queue_position(root: str | os.PathLike | None = None) -> dict[str, int]:
    """run id -> 1-based place in the queue, for the runs waiting."""
    return {r.run_id: i for i, r in enumerate(queued_runs(root), start=1)}


# --- the one scheduler per runs folder ------------------------------------------------------------

class SchedulerLock:
    """The exclusive lock a scheduler holds on ``root/.scheduler.lock`` for its life, with its pid inside.

    ``ensure_scheduler`` takes it before the scheduler process exists and hands the locked file
    over (``inherited_fd``): no moment passes in which a second caller could start a second one."""

    def __init__(self, root: Path, inherited_fd: int | None = None):
        self.path = Path(root) / SCHEDULER_LOCK
        self._file = None
        self._inherited = inherited_fd

    def acquire(self, tries: int = 10, wait_s: float = 0.05) -> bool:
        """True if this process now is the scheduler; False if another one is.

        A few tries: ``scheduler_pid`` holds the lock for a moment to look, and must not make a
        starting scheduler give up; a real scheduler holds it for good."""
        f = os.fdopen(self._inherited, "a+") if self._inherited is not None else open(self.path, "a+")
        self._inherited = None
        for attempt in range(tries):
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == tries - 1:
                    f.close()
                    return False
                time.sleep(wait_s)
        f.truncate(0)
        f.write(f"{os.getpid()}\n")
        f.flush()
        self._file = f
        return True

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def scheduler_pid(root: str | os.PathLike | None = None) -> int | None:
    """The pid of the scheduler serving ``root``, or None if none is (its lock is free)."""
    path = _root(root) / SCHEDULER_LOCK
    try:
        with open(path, "r") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                text = f.read(32).strip()
                return int(text) if text.isdigit() else -1
            fcntl.flock(f, fcntl.LOCK_UN)
    except OSError:
        pass
    return None


def ensure_scheduler(root: str | os.PathLike | None = None) -> int | None:
    """Start the scheduler for ``root`` in the background unless one serves it; idempotent.

    Returns the new scheduler's pid, or None when one was already running. The lock is taken
    here and the locked file handed to the child, so of two callers at the same moment exactly
    one starts a scheduler, and a scheduler that died is replaced by the next call."""
    root = _root(root)
    root.mkdir(parents=True, exist_ok=True)
    lock = open(root / SCHEDULER_LOCK, "a+")
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # a scheduler serves this folder
        fd = lock.fileno()
        argv = [sys.executable, "-m", "vgg_core", "queue", "--runs-dir", str(root), "--lock-fd", str(fd)]
        proc = spawn_detached(argv, root / SCHEDULER_LOG, pass_fds=(fd,))
        lock.truncate(0)
        lock.write(f"{proc.pid}\n")
        lock.flush()
        return proc.pid
    finally:
        lock.close()  # the child's copy keeps the lock


__all__ = [
    "queued_runs", "queue_runs", "move_up", "queue_position", "ensure_scheduler", "scheduler_pid", "SchedulerLock",
    "SCHEDULER_LOCK", "SCHEDULER_LOG",
]
