"""Start training runs as their own processes, and stop or delete them, for the app.

The run itself is ``python -m vgg_core train --run-dir ...`` in a new process session: a crash or
an out-of-memory there ends that process only, and its run folder says what happened. No shell is
involved and every value passed on has been validated, so nothing a user types becomes a command.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from .device import resolve_device
from .runs import LAUNCH, LOG, RunDirError, list_runs, new_run_id, request_stop, run_state, runs_root, safe_run_dir
from .spec import ArchSpec, format_conv_arch
from .train import ConfigError, TrainConfig, check_setup

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
LIVE_STATES = ("starting", "running")
_children: list[subprocess.Popen] = []  # reaped on every call, so finished runs leave no zombies


class LaunchError(ValueError):
    """A launch refused before any process started; the message is one line for the page.

    ``problems`` keeps a refused setting's sentences apart, so the page can show each in its language.
    """

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = list(problems) if problems else [message]


@dataclass(frozen=True)
class TrainRequest:
    """What the Train page may set; the rest are the engine's (d2l's) defaults."""

    epochs: int = 10
    batch_size: int = 128
    lr: float | None = None
    optimizer: str = "sgd"
    momentum: float = 0.0
    weight_decay: float = 0.0
    seed: int | None = None
    device: str = "auto"
    max_train_examples: int | None = None
    max_test_examples: int | None = None
    log_every: int = 10
    amp: bool = True

    def config(self) -> TrainConfig:
        return TrainConfig(**asdict(self))


def train_argv(spec: ArchSpec, request: TrainRequest, run_dir: Path) -> list[str]:
    """The exact command line of a run; a list, never a shell string."""
    argv = [
        sys.executable, "-m", "vgg_core", "train", "--run-dir", str(run_dir),
        "--arch", format_conv_arch(spec.conv_arch), "--ratio", str(spec.ratio),
        "--in-channels", str(spec.in_channels), "--input-size", str(spec.input_size),
        "--num-classes", str(spec.num_classes), "--fc-width", str(spec.fc_width), "--dropout", str(spec.dropout),
        "--epochs", str(request.epochs), "--batch-size", str(request.batch_size),
        "--optimizer", request.optimizer, "--momentum", str(request.momentum),
        "--weight-decay", str(request.weight_decay), "--device", request.device,
        "--log-every", str(request.log_every),
    ]
    if spec.batch_norm:
        argv.append("--batch-norm")
    if request.lr is not None:
        argv += ["--lr", str(request.lr)]
    if request.seed is not None:
        argv += ["--seed", str(request.seed)]
    if request.max_train_examples:
        argv += ["--max-train-examples", str(request.max_train_examples)]
    if request.max_test_examples:
        argv += ["--max-test-examples", str(request.max_test_examples)]
    if not request.amp:
        argv.append("--no-amp")
    return argv


def run_device(run_dir: Path) -> str | None:
    """The device a run holds, as resolved at launch ('cpu', 'cuda:0'); config.json once it started."""
    for name, key in ((LAUNCH, "device"), ("config.json", "device")):
        try:
            return str(json.loads((run_dir / name).read_text(encoding="utf-8"))[key])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return None


def busy_runs(device: str, root: Path | None = None) -> list[str]:
    """Ids of live runs on ``device``."""
    reap()
    return [r.run_id for r in list_runs(root) if r.state.state in LIVE_STATES and run_device(r.path) == device]


def start_run(spec: ArchSpec, request: TrainRequest, root: Path | None = None, allow_busy: bool = False) -> Path:
    """Launch a run in a new folder under ``root``; one run per device unless ``allow_busy``."""
    try:
        device = str(check_setup(spec, request.config()))
    except (ConfigError, ValueError) as e:
        raise LaunchError(str(e), getattr(e, "problems", None)) from None
    root = Path(root) if root is not None else runs_root()
    root.mkdir(parents=True, exist_ok=True)
    with _launch_lock(root):
        busy = busy_runs(device, root)
        if busy and not allow_busy:
            raise LaunchError(
                f"{device} is busy with run {busy[0]}: stop it or wait until it ends (one run per device at a time)"
            )
        run_dir = safe_run_dir(root, new_run_id())
        run_dir.mkdir()
        argv = train_argv(spec, request, run_dir)
        # The request keeps "auto"; the run is pinned to what "auto" means now, for the busy check.
        argv[argv.index("--device") + 1] = device
        with open(run_dir / LOG, "ab") as log:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=PACKAGE_ROOT, env=_child_env(),
                start_new_session=True,  # a Ctrl-C meant for the server does not reach the run, and vice versa
            )
        _children.append(proc)
        record = {"device": device, "pid": proc.pid, "argv": argv, "time": round(time.time(), 3)}
        (run_dir / LAUNCH).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return run_dir


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
                              env=_child_env(), timeout=timeout, start_new_session=True)
    except subprocess.TimeoutExpired:
        raise LaunchError(f"measuring the speed of {device} took over {timeout:.0f} s") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        why = lines[-1].removeprefix("error: ") if lines else f"exit {done.returncode}"  # the CLI's one-line refusal
        raise LaunchError(f"measuring the speed of {device} failed: {why}")
    try:
        figures = json.loads(done.stdout)
        return float(figures["calibration_macs_per_sec"]), float(figures["step_overhead_s"])
    except (ValueError, KeyError, TypeError):
        raise LaunchError(f"measuring the speed of {device} gave no figure") from None


def _child_env() -> dict[str, str]:
    """The server's environment, with this package importable whatever the child's working folder."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH")) if p)
    return env


def stop_run(run_dir: Path) -> None:
    """Ask a live run to stop: the STOP file always; SIGTERM too once its handler is in place."""
    request_stop(run_dir)
    state = run_state(run_dir)
    if state.state == "running" and state.pid:
        try:
            os.kill(state.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass


def delete_run(root: Path, run_id: str) -> None:
    """Remove a finished run's folder; live runs and anything outside ``root`` are refused."""
    path = safe_run_dir(root, run_id)
    if not path.is_dir():
        raise RunDirError(f"run {run_id} does not exist")
    if run_state(path).state in LIVE_STATES:
        raise RunDirError(f"run {run_id} is still running: stop it first")
    shutil.rmtree(path)


def reap() -> None:
    """Collect exit statuses of finished children so they leave no zombie processes."""
    _children[:] = [p for p in _children if p.poll() is None]


@contextmanager
def _launch_lock(root: Path) -> Iterator[None]:
    """Two tabs pressing Train at once: the second sees the first's folder before it decides."""
    with open(root / ".launch.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
