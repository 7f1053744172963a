"""Kernels and AlexNet through the CLI as a user runs it: real processes, real Fashion-MNIST, real exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vgg_core import preset, summarize
from vgg_core.data import DEBIAN_DIR
from vgg_core.job import run_job
from vgg_core.request import TrainRequest, TrainSettings
from vgg_core.run_config import read_config
from vgg_core.run_report import blocks_text
from vgg_core.spec import ArchSpec
from vgg_core.weights import load_run_weights

ROOT = Path(__file__).resolve().parents[1]
needs_data = pytest.mark.skipif(not DEBIAN_DIR.is_dir(), reason="needs Debian's dataset-fashion-mnist")
QUICK = ["--epochs", "1", "--max-train-examples", "2000", "--max-test-examples", "500", "--device", "cpu"]


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("VGG_DATA_DIR", None)
    return subprocess.run([sys.executable, "-m", "vgg_core", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, env=env)


def test_summary_json_carries_windows_fields_flops_and_formulas():
    data = json.loads(run_cli("summary", "--preset", "alexnet", "--format", "json").stdout)
    assert data["total_params"] == 46_764_746 and data["total_macs"] == 938_146_176
    assert data["total_flops"] == 2 * 938_146_176 and data["spec"]["family"] == "alexnet"
    first = data["layers"][0]
    assert (first["kernel_size"], first["stride"], first["padding"], first["receptive_field"]) == (11, 4, 1, 11)
    assert first["arithmetic"]["out_size"] == 54 and first["arithmetic"]["weights"] == 11 * 11 * 1 * 96
    assert first["flops"] == 2 * first["macs"]
    flatten = next(r for r in data["layers"] if r["type"] == "Flatten")
    assert flatten["receptive_field"] is None and flatten["kernel_size"] is None and flatten["arithmetic"] is None
    kernels = json.loads(run_cli("summary", "--arch", "1x8k5 2x16", "--input-size", "28", "--format", "json").stdout)
    assert kernels["spec"]["conv_arch"] == [[1, 8, 5], [2, 16]] and "family" not in kernels["spec"]
    assert [r["receptive_field"] for r in kernels["layers"] if r["kernel_size"]] == [5, 6, 10, 14, 16]


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--arch", "1x64k4"], "block 1: kernel_size 4 is even: padding k // 2 keeps the side only for an odd kernel; "
                               "use one of 1, 3, 5, 7, 9, 11"),
        (["--arch", "1x64 1x64k0"], "block 2: kernel_size must be from 1 to 11 and odd (1, 3, 5, 7, 9, 11), got 0"),
        (["--arch", "1x64k13"], "block 1: kernel_size must be from 1 to 11 and odd (1, 3, 5, 7, 9, 11), got 13"),
        (["--arch", "((1, 64, 2.5),)"], "block 1: kernel_size must be an odd whole number (1, 3, 5, 7, 9, 11), got 2.5"),
        (["--arch", "((1, 64, 'k5'),)"], "block 1: kernel_size must be an odd whole number"),
        (["--arch", "1x64k5.5"], "block 1: '1x64k5.5' is not NUMxCHANNELS such as 2x256, or NUMxCHANNELSkKERNEL"),
        (["--arch", "1x8 1x8 1x8k9", "--input-size", "16"],
         "block 3: a 9x9 kernel is too large for the 4x4 map this block sees"),
        (["--preset", "alexnet", "--ratio", "2"], "AlexNet's blocks are fixed (d2l's own layers), so ratio cannot be given"),
        (["--preset", "alexnet", "--input-size", "64"], "the smallest input_size it takes is 65"),
        (["--preset", "alexnet", "--arch", "1x64"], "not allowed with argument"),
    ],
)
def test_bad_kernels_and_alexnet_edits_are_one_line_and_status_2(args, expected):
    out = run_cli("summary", *args)
    assert out.returncode == 2 and out.stdout == ""
    assert expected in out.stderr and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


@pytest.mark.parametrize("args", [["--arch", "1x64k4"], ["--preset", "alexnet", "--ratio", "2"],
                                  ["--preset", "alexnet", "--input-size", "64"]])
def test_train_refuses_them_the_same_way(args):
    """`train` shares the flags and the spec's checks: the same line, before any run folder or data."""
    summary, train = run_cli("summary", *args), run_cli("train", *args)
    assert train.returncode == 2 and train.stdout == "" and train.stderr == summary.stderr


def test_a_request_file_cannot_give_alexnet_blocks(tmp_path):
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"spec": {"family": "alexnet", "conv_arch": [[1, 64]]}, "settings": {}}))
    out = run_cli("train", "--request", str(request), "--run-dir", str(tmp_path / "run"))
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "AlexNet's blocks are fixed (d2l's own layers), so conv_arch cannot be given" in out.stderr


def _trained(tmp_path: Path, *args: str) -> tuple[Path, str]:
    run_dir = tmp_path / "run"
    out = run_cli("train", *args, *QUICK, "--run-dir", str(run_dir), timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[0].startswith("loss ") and ", test acc " in lines[0] and lines[1].endswith("examples/sec on cpu")
    return run_dir, lines[0]


@needs_data
@pytest.mark.timeout(600)
def test_a_kernel_5_spec_trains_end_to_end(tmp_path):
    run_dir, _ = _trained(tmp_path, "--arch", "1x16k5 1x32", "--input-size", "28", "--fc-width", "256")
    config, problem = read_config(run_dir)
    assert problem is None and config.spec.conv_arch == ((1, 16, 5), (1, 32))
    assert config.data.train_examples == 2000 and config.data.test_examples == 500
    weights = load_run_weights(run_dir)
    assert weights.state_dict["0.0.weight"].shape == (16, 1, 5, 5)
    assert blocks_text(config.spec) == "1x16k5 1x32"


@needs_data
@pytest.mark.timeout(900)
def test_alexnet_trains_end_to_end_at_its_smallest_input(tmp_path):
    run_dir, _ = _trained(tmp_path, "--preset", "alexnet", "--input-size", "65")
    config, problem = read_config(run_dir)
    assert problem is None and config.spec == preset("alexnet").replace(input_size=65)
    assert config.request.learning_rate == 0.01 and config.settings.lr is None  # d2l 7.1's lr, not asked for
    weights = load_run_weights(run_dir)
    assert list(weights.state_dict)[:2] == ["0.weight", "0.bias"]  # d2l's flat keys
    assert blocks_text(config.spec) == "AlexNet"
    assert sum(v.numel() for v in weights.state_dict.values()) == summarize(config.spec).total_params


@needs_data
@pytest.mark.timeout(300)
def test_the_optimizer_gets_alexnets_lr(tmp_path, monkeypatch):
    """In process: the SGD the run builds is given 0.01 for AlexNet, and --lr's value when one is given."""
    seen: list[float] = []
    real_sgd = torch.optim.SGD

    def spy(params, lr, **kwargs):
        seen.append(lr)
        return real_sgd(params, lr=lr, **kwargs)

    monkeypatch.setattr(torch.optim, "SGD", spy)
    spec = preset("alexnet").replace(input_size=65, fc_width=64)
    for lr, want in ((None, 0.01), (0.03, 0.03)):
        settings = TrainSettings(epochs=1, lr=lr, max_train_examples=128, max_test_examples=64, device="cpu", seed=0)
        result = run_job(TrainRequest(spec, settings), torch.device("cpu"), tmp_path / f"run-{lr}")
        assert result.exit_code == 0 and seen[-1] == want
    vgg = TrainRequest(ArchSpec(conv_arch=((1, 8),), input_size=28, fc_width=32),
                       TrainSettings(epochs=1, max_train_examples=128, max_test_examples=64, device="cpu", seed=0))
    assert run_job(vgg, torch.device("cpu"), tmp_path / "vgg").exit_code == 0 and seen[-1] == 0.05
