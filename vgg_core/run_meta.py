"""A run folder's two small side files: ``meta.json`` (name, note) and ``queue.json`` (its queue place).

Both are written atomically, so a reader sees the old file or the new one, and read without
trust: a file that is not what this module writes reads as absent, never as a wrong value.

Why one ``queue.json`` per folder and not one queue file in the runs root: the folder *is* the
queue entry. It is made under a temporary name with its ``request.json`` and ``queue.json``
and renamed into place in one step, so a crash at any moment leaves either a whole queued run
or none; a single shared file could disagree with the folders after a crash (an entry with no
folder, or a folder no entry names) and would be one file every writer rewrites. The order is
a number in each ``queue.json``, assigned under the runs root's lock (``launch.launch_lock``).
The file stays after the run starts: it keeps the run's sweep and the values the sweep gave it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .problems import ProblemsError
from .request import name_note_problems
from .run_folder import META, QUEUE, atomic_write, run_file

FORMAT = 1
_MAX_BYTES = 1 << 16


class MetaError(ProblemsError):
    """A name or note that may not be stored."""


@dataclass(frozen=True)
class RunMeta:
    """What a person called the run after launch; overrides the request's name and note."""

    name: str | None = None
    note: str | None = None
    time: float = 0.0


@dataclass(frozen=True)
class QueueEntry:
    """A run's place in the queue: ``order`` sorts it (then ``queued``, then the id)."""

    order: int
    queued: float
    sweep: str | None = None
    values: dict[str, Any] = field(default_factory=dict)  # the settings its sweep gave it, as JSON

    def to_json(self) -> bytes:
        data = {"format": FORMAT, "order": self.order, "queued": self.queued, "sweep": self.sweep, "values": self.values}
        return (json.dumps(data, indent=2, allow_nan=False) + "\n").encode()


def _read_json(run_dir: Path, name: str) -> dict | None:
    path = run_file(run_dir, name)
    try:
        if path is None or path.stat().st_size > _MAX_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def read_meta(run_dir: Path) -> RunMeta | None:
    data = _read_json(run_dir, META)
    if data is None or name_note_problems(data.get("name"), data.get("note")):
        return None
    when = data.get("time")
    return RunMeta(data.get("name"), data.get("note"), float(when) if _is_number(when) else 0.0)


def write_meta(run_dir: Path, name: str | None, note: str | None) -> RunMeta:
    """Check and store a name and note (None clears one); raises MetaError."""
    if problems := name_note_problems(name, note):
        raise MetaError(problems)
    meta = RunMeta(name, note, round(time.time(), 3))
    data = {"format": FORMAT, "name": name, "note": note, "time": meta.time}
    atomic_write(Path(run_dir) / META, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode())
    return meta


def read_queue_entry(run_dir: Path) -> QueueEntry | None:
    data = _read_json(run_dir, QUEUE)
    if data is None:
        return None
    order, queued, sweep, values = data.get("order"), data.get("queued"), data.get("sweep"), data.get("values")
    if not (isinstance(order, int) and not isinstance(order, bool) and _is_number(queued)):
        return None
    sweep = sweep[:100] if isinstance(sweep, str) else None
    return QueueEntry(order, float(queued), sweep, values if isinstance(values, dict) else {})


def write_queue_entry(run_dir: Path, entry: QueueEntry) -> None:
    atomic_write(Path(run_dir) / QUEUE, entry.to_json())


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1e11


__all__ = ["RunMeta", "QueueEntry", "MetaError", "read_meta", "write_meta", "read_queue_entry", "write_queue_entry"]
