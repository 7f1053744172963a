"""The Train page's logic through AppTest, over real run folders made by the real engine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from vgg_core.launch import start_run, stop_run
from vgg_core.run_rows import read_metrics

from test_engine_launch import request, run_state, wait_final, wait_for

APP = str(Path(__file__).resolve().parents[1] / "app.py")
ROOT_ARGS = ["--arch", "1x16 1x32", "--input-size", "28", "--fc-width", "256", "--device", "cpu"]


SMALL_QUERY = {"arch": "1x16 1x32", "size": "28", "fc": "256"}


def train_page(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(query or {})
    at.run()
    at.switch_page("pages/train.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements) -> str:
    """Element texts as a reader sees them (without the Markdown escapes the page adds)."""
    return "\n".join(str(e.value) for e in elements).replace("\\", "")


def test_empty_history_and_the_estimate(runs):
    at = train_page(SMALL_QUERY)
    assert "No runs yet" in texts(at.info)
    metrics = {m.label: m for m in at.metric}
    assert "Memory needed" in metrics
    epoch = metrics["Time per epoch"]
    # Measured by a child process on this CPU (device auto = cpu here): a duration, and why it can be trusted.
    assert epoch.value != "–" and "few real training steps on cpu" in epoch.proto.help
    assert "1x16 1x32" in texts(at.markdown)


def test_values_out_of_range_are_named_and_nothing_launches(runs):
    at = train_page(SMALL_QUERY)
    at.number_input(key="train_epochs").set_value(5000)
    at.number_input(key="train_batch_size").set_value(0)
    at.number_input(key="train_lr").set_value(0.0)
    at.run()
    assert not at.exception
    err = texts(at.error)  # the core's own limits, naming each field as the page labels it
    assert "Epochs must be from 1 to 1000, got 5000" in err
    assert "Batch size must be from 1 to 16384, got 0" in err
    assert "Learning rate must be a number above 0 and at most 10, got 0.0" in err
    assert at.button(key="train_start").disabled
    assert "Time per epoch" not in [m.label for m in at.metric]  # no estimate for a run that cannot start
    at.number_input(key="train_epochs").set_value(3)
    at.number_input(key="train_batch_size").set_value(64)
    at.number_input(key="train_lr").set_value(0.05)
    at.run()
    assert not at.error and not at.button(key="train_start").disabled
    assert "Time per epoch" in [m.label for m in at.metric]
    assert not [p for p in runs.iterdir() if p.is_dir()]


def test_d2l_button_sets_the_books_setting(runs):
    at = train_page(SMALL_QUERY)
    at.number_input(key="train_epochs").set_value(3)
    at.number_input(key="train_lr").set_value(0.2)
    at.run()
    at.button(key="train_d2l").click()
    at.run()
    assert at.number_input(key="train_epochs").value == 10
    assert at.number_input(key="train_batch_size").value == 128
    assert at.number_input(key="train_lr").value == pytest.approx(0.05)
    assert at.selectbox(key="train_optimizer").value == "sgd"
    # The help cites the book's network, so it is the book's network: VGG-11, ratio 4, at 224.
    assert "1x16 1x32 2x64 2x128 2x128" in texts(at.markdown) and "224×224" in texts(at.markdown)
    assert at.query_params["ratio"] in ("4", ["4"]) and "arch" not in at.query_params


def test_launch_from_the_page_and_refuse_a_second_on_the_same_device(runs):
    at = train_page(SMALL_QUERY)
    at.selectbox(key="train_device").set_value("cpu")
    at.number_input(key="train_epochs").set_value(30)
    at.run()
    at.button(key="train_start").click()
    at.run()
    assert "Started run" in texts(at.success)
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
    try:
        keys = [b.key for b in at.button]  # busy: Train gives way to Queue, which says why
        assert "train_start" not in keys and "train_queue" in keys
        assert f"cpu is busy with run {run_dir.name}" in texts(at.caption)
        assert len([p for p in runs.iterdir() if p.is_dir()]) == 1
        wait_for(lambda: run_state(run_dir).state == "running")
        at.run()
        assert "running" in texts(at.info)
        # The device's speed is never measured while it trains: the estimate says so instead.
        st.cache_resource.clear()
        at.run()
        epoch = {m.label: m for m in at.metric}["Time per epoch"]
        assert epoch.value == "–" and "cpu is training a run now" in epoch.proto.help
        at.button(key="train_stop").click()
        at.run()
        assert wait_final(run_dir, 60) == "stopped"
        at.run()
        assert f"Run {run_dir.name}: stopped" in texts(at.warning)
    finally:
        stop_run(run_dir)


@pytest.mark.timeout(180)
def test_a_failed_run_shows_its_reason(runs, tmp_path):
    """A real run of the CLI on a folder without the data set: the page shows the one-line reason."""
    empty = tmp_path / "empty"
    empty.mkdir()
    out = subprocess.run(
        [sys.executable, "-m", "vgg_core", "train", *ROOT_ARGS, "--data-dir", str(empty), "--run-dir", str(runs / "bad-run")],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 2 and out.stderr.count("\n") == 1  # missing data: refused before training, in one line
    at = train_page()
    err = texts(at.error)
    assert "Run bad-run: failed" in err and str(empty) in err
    assert "Traceback" not in err


def test_refused_architecture_is_explained(runs):
    """The core's refusal shows before anyone presses Train, and Train stays disabled."""
    at = train_page({**SMALL_QUERY, "classes": "5"})
    assert "num_classes must be 10 to train on Fashion-MNIST, got 5" in texts(at.error)
    assert at.button(key="train_start").disabled
    assert not [p for p in runs.iterdir() if p.is_dir()]


@pytest.mark.timeout(240)
def test_finished_runs_overlay_download_and_delete(runs):
    done = []
    for seed in (1, 2):
        d = start_run(request(epochs=1, device="cpu", max_train_examples=2000, log_every=2, seed=seed), runs)
        assert wait_final(d) == "completed"
        done.append(d)
    at = train_page(SMALL_QUERY)
    assert len(at.multiselect(key="train_overlay").value) == 2
    history = at.dataframe[0].value
    assert set(history["run"]) == {d.name for d in done}
    assert list(history["state"]) == ["completed", "completed"]
    # The Compare page sets the same finished runs side by side.
    cmp = train_page(SMALL_QUERY)
    cmp.switch_page("pages/compare.py")
    cmp.run()
    assert not cmp.exception
    side_by_side = next(tb.value for tb in cmp.table if done[0].name in tb.value.columns)
    assert set(side_by_side.columns) == {d.name for d in done}
    assert set(cmp.multiselect(key="compare_runs").value) == {d.name for d in done}
    at.selectbox(key="train_manage").set_value(done[0].name)
    at.run()
    at.button(key="train_delete").click()
    at.run()
    assert done[0].exists() and f"Delete run {done[0].name}" in texts(at.warning)  # it asks first
    at.button(key="train_delete_no").click()
    at.run()
    assert done[0].exists() and "cannot be undone" not in texts(at.warning)  # cancelled: nothing deleted
    at.button(key="train_delete").click()
    at.run()
    at.button(key="train_delete_yes").click()
    at.run()
    assert f"Deleted run {done[0].name}" in texts(at.success)
    assert not done[0].exists() and done[1].exists()
    assert read_metrics(done[1]).train
    at.run()
    assert not at.exception
