"""The queue and its scheduler as users meet them: real processes, real Fashion-MNIST, tiny runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from vgg_core.cli import main as cli_main
from vgg_core.data import DEBIAN_DIR
from vgg_core.queue import ensure_scheduler, queue_runs, queued_runs, scheduler_pid
from vgg_core.request import TrainRequest, TrainSettings
from vgg_core.results import results
from vgg_core.runs import launch_devices, read_run
from vgg_core.scheduler import serve
from vgg_core.spec import ArchSpec
from vgg_core.summary import summarize

from test_engine_launch import wait_for

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not DEBIAN_DIR.is_dir(), reason="needs Debian's dataset-fashion-mnist (see .ci/run)")

TINY = ["--arch", "1x16 1x32", "--input-size", "28", "--fc-width", "64", "--max-train-examples", "1500",
        "--max-test-examples", "500", "--epochs", "1", "--device", "cpu", "--seed", "1"]
TINY_REQUEST = TrainRequest(ArchSpec(conv_arch=((1, 16), (1, 32)), input_size=28, fc_width=64),
                            TrainSettings(epochs=1, device="cpu", max_train_examples=1500, max_test_examples=500))


def env(root: Path) -> dict[str, str]:
    e = {**os.environ, "VGG_RUNS_DIR": str(root), "PYTHONPATH": str(ROOT)}
    e.pop("VGG_DATA_DIR", None)
    return e


def vgg(root: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vgg_core", *args], cwd=ROOT, env=env(root), capture_output=True,
                          text=True, timeout=timeout)


def sweep(root: Path, *extra: str) -> dict:
    done = vgg(root, "sweep", *TINY, "--vary", "ratio=16,8,4", "--format", "json", *extra)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def state(root: Path, run_id: str) -> str:
    return read_run(root / run_id).state.state


def spans(root: Path, ids: list[str]) -> list[tuple[float, float]]:
    """(first status, final status) unix times of each run, from its own rows."""
    out = []
    for run_id in ids:
        statuses = read_run(root / run_id).metrics.statuses
        out.append((statuses[0].time, statuses[-1].time))
    return out


def check_one_after_another(root: Path, ids: list[str]) -> list[float]:
    """Each run completed and began after the one before it ended; returns the gaps (the queue's overhead)."""
    assert [state(root, i) for i in ids] == ["completed"] * len(ids)
    times = spans(root, ids)
    gaps = [b[0] - a[1] for a, b in zip(times, times[1:])]
    assert all(g > 0 for g in gaps), f"two runs were live on one device at once: {times}"
    assert all(launch_devices(root / i) == ("cpu",) for i in ids)
    return gaps


@pytest.mark.timeout(600)
def test_a_sweep_runs_in_order_one_at_a_time(tmp_path):
    root = tmp_path / "runs"
    data = sweep(root)
    ids = data["runs"]
    assert len(ids) == 3 and data["sweep"].startswith("sweep-")
    assert scheduler_pid(root) is not None and ensure_scheduler(root) is None  # one scheduler, already serving
    t0 = time.monotonic()
    assert serve(root) is False and time.monotonic() - t0 < 5  # a second scheduler gives up at once
    wait_for(lambda: all(state(root, i) in ("completed", "failed") for i in ids), 500, 0.5)
    gaps = check_one_after_another(root, ids)
    print(f"\nqueue overhead between runs (final status -> next first row): {', '.join(f'{g:.2f} s' for g in gaps)}")
    wait_for(lambda: scheduler_pid(root) is None, 60)  # the scheduler exits once the queue is done

    frame = results(root).set_index("run").loc[ids]
    assert list(frame["ratio"]) == [16, 8, 4] and set(frame["sweep"]) == {data["sweep"]}
    assert list(frame["params"]) == [summarize(TINY_REQUEST.spec.replace(ratio=r)).total_params for r in (16, 8, 4)]
    for run_id, row in frame.iterrows():
        record = read_run(root / run_id)
        assert row["best_test_acc"] == record.best_test_acc and row["epochs_done"] == 1
        assert row["examples_per_sec"] == record.metrics.last_status.summary["examples_per_sec"]


@pytest.mark.timeout(600)
def test_a_scheduler_killed_mid_sweep_is_picked_up_by_queue(tmp_path):
    root = tmp_path / "runs"
    ids = sweep(root)["runs"]
    wait_for(lambda: state(root, ids[0]) == "running", 300, 0.2)
    pid = scheduler_pid(root)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: scheduler_pid(root) is None, 30)  # the kernel released its lock
    # The run it started goes on in its own session; the others wait, with no scheduler to start them.
    wait_for(lambda: state(root, ids[0]) == "completed", 300, 0.5)
    time.sleep(1.0)
    assert [state(root, i) for i in ids[1:]] == ["queued", "queued"]
    done = vgg(root, "queue", timeout=500)
    assert done.returncode == 0, done.stderr
    assert "queue of" in done.stderr and "is done" in done.stderr
    check_one_after_another(root, ids)
    assert queued_runs(root) == []


QUEUER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from vgg_core.queue import queue_runs
    from vgg_core.request import TrainRequest
    root, tag = Path(sys.argv[1]), sys.argv[2]
    (root / f"ready-{tag}").touch()
    while not (root / "go").exists():
        time.sleep(0.001)
    for i in range(12):
        if i == 6:  # a sweep of three, queued in one call, must stay together
            queue_runs([TrainRequest(name=f"{tag}-sweep-{j}") for j in range(3)], root, sweep=tag)
        queue_runs([TrainRequest(name=f"{tag}-{i}")], root)
""")


@pytest.mark.timeout(300)
def test_two_processes_queueing_at_once_get_one_queue_in_order(tmp_path):
    root = tmp_path / "runs"
    root.mkdir()
    procs = [subprocess.Popen([sys.executable, "-c", QUEUER, str(root), tag], cwd=ROOT, env=env(root))
             for tag in ("A", "B")]
    wait_for(lambda: (root / "ready-A").exists() and (root / "ready-B").exists(), 120, 0.05)
    (root / "go").touch()
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    waiting = queued_runs(root)
    names = [r.name for r in waiting]
    assert len(names) == 30 and len(set(names)) == 30  # nothing lost, nothing doubled
    assert [r.queue.order for r in waiting] == list(range(1, 31))  # one queue, no two runs in one place
    for tag in ("A", "B"):
        mine = [n for n in names if n.startswith(tag)]
        assert mine == [f"{tag}-{i}" for i in range(6)] + [f"{tag}-sweep-{j}" for j in range(3)] + [
            f"{tag}-{i}" for i in range(6, 12)]
        start = names.index(f"{tag}-sweep-0")
        assert names[start:start + 3] == [f"{tag}-sweep-{j}" for j in range(3)]
    first_b = next(i for i, n in enumerate(names) if n.startswith("B"))
    last_a = max(i for i, n in enumerate(names) if n.startswith("A"))
    print(f"\ninterleaving: first B at place {first_b + 1}, last A at place {last_a + 1} of 30")


def test_the_runs_command_names_reorders_and_removes_queued_runs(tmp_path, capsys):
    root = tmp_path / "runs"
    ids = queue_runs([TINY_REQUEST.replace(name=f"r{i}") for i in range(3)], root, sweep="s1")
    base = ["runs", "--runs-dir", str(root)]

    def runs(*args: str) -> tuple[int, str, str]:
        code = cli_main([*base, *args])
        out, err = capsys.readouterr()
        return code, out, err

    assert runs("up", ids[2])[0] == 0
    assert [r.run_id for r in queued_runs(root)] == [ids[0], ids[2], ids[1]]
    code, _, err = runs("up", ids[0])
    assert code == 2 and err == f"error: run {ids[0]} is already first in the queue\n"
    assert runs("name", ids[1], "wide one", "--note", "fc 64")[0] == 0
    assert (read_run(root / ids[1]).name, read_run(root / ids[1]).note) == ("wide one", "fc 64")
    assert runs("name", ids[1], "renamed")[0] == 0  # the note stays unless a new one is given
    assert (read_run(root / ids[1]).name, read_run(root / ids[1]).note) == ("renamed", "fc 64")
    code, _, err = runs("name", ids[1], "bell\x07")
    assert code == 2 and "name must be printable text of at most 80 characters" in err
    code, _, err = runs("stop", ids[1])
    assert code == 2 and f"run {ids[1]} is queued, not running" in err
    code, out, _ = runs("--format", "json")
    listed = {r["run"]: r for r in json.loads(out)}
    assert {k: listed[k]["queue_position"] for k in ids} == {ids[0]: 1, ids[2]: 2, ids[1]: 3}
    assert listed[ids[1]]["name"] == "renamed" and listed[ids[1]]["sweep"] == "s1" and listed[ids[1]]["state"] == "queued"
    assert listed[ids[0]]["params"] == summarize(TINY_REQUEST.spec).total_params and listed[ids[0]]["fc_width"] == 64
    assert runs("remove", ids[2])[0] == 0
    assert [r.run_id for r in queued_runs(root)] == [ids[0], ids[1]] and not (root / ids[2]).exists()
    for bad in ("../x", "/etc", ".."):
        code, _, err = runs("remove", bad)
        assert code == 2 and "not allowed" in err
    code, out, _ = runs()
    assert "queued #1" in out and "renamed" in out
