"""Where runs live and what their files are called: the one place that turns names into paths.

One folder per run under the runs root ($VGG_RUNS_DIR, default ./runs):
  request.json     what was asked for (``vgg_core.request.TrainRequest``), written before the run starts
  config.json      the run's facts: request, seed, device, versions (replaced atomically when it grows)
  metrics.jsonl    one JSON row per line, appended and flushed line by line (``vgg_core.run_rows``)
  model.pt         weights after every finished epoch (``vgg_core.weights``), written atomically
  predictions.npz  the last evaluation's test predictions, written atomically
  launch.json, log.txt   written by ``vgg_core.launch`` when the app or the queue starts a run
  checkpoint.pt    what a resume needs beyond the weights (optimizer, RNG states, counts), every epoch
  queue.json       a queued run's place in the queue and its sweep (``vgg_core.run_meta``)
  meta.json        the run's name and note as set after launch (``vgg_core.run_meta``)
  STOP             created by whoever wants the run to end; the trainer polls for it every step
Nothing here trusts a name it is given: run ids are plain folder names inside the root, and files
are served only if they are regular files inside their run folder.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
import stat
import time
from pathlib import Path
from typing import BinaryIO, Callable

from .problems import ProblemsError, problem

RUNS_DIR_ENV = "VGG_RUNS_DIR"
REQUEST, CONFIG, METRICS, MODEL, PREDICTIONS = "request.json", "config.json", "metrics.jsonl", "model.pt", "predictions.npz"
STOP, TRACEBACK, LAUNCH, LOG = "STOP", "traceback.txt", "launch.json", "log.txt"
CHECKPOINT, QUEUE, META = "checkpoint.pt", "queue.json", "meta.json"
RUN_FILES = (REQUEST, CONFIG, METRICS, MODEL, PREDICTIONS, STOP, TRACEBACK, LAUNCH, LOG, CHECKPOINT, QUEUE, META)
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class RunDirError(ProblemsError):
    """A run folder that may not be read or written as asked."""


def runs_root() -> Path:
    return Path(os.environ.get(RUNS_DIR_ENV) or "runs").expanduser().resolve()


def new_run_id() -> str:
    """Sortable by start time, unique without a lock: 20261127-183102-3f9a1c."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def safe_run_dir(root: str | os.PathLike, run_id: str) -> Path:
    """``root/run_id`` only if run_id is a plain folder name that stays inside root (no '/', '..', links out)."""
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id) or run_id.strip(".") == "":
        raise RunDirError(problem("run_id_invalid", run=repr(str(run_id)[:60])))
    root = Path(root).expanduser().resolve()
    path = root / run_id
    if path.resolve().parent != root:
        raise RunDirError(problem("run_id_outside", run=repr(run_id), root=str(root)))
    return path


PREPARED = (REQUEST, LAUNCH, LOG, QUEUE, META)  # written before the run's own process starts (launcher, queue)


def holds_run(run_dir: Path) -> bool:
    """The run's own process has written here (a run folder, not only a prepared one)."""
    return (run_dir / METRICS).exists() or (run_dir / CONFIG).exists()


def is_run_dir(run_dir: Path) -> bool:
    """Anything this app made: a run, or a folder the launcher prepared for one."""
    return holds_run(run_dir) or any((run_dir / name).exists() for name in PREPARED)


def check_new_run_dir(run_dir: Path) -> Path:
    """A folder a new run may write: new, empty, or prepared by the launcher; never one holding a run
    or anything else.

    Symlinks are resolved, and refused where they lead away from the place named, so
    ``--run-dir`` can neither mix two runs nor overwrite a file that happens to be there.
    """
    named = Path(os.path.abspath(Path(run_dir).expanduser()))
    resolved = named.resolve()
    if resolved != named:
        raise RunDirError(problem("run_dir_link", path=str(named), target=str(resolved)))
    if holds_run(named):
        raise RunDirError(problem("run_dir_used", path=str(named)))
    if named.exists() and (not named.is_dir() or any(p.name not in PREPARED for p in named.iterdir())):
        raise RunDirError(problem("run_dir_not_empty", path=str(named)))
    return named


def probe_writable(folder: Path) -> None:
    """Make ``folder`` and write one byte in it, or raise the OSError a run would meet later."""
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / f".write-probe.{os.getpid()}"
    try:
        with open(probe, "wb") as f:
            f.write(b"\0")
            f.flush()
            os.fsync(f.fileno())
    finally:
        probe.unlink(missing_ok=True)


def run_file(run_dir: Path, name: str) -> Path | None:
    """``run_dir/name`` if it is a regular file inside the folder (no symlink, no device), else None."""
    if name not in RUN_FILES:
        return None
    path = Path(run_dir) / name
    try:
        info = path.lstat()
    except OSError:
        return None
    return path if stat.S_ISREG(info.st_mode) else None


def request_stop(run_dir: str | os.PathLike) -> Path:
    """Ask a run to end: it saves its weights and writes 'stopped' within a step or two."""
    path = Path(run_dir) / STOP
    path.touch()
    return path


def atomic_write(path: Path, data: bytes | Callable[[BinaryIO], None]) -> None:
    """Write beside, sync, rename: a reader sees the old file or the new one, never half of one.

    ``data`` is the bytes, or a function that writes them into the open file (a large model is
    not held twice in memory). On failure (a full disk) the temporary file is removed and the old
    file stays.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        full = isinstance(e, Exception) and not isinstance(e, OSError) and _nearly_full(path.parent)
        tmp.unlink(missing_ok=True)
        if full:  # a writer that hides the OSError (torch's zip writer): say what really happened
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from e
        raise


def _nearly_full(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < (1 << 20)
    except OSError:
        return False
