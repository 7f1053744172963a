"""One run on two processes (DDP, gloo on the CPU): the same training as one process, on the real data.

Two kinds of test. In process: two ranks spawned with torch.multiprocessing join a real gloo group
and run the library's own step and ``fit``; the test compares them with one process doing the same.
End to end: ``python -m vgg_core train --nproc 2`` starts torchrun, which starts the two ranks; the
tests read the run folder, stop the run, kill or freeze a rank. Kept small (two blocks at 28x28, a
subset) for a 2-core machine.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch
import torch.multiprocessing as mp

import ddp_worker
from test_engine_train import ROOT, cli, check_rows, config_of, finish, in_process, read_metrics, wait_for_train_row
from vgg_core import run_folder
from vgg_core.data import DEBIAN_DIR
from vgg_core.ddp import World
from vgg_core.device import DeviceError, check_processes
from vgg_core.request import ConfigError, TrainRequest, TrainSettings
from vgg_core.resources import live_processes
from vgg_core.runs import read_run
from vgg_core.torchrun import adopt_world
from vgg_core.train import prepare_model
from vgg_core.weights import load_run_weights

pytestmark = pytest.mark.skipif(not DEBIAN_DIR.is_dir(), reason="needs Debian's dataset-fashion-mnist (see .ci/run)")

TINY = ["--arch", "1x8 1x16", "--input-size", "28", "--fc-width", "64", "--device", "cpu"]
SUBSET = ["--max-train-examples", "2000", "--max-test-examples", "500"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- in process: two ranks against one ----------------------------------------------------------------


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    out = tmp_path_factory.mktemp("ddp")
    mp.start_processes(ddp_worker.rank_main, args=(free_port(), str(out)), nprocs=2, start_method="spawn")
    return tuple(torch.load(out / f"rank{r}.pt", weights_only=False) for r in (0, 1))  # type: ignore[return-value]


@pytest.mark.timeout(300)
def test_one_step_equals_one_process_on_the_same_global_batch(two_ranks) -> None:
    r0, r1 = (r["step"] for r in two_ranks)
    params, loss_sum, correct, n = ddp_worker.one_step(None)
    assert (r0[3], r1[3]) == (33, 32) and n == ddp_worker.STEP_BATCH  # unequal shares of an odd batch
    assert torch.equal(r0[0], r1[0])  # DDP: the very same weights on both ranks
    assert torch.allclose(r0[0], params, rtol=1e-5, atol=1e-6), (r0[0] - params).abs().max()
    torch.manual_seed(ddp_worker.SEED)
    before = ddp_worker.flat(prepare_model(ddp_worker.SPEC, ddp_worker.FIT, torch.device("cpu"))[0])
    assert not torch.allclose(before, params, rtol=1e-5, atol=1e-6)  # the step moved them: the test can fail
    assert r0[1] + r1[1] == pytest.approx(loss_sum, rel=1e-5) and r0[2] + r1[2] == correct


@pytest.mark.timeout(300)
def test_fit_on_two_ranks_is_fit_on_one(two_ranks) -> None:
    (p0, rows0, result0, probs0), (p1, rows1, result1, probs1) = (r["fit"] for r in two_ranks)
    params, rows, result, probs = ddp_worker.one_fit(None)
    assert torch.equal(p0, p1)
    assert torch.allclose(p0, params, rtol=1e-4, atol=1e-5), (p0 - params).abs().max()
    assert result0.examples == result.examples == 300 and result0.steps == result.steps == 5
    assert [(r.kind, r.step, r.examples) for r in rows0] == [(r.kind, r.step, r.examples) for r in rows]
    for mine, theirs in zip(rows0, rows):  # every row covers both ranks: sums all-reduced
        for key in ("train_loss", "train_acc", "test_loss", "test_acc"):
            if hasattr(theirs, key):
                assert getattr(mine, key) == pytest.approx(getattr(theirs, key), rel=1e-4, abs=1e-6), key
    assert result0.test_acc == result1.test_acc == pytest.approx(result.test_acc)
    assert probs0.shape == probs.shape == (101, 10) and torch.equal(probs0, probs1)  # gathered in the split's order
    assert torch.allclose(probs0, probs, atol=1e-5)
    assert two_ranks[0]["backend"] == "gloo" and [r.rank for r in two_ranks[0]["ranks"]] == [0, 1]


# --- end to end, through torchrun ----------------------------------------------------------------------


def ranks_of(run_dir: Path) -> list:
    return config_of(run_dir).ranks


def wait_for_ranks(run_dir: Path, proc: subprocess.Popen) -> list:
    wait_for_train_row(run_dir, proc, timeout=120)
    return ranks_of(run_dir)


def gone_within(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids):
            return True
        time.sleep(0.2)
    return False


@pytest.mark.timeout(300)
def test_a_two_process_run_completes_with_a_one_process_runs_folder(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    code1, _, err1 = finish(cli(tmp_path, *TINY, *SUBSET, "--epochs", "1", "--seed", "3", "--run-dir", str(one)), 240)
    code2, out2, err2 = finish(cli(tmp_path, *TINY, *SUBSET, "--epochs", "1", "--seed", "3", "--nproc", "2",
                                   "--run-dir", str(two)), 240)
    assert code1 == 0 and code2 == 0, (err1, err2)
    assert "with 2 processes (torchrun)" in err2 and out2.strip().splitlines()[-1].endswith("examples/sec on cpu")
    rows1, rows2 = read_metrics(one), read_metrics(two)
    check_rows(rows2)
    train = [r for r in rows2 if r["kind"] == "train"]
    assert train[-1]["examples"] == 2000 and train[-1]["epoch"] == 1.0  # every training example once
    assert rows2[-1]["state"] == "completed" and rows2[-1]["examples"] == 2000
    # The same schema: the same files, the same kinds of row with the same keys, config.json's keys.
    names = lambda d: sorted(p.name for p in d.iterdir())  # noqa: E731
    assert names(one) == names(two) == sorted([run_folder.CONFIG, run_folder.METRICS, run_folder.MODEL,
                                               run_folder.PREDICTIONS, run_folder.CHECKPOINT])
    keys = lambda rows, kind: {k for r in rows if r["kind"] == kind for k in r if not k.startswith("rank")}  # noqa: E731
    for kind in ("train", "eval", "status", "system"):
        assert keys(rows1, kind) == keys(rows2, kind), kind
    c1, c2 = (json.loads((d / run_folder.CONFIG).read_text()) for d in (one, two))
    assert set(c1) == set(c2)
    assert (c1["world_size"], c1["backend"], c1["ranks"]) == (1, None, [])
    assert c2["world_size"] == 2 and c2["backend"] == "gloo" and c2["request"]["settings"]["nproc"] == 2
    assert [(r["rank"], r["device"]) for r in c2["ranks"]] == [(0, "cpu"), (1, "cpu")]
    assert c2["ranks"][0]["pid"] == rows2[0]["pid"] != c2["ranks"][1]["pid"]  # rank 0 wrote the folder
    # system rows cover both ranks: the sum and each one
    system = [r for r in rows2 if r["kind"] == "system"]
    assert system and all(r["rss_mib"] == pytest.approx(r["rank0_rss_mib"] + r["rank1_rss_mib"]) for r in system)


@pytest.mark.timeout(300)
def test_torchrun_started_by_hand_runs_the_same_command(tmp_path: Path) -> None:
    """``torchrun ... -m vgg_core train`` without --nproc or --run-dir: rank 0 makes the folder, nproc is torchrun's."""
    env = {**os.environ, "VGG_RUNS_DIR": str(tmp_path / "runs"), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "vgg_core", "train", *TINY, *SUBSET, "--epochs", "1"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()  # one folder, rank 0's: the other rank wrote nothing
    config = config_of(run_dir)
    assert config.world_size == 2 and config.settings.nproc == 2 and len(config.ranks) == 2
    assert read_metrics(run_dir)[-1]["state"] == "completed" and done.stdout.count("examples/sec on cpu") == 1


@pytest.mark.timeout(300)
@pytest.mark.parametrize("how", ["STOP file", "SIGTERM to the launcher", "SIGTERM to rank 1"])
def test_a_stop_reaches_every_rank_and_both_end_at_one_step(tmp_path: Path, how: str) -> None:
    run_dir = tmp_path / "run"
    proc = cli(tmp_path, *TINY, "--max-train-examples", "6000", "--epochs", "30", "--log-every", "2", "--nproc", "2",
               "--run-dir", str(run_dir))
    ranks = wait_for_ranks(run_dir, proc)
    live = live_processes(tmp_path)  # the GPU page's list, on any machine
    assert sorted((p.rank, p.pid) for p in live) == [(r.rank, r.pid) for r in ranks]
    assert all(p.run_id == "run" and p.rss_mib > 50 and p.run_seconds > 0 for p in live)
    if how == "STOP file":
        run_folder.request_stop(run_dir)
    elif how == "SIGTERM to the launcher":
        proc.send_signal(signal.SIGTERM)
    else:
        psutil.Process(ranks[1].pid).send_signal(signal.SIGTERM)
    code, out, err = finish(proc, 120)
    assert code == 0, err
    rows = read_metrics(run_dir)
    check_rows(rows)
    final = rows[-1]
    assert final["state"] == "stopped" and final["reason"] == ("STOP file" if how == "STOP file" else "SIGTERM")
    assert final["epochs_completed"] < 30 and gone_within([r.pid for r in ranks], 30)
    weights = load_run_weights(run_dir).extra  # written by rank 0 alone: one model.pt, nothing half-written
    assert weights["epoch"] <= final["epochs_completed"] and weights["steps"] <= final["steps"]
    assert {p.name for p in run_dir.iterdir()} <= {run_folder.CONFIG, run_folder.METRICS, run_folder.MODEL,
                                                  run_folder.PREDICTIONS, run_folder.STOP}
    assert "stopped after" in err


@pytest.mark.timeout(300)
@pytest.mark.parametrize("victim", [1, 0])
def test_a_killed_rank_fails_the_run_naming_it_within_a_minute(tmp_path: Path, victim: int) -> None:
    run_dir = tmp_path / "run"
    proc = cli(tmp_path, *TINY, "--max-train-examples", "6000", "--epochs", "30", "--log-every", "2", "--nproc", "2",
               "--run-dir", str(run_dir))
    ranks = wait_for_ranks(run_dir, proc)
    killed_at = time.monotonic()
    psutil.Process(ranks[victim].pid).kill()
    code, out, err = finish(proc, 60)
    assert time.monotonic() - killed_at < 60
    assert code == 1
    final = read_metrics(run_dir)[-1]
    assert final["state"] == "failed" and final["problem"]["params"]["rank"] == victim
    assert f"rank {victim} (pid {ranks[victim].pid})" in final["error"]
    assert final["problem"]["code"] == ("ddp_rank_died" if victim == 1 else "ddp_rank_lost")
    assert f"error: {final['error']}" in err.splitlines()  # the same one line on stderr
    assert read_run(run_dir).state.state == "failed" and gone_within([r.pid for r in ranks], 30)


@pytest.mark.timeout(300)
def test_a_frozen_rank_fails_the_run_after_the_timeout_naming_it(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = cli(tmp_path, *TINY, "--max-train-examples", "6000", "--epochs", "30", "--log-every", "2", "--nproc", "2",
               "--ddp-timeout", "10", "--run-dir", str(run_dir))
    ranks = wait_for_ranks(run_dir, proc)
    frozen = psutil.Process(ranks[1].pid)
    frozen.suspend()  # SIGSTOP: alive, silent, holding its share of every collective
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and read_metrics(run_dir)[-1].get("state") != "failed":
            time.sleep(0.5)
        final = read_metrics(run_dir)[-1]
        assert final.get("state") == "failed", final
        assert final["problem"]["code"] == "ddp_rank_silent" and final["problem"]["params"]["rank"] == 1
        assert final["problem"]["params"]["seconds"] >= 10
    finally:
        frozen.kill()  # torchrun would wait 30 s for a frozen process to take its SIGTERM
    code, _, _ = finish(proc, 60)
    assert code == 1


# --- refusals --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--nproc", "0"], "nproc must be from 1 to 256, got 0"),
        (["--nproc", "2", "--device", "cuda:1"], "nproc 2 gives each process its own GPU, counting from cuda:0; "
                                                  "device cuda:1 names a single GPU"),
        (["--nproc", "3", "--batch-size", "2"], "batch_size 2 is smaller than nproc 3"),
    ],
)
def test_refused_process_counts_are_one_line(tmp_path: Path, capsys, args: list[str], message: str) -> None:
    run_dir = tmp_path / "run"
    code, out, err = in_process([*TINY, *args, "--run-dir", str(run_dir)], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err
    assert [r["state"] for r in read_metrics(run_dir)] == ["failed"]


def test_a_port_in_use_is_refused_before_torchrun_starts(tmp_path: Path, capsys) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        code, out, err = in_process([*TINY, "--nproc", "2", "--master-port", str(port),
                                     "--run-dir", str(tmp_path / "run")], capsys)
    assert code == 2 and err.count("\n") == 1
    assert f"port {port} cannot be used on this machine (Address already in use)" in err


def test_processes_need_their_own_gpus() -> None:
    check_processes(4, torch.device("cpu"), gpus=0)  # the CPU is shared out
    check_processes(2, torch.device("cuda", 0), gpus=2)
    with pytest.raises(DeviceError, match="nproc 3 needs one CUDA GPU per process; 2 CUDA GPUs visible"):
        check_processes(3, torch.device("cuda", 0), gpus=2)
    with pytest.raises(DeviceError, match="cannot share Apple's MPS"):
        check_processes(2, torch.device("mps"))


def test_under_torchrun_nproc_is_torchruns() -> None:
    request = TrainRequest(settings=TrainSettings())
    world = World(rank=3, size=8, local_rank=1, local_size=4)  # two machines of four
    assert adopt_world(request, world, None).settings.nproc == 4
    with pytest.raises(ConfigError, match="--nproc 2 does not match the 4 processes torchrun started"):
        adopt_world(request, world, 2)
    assert World.from_env({"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "4"}) == world
    assert World.from_env({}) is None
