"""Launching runs as the app does: real processes, real Fashion-MNIST, real run folders."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from vgg_core.launch import LaunchError, busy_runs, delete_run, measure_speed, start_run, stop_run, train_argv
from vgg_core.request import TrainRequest, TrainSettings
from vgg_core.run_folder import LAUNCH, MODEL, REQUEST, RunDirError
from vgg_core.run_rows import read_metrics
from vgg_core.runs import list_runs, read_run
from vgg_core.spec import ArchSpec

SMALL = ArchSpec(conv_arch=((1, 16), (1, 32)), input_size=28, fc_width=256)


def request(spec: ArchSpec = SMALL, **settings) -> TrainRequest:
    return TrainRequest(spec, TrainSettings(**settings))


def run_state(run_dir: Path):
    return read_run(run_dir).state


def wait_for(predicate, timeout: float = 120, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout} s")


def wait_final(run_dir: Path, timeout: float = 180) -> str:
    return wait_for(lambda: (s := run_state(run_dir).state) not in ("starting", "running") and s, timeout)


@pytest.mark.timeout(300)
def test_a_launched_run_completes_and_a_busy_device_is_refused(tmp_path):
    run_dir = start_run(request(epochs=2, device="cpu", max_train_examples=4000, log_every=2, seed=1), tmp_path)
    assert run_dir.parent == tmp_path and (run_dir / LAUNCH).exists()
    assert run_state(run_dir).state in ("starting", "running")
    assert busy_runs("cpu", tmp_path) == [run_dir.name]
    with pytest.raises(LaunchError, match=rf"cpu is busy with run {run_dir.name}: stop it or wait"):
        start_run(request(epochs=1, device="cpu"), tmp_path)
    assert len(list_runs(tmp_path)) == 1  # the refused launch left no folder behind
    assert wait_final(run_dir) == "completed"
    assert [r.epoch for r in read_metrics(run_dir).evals] == [1, 2]
    assert TrainRequest.read(run_dir / REQUEST).settings.max_train_examples == 4000
    assert (run_dir / MODEL).exists()
    assert busy_runs("cpu", tmp_path) == []


@pytest.mark.timeout(300)
def test_stop_ends_a_run_as_stopped_with_weights(tmp_path):
    run_dir = start_run(request(epochs=20, device="cpu", log_every=1), tmp_path)
    wait_for(lambda: read_metrics(run_dir).train)
    stop_run(run_dir)
    assert wait_final(run_dir, 60) == "stopped"
    assert (run_dir / MODEL).exists()
    with pytest.raises(RunDirError, match="does not exist"):
        delete_run(tmp_path, "no-such-run")
    delete_run(tmp_path, run_dir.name)
    assert not run_dir.exists()


@pytest.mark.timeout(120)
def test_a_run_that_fails_reports_its_reason(tmp_path, monkeypatch):
    empty = tmp_path / "no-data"
    empty.mkdir()
    monkeypatch.setenv("VGG_DATA_DIR", str(empty))
    run_dir = start_run(request(epochs=1, device="cpu"), tmp_path / "runs")
    assert wait_final(run_dir, 90) == "failed"
    reason = str(run_state(run_dir).reason)
    assert str(empty) in reason and "\n" not in reason


def test_bad_requests_are_refused_before_any_process(tmp_path):
    with pytest.raises(LaunchError, match="num_classes must be 10 to train on Fashion-MNIST, got 5"):
        start_run(request(SMALL.replace(num_classes=5), device="cpu"), tmp_path)
    with pytest.raises(LaunchError, match="device cuda:3"):
        start_run(request(device="cuda:3"), tmp_path)
    with pytest.raises(LaunchError, match="batch_size must be from 1 to 16384"):
        start_run(request(device="cpu", batch_size=0), tmp_path)
    assert list(tmp_path.iterdir()) in ([], [tmp_path / ".launch.lock"])


def test_argv_is_a_list_naming_the_request_file():
    argv = train_argv(Path("/r/x"))
    assert argv[1:] == ["-m", "vgg_core", "train", "--run-dir", "/r/x", "--request", "/r/x/request.json"]


def test_delete_refuses_paths_outside_the_runs_folder(tmp_path):
    (tmp_path / "runs").mkdir()
    victim = tmp_path / "keep"
    victim.mkdir()
    for bad in ("../keep", "/etc", "..", ".", "a/b", ""):
        with pytest.raises(RunDirError):
            delete_run(tmp_path / "runs", bad)
    assert victim.exists()


@pytest.mark.timeout(120)
def test_a_run_killed_hard_shows_as_lost(tmp_path):
    run_dir = start_run(request(epochs=20, device="cpu", log_every=1), tmp_path)
    wait_for(lambda: run_state(run_dir).state == "running")
    pid = json.loads((run_dir / LAUNCH).read_text())["pid"]
    os.kill(pid, 9)
    state = wait_for(lambda: (s := run_state(run_dir)).state == "lost" and s, 30)
    assert f"pid {pid}" in str(state.reason)


def test_measure_speed_runs_the_estimate_in_a_child():
    """What the Train page shows as time per epoch: real steps in a child process, never in the server."""
    rate, overhead = measure_speed("cpu")
    assert rate > 1e8  # training MACs per second; even a slow CPU does far more than 0.1 G
    assert 0 <= overhead < 1  # seconds of fixed cost per step
    with pytest.raises(LaunchError) as err:
        measure_speed("cuda:7")
    assert "measuring the speed of cuda:7 failed" in str(err.value) and "\n" not in str(err.value)
