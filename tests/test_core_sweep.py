"""Sweeps planned and refused: the grid, its names and estimate, and every refusal in one line with nothing queued."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vgg_core.cli import main as cli_main
from vgg_core.estimate import estimate_training
from vgg_core.request import SETTINGS, TrainRequest, TrainSettings
from vgg_core.run_folder import QUEUE, REQUEST
from vgg_core.runs import read_run
from vgg_core.spec import ArchSpec
from vgg_core.sweep import MAX_RUNS, SPEC_FIELDS, VARY_NAMES, SweepError, coerce, parse_vary, plan_sweep

BASE = TrainRequest(ArchSpec(conv_arch=((1, 16), (1, 32)), input_size=28, fc_width=64),
                    TrainSettings(epochs=1, device="cpu", max_train_examples=1500, max_test_examples=500))
SMALL = ["--arch", "1x16 1x32", "--input-size", "28", "--fc-width", "64", "--max-train-examples", "1500",
         "--max-test-examples", "500", "--epochs", "1", "--device", "cpu"]


def plan(*texts: str):
    return plan_sweep(BASE, [parse_vary(t) for t in texts])


def test_the_grid_in_order_each_run_named_by_its_values():
    p = plan("ratio=16,8,4", "lr=0.1,0.05")
    assert p.count == 6 and [n for n, _ in p.axes] == ["ratio", "lr"]
    assert [(r.request.spec.ratio, r.request.settings.lr) for r in p.runs] == [
        (16, 0.1), (16, 0.05), (8, 0.1), (8, 0.05), (4, 0.1), (4, 0.05)]  # the first axis varies slowest
    assert p.runs[0].request.name == "ratio=16, lr=0.1" and p.runs[0].values_json() == {"ratio": 16, "lr": 0.1}
    assert all(r.request.settings.max_train_examples == 1500 for r in p.runs)  # the base's other settings stay


def test_conv_arch_values_are_separated_by_semicolons():
    p = plan("conv_arch=1x16 1x32;((1, 8), (1, 16))")
    assert [r.request.spec.conv_arch for r in p.runs] == [((1, 16), (1, 32)), ((1, 8), (1, 16))]
    assert p.runs[1].values_json() == {"conv_arch": [[1, 8], [1, 16]]}


def test_a_base_name_prefixes_each_runs_name():
    p = plan_sweep(BASE.replace(name="widths"), {"fc_width": [64, 128]})  # typed values, as the page passes them
    assert [r.request.name for r in p.runs] == ["widths: fc_width=64", "widths: fc_width=128"]


def two_values(name: str) -> list[str]:
    """Two values a setting or spec field accepts on BASE, derived from its own limits."""
    fixed = {"conv_arch": ["1x16 1x32", "1x8 1x16"], "ratio": ["1", "2"], "in_channels": ["1", "3"],
             "input_size": ["28", "32"], "num_classes": ["10"], "fc_width": ["64", "32"], "dropout": ["0.5", "0"],
             "batch_norm": ["true", "false"], "device": ["cpu", "auto"], "data_dir": ["/a", "/b"]}
    if name in fixed:
        return fixed[name]
    s = SETTINGS[name]
    if s.kind == "bool":
        return ["true", "false"]
    if s.kind == "choice":
        return list(s.choices[:2])
    low, high = s.low, s.high
    if s.kind == "int":
        return [str(int(low)), str(int(low) + 1)]
    return [str(low + (high - low) / 2), str(low + (high - low) / 4)]


@pytest.mark.parametrize("name", VARY_NAMES)
def test_every_spec_field_and_setting_can_be_varied(name):
    """Names and types come from ArchSpec and SETTINGS: a setting added there is swept with no change in sweep.py."""
    values = two_values(name)
    p = plan_sweep(BASE, {name: values})
    assert p.count == len(values)
    for run, text in zip(p.runs, values):
        where = run.request.spec if name in SPEC_FIELDS else run.request.settings
        assert getattr(where, name) == coerce(name, text)


def test_optional_settings_take_none():
    assert [r.request.settings.seed for r in plan("seed=none,3").runs] == [None, 3]


@pytest.mark.parametrize("texts, expected", [
    (["lr=1,2,3,4,5", "batch_size=1,2,3,4,5", "epochs=1,2,3"],
     f"the sweep has 75 runs (5 x 5 x 3); at most {MAX_RUNS} are allowed"),
    (["depth=3,4"], "--vary depth: unknown setting; allowed: conv_arch, ratio"),
    (["ratio=16,four"], "--vary ratio=four: ratio must be a whole number from 1 to 1024, got 'four'"),
    (["ratio=32"], "--vary ratio=32: block 1: ratio 32 leaves 16 // 32 = 0 channels"),
    (["optimizer=sgd,rmsprop"], "--vary optimizer=rmsprop: optimizer must be one of sgd, adam, got 'rmsprop'"),
    (["lr=0.1,1e-1"], "--vary lr lists 0.1 twice"),
    (["conv_arch=1x16 1x32;((1, 16), (1, 32))"], "--vary conv_arch lists 1x16 1x32 twice"),
    (["ratio="], "--vary ratio lists no values"),
    (["ratio=4,,2"], "--vary ratio: value 2 is empty"),
    (["ratio=4", "ratio=2"], "--vary ratio is given twice"),
    (["conv_arch=1x16;((1, 16)"], "--vary conv_arch=((1, 16): conv_arch ((1, 16) is not a list"),
    (["ratio=16,4", "conv_arch=1x16 1x32;1x8 1x16"],
     "run ratio=16, conv_arch=1x8 1x16: block 1: ratio 16 leaves 8 // 16 = 0 channels"),
])
def test_refusals_name_what_is_wrong(texts, expected):
    with pytest.raises(SweepError) as err:
        plan(*texts)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_many_invalid_runs_are_counted_after_five():
    with pytest.raises(SweepError) as err:
        plan("ratio=16,4", "conv_arch=1x8 1x16", "lr=0.1,0.2,0.3,0.4,0.5,0.6,0.7")
    assert len(err.value.problems) == 6 and str(err.value).endswith("and 2 more runs are invalid")
    assert err.value.render("zh").endswith("另外 2 次训练也无效")


def test_a_bad_name_is_refused():
    with pytest.raises(SweepError, match="unknown setting"):
        plan_sweep(BASE, {"bogus": [1]})
    with pytest.raises(SweepError, match="needs at least one --vary"):
        plan_sweep(BASE, {})
    with pytest.raises(SweepError, match="is not NAME=V1,V2"):
        parse_vary("ratio")


def test_the_estimate_is_each_runs_estimate_summed():
    speed = (1.3e11, 0.005)  # training MACs/s and fixed seconds per step, as launch.measure_speed returns them
    p = plan("ratio=16,4", "batch_size=64,128")
    each = [estimate_training(r.request, speed=speed, measure_speed=False).seconds_per_epoch for r in p.runs]
    assert p.seconds(speed) == pytest.approx(each) and p.total_seconds(speed) == pytest.approx(sum(each))
    three = plan_sweep(BASE.replace(settings=BASE.settings.replace(epochs=3)), [parse_vary("ratio=16,4"),
                                                                                parse_vary("batch_size=64,128")])
    assert three.total_seconds(speed) == pytest.approx(3 * sum(each))  # time scales with the epochs asked for


@pytest.mark.parametrize("vary, expected", [
    (["--vary", "lr=1,2,3,4,5", "--vary", "batch_size=1,2,3,4,5", "--vary", "epochs=1,2,3"], "at most 64 are allowed"),
    (["--vary", "depth=3"], "unknown setting"),
    (["--vary", "ratio=16,four"], "got 'four'"),
    (["--vary", "ratio=16,16"], "lists 16 twice"),
    (["--vary", "ratio="], "lists no values"),
    (["--vary", "ratio=4", "--vary", "ratio=8"], "is given twice"),
    ([], "needs at least one --vary"),
])
def test_the_cli_refuses_in_one_line_and_queues_nothing(tmp_path, capsys, vary, expected):
    root = tmp_path / "runs"
    code = cli_main(["sweep", *SMALL, *vary, "--runs-dir", str(root), "--no-start"])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.startswith("error: ") and expected in err and err.count("\n") == 1
    assert not root.exists() or [p.name for p in root.iterdir() if not p.name.startswith(".")] == []


def test_the_cli_queues_in_order_under_one_sweep_id(tmp_path, capsys):
    root = tmp_path / "runs"
    code = cli_main(["sweep", *SMALL, "--vary", "ratio=16,8", "--name", "w", "--note", "try widths",
                     "--no-start", "--format", "json", "--runs-dir", str(root)])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and set(data) == {"sweep", "runs"} and len(data["runs"]) == 2
    records = [read_run(root / run_id) for run_id in data["runs"]]
    assert [r.state.state for r in records] == ["queued", "queued"]
    assert [r.sweep for r in records] == [data["sweep"]] * 2
    assert [r.queue.values for r in records] == [{"ratio": 16}, {"ratio": 8}]
    assert records[0].queue.order < records[1].queue.order
    assert [(r.name, r.note) for r in records] == [("w: ratio=16", "try widths"), ("w: ratio=8", "try widths")]
    assert sorted(p.name for p in Path(records[0].path).iterdir()) == [QUEUE, REQUEST]  # no process, nothing else
