"""Reading run folders, for the app and the CLI: one typed ``RunRecord`` per run, never trusting disk.

A folder is read through ``run_rows`` (typed rows, appended bytes only), ``run_config`` (a checked
``config.json``) and ``request.json``; whatever cannot be read makes the record say why
(``problem``), and a folder deleted while it is read simply drops out of the list. The state comes
from the last status row, checked against the process table: a "running" run whose process is gone,
is a zombie or had its pid reused is ``lost``; a run with no status yet is ``queued`` while it waits
in the queue (``queue.json``, no process yet), ``starting`` while its launched process lives (or for
a grace period), then ``failed`` with its log's last words or ``lost``. A finished run whose resume
was launched after its last status is ``starting`` again until the resumed process writes.

``list_runs`` keeps a record per folder and rereads only files whose size or time changed, so a page
that lists 1,000 finished runs every second costs a few stat calls per run.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .problems import Problem, problem
from .request import TrainRequest
from .run_config import RunConfig, read_config
from .run_folder import LAUNCH, LOG, METRICS, QUEUE, REQUEST, RUN_ID, is_run_dir, run_file, runs_root
from .run_meta import QueueEntry, RunMeta, read_meta, read_queue_entry
from .run_rows import EvalRow, Metrics, MetricsFile, TrainRow
from .spec import ProblemsError

LIVE_STATES = ("starting", "running")
STATES = ("queued", *LIVE_STATES, "completed", "stopped", "failed", "lost")
STARTING_GRACE_S = 120.0  # a folder with no status and no known process is "starting" this long


@dataclass(frozen=True)
class RunState:
    state: str  # queued | starting | running | completed | stopped | failed | lost
    reason: Problem | None = None  # why it failed, what stopped it, why it counts as lost
    pid: int | None = None

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    path: Path
    state: RunState
    config: RunConfig | None
    request: TrainRequest | None  # request.json, else the config's
    metrics: Metrics = field(default_factory=Metrics)
    started: float = 0.0  # unix time, for sorting
    problem: Problem | None = None  # why (part of) the folder cannot be read
    meta: RunMeta | None = None  # name and note set after launch (meta.json)
    queue: QueueEntry | None = None  # its queue place and sweep (queue.json), kept once it started

    @property
    def name(self) -> str | None:
        """meta.json's name, else the one it was launched with."""
        if self.meta is not None:
            return self.meta.name
        return self.request.name if self.request else None

    @property
    def note(self) -> str | None:
        if self.meta is not None:
            return self.meta.note
        return self.request.note if self.request else None

    @property
    def sweep(self) -> str | None:
        return self.queue.sweep if self.queue else None

    @property
    def last_train(self) -> TrainRow | None:
        return self.metrics.last_train

    @property
    def last_eval(self) -> EvalRow | None:
        return self.metrics.last_eval

    @property
    def best_test_acc(self) -> float | None:
        accs = [e.test_acc for e in self.metrics.evals if e.test_acc is not None]
        return max(accs) if accs else None

    @property
    def unreadable(self) -> bool:
        """Shown as "unreadable: <reason>": nothing to draw, but it can be deleted once not live."""
        return self.problem is not None and self.config is None and not self.state.live


# --- one folder ------------------------------------------------------------------------------------

def read_request(run_dir: Path) -> tuple[TrainRequest | None, Problem | None]:
    path = run_file(run_dir, REQUEST)
    if path is None:
        return None, None
    try:
        return TrainRequest.read(path), None
    except ProblemsError as e:
        return None, problem("config_invalid", field=REQUEST, why=e.problems[0])


def run_state(run_dir: Path, metrics: Metrics, now: float | None = None) -> RunState:
    """The last status written, with 'running' checked against the process table."""
    last = metrics.last_status
    if last is None:
        return _launch_state(run_dir, time.time() if now is None else now)
    if last.state != "running" and (resumed := _resume_launched(run_dir, last.time)) is not None:
        return resumed
    pid = last.pid or next((s.pid for s in reversed(metrics.statuses) if s.pid), None)
    if last.state == "running":
        if pid is None:
            return RunState("lost", problem("run_no_pid"))
        if not process_alive(pid, last.time):
            return RunState("lost", problem("run_lost", pid=pid), pid)
        return RunState("running", None, pid)
    reason = last.problem or (problem("run_log_line", line=last.error) if last.error else None)
    if reason is None and last.reason:
        reason = problem("stopped_by", how=last.reason)
    return RunState(last.state, reason, pid)


def _resume_launched(run_dir: Path, last_time: float | None) -> RunState | None:
    """'starting' if a process was launched (a resume) after the last status and still lives."""
    pid, since = read_launch(run_dir)
    if pid is None or last_time is None or since is None or since <= last_time:
        return None
    return RunState("starting", problem("run_starting"), pid) if process_alive(pid, since) else None


def _launch_state(run_dir: Path, now: float) -> RunState:
    """No status yet: 'queued' in the queue, 'starting' while the launched process lives, else 'failed'
    with its last words."""
    pid, since = read_launch(run_dir)
    if pid is None and run_file(run_dir, QUEUE) is not None:
        return RunState("queued")
    if pid is not None:
        if process_alive(pid, since):
            return RunState("starting", problem("run_starting"), pid)
        line = _last_line(run_dir / LOG)
        return RunState("failed", problem("run_log_line", line=line) if line else problem("run_never_started"), pid)
    try:
        age = now - run_dir.stat().st_mtime
    except OSError:
        age = STARTING_GRACE_S
    if age < STARTING_GRACE_S:
        return RunState("starting", problem("run_no_status"))
    return RunState("lost", problem("run_no_process"))


def read_launch(run_dir: Path) -> tuple[int | None, float | None]:
    """(pid, unix time) from launch.json, or (None, None) if it is missing or not what launch writes."""
    path = run_file(run_dir, LAUNCH)
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path and path.stat().st_size < 65536 else None
    except (OSError, ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        return None, None
    pid, since = data.get("pid"), data.get("time")
    ok_pid = isinstance(pid, int) and not isinstance(pid, bool) and 0 < pid < 2**31
    ok_time = isinstance(since, (int, float)) and not isinstance(since, bool) and 0 <= since < 1e11
    return (pid, float(since)) if ok_pid and ok_time else (None, None)


def launch_devices(run_dir: Path) -> tuple[str, ...]:
    """The devices a launched run holds ('cpu'; 'cuda:0', 'cuda:1'), as launch.json says; () if unknown."""
    path = run_file(run_dir, LAUNCH)
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path and path.stat().st_size < 65536 else None
    except (OSError, ValueError, RecursionError):
        return ()
    if not isinstance(data, dict):
        return ()
    devices = data.get("devices")
    if isinstance(devices, list) and devices and all(isinstance(d, str) for d in devices):
        return tuple(d[:40] for d in devices[:64])
    device = data.get("device")  # launch.json before device lists
    return (device[:40],) if isinstance(device, str) else ()


def launch_device(run_dir: Path) -> str | None:
    """The (first) device a launched run holds, as launch.json says."""
    return next(iter(launch_devices(run_dir)), None)


def _last_line(path: Path) -> str | None:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 4096))
            lines = [line.strip() for line in f.read().decode("utf-8", "replace").splitlines()]
    except OSError:
        return None
    return next((line[:300] for line in reversed(lines) if line), None)


def process_alive(pid: int, since: float | None) -> bool:
    """Alive, not a zombie, and not a newer process that reused the pid."""
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return since is None or proc.create_time() <= float(since) + 1.0
    except (psutil.NoSuchProcess, psutil.ZombieProcess, ValueError, OverflowError):
        return False
    except psutil.AccessDenied:
        return True


# --- many folders, cached ----------------------------------------------------------------------------

class _Folder:
    """What is known of one run folder: its metrics reader and the stat keys of its small files."""

    def __init__(self, path: Path):
        self.path = path
        self.metrics_file = MetricsFile(path / METRICS)
        self.keys: tuple | None = None
        self.record: RunRecord | None = None


_folders: dict[Path, _Folder] = {}
_lock = threading.Lock()


def _stat_key(path: str) -> tuple | None:
    try:
        s = os.stat(path)
    except OSError:
        return None
    return s.st_ino, s.st_size, s.st_mtime_ns


def read_run(path: Path, folder: _Folder | None = None, dir_stat: tuple | None = None) -> RunRecord:
    """The record of one run folder (cached in ``folder`` where given).

    A finished run is read again only when its folder's own time changes: every file of a run is
    created, replaced whole or removed (a change of the folder), except metrics.jsonl, which only
    a live run appends to. So a finished run costs one stat; a live one rereads its appended rows.
    """
    folder = folder or _Folder(path)
    key = dir_stat if dir_stat is not None else _stat_key(str(path))
    if folder.record is not None and key == folder.keys and not folder.record.state.live:
        return folder.record
    metrics = folder.metrics_file.read()
    config, config_problem = read_config(path)
    request, request_problem = read_request(path)
    started = _started(path, config, metrics)
    record = RunRecord(path.name, path, run_state(path, metrics), config, request or (config.request if config else None),
                       metrics, started, config_problem or request_problem, read_meta(path), read_queue_entry(path))
    folder.keys, folder.record = key, record
    return record


def _started(path: Path, config: RunConfig | None, metrics: Metrics) -> float:
    if config is not None and config.started_unix is not None:
        return config.started_unix
    first = next((s.time for s in metrics.statuses if s.time is not None), None)
    if first is not None:
        return first
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def list_runs(root: str | os.PathLike | None = None) -> list[RunRecord]:
    """Every run folder under root, newest first; folders that vanish mid-read are left out."""
    root = Path(root) if root is not None else runs_root()
    try:
        entries = [e for e in os.scandir(root) if e.is_dir(follow_symlinks=False) and RUN_ID.fullmatch(e.name)]
    except OSError:
        return []
    records, present = [], set()
    with _lock:
        for entry in entries:
            path = root / entry.name
            present.add(path)
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:  # deleted while we looked
                continue
            folder = _folders.get(path)
            if folder is None:
                if not is_run_dir(path):
                    continue
                folder = _folders[path] = _Folder(path)
            records.append(read_run(path, folder, (info.st_ino, info.st_size, info.st_mtime_ns)))
        for gone in [p for p in _folders if p not in present and p.parent == root]:
            del _folders[gone]
    return sorted(records, key=lambda r: (r.started, r.run_id), reverse=True)


def find_run(root: Path, run_id: str) -> RunRecord | None:
    return next((r for r in list_runs(root) if r.run_id == run_id), None)


def set_name(root: str | os.PathLike | None, run_id: str, name: str | None, note: str | None = None) -> RunMeta:
    """Name a run (and note it) after launch, in its meta.json; the id stays the folder's name.

    Raises RunDirError for a run that is not there, MetaError for a name or note refused."""
    from .run_folder import RunDirError, safe_run_dir
    from .run_meta import write_meta

    path = safe_run_dir(Path(root) if root is not None else runs_root(), run_id)
    if not path.is_dir() or not is_run_dir(path):
        raise RunDirError(problem("run_missing", run=run_id))
    return write_meta(path, name, note)


__all__ = [
    "RunState", "RunRecord", "LIVE_STATES", "list_runs", "read_run", "run_state", "find_run", "process_alive",
    "read_launch", "launch_device", "launch_devices", "read_request", "set_name", "STATES",
]
