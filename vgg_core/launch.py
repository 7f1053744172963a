"""Start training runs as their own processes, and stop, resume or delete them, for the app and the queue.

The run itself is ``python -m vgg_core train --run-dir D --request D/request.json`` (or
``train --resume D``) in a new process session: a crash or an out-of-memory there ends that
process only, and its run folder says what happened. No shell is involved and the request is
checked before it is written, so nothing a user types becomes a command. A folder the disk will
not take (read-only, full) is refused before any process starts.

Every decision about which device is free is taken under one file lock in the runs root
(``launch_lock``), by the page, the CLI and the queue's scheduler alike, so two of them can never
put two runs on one device. ``launch.json`` records the devices a run holds as a list, so a run
that needs several devices reserves all of them.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

from .problems import ProblemsError, problem
from .request import TrainRequest
from .run_folder import LAUNCH, LOG, REQUEST, RunDirError, atomic_write, new_run_id, request_stop, runs_root, safe_run_dir
from .runs import LIVE_STATES, RunRecord, launch_devices, list_runs, read_run

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
MIN_FREE_BYTES = 64 << 20  # below this a run could not even write its first epoch's files


class LaunchError(ProblemsError):
    """A launch refused before any process started; one line for the page or the CLI."""


def run_devices(record: RunRecord) -> tuple[str, ...]:
    """The devices a run holds, as resolved at launch ('cpu', 'cuda:0'); config.json's for a run started by hand."""
    return launch_devices(record.path) or ((record.config.device,) if record.config else ())


def run_device(record: RunRecord) -> str | None:
    """The (first) device a run holds."""
    return next(iter(run_devices(record)), None)


def busy_devices(root: Path | None = None) -> dict[str, str]:
    """Each device a live run holds -> that run's id."""
    return {d: r.run_id for r in list_runs(root) if r.state.live for d in run_devices(r)}


def busy_runs(device: str, root: Path | None = None) -> list[str]:
    """Ids of live runs on ``device``."""
    return [r.run_id for r in list_runs(root) if r.state.live and device in run_devices(r)]


def start_run(request: TrainRequest, root: Path | None = None) -> Path:
    """Launch a run in a new folder under ``root``; one run per device at a time."""
    try:
        device = str(request.check())
    except ProblemsError as e:
        raise LaunchError(e.problems) from None
    root = Path(root) if root is not None else runs_root()
    devices = held_devices(device, request.settings.nproc)
    with disk_errors(root), launch_lock(root):
        busy = busy_devices(root)
        taken = next((d for d in devices if d in busy), None)
        if taken is not None:
            raise LaunchError(problem("device_busy", device=taken, run=busy[taken]))
        _check_free_space(root, request)
        # The run is pinned to what "auto" means now, for the busy check.
        pinned = request.replace(settings=request.settings.replace(device=device if len(devices) == 1 else "cuda"))
        run_dir = _prepare(root, pinned)
        proc = spawn_detached(train_argv(run_dir), run_dir / LOG, env=visible_gpus(devices))
        _record_launch(run_dir, proc, list(devices), remove_on_failure=True)
    return run_dir


def held_devices(device: str, nproc: int) -> tuple[str, ...]:
    """The devices a run holds: one, or on CUDA one GPU per process (cuda:0 to cuda:N-1)."""
    if nproc > 1 and device.startswith("cuda"):
        return tuple(f"cuda:{i}" for i in range(nproc))
    return (device,)


def visible_gpus(devices: Sequence[str]) -> dict[str, str]:
    """For a run over several GPUs: exactly those (its ranks count them from cuda:0)."""
    if len(devices) < 2 or not all(d.startswith("cuda:") for d in devices):
        return {}
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    chosen = [int(d.split(":")[1]) for d in devices]
    return {"CUDA_VISIBLE_DEVICES": ",".join(visible[i] if i < len(visible) else str(i) for i in chosen)}


def start_prepared(run_dir: Path, request: TrainRequest, devices: Sequence[str],
                   on_exit: Callable[[], None] | None = None) -> subprocess.Popen:
    """Start a folder the queue prepared on ``devices`` (chosen free by the caller, under ``launch_lock``).

    The request file stays as queued (``device`` may say "auto"); the run is told its device on its
    command line, and launch.json records every device it holds."""
    _check_free_space(run_dir.parent, request)
    several = len(devices) > 1
    proc = spawn_detached(train_argv(run_dir, "cuda" if several else devices[0]), run_dir / LOG, on_exit,
                          env=visible_gpus(devices))
    _record_launch(run_dir, proc, list(devices), remove_on_failure=False)
    return proc


def resume_run(root: Path | None, run_id: str, epochs: int | None = None) -> Path:
    """Continue a stopped, lost or completed run in its own process, up to ``epochs`` in all
    (default: the epochs it asked for); for the page's "Resume" and "Train N more epochs".

    Everything the train command would refuse (a live run, no checkpoint, a checkpoint that does
    not match the request, nothing left to train, a busy device) is refused here first, as
    LaunchError, with the run left as it was."""
    from .resume import plan_resume

    root = Path(root) if root is not None else runs_root()
    run_dir = safe_run_dir(root, run_id)
    with disk_errors(root), launch_lock(root):
        try:
            plan = plan_resume(run_dir, epochs)
            device = str(plan.request.check())
        except ProblemsError as e:
            raise LaunchError(e.problems) from None
        busy = busy_runs(device, root)
        if busy:
            raise LaunchError(problem("device_busy", device=device, run=busy[0]))
        argv = [*_module_argv(), "train", "--resume", str(run_dir), "--epochs", str(plan.request.settings.epochs),
                "--device", device]
        proc = spawn_detached(argv, run_dir / LOG)
        _record_launch(run_dir, proc, [device], remove_on_failure=False)
    return run_dir


def _record_launch(run_dir: Path, proc: subprocess.Popen, devices: list[str], remove_on_failure: bool) -> None:
    """launch.json, or, if even that cannot be written, no run at all: the child is ended (and a new folder removed)."""
    record = {"device": devices[0], "devices": devices, "pid": proc.pid, "argv": proc.args,
              "time": round(time.time(), 3)}
    try:
        atomic_write(run_dir / LAUNCH, (json.dumps(record, indent=2) + "\n").encode())
    except OSError:
        proc.kill()
        proc.wait()
        if remove_on_failure:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def _prepare(root: Path, request: TrainRequest) -> Path:
    run_dir = safe_run_dir(root, new_run_id())
    run_dir.mkdir()
    try:
        atomic_write(run_dir / REQUEST, request.to_json().encode())
    except OSError:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return run_dir


def _module_argv() -> list[str]:
    return [sys.executable, "-m", "vgg_core"]


def train_argv(run_dir: Path, device: str | None = None) -> list[str]:
    """The exact command line of a run; a list, never a shell string."""
    argv = [*_module_argv(), "train", "--run-dir", str(run_dir), "--request", str(run_dir / REQUEST)]
    return argv + ["--device", device] if device else argv


def spawn_detached(argv: list[str], log_path: Path, on_exit: Callable[[], None] | None = None,
                   pass_fds: Sequence[int] = (), env: dict[str, str] | None = None) -> subprocess.Popen:
    """A child in a new session (a Ctrl-C meant for the server does not reach it), output to ``log_path``,
    reaped the moment it ends so it never lingers as <defunct>; then ``on_exit`` is called. It
    inherits no open file but ``pass_fds``; ``env`` is laid over the server's environment."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=PACKAGE_ROOT,
                                env={**child_env(), **(env or {})}, start_new_session=True, pass_fds=tuple(pass_fds))

    def reap() -> None:
        proc.wait()
        if on_exit is not None:
            on_exit()

    threading.Thread(target=reap, name=f"reap-{proc.pid}", daemon=True).start()
    return proc


def _check_free_space(root: Path, request: TrainRequest) -> None:
    """Refuse a launch whose weights alone would not fit on the disk (twice: the file and its replacement)."""
    from .summary import summarize

    need = MIN_FREE_BYTES + 2 * summarize(request.spec).param_bytes
    free = shutil.disk_usage(root).free
    if free < need:
        from .report import human_bytes

        raise LaunchError(problem("disk_low", path=str(root), free=human_bytes(free), need=human_bytes(need)))


@contextmanager
def disk_errors(root: Path) -> Iterator[None]:
    """A runs folder that cannot be made or written refuses the launch in one line."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        yield
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.EIO, errno.ENOTDIR):
            raise LaunchError(problem("disk_error", path=str(e.filename or root), why=os.strerror(e.errno))) from None
        raise


def measure_speed(device: str, amp: bool = True, timeout: float = 300) -> tuple[float, float]:
    """(training MACs per second, fixed seconds per step) on ``device``, from ``python -m vgg_core
    estimate`` in a child process.

    A child, so the web server never holds a CUDA context (and its memory) for the rest of its life
    just to show a time per epoch. Raises LaunchError with one line if the measurement fails.
    """
    argv = [sys.executable, "-m", "vgg_core", "estimate", "--device", device, "--format", "json"]
    if not amp:
        argv.append("--no-amp")
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=PACKAGE_ROOT,
                              env=child_env(), timeout=timeout, start_new_session=True)
    except subprocess.TimeoutExpired:
        raise LaunchError(problem("speed_timeout", device=device, limit=f"{timeout:.0f}")) from None
    try:
        figures = json.loads(done.stdout)
    except ValueError:
        figures = None
    if done.returncode != 0:
        raise LaunchError(problem("speed_failed", device=device, why=_child_reason(figures, done)))
    try:
        return float(figures["calibration_macs_per_sec"]), float(figures["step_overhead_s"])
    except (KeyError, TypeError, ValueError):
        raise LaunchError(problem("speed_no_figure", device=device)) from None


def _child_reason(figures: object, done: subprocess.CompletedProcess):
    """The child's refusal as data (its JSON output), else its last line of stderr as text."""
    from .problems import Problem

    if isinstance(figures, dict) and isinstance(figures.get("problems"), list) and figures["problems"]:
        found = Problem.from_dict(figures["problems"][0])
        if found is not None:
            return found
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    return lines[-1].removeprefix("error: ") if lines else f"exit {done.returncode}"


def child_env() -> dict[str, str]:
    """The server's environment, with this package importable whatever the child's working folder."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH")) if p)
    return env


def stop_run(run_dir: Path) -> None:
    """Ask a live run to stop: the STOP file always, and SIGTERM to its process.

    A run still starting has no handler yet: SIGTERM then ends it before it trained anything,
    and it shows as failed, never as starting forever.
    """
    try:
        request_stop(run_dir)
    except OSError:
        pass
    state = read_run(run_dir).state
    if state.live and state.pid:
        try:
            os.kill(state.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass


def delete_run(root: Path, run_id: str) -> None:
    """Remove a run's folder that is not live (unreadable ones included); nothing outside ``root``.

    A queued run leaves the queue this way; under the lock, so the scheduler cannot start it meanwhile."""
    path = safe_run_dir(root, run_id)
    if not path.is_dir():
        raise RunDirError(problem("run_missing", run=run_id))
    with launch_lock(path.parent):
        if not path.is_dir():
            raise RunDirError(problem("run_missing", run=run_id))
        if read_run(path).state.state in LIVE_STATES:
            raise RunDirError(problem("run_live", run=run_id))
        shutil.rmtree(path)


@contextmanager
def launch_lock(root: Path) -> Iterator[None]:
    """One decision at a time about a runs folder: two tabs pressing Train at once, the scheduler
    starting a queued run while a page removes it: the second sees the first's result before it decides."""
    with open(Path(root) / ".launch.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
