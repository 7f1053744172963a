"""The training engine end to end: the real CLI in its own process, on the real Fashion-MNIST."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from vgg_core import run_folder, run_rows
from vgg_core.cli import main as cli_main
from vgg_core.data import DEBIAN_DIR, FILES, load_fashion_mnist
from vgg_core.job import StopRequest, run_job
from vgg_core.pipeline import to_model_input
from vgg_core.request import ConfigError, TrainRequest, TrainSettings
from vgg_core.run_config import read_config
from vgg_core.run_rows import to_json
from vgg_core.runs import read_run
from vgg_core.spec import ArchSpec
from vgg_core.weights import load_run_weights

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not DEBIAN_DIR.is_dir(), reason="needs Debian's dataset-fashion-mnist (see .ci/run)")

# Two blocks at 28x28: d2l's VGG in miniature, quick on two CPU cores.
SMALL = ["--arch", "1x16 1x32", "--input-size", "28", "--fc-width", "256"]

TRAIN_KEYS = {"kind", "epoch", "step", "examples", "elapsed_s", "train_loss", "train_acc", "examples_per_sec"}
EVAL_KEYS = {"kind", "epoch", "test_loss", "test_acc"}
SYSTEM_KEYS = {"kind", "elapsed_s", "cpu_percent", "rss_mib"}


def cli(tmp_path: Path, *args: str, **popen: object) -> subprocess.Popen:
    env = {**os.environ, "VGG_RUNS_DIR": str(tmp_path / "runs"), "PYTHONPATH": str(ROOT)}
    env.pop("VGG_DATA_DIR", None)
    return subprocess.Popen(
        [sys.executable, "-m", "vgg_core", "train", *args], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen,
    )


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def read_metrics(run_dir: Path) -> list[dict]:
    """The rows exactly as written on disk (the schema other readers rely on), whole lines only."""
    try:
        text = (run_dir / run_folder.METRICS).read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip() and line.endswith("}")]


def run_state(run_dir: Path):
    return read_run(run_dir).state


def config_of(run_dir: Path):
    config, problem = read_config(run_dir)
    assert problem is None, problem
    return config


def wait_for_train_row(run_dir: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(r["kind"] == "train" for r in read_metrics(run_dir)):
            return
        if proc.poll() is not None:
            pytest.fail(f"training ended early: {proc.communicate()}")
        time.sleep(0.1)
    pytest.fail("no train row appeared")


def check_rows(rows: list[dict]) -> None:
    """The schema the app relies on, row by row."""
    assert rows[0]["kind"] == "status" and rows[0]["state"] == "running" and isinstance(rows[0]["pid"], int)
    assert rows[-1]["kind"] == "status" and rows[-1]["state"] in run_rows.FINAL_STATES
    last_examples = last_step = 0
    for row in rows:
        if row["kind"] == "train":
            assert TRAIN_KEYS <= set(row)
            assert isinstance(row["step"], int) and row["step"] > last_step
            assert isinstance(row["examples"], int) and row["examples"] > last_examples
            assert 0 < row["epoch"] and row["elapsed_s"] >= 0 and row["examples_per_sec"] > 0
            assert math.isfinite(row["train_loss"]) and 0 <= row["train_acc"] <= 1
            last_step, last_examples = row["step"], row["examples"]
        elif row["kind"] == "eval":
            assert EVAL_KEYS <= set(row) and isinstance(row["epoch"], int) and row["epoch"] >= 1
            assert math.isfinite(row["test_loss"]) and 0 <= row["test_acc"] <= 1
        elif row["kind"] == "system":  # the run's resource record (vgg_core.resources)
            assert SYSTEM_KEYS <= set(row) and row["elapsed_s"] >= 0
            assert all(v is None or isinstance(v, (int, float)) for v in row.values() if v != "system")
        else:
            assert row["kind"] == "status" and row["state"] in run_rows.STATES


@pytest.mark.timeout(240)
def test_one_epoch_learns_and_the_run_folder_is_complete(tmp_path: Path) -> None:
    run_dir = tmp_path / "run1"
    code, out, err = finish(cli(tmp_path, *SMALL, "--epochs", "1", "--seed", "1", "--device", "cpu", "--run-dir", str(run_dir)), 240)
    assert code == 0, err
    # d2l's two closing lines, in its format.
    lines = out.strip().splitlines()
    assert re.fullmatch(r"loss \d+\.\d{3}, train acc \d\.\d{3}, test acc \d\.\d{3}", lines[-2]), lines
    assert re.fullmatch(r"\d+\.\d examples/sec on cpu", lines[-1]), lines
    assert "ex/s" in err and "ETA" in err  # the progress line

    config = config_of(run_dir)
    assert config.spec.conv_arch == ((1, 16), (1, 32)) and config.spec.input_size == 28
    hp = config.settings
    assert (hp.learning_rate, hp.batch_size, hp.epochs, hp.optimizer, hp.momentum, config.seed) == (0.05, 128, 1, "sgd", 0.0, 1)
    assert config.device == "cpu" and config.versions["torch"] == torch.__version__
    assert (config.data.source, config.data.train_examples, config.data.test_examples) == (str(DEBIAN_DIR), 60000, 10000)
    assert config.steps_per_epoch == 469 and config.total_steps == 469  # 60000 / 128, last batch partial

    rows = read_metrics(run_dir)
    check_rows(rows)
    train = [r for r in rows if r["kind"] == "train"]
    evals = [r for r in rows if r["kind"] == "eval"]
    assert [r["step"] for r in train] == [*range(10, 469, 10), 469]  # every --log-every steps, and the epoch's end
    assert train[-1]["examples"] == 60000 and train[-1]["epoch"] == 1.0
    assert len(evals) == 1 and evals[0]["epoch"] == 1
    test_acc = evals[0]["test_acc"]
    assert test_acc > 0.7, f"one epoch should learn far above chance (0.1), got {test_acc}"
    assert train[-1]["train_loss"] < train[0]["train_loss"]
    final = rows[-1]
    assert final["state"] == "completed" and final["test_acc"] == test_acc and final["examples"] == 60000
    assert run_state(run_dir).state == "completed"
    assert lines[-2].endswith(f"test acc {test_acc:.3f}")

    # The weights on disk are the ones that scored test_acc.
    weights = load_run_weights(run_dir)
    model, spec, extra = weights.model(), weights.spec, weights.extra
    data = load_fashion_mnist()
    with torch.no_grad():
        pred = torch.cat([model(to_model_input(x, 28)).argmax(1) for x in data.test_images.split(1000)])
    assert abs((pred == data.test_labels).float().mean().item() - test_acc) < 2e-3
    assert extra["test_acc"] == test_acc and spec.conv_arch == ((1, 16), (1, 32))


@pytest.mark.timeout(300)
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_run_with_bf16_autocast(tmp_path: Path) -> None:
    """d2l's setting on a GPU for one epoch (about 10 s on an H100, where it reached 0.81): autocast,
    channels_last, the rows and the weights."""
    run_dir = tmp_path / "cuda"
    code, out, err = finish(cli(tmp_path, "--preset", "d2l", "--device", "cuda", "--epochs", "1", "--seed", "0",
                                "--run-dir", str(run_dir)), 280)
    assert code == 0, err
    config = config_of(run_dir)
    assert config.device.startswith("cuda") and config.amp_dtype in ("bfloat16", "float16")
    rows = read_metrics(run_dir)
    check_rows(rows)
    assert rows[-1]["state"] == "completed" and rows[-1]["test_acc"] > 0.7
    assert out.strip().splitlines()[-1].endswith(f"examples/sec on {config.device}")
    weights = load_run_weights(run_dir)
    assert weights.spec.ratio == 4 and next(iter(weights.state_dict.values())).dtype == torch.float32


@pytest.mark.timeout(120)
@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "STOP file"])
def test_stop_ends_in_stopped_with_weights(tmp_path: Path, how: str) -> None:
    run_dir = tmp_path / "run"
    proc = cli(tmp_path, *SMALL, "--epochs", "5", "--log-every", "2", "--device", "cpu", "--run-dir", str(run_dir))
    wait_for_train_row(run_dir, proc)
    if how == "STOP file":
        run_folder.request_stop(run_dir)
    else:
        proc.send_signal(getattr(signal, how))
    code, out, err = finish(proc, 60)
    assert code == 0, err
    rows = read_metrics(run_dir)
    check_rows(rows)
    assert rows[-1]["state"] == "stopped" and rows[-1]["reason"] == how
    stopped_at = rows[-1]["steps"]
    assert stopped_at < 469 * 5 and rows[-1]["epochs_completed"] < 5
    assert [r for r in rows if r["kind"] == "train"][-1]["step"] == stopped_at  # the partial epoch is logged
    weights = load_run_weights(run_dir)  # stopped inside epoch 1: the weights of that moment
    assert weights.extra["epoch"] == 0 and weights.extra["steps"] == stopped_at and weights.spec.input_size == 28
    assert "stopped after" in err and "examples/sec on cpu" in out
    assert run_state(run_dir).state == "stopped"


@pytest.mark.timeout(60)
def test_impossible_architecture_fails_with_one_clear_line(tmp_path: Path) -> None:
    # A 4096x4096 input into one block and 65536-wide Linears: 16 TiB of weights.
    run_dir = tmp_path / "huge"
    code, out, err = finish(
        cli(tmp_path, "--arch", "1x16", "--input-size", "4096", "--fc-width", "65536", "--device", "cpu", "--run-dir", str(run_dir))
    )
    assert code == 1
    assert "Traceback" not in err
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "CPU out of memory" in error_lines[0] and "--batch-size" in error_lines[0]
    rows = read_metrics(run_dir)
    check_rows(rows)
    assert rows[-1]["state"] == "failed" and rows[-1]["error"] == error_lines[0].removeprefix("error: ")
    assert "TiB" in rows[-1]["error"]
    assert not (run_dir / run_folder.MODEL).exists()
    assert run_state(run_dir).state == "failed"


@pytest.mark.timeout(60)
def test_corrupt_data_fails_and_names_the_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "fm"
    data_dir.mkdir()
    for name in FILES:
        shutil.copy(DEBIAN_DIR / f"{name}.gz", data_dir / f"{name}.gz")
    victim = data_dir / "train-images-idx3-ubyte.gz"
    victim.write_bytes(victim.read_bytes()[:100_000])
    run_dir = tmp_path / "run"
    code, out, err = finish(cli(tmp_path, *SMALL, "--device", "cpu", "--data-dir", str(data_dir), "--run-dir", str(run_dir)))
    assert code == 1 and "Traceback" not in err
    rows = read_metrics(run_dir)
    assert rows[-1]["state"] == "failed" and "train-images-idx3-ubyte.gz is truncated" in rows[-1]["error"]
    assert not any(r["kind"] == "train" for r in rows)


def in_process(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """The same command in this process: refusals happen before any training, so no need to fork."""
    code = cli_main(["train", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--num-classes", "5"], "num_classes must be 10 to train on Fashion-MNIST, got 5"),
        (["--device", "tpu"], "unknown device 'tpu'"),
        (["--batch-size", "0"], "batch_size must be from 1 to 16384, got 0"),
        (["--epochs", "99999999999999999999"], "epochs must be from 1 to 1000, got 99999999999999999999"),
        (["--lr", "-1"], "lr must be a number above 0"),
        (["--optimizer", "adam", "--momentum", "0.9"], "momentum applies to sgd only"),
        (["--arch", "1x"], "is not NUMxCHANNELS"),
    ],
)
def test_refused_input_is_recorded_in_a_named_run_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    run_dir = tmp_path / "run"
    code, out, err = in_process([*SMALL, *args, "--run-dir", str(run_dir)], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err and "Traceback" not in err
    rows = read_metrics(run_dir)
    assert [r["state"] for r in rows] == ["failed"] and message in rows[0]["error"]


@pytest.mark.timeout(60)
@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_cuda_without_a_gpu_is_refused(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    code, out, err = finish(cli(tmp_path, *SMALL, "--device", "cuda", "--run-dir", str(run_dir)))
    assert code == 2 and err.count("\n") == 1
    assert "device cuda is not available: no CUDA GPU is visible; available: cpu" in err
    assert run_state(run_dir).state == "failed"


@pytest.mark.parametrize("args", [["--epochs", "ten"], ["--optimizer", "rmsprop"], ["--bogus"]])
def test_usage_errors_are_one_line_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.setenv("VGG_RUNS_DIR", str(tmp_path / "runs"))
    code, out, err = in_process(args, capsys)
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_a_folder_that_holds_a_run_is_never_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / run_folder.METRICS).write_text('{"kind": "status", "state": "completed"}\n')
    code, out, err = in_process([*SMALL, "--run-dir", str(run_dir)], capsys)
    assert code == 2 and "already holds a run" in err
    assert (run_dir / run_folder.METRICS).read_text() == '{"kind": "status", "state": "completed"}\n'


@pytest.mark.timeout(120)
def test_run_job_in_process_with_adam_and_a_subset(tmp_path: Path) -> None:
    """run_job as a library call: Adam, weight decay, a quick subset, and the handlers given back."""
    spec = ArchSpec(conv_arch=((1, 8), (1, 16)), input_size=28, fc_width=64, dropout=0.0)
    settings = TrainSettings(epochs=2, batch_size=64, optimizer="adam", weight_decay=1e-4, seed=3,
                             max_train_examples=640, max_test_examples=200, log_every=3, device="cpu")
    request = TrainRequest(spec, settings)
    device = request.check()
    before = signal.getsignal(signal.SIGTERM)
    rows: list = []
    result = run_job(request, device, tmp_path / "r", on_row=rows.append, stop=StopRequest())
    assert signal.getsignal(signal.SIGTERM) is before
    assert result.exit_code == 0 and result.state == "completed" and result.fit.examples == 1280
    written = read_metrics(tmp_path / "r")
    check_rows(written)
    assert [r for r in written if r["kind"] != "status"] == [to_json(r) for r in rows]
    assert [r.step for r in rows if r.kind == "train"] == [3, 6, 9, 10, 12, 15, 18, 20]
    assert [r.epoch for r in rows if r.kind == "eval"] == [1, 2]
    config = config_of(tmp_path / "r")
    assert config.settings.learning_rate == 0.001 and config.data.test_examples == 200
    with pytest.raises(ConfigError, match="num_classes must be 10"):
        request.replace(spec=spec.replace(num_classes=3)).check()
