"""What a classroom server meets: full and read-only disks, planted run folders, runs killed early,
paths that lead elsewhere, a gzip that expands to gigabytes. Real processes, real file systems
(a tmpfs of a few MiB is a real full disk; a read-only tmpfs a real read-only one)."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from vgg_core.data import IMAGE_MAGIC, DataError, read_idx
from vgg_core.launch import LaunchError, delete_run, start_run, stop_run
from vgg_core.request import TrainRequest
from vgg_core.run_config import RunConfig
from vgg_core.run_folder import LAUNCH, MODEL, REQUEST, RunDirError, check_new_run_dir, run_file
from vgg_core.run_rows import read_metrics
from vgg_core.runs import STARTING_GRACE_S, list_runs, read_run
from vgg_core.weights import load_run_weights

from test_engine_launch import request, wait_final, wait_for

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--arch", "1x16 1x32", "--input-size", "28", "--device", "cpu", "--max-train-examples", "1000",
        "--max-test-examples", "200", "--seed", "0"]


@contextmanager
def tmpfs(where: Path, size: str, read_only: bool = False):
    """A real small (or read-only) file system at ``where``; skipped where mounting is not allowed."""
    where.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def cli(*args: str, env: dict | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vgg_core", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def one_line(out: subprocess.CompletedProcess) -> str:
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr
    return out.stderr.strip()


# --- disks ------------------------------------------------------------------------------------------

def test_a_read_only_runs_folder_refuses_the_launch_and_the_cli(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", "1m", read_only=True) as ro:
        with pytest.raises(LaunchError) as err:
            start_run(request(device="cpu"), ro)
        assert "Read-only file system" in str(err.value) and "\n" not in str(err.value)
        out = cli("train", *TINY, env={"VGG_RUNS_DIR": str(ro / "runs")})
        assert out.returncode == 2 and "Read-only file system" in one_line(out)


def test_a_full_disk_refuses_the_launch_before_anything_starts(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "full", "1m") as full:
        with pytest.raises(LaunchError, match="free; a run needs at least"):
            start_run(request(device="cpu"), full)
        assert [p.name for p in full.iterdir()] in ([], [".launch.lock"])  # no run folder, no child


@pytest.mark.timeout(300)
def test_a_disk_that_fills_at_a_save_keeps_the_last_good_weights(tmp_path: Path) -> None:
    """Weights of 10 MiB on a 16 MiB disk: epoch 1's save fits, epoch 2's (written beside it) does not."""
    with tmpfs(tmp_path / "disk", "16m") as disk:
        run_dir = disk / "run"
        out = cli("train", *TINY, "--fc-width", "1024", "--epochs", "2", "--run-dir", str(run_dir))
        assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
        status = read_metrics(run_dir).last_status
        assert status.state == "failed" and "No space left on device" in status.error
        assert status.problem is not None and status.problem.code == "disk_error"
        assert not [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")]  # the half-written file is gone
        weights = load_run_weights(run_dir)  # the last good weights, whole
        assert weights.extra["epoch"] == 1
        assert read_run(run_dir).state.state == "failed"


def test_output_to_a_full_device_is_one_line() -> None:
    with open("/dev/full", "w") as full:
        out = subprocess.run([sys.executable, "-m", "vgg_core", "summary"], cwd=ROOT, stdout=full, stderr=subprocess.PIPE,
                             text=True, timeout=60)
    assert out.returncode == 1 and out.stderr == "error: cannot write the output: No space left on device\n"


def test_output_to_a_closed_pipe_is_one_line() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "vgg_core", "gpu", "--explain", "en"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # the reader went away, as `| head -1` does
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 1
    assert err == "error: cannot write the output: Broken pipe\n"


# --- paths --------------------------------------------------------------------------------------------

def test_run_dir_must_be_new_empty_or_prepared(tmp_path: Path) -> None:
    other = tmp_path / "photos"
    other.mkdir()
    (other / "model.pt").write_text("not yours")
    with pytest.raises(RunDirError, match="holds other files"):
        check_new_run_dir(other)
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(RunDirError, match="is a link to"):
        check_new_run_dir(link)
    (tmp_path / "empty").mkdir()
    assert check_new_run_dir(tmp_path / "empty") == tmp_path / "empty"
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    (prepared / REQUEST).write_text("{}")
    assert check_new_run_dir(prepared) == prepared
    out = cli("train", *TINY, "--run-dir", str(other))
    assert out.returncode == 2 and "holds other files" in one_line(out)
    assert (other / "model.pt").read_text() == "not yours"


def test_a_planted_link_is_never_served(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("password")
    (run / MODEL).symlink_to(secret)
    assert run_file(run, MODEL) is None and run_file(run, "../secret.txt") is None
    with pytest.raises(Exception, match="not a regular file"):
        load_run_weights(run)


# --- a gzip bomb -------------------------------------------------------------------------------------

BOMB = r"""
import resource, sys
from pathlib import Path
from vgg_core.data import IMAGE_MAGIC, DataError, read_idx
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    read_idx(Path(sys.argv[1]), IMAGE_MAGIC, (60000, 28, 28))
except DataError as e:
    print(e)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def test_a_gzip_that_expands_far_past_its_header_is_refused_reading_only_what_a_real_file_holds(tmp_path: Path) -> None:
    path = tmp_path / "train-images-idx3-ubyte.gz"
    header = (IMAGE_MAGIC).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in (60000, 28, 28))
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(header)
        block = bytes(1 << 20)
        for _ in range(600):  # 600 MiB of zeros in a file of a few MiB
            f.write(block)
    assert path.stat().st_size < 8 << 20
    out = subprocess.run([sys.executable, "-c", BOMB, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    message, grown_kib = out.stdout.strip().splitlines()
    assert "is longer than its header says" in message
    assert int(grown_kib) < 150 * 1024  # what a real file holds (45 MiB) and its copy; never the 600 MiB
    with pytest.raises(DataError, match="longer than its header"):
        read_idx(path, IMAGE_MAGIC, (60000, 28, 28))


# --- runs that never got going ---------------------------------------------------------------------

def _planted(root: Path, name: str, metrics: str = "", launch: dict | None = None, age: float = 0.0) -> Path:
    run = root / name
    run.mkdir(parents=True)
    if metrics:
        (run / "metrics.jsonl").write_text(metrics)
    if launch is not None:
        (run / LAUNCH).write_text(json.dumps(launch))
    if age:
        old = time.time() - age
        for p in (run, *run.iterdir()):
            os.utime(p, (old, old))
    return run


def test_runs_without_a_live_process_are_never_live_forever(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    cases = {
        "no-status-dead-launch": _planted(tmp_path, "a", launch={"pid": gone.pid, "time": time.time()}),
        "no-status-no-launch-old": _planted(tmp_path, "b", age=STARTING_GRACE_S + 5),
        "running-pid-zero": _planted(tmp_path, "c", '{"kind": "status", "state": "running", "pid": 0}\n'),
        "running-pid-text": _planted(tmp_path, "d", '{"kind": "status", "state": "running", "pid": "123"}\n'),
        "running-pid-negative": _planted(tmp_path, "e", '{"kind": "status", "state": "running", "pid": -5, "time": "yesterday"}\n'),
    }
    states = {name: read_run(run).state for name, run in cases.items()}
    assert states["no-status-dead-launch"].state == "failed"
    assert all(s.state == "lost" for name, s in states.items() if name != "no-status-dead-launch"), states
    for run in cases.values():
        delete_run(tmp_path, run.name)  # not live: each can be deleted
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == []


@pytest.mark.timeout(120)
def test_stopping_a_run_that_is_still_starting_ends_it(tmp_path: Path) -> None:
    run_dir = start_run(request(epochs=5, device="cpu"), tmp_path)
    stop_run(run_dir)  # at once: the process is still importing torch, with no handler of its own yet
    assert wait_final(run_dir, 60) in ("failed", "stopped")
    pid = json.loads((run_dir / LAUNCH).read_text())["pid"]
    wait_for(lambda: not psutil.pid_exists(pid), 20)  # reaped: no <defunct> child under the server


@pytest.mark.timeout(200)
def test_a_finished_run_leaves_no_zombie(tmp_path: Path) -> None:
    run_dir = start_run(request(epochs=1, device="cpu", max_train_examples=500, max_test_examples=100), tmp_path)
    assert wait_final(run_dir, 180) == "completed"
    pid = json.loads((run_dir / LAUNCH).read_text())["pid"]
    wait_for(lambda: not psutil.pid_exists(pid), 20)


# --- planted folders --------------------------------------------------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000


def plant_malformed(root: Path) -> dict[str, Path]:
    """Each malformed folder the classroom report names, planted under ``root``."""
    good_request = {"spec": {"conv_arch": [[1, 16], [1, 32]], "input_size": 28, "fc_width": 256}, "settings": {}}
    status = '{"kind": "status", "state": "completed", "time": 1000.0}\n'
    config = {"run_id": "x", "request": good_request, "seed": 1, "device": "cpu"}
    made = {
        "pid-negative": _planted(root, "pid-negative", '{"kind": "status", "state": "running", "pid": -5}\n'),
        "time-text": _planted(root, "time-text", '{"kind": "status", "state": "completed", "time": "yesterday"}\n'),
        "deep-line": _planted(root, "deep-line", DEEP + "\n" + status),
        "elapsed-text": _planted(root, "elapsed-text", status.replace("}", ', "pid": 1}') +
                                 '{"kind": "train", "epoch": 0.5, "step": 3, "examples": 384, "elapsed_s": "abc"}\n'),
    }
    for name, change in {"started-huge": {"started_unix": 10**400}, "ratio-zero": {"request": {
            **good_request, "spec": {**good_request["spec"], "ratio": 0}}}, "spec-text": {"request": {"spec": "x"}}}.items():
        run = _planted(root, name, status)
        text = json.dumps({**config, **change}) if name != "started-huge" else json.dumps(config)[:-1] + ', "started_unix": ' + "1" + "0" * 400 + "}"
        (run / "config.json").write_text(text)
        made[name] = run
    return made


def test_every_planted_folder_is_listed_and_deletable(tmp_path: Path) -> None:
    made = plant_malformed(tmp_path)
    records = {r.run_id: r for r in list_runs(tmp_path)}
    assert set(records) == set(made)
    for name in ("ratio-zero", "spec-text"):
        assert records[name].unreadable and "config.json" in str(records[name].problem)
    assert records["started-huge"].config is not None and records["started-huge"].config.started_unix is None
    assert records["elapsed-text"].last_train.elapsed_s is None and records["elapsed-text"].last_train.step == 3
    assert records["deep-line"].state.state == "completed" and records["deep-line"].metrics.skipped == 1
    for name in made:
        delete_run(tmp_path, name)
    assert list_runs(tmp_path) == []


def test_a_folder_deleted_while_runs_are_listed_drops_out(tmp_path: Path) -> None:
    for i in range(30):
        _planted(tmp_path, f"run-{i:02d}", '{"kind": "status", "state": "completed", "time": 1000.0}\n')
    listed = []
    for i in range(30):
        shutil.rmtree(tmp_path / f"run-{i:02d}")
        listed.append(len(list_runs(tmp_path)))
    assert listed == list(range(29, -1, -1))


def test_listing_reads_only_what_changed(tmp_path: Path) -> None:
    """A finished run costs one stat on the next listing: nothing is parsed again until its folder
    changes, which every process that writes a run does at once (config.json is replaced whole)."""
    run = _planted(tmp_path, "r", '{"kind": "status", "state": "completed", "time": 1000.0}\n')
    first = list_runs(tmp_path)[0]
    assert list_runs(tmp_path)[0] is first  # the same record: nothing was reread
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"kind": "status", "state": "running", "pid": %d, "time": %f}\n' % (os.getpid(), time.time()))
    time.sleep(0.01)
    RunConfig(run_id="r", request=TrainRequest(), seed=0, device="cpu").write(run)  # a resumed run's first write
    again = list_runs(tmp_path)[0]
    assert again is not first and again.state.state == "running"
    assert list_runs(tmp_path)[0] is not again  # a live run is reread on every listing (its appended rows only)
