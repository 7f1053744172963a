"""The pages against what a classroom throws at them: planted run folders, hostile links, odd input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from vgg_core.run_report import duration_text
from vgg_core.spec import ArchSpec
from vgg_core.summary import summarize

from test_engine_faults import _planted, plant_malformed

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(300)
DONE = '{"kind": "status", "state": "running", "pid": 1, "time": 1000.0}\n{"kind": "train", "epoch": 1.0, "step": 8, ' \
       '"examples": 1000, "elapsed_s": 2.0, "train_loss": 1.5, "train_acc": 0.4, "examples_per_sec": 500.0}\n' \
       '{"kind": "eval", "epoch": 1, "test_acc": 0.61}\n{"kind": "status", "state": "completed", "time": 1002.0}\n'
REQUEST = {"spec": {"conv_arch": [[1, 16], [1, 32]], "input_size": 28, "fc_width": 256}, "settings": {"epochs": 1}}


def opened(page: str, query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params.update(query or {})
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def finished_run(root: Path, name: str) -> Path:
    run = _planted(root, name, DONE)
    (run / "request.json").write_text(json.dumps(REQUEST))
    return run


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements).replace("\\", "")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_planted_folders_never_break_train_or_compare(runs, lang):
    made = plant_malformed(runs)
    finished_run(runs, "good")
    train = opened("pages/train.py", {"lang": lang})
    history = train.dataframe[0].value
    assert set(history.iloc[:, 0]) == {*made, "good"}
    unreadable = "unreadable" if lang == "en" else "无法读取"
    assert (history.iloc[:, 1] == unreadable).sum() == 2  # the two whose config cannot be read
    for run_id in made:  # each can be shown on its own, with its reason where it has one
        train.selectbox(key="train_run").set_value(run_id).run()
        assert not train.exception, (run_id, [e.value for e in train.exception])
    compare = opened("pages/compare.py", {"lang": lang})
    assert not compare.exception


def test_an_unreadable_folder_says_why_and_can_be_deleted(runs):
    plant_malformed(runs)
    at = opened("pages/train.py")
    at.selectbox(key="train_run").set_value("ratio-zero").run()
    assert "config.json: request is not valid (ratio must be from 1 to 1024, got 0)" in texts(at.error)
    at.selectbox(key="train_manage").set_value("ratio-zero").run()
    at.button(key="train_delete").click().run()
    at.button(key="train_delete_yes").click().run()
    assert not (runs / "ratio-zero").exists() and "Deleted run ratio-zero" in texts(at.success)


def test_a_planted_link_as_weights_offers_no_download(runs, tmp_path):
    run = finished_run(runs, "linked")
    (tmp_path / "secret").write_text("not a model")
    (run / "model.pt").symlink_to(tmp_path / "secret")
    at = opened("pages/train.py")
    assert "train_dl_metrics" in {b.key for b in at.get("download_button")}
    assert not at.get("link_button")  # the weights are linked only when model.pt is a regular file


def test_a_run_that_finishes_after_the_page_opened_joins_the_overlay(runs):
    finished_run(runs, "first")
    at = opened("pages/train.py")
    assert at.multiselect(key="train_overlay").value == ["first"]
    finished_run(runs, "second")
    at.run()
    assert set(at.multiselect(key="train_overlay").value) == {"first", "second"}
    at.multiselect(key="train_overlay").set_value(["second"]).run()  # once picked, the pick stays
    finished_run(runs, "third")
    at.run()
    assert at.multiselect(key="train_overlay").value == ["second"]


def test_history_names_every_setting(runs):
    finished_run(runs, "r")
    history = opened("pages/train.py").dataframe[0].value
    row = history.iloc[0]
    assert {"optimizer", "lr", "batch", "BatchNorm", "train examples"} <= set(history.columns)
    # Numbers stay numbers so every column sorts; no limit on the training images means all 60,000.
    assert (row["optimizer"], row["lr"], row["batch"], row["train examples"]) == ("sgd", 0.05, 128, 60000)


def test_markdown_in_a_shared_link_stays_text():
    at = opened("pages/explore.py", {"arch": ":red[boom] :skull: :material/home:"})
    warning = at.warning[0].value
    assert r"\:red\[boom\]" in warning and r"\:skull\:" in warning and r"\:material/home\:" in warning


def test_full_width_punctuation_from_a_chinese_keyboard_is_read():
    at = opened("pages/explore.py", {"lang": "zh"})
    at.text_input(key="explore_conv_arch").input("（1，64），（1，128），（2，256）").run()
    assert not at.error
    assert at.text_input(key="explore_conv_arch").value == "((1, 64), (1, 128), (2, 256))"


def test_each_problem_stays_under_its_own_input():
    at = opened("pages/explore.py")
    at.text_input(key="explore_conv_arch").input("1x64 zz").run()
    at.number_input(key="explore_input_size").set_value(16).run()  # too small for the 5 valid blocks
    errors = texts(at.error)
    assert "'zz' is not NUMxCHANNELS" in errors and "input_size 16 is too small for 5 blocks" in errors
    assert len(at.error) == 2  # one under conv_arch, one under the input size


@pytest.mark.parametrize("value, expected", [(2.5, "ratio must be a whole number from 1 to 1024, got 2.5"),
                                              (0, "ratio must be from 1 to 64, got 0")])
def test_a_ratio_that_is_not_allowed_is_named_not_rounded(value, expected):
    at = opened("pages/explore.py")
    at.number_input(key="explore_ratio").set_value(value).run()
    assert expected in texts(at.error)
    assert "128,806,154" in [m.value for m in at.metric]


def test_counts_past_two_to_the_53_are_shown_digit_for_digit():
    spec = ArchSpec(conv_arch=((1, 16384), (1, 16384)), input_size=4096)
    at = opened("pages/explore.py", {"arch": "1x16384 1x16384", "size": "4096"})
    macs = [d.value for d in at.dataframe if "MACs" in d.value.columns][0]["MACs"]
    big = max(r.macs for r in summarize(spec).layers)
    assert big > 2**53 and f"{big:,}" in list(macs)


def test_macs_are_explained():
    at = opened("pages/explore.py")
    macs = [m for m in at.metric if m.label == "MACs"][0]
    assert "multiplication and one addition" in macs.proto.help


def test_durations_in_chinese():
    assert duration_text(3900, "zh") == "1 小时 05 分" and duration_text(4 * 86400 + 3600, "zh") == "4 天 1 小时"
    assert duration_text(0.3, "zh") == "不到 1 秒" and duration_text(365 * 86400 * 2, "zh") == "2 年"
