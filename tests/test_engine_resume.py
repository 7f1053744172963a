"""Resume and extend: a stopped run continued, or a finished one trained further, matches one that never stopped.

Real processes on the real Fashion-MNIST, with Adam (so the optimizer's state matters) and dropout
(so the RNG state matters): a resume that lost either would not match.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vgg_core.checkpoint import load_checkpoint
from vgg_core.cli import main as cli_main
from vgg_core.data import DEBIAN_DIR
from vgg_core.launch import LaunchError, resume_run
from vgg_core.queue import queue_runs
from vgg_core.request import TrainRequest
from vgg_core.run_folder import CHECKPOINT, CONFIG, REQUEST, request_stop
from vgg_core.run_rows import read_metrics
from vgg_core.run_writer import RunWriter
from vgg_core.runs import read_run
from vgg_core.weights import load_run_weights, save_weights

from test_engine_launch import wait_final, wait_for
from test_engine_queue import env

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not DEBIAN_DIR.is_dir(), reason="needs Debian's dataset-fashion-mnist (see .ci/run)")

ARGS = ["--arch", "1x16 1x32", "--input-size", "28", "--fc-width", "64", "--max-train-examples", "2000",
        "--max-test-examples", "1000", "--optimizer", "adam", "--seed", "7", "--device", "cpu", "--log-every", "4"]
EPOCHS = 4


def train(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vgg_core", "train", *args], cwd=ROOT, env=env(ROOT / "runs"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float = 300) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return out


@pytest.fixture(scope="module")
def full(tmp_path_factory) -> Path:
    """The run that never stopped: EPOCHS epochs in one process."""
    run_dir = tmp_path_factory.mktemp("full") / "run"
    finish(train(*ARGS, "--epochs", str(EPOCHS), "--run-dir", str(run_dir)))
    return run_dir


def compare(a: Path, b: Path) -> dict[str, float]:
    """The two runs' rows side by side: the same steps, examples and epochs; returns the largest differences."""
    ma, mb = read_metrics(a), read_metrics(b)
    assert [(r.step, r.examples, r.epoch) for r in ma.train] == [(r.step, r.examples, r.epoch) for r in mb.train]
    assert [e.epoch for e in ma.evals] == [e.epoch for e in mb.evals] == list(range(1, EPOCHS + 1))
    assert [round(e.test_acc, 3) for e in ma.evals] == [round(e.test_acc, 3) for e in mb.evals]
    wa, wb = load_run_weights(a).state_dict, load_run_weights(b).state_dict
    return {
        "train_loss": max(abs(x.train_loss - y.train_loss) for x, y in zip(ma.train, mb.train)),
        "train_acc": max(abs(x.train_acc - y.train_acc) for x, y in zip(ma.train, mb.train)),
        "test_loss": max(abs(x.test_loss - y.test_loss) for x, y in zip(ma.evals, mb.evals)),
        "test_acc": max(abs(x.test_acc - y.test_acc) for x, y in zip(ma.evals, mb.evals)),
        "weights": max((wa[k] - wb[k]).abs().max().item() for k in wa),
    }


@pytest.mark.timeout(600)
def test_resume_after_a_stop_reproduces_the_uninterrupted_run(full, tmp_path):
    run_dir = tmp_path / "run"
    proc = train(*ARGS, "--epochs", str(EPOCHS), "--run-dir", str(run_dir))
    wait_for(lambda: read_metrics(run_dir).evals, 300, 0.02)
    request_stop(run_dir)
    finish(proc)
    assert read_run(run_dir).state.state == "stopped"
    stopped_at = load_checkpoint(run_dir).epoch
    assert 1 <= stopped_at < EPOCHS, "the stop must land before the run ends"
    config_before = json.loads((run_dir / CONFIG).read_text())

    out = finish(train("--resume", str(run_dir)))
    diffs = compare(full, run_dir)
    print(f"\nresumed after epoch {stopped_at}; largest differences from the uninterrupted run: {diffs}")
    assert max(diffs.values()) < 1e-4  # CPU: the same arithmetic in the same order
    record = read_run(run_dir)
    assert record.state.state == "completed" and out.strip().splitlines()[-2].endswith(
        f"test acc {record.last_eval.test_acc:.3f}")
    assert [s.state for s in record.metrics.statuses] == ["running", "stopped", "running", "completed"]
    assert record.metrics.statuses[2].summary["resumed_epoch"] == stopped_at
    elapsed = [r.elapsed_s for r in record.metrics.train]
    assert elapsed == sorted(elapsed)  # time goes on from where it stopped
    config = json.loads((run_dir / CONFIG).read_text())
    assert (config["seed"], config["started_unix"]) == (config_before["seed"], config_before["started_unix"])
    assert load_checkpoint(run_dir).epoch == EPOCHS and load_run_weights(run_dir).extra["epoch"] == EPOCHS


@pytest.mark.timeout(600)
def test_a_completed_run_trains_more_epochs_through_the_launcher(full, tmp_path):
    root = tmp_path / "runs"
    run_dir = root / "short"
    finish(train(*ARGS, "--epochs", "2", "--run-dir", str(run_dir)))
    resume_run(root, "short", EPOCHS)  # the page's "Train N more epochs"
    with pytest.raises(LaunchError, match="cannot be resumed until it has ended"):
        resume_run(root, "short", EPOCHS + 1)  # launched, not yet running: already counts as live
    assert wait_final(run_dir, 300) == "completed"
    diffs = compare(full, run_dir)
    print(f"\nextended 2 -> {EPOCHS} epochs; largest differences from the uninterrupted run: {diffs}")
    assert max(diffs.values()) < 1e-4
    assert TrainRequest.read(run_dir / REQUEST).settings.epochs == EPOCHS  # the request says the new total


def files_digest(run_dir: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(run_dir.iterdir()) if p.is_file()}


def edit_json(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    for dotted, value in changes.items():
        where, key = data, dotted.split("__")
        for k in key[:-1]:
            where = where[k]
        where[key[-1]] = value
    path.write_text(json.dumps(data))


def damage_model(run_dir: Path) -> None:
    w = load_run_weights(run_dir)
    save_weights(run_dir / "model.pt", w.state_dict, w.spec, epoch=EPOCHS - 1)


@pytest.mark.parametrize("how, args, expected", [
    ("as it is", [], f"has already trained {EPOCHS} epochs, of {EPOCHS} asked for in all; pass --epochs above {EPOCHS}"),
    ("as it is", ["--epochs", "2"], f"has already trained {EPOCHS} epochs, of 2 asked for in all"),
    ("as it is", ["--epochs", "9", "--lr", "0.1"], "--resume continues a run as it was asked: --lr cannot be given"),
    ("as it is", ["--epochs", "9", "--arch", "1x8"], "--arch cannot be given"),
    ("request lr", ["--epochs", "9"], "checkpoint.pt was trained with other settings than the run's request asks for (lr)"),
    ("request ratio", ["--epochs", "9"], "the run's request asks for (spec.ratio)"),
    ("seed", ["--epochs", "9"], "checkpoint.pt has seed 7 but config.json says 8"),
    ("model epoch", ["--epochs", "9"], f"checkpoint.pt is from epoch {EPOCHS} but model.pt from epoch {EPOCHS - 1}"),
    ("no checkpoint", ["--epochs", "9"], "has no checkpoint.pt to resume from"),
    ("bad checkpoint", ["--epochs", "9"], "checkpoint.pt cannot be read as a checkpoint"),
    ("writer open", ["--epochs", "9"], "is running: it cannot be resumed until it has ended"),
])
def test_refusals_leave_the_run_as_it_was(full, tmp_path, capsys, how, args, expected):
    run_dir = tmp_path / "copy"
    shutil.copytree(full, run_dir)
    held = None
    if how == "request lr":  # a run started by hand keeps its request in config.json
        edit_json(run_dir / CONFIG, request__settings__lr=0.01)
    elif how == "request ratio":
        edit_json(run_dir / CONFIG, request__spec__ratio=2)
    elif how == "seed":
        edit_json(run_dir / CONFIG, seed=8)
    elif how == "model epoch":
        damage_model(run_dir)
    elif how == "no checkpoint":
        (run_dir / CHECKPOINT).unlink()
    elif how == "bad checkpoint":
        (run_dir / CHECKPOINT).write_bytes(b"not a checkpoint")
    elif how == "writer open":
        held = RunWriter(run_dir, resume=True)  # another process resuming it holds this
    before = files_digest(run_dir)
    code = cli_main(["train", "--resume", str(run_dir), *args])
    err = capsys.readouterr().err
    if held is not None:
        held.close()
    assert code == 2 and expected in err and err.startswith("error: ") and err.count("\n") == 1, err
    assert files_digest(run_dir) == before


def test_queued_and_foreign_folders_are_refused(tmp_path, capsys):
    root = tmp_path / "runs"
    (queued,) = queue_runs([TrainRequest()], root)
    (tmp_path / "empty").mkdir()
    for folder, expected in ((root / queued, "is queued and has not trained yet"),
                             (tmp_path / "empty", "is not a run folder"),
                             (tmp_path / "missing", "is not a run folder")):
        assert cli_main(["train", "--resume", str(folder)]) == 2
        assert expected in capsys.readouterr().err
    with pytest.raises(LaunchError, match="is queued"):
        resume_run(root, queued)


@pytest.mark.timeout(300)
def test_a_live_run_and_one_stopped_before_its_first_epoch_are_refused(tmp_path, capsys):
    root = tmp_path / "runs"
    run_dir = root / "live"
    proc = train("--arch", "1x16 1x32", "--input-size", "28", "--fc-width", "64", "--device", "cpu", "--epochs", "3",
                 "--log-every", "1", "--run-dir", str(run_dir))  # 60,000 examples: epoch 1 lasts well beyond the checks
    wait_for(lambda: read_metrics(run_dir).train, 300, 0.05)
    assert cli_main(["train", "--resume", str(run_dir), "--epochs", "5"]) == 2
    assert "is running: it cannot be resumed until it has ended" in capsys.readouterr().err
    with pytest.raises(LaunchError, match="is running"):
        resume_run(root, "live", 5)
    assert cli_main(["runs", "--runs-dir", str(root), "remove", "live"]) == 2  # never a live run
    assert "run live is still running: stop it first" in capsys.readouterr().err
    assert cli_main(["runs", "--runs-dir", str(root), "stop", "live"]) == 0
    finish(proc, 120)
    assert read_run(run_dir).state.state == "stopped" and not read_metrics(run_dir).evals
    assert cli_main(["runs", "--runs-dir", str(root), "stop", "live"]) == 2
    assert "run live is stopped, not running: there is nothing to stop" in capsys.readouterr().err
    before = files_digest(run_dir)
    assert cli_main(["train", "--resume", str(run_dir), "--epochs", "5"]) == 2
    assert "has no checkpoint.pt to resume from" in capsys.readouterr().err
    assert files_digest(run_dir) == before
    assert torch.load(run_dir / "model.pt", weights_only=True)["epoch"] == 0  # what it has, kept
