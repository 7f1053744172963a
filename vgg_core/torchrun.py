"""``train --nproc N``: torchrun (``torch.distributed.run``) as a child process, and what it leaves behind.

torchrun starts the N processes of one run on this machine, each ``python -m vgg_core train`` again
with the checked request (in a temporary file) and the run folder, with ``--max-restarts 0`` and
``--standalone`` (it picks a free port itself) unless ``--master-port`` names one. torchrun runs in a
session of its own, so a Ctrl-C reaches the ranks once, relayed from here with SIGTERM alike, and
they stop together at one step. torchrun's own report names a rank that failed, with its exit code or
signal; the run folder names it too (rank 0 writes it), except when rank 0 itself was killed: then
this process adds the ``failed`` line. Under torchrun (or on several machines) the same command
runs as each rank without ``--nproc``: see ``ddp.World``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import psutil

from .ddp import World
from .problems import ProblemsError, problem
from .request import ConfigError, TrainRequest
from .run_folder import METRICS
from .run_rows import FINAL_STATES, read_metrics
from .run_writer import RunWriter, append_status

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
RELAYED = (signal.SIGTERM, signal.SIGINT)


class LaunchRefused(ProblemsError):
    """Several processes cannot start as asked (a port in use)."""


def check_port(port: int | None) -> None:
    """A port named for the ranks to meet on must be free here (None: torchrun picks a free one)."""
    if port is None:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("", port))
        except OSError as e:
            why = os.strerror(e.errno) if e.errno else str(e)
            raise LaunchRefused(problem("ddp_port_busy", port=port, why=why)) from None


def adopt_world(request: TrainRequest, world: World, given: int | None) -> TrainRequest:
    """Under torchrun the processes on this machine are torchrun's: ``--nproc`` may only repeat it."""
    if given is not None and given != world.local_size:
        raise ConfigError(problem("nproc_torchrun", n=given, local=world.local_size))
    return request.replace(settings=request.settings.replace(nproc=world.local_size))


def torchrun_argv(nproc: int, port: int | None, request_file: Path, run_dir: Path) -> list[str]:
    """torchrun's command line: one machine, no restarts, then this command once per rank."""
    meet = ["--master-addr", "127.0.0.1", "--master-port", str(port)] if port else ["--standalone"]
    return [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", str(nproc),
            "--max-restarts", "0", *meet,
            "-m", "vgg_core", "train", "--request", str(request_file), "--run-dir", str(run_dir)]


def child_env(nproc: int) -> dict[str, str]:
    """This environment, the package importable, and the CPU's cores shared out between the ranks
    (torchrun would otherwise give each one thread), unless OMP_NUM_THREADS is set already."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH")) if p)
    if "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(max(1, len(os.sched_getaffinity(0)) // nproc))
    return env


class _Relay:
    """SIGTERM and Ctrl-C for this process go on to every rank (torchrun's children)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.previous: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self.previous = {sig: signal.signal(sig, self._on_signal) for sig in RELAYED}

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        try:
            ranks = psutil.Process(self.proc.pid).children()
        except psutil.Error:
            ranks = []
        for target in ranks or [psutil.Process(self.proc.pid)]:
            try:
                target.send_signal(signum)
            except psutil.Error:
                pass


def launch(request: TrainRequest, run_dir: Path, port: int | None) -> int:
    """Run torchrun until every rank has ended; the exit status is the run's (0 completed or stopped,
    1 failed), from its folder, not torchrun's."""
    nproc = request.settings.nproc
    fd, name = tempfile.mkstemp(prefix="vgg-request-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(request.to_json())
    try:
        proc = subprocess.Popen(torchrun_argv(nproc, port, Path(name), run_dir), env=child_env(nproc),
                                cwd=PACKAGE_ROOT, stdin=subprocess.DEVNULL, start_new_session=True)
        relay = _Relay(proc)
        relay.install()
        try:
            code = proc.wait()
        finally:
            relay.restore()
    finally:
        os.unlink(name)
    return _outcome(run_dir, code)


def _outcome(run_dir: Path, code: int) -> int:
    """0/1 from the run's final status; without one (rank 0 killed, or torchrun failed first) write it."""
    metrics = read_metrics(run_dir)
    last = metrics.last_status
    if last is not None and last.state in FINAL_STATES:
        return 1 if last.state == "failed" else 0
    pid = next((s.pid for s in reversed(metrics.statuses) if s.pid), None)
    reason = problem("ddp_rank_lost", rank=0, pid=pid, status=code) if pid else problem("ddp_launch_failed", status=code)
    try:
        if (run_dir / METRICS).exists():
            append_status(run_dir, "failed", reason)
        else:
            writer = RunWriter(run_dir)
            writer.status("failed", problem=reason)
            writer.close()
    except (OSError, ProblemsError):
        pass
    print(f"error: {reason}", file=sys.stderr)
    return 1


__all__ = ["launch", "check_port", "adopt_world", "torchrun_argv", "child_env", "LaunchRefused"]
