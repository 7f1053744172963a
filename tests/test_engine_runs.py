"""Run folders: writing that survives a crash, reading that survives a half-written line."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from vgg_core import run_folder as runs
from vgg_core.model import build_model
from vgg_core.problems import problem
from vgg_core.request import TrainRequest
from vgg_core.run_config import RunConfig, read_config
from vgg_core.run_folder import RunDirError, request_stop, safe_run_dir
from vgg_core.run_report import duration_text, metrics_csv
from vgg_core.run_rows import EvalRow, TrainRow, read_metrics
from vgg_core.run_writer import RunWriter
from vgg_core.runs import list_runs, read_run
from vgg_core.spec import ArchSpec
from vgg_core.weights import cpu_state, load_run_weights


def run_state(run_dir: Path):
    return read_run(run_dir).state


def config(run_id: str, started: float = 1000.0) -> RunConfig:
    return RunConfig(run_id=run_id, request=TrainRequest(), seed=1, device="cpu", started_unix=started)


def test_safe_run_dir_accepts_plain_names(tmp_path: Path) -> None:
    for run_id in ("20261127-183102-3f9a1c", "my_run.2", "A"):
        assert safe_run_dir(tmp_path, run_id) == tmp_path.resolve() / run_id


@pytest.mark.parametrize(
    "run_id", ["..", ".", "", "a/b", "../x", "/etc", "/etc/passwd", ".hidden", "-rf", "a\\b", "a\x00b", "x" * 129, "a b", "~root"]
)
def test_safe_run_dir_refuses_everything_else(tmp_path: Path, run_id: str) -> None:
    with pytest.raises(RunDirError, match="not allowed"):
        safe_run_dir(tmp_path, run_id)


def test_safe_run_dir_refuses_a_link_out_of_the_root(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    root.mkdir()
    (root / "escape").symlink_to(tmp_path)
    with pytest.raises(RunDirError, match="outside the runs folder"):
        safe_run_dir(root, "escape")


def test_new_run_ids_are_unique_sortable_and_safe(tmp_path: Path) -> None:
    ids = [runs.new_run_id() for _ in range(200)]
    assert len(set(ids)) == len(ids)
    assert all(safe_run_dir(tmp_path, i).name == i for i in ids)
    assert ids[0][:15] <= ids[-1][:15]


def test_runs_root_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(runs.RUNS_DIR_ENV, str(tmp_path / "r"))
    assert runs.runs_root() == (tmp_path / "r").resolve()
    monkeypatch.delenv(runs.RUNS_DIR_ENV)
    monkeypatch.chdir(tmp_path)
    assert runs.runs_root() == (tmp_path / "runs").resolve()


def test_writer_rows_and_half_written_last_line(tmp_path: Path) -> None:
    w = RunWriter(tmp_path / "r")
    w.status("running", pid=os.getpid())
    w.row(TrainRow(0.5, 1, 128, 0.1, float("nan"), 0.1, 10.0))
    w.write_config(config("r"))
    w.close()
    with open(tmp_path / "r" / runs.METRICS, "a") as f:  # a crash in the middle of a line, and stray text
        f.write('\nnot json\n[1, 2]\n{"kind": "train", "epoch": 0.7, "st')
    m = read_metrics(tmp_path / "r")
    assert len(m.statuses) == 1 and len(m.train) == 1 and m.skipped == 2
    assert m.train[0].train_loss is None  # NaN is written as null: strict JSON for any reader
    for line in (tmp_path / "r" / runs.METRICS).read_text().splitlines()[:2]:
        json.loads(line, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert read_config(tmp_path / "r") == (config("r"), None)
    assert not list((tmp_path / "r").glob(".*tmp"))


def test_writer_refuses_a_folder_that_holds_a_run(tmp_path: Path) -> None:
    RunWriter(tmp_path / "r").close()
    before = (tmp_path / "r" / runs.METRICS).read_bytes()
    with pytest.raises(RunDirError, match="already holds a run"):
        RunWriter(tmp_path / "r")
    assert (tmp_path / "r" / runs.METRICS).read_bytes() == before


def test_run_state_of_each_final_state(tmp_path: Path) -> None:
    (tmp_path / "nothing").mkdir()
    assert run_state(tmp_path / "nothing").state == "starting"  # no status yet, within the grace period
    oom = problem("out_of_memory", where="GPU", batch=128, size=224)
    for state, extra, reason in (
        ("completed", {}, None),
        ("stopped", {"reason": "SIGTERM"}, "stopped by SIGTERM"),
        ("failed", {"problem": oom}, str(oom)),
    ):
        w = RunWriter(tmp_path / state)
        w.status("running", pid=os.getpid())
        w.status(state, **extra)
        w.close()
        got = run_state(tmp_path / state)
        assert (got.state, None if got.reason is None else str(got.reason), got.pid) == (state, reason, os.getpid())


def test_running_with_live_process_is_running(tmp_path: Path) -> None:
    w = RunWriter(tmp_path / "r")
    w.status("running", pid=os.getpid())
    w.close()
    assert run_state(tmp_path / "r").state == "running"


def test_running_with_dead_process_is_lost(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # reaped: the pid no longer exists
    w = RunWriter(tmp_path / "r")
    w.status("running", pid=proc.pid)
    w.close()
    got = run_state(tmp_path / "r")
    assert got.state == "lost" and f"pid {proc.pid}" in str(got.reason)


def test_running_with_zombie_process_is_lost(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    w = RunWriter(tmp_path / "r")
    w.status("running", pid=proc.pid)
    w.close()
    deadline = time.monotonic() + 20
    while run_state(tmp_path / "r").state == "running" and time.monotonic() < deadline:
        time.sleep(0.05)  # the child exits but is not reaped: a zombie, as under a server that never waits
    assert run_state(tmp_path / "r").state == "lost"
    proc.wait()


def test_running_with_reused_pid_is_lost(tmp_path: Path) -> None:
    # Our pid, but the status was written long before this process started: the pid was reused.
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / runs.METRICS).write_text(json.dumps({"kind": "status", "state": "running", "pid": os.getpid(), "time": 1000.0}) + "\n")
    assert run_state(tmp_path / "r").state == "lost"


def test_list_runs_newest_first_and_only_runs(tmp_path: Path) -> None:
    for i, run_id in enumerate(("20260101-000000-aaaaaa", "20260102-000000-bbbbbb")):
        w = RunWriter(tmp_path / run_id)
        w.write_config(config(run_id, 1000.0 + i))
        w.status("running", pid=os.getpid())
        w.row(TrainRow(0.1, 10, 1280))
        w.row(EvalRow(1, test_acc=0.5))
        w.status("completed")
        w.close()
    (tmp_path / "empty-folder").mkdir()
    (tmp_path / "a-file.txt").write_text("x")
    infos = list_runs(tmp_path)
    assert [i.run_id for i in infos] == ["20260102-000000-bbbbbb", "20260101-000000-aaaaaa"]
    assert infos[0].state.state == "completed" and infos[0].last_train.step == 10 and infos[0].last_eval.test_acc == 0.5
    assert list_runs(tmp_path / "missing") == []


def test_request_stop_and_model_round_trip(tmp_path: Path) -> None:
    spec = ArchSpec(conv_arch=((1, 8), (1, 16)), input_size=28, fc_width=32)
    model = build_model(spec)
    w = RunWriter(tmp_path / "r")
    w.save_weights(cpu_state(model), spec, epochs_completed=3)
    w.close()
    assert request_stop(tmp_path / "r") == tmp_path / "r" / runs.STOP and (tmp_path / "r" / runs.STOP).exists()
    weights = load_run_weights(tmp_path / "r")
    loaded = weights.model()
    assert weights.spec == spec and weights.extra["epochs_completed"] == 3 and not loaded.training
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)


def test_metrics_csv_keeps_whole_number_columns_whole(tmp_path: Path) -> None:
    w = RunWriter(tmp_path / "r")  # rows as the trainer logs them, read back through JSON
    w.status("running", pid=os.getpid())
    w.row(TrainRow(0.1, 10, 1280, 1.5, 2.3, 0.1, 853.33))
    w.row(TrainRow(1.0, 100, 12800, 15.0, float("nan"), 1.0, 853.0))
    w.row(EvalRow(1, 100, 12800, test_loss=0.5, test_acc=1.0))
    w.close()
    text = metrics_csv(read_metrics(tmp_path / "r"))
    train1, train2, ev = csv.DictReader(io.StringIO(text))
    assert (train1["kind"], train1["step"], train1["examples"]) == ("train", "10", "1280")  # not '10.0'
    assert (train2["step"], train2["examples"], train2["train_loss"]) == ("100", "12800", "")
    assert (ev["kind"], ev["step"], ev["examples"]) == ("eval", "", "")  # eval rows leave them empty
    assert (train1["epoch"], train2["epoch"], ev["epoch"]) == ("0.1", "1.0", "1.0")  # fractional column
    assert (train2["train_acc"], ev["test_acc"], train2["examples_per_sec"]) == ("1.0", "1.0", "853.0")


@pytest.mark.parametrize(
    "seconds, expected",
    [
        (None, "–"),
        (0, "0 s"),
        (0.3, "< 1 s"),  # positive but rounds to nothing
        (12, "12 s"),
        (250, "4 min 10 s"),
        (3900, "1 h 05 min"),
        (48 * 3600 - 1, "47 h 59 min"),
        (48 * 3600, "2 days 0 h"),
        (3 * 86400 + 4 * 3600, "3 days 4 h"),
        (365 * 86400 - 1, "364 days 23 h"),
        (365 * 86400, "1 year"),
        (41148298 * 3600 + 11 * 60, "4,694 years"),  # was '41148298 h 11 min'
    ],
)
def test_duration_text_scales_to_days_and_years(seconds: float | None, expected: str) -> None:
    assert duration_text(seconds) == expected
