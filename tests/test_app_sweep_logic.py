"""Issue #14 on the Train and Compare pages through AppTest: sweeps, the queue, results, resume, names.

Real run folders made by the real engine on the real Fashion-MNIST (tiny nets, a few thousand images),
real scheduler and training processes; the page is driven as a person would.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from vgg_core.data import DEBIAN_DIR
from vgg_core.launch import start_run, stop_run
from vgg_core.queue import queue_runs, queued_runs, scheduler_pid
from vgg_core.request import TrainRequest, TrainSettings
from vgg_core.run_folder import request_stop
from vgg_core.run_rows import read_metrics
from vgg_core.runs import read_run
from vgg_core.sweep import plan_sweep, queue_sweep

from test_engine_launch import SMALL, request, wait_final, wait_for

APP = str(Path(__file__).resolve().parents[1] / "app.py")
SMALL_QUERY = {"arch": "1x16 1x32", "size": "28", "fc": "256"}
pytestmark = [pytest.mark.skipif(not DEBIAN_DIR.is_dir(), reason="needs Debian's dataset-fashion-mnist"),
              pytest.mark.timeout(600)]


def opened(page: str = "pages/train.py", query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({**SMALL_QUERY, **(query or {})})
    at.switch_page(page)  # the session's first request: a reload, or a shared link
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def wait_ended(run_dir: Path, timeout: float = 300) -> str:
    """The run's final state, once it has one (a queued run waits for the scheduler first)."""
    return wait_for(lambda: (s := read_run(run_dir).state.state) in ("completed", "stopped", "failed", "lost") and s,
                    timeout)


def texts(elements) -> str:
    """Element texts as a reader sees them (without the Markdown escapes the page adds)."""
    return "\n".join(str(e.value) for e in elements).replace("\\", "")


def folders(root: Path) -> list[Path]:
    return [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]


def open_sweep(at: AppTest, axes: dict[str, str]) -> AppTest:
    """Open the sweep expander, pick the axes and type their values."""
    at.session_state["train_sweep_open"] = True
    at.run()
    at.multiselect(key="train_sweep_axes").set_value(list(axes)).run()
    for name, values in axes.items():
        if name in [m.key.removeprefix("train_sweep_v_") for m in at.text_input if m.key]:
            at.text_input(key=f"train_sweep_v_{name}").input(values).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def sweep_error(at: AppTest) -> str:
    return texts(at.get("error"))


# --- sweeps -------------------------------------------------------------------------------------

@pytest.mark.parametrize("axes, expected", [
    ({"lr": "0.05, abc"}, "lr = abc: lr must be a number above 0 and at most 10, got 'abc'"),
    ({"lr": "0.05, 0.05"}, "lr lists 0.05 twice"),
    ({"lr": "  "}, "lr has no values"),
    ({"learning_rate": ""}, "learning_rate is not a setting a sweep can vary; these can: conv_arch, ratio"),
    ({"ratio": ",".join(map(str, range(1, 11))), "lr": "0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7"},
     "the sweep has 70 runs (10 x 7); at most 64 are allowed"),
    ({"ratio": "4, 64"}, "ratio = 64: block 1: ratio 64 leaves 16 // 64 = 0 channels"),
    ({"conv_arch": "1x16 1x32; 1x8 1x16", "ratio": "1, 16"},  # each value fits alone; one pair does not
     "run conv_arch=1x8 1x16, ratio=16: block 1: ratio 16 leaves 8 // 16 = 0 channels"),
])
def test_sweep_refusals_show_in_one_line_and_nothing_is_queued(runs, axes, expected):
    at = open_sweep(opened(), axes)
    error = sweep_error(at)
    assert error.startswith("Not queued: ") and expected in error and "\n" not in error, error
    assert "--vary" not in error  # the page's words, not the CLI's
    assert "train_sweep_queue" not in [b.key for b in at.button]
    assert folders(runs) == []


def test_a_valid_sweep_shows_its_runs_and_time_before_queueing(runs):
    at = open_sweep(opened(), {"lr": "0.05, 0.1", "batch_norm": "false, true"})
    assert not at.get("error")
    plan = texts(at.markdown)
    assert "**4 runs** · about" in plan and "in all on cpu" in plan
    table = at.dataframe[0].value
    assert list(table.iloc[:, 0]) == ["lr=0.05, batch_norm=false", "lr=0.05, batch_norm=true",
                                      "lr=0.1, batch_norm=false", "lr=0.1, batch_norm=true"]
    assert all(x != "–" for x in table.iloc[:, 1])  # each run's estimated time, from the measured speed
    assert at.button(key="train_sweep_queue").label == "Queue 4 runs"
    assert folders(runs) == []  # nothing until the button


def test_the_sweep_section_in_chinese_has_no_english_sentences(runs):
    at = open_sweep(opened(query={"lang": "zh"}), {"lr": "0.05, 0.05"})
    error = sweep_error(at)
    assert error.startswith("未排队：") and "lr 把 0.05 列了两次" in error
    assert [e.label for e in at.expander] == ["如果……？扫描设置"]
    labels = [at.multiselect(key="train_sweep_axes").label, at.text_input(key="train_sweep_v_lr").label,
              at.text_input(key="train_sweep_name").label]
    assert labels == ["要变化的设置", "lr 的取值", "扫描名称"]


# --- the queue ------------------------------------------------------------------------------------

def test_queue_while_busy_then_move_up_and_remove(runs):
    at = opened()
    at.selectbox(key="train_device").set_value("cpu")
    at.number_input(key="train_epochs").set_value(30)
    at.number_input(key="train_max_train_examples").set_value(0)
    at.run()
    at.button(key="train_start").click().run()
    (live,) = folders(runs)
    try:
        # The device is busy: Train gives way to Queue, which says why.
        keys = [b.key for b in at.button]
        assert "train_queue" in keys and "train_start" not in keys
        assert f"cpu is busy with run {live.name}" in texts(at.caption)
        ids = []
        for name in ("first", "second"):
            at.text_input(key="train_name").input(name).run()
            at.button(key="train_queue").click().run()
            assert "Queued run" in texts(at.success) and f"(place {len(ids) + 1})" in texts(at.success)
            ids.append(next(p.name for p in folders(runs) if p.name not in (live.name, *ids)))
            assert at.text_input(key="train_name").value == ""  # the name went with that run
        assert [r.run_id for r in queued_runs(runs)] == ids
        assert scheduler_pid(runs) is not None  # queueing made sure one serves the folder
        queue = texts(at.markdown)
        assert "**1.** first" in queue and "**2.** second" in queue and "`1x16 1x32` · 28×28 · 30 epochs" in queue
        assert at.button(key=f"train_queue_up_{ids[0]}").disabled
        history = at.dataframe[0].value
        queued_rows = history[history["state"] == "queued"]
        assert dict(zip(queued_rows["run"], queued_rows["queue place"])) == {ids[0]: 1, ids[1]: 2}

        at.button(key=f"train_queue_up_{ids[1]}").click().run()
        assert [r.run_id for r in queued_runs(runs)] == [ids[1], ids[0]]
        assert "**1.** second" in texts(at.markdown)

        at.button(key=f"train_queue_remove_{ids[0]}").click().run()
        assert f"Removed run {ids[0]} from the queue" in texts(at.success)
        assert not (runs / ids[0]).exists() and [r.run_id for r in queued_runs(runs)] == [ids[1]]
        at.button(key=f"train_queue_remove_{ids[1]}").click().run()
        assert queued_runs(runs) == [] and "Queue" not in [h.value for h in at.subheader]
    finally:
        for run_id in [r.run_id for r in queued_runs(runs)]:
            (runs / run_id / "queue.json").unlink()  # never let the scheduler start them
        wait_for(lambda: read_run(live).state.state != "starting", 120)  # stopped once it trains, not before
        stop_run(live)
    assert wait_final(live, 60) == "stopped"
    wait_for(lambda: scheduler_pid(runs) is None, 30)  # nothing left to start: the scheduler leaves


# --- resume, extend -------------------------------------------------------------------------------

def stopped_after_first_epoch(root: Path) -> Path:
    run_dir = start_run(request(epochs=5, device="cpu", max_train_examples=3000, max_test_examples=500, log_every=2,
                                seed=3), root)
    wait_for(lambda: read_metrics(run_dir).evals, 180, 0.02)
    request_stop(run_dir)
    assert wait_final(run_dir) == "stopped"
    return run_dir


def manage(at: AppTest, run_id: str) -> AppTest:
    at.selectbox(key="train_manage").set_value(run_id).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_resume_then_extend_a_real_stopped_run(runs):
    run_dir = stopped_after_first_epoch(runs)
    done = len(read_metrics(run_dir).evals)
    assert 1 <= done < 5
    at = manage(opened(), run_dir.name)
    assert at.button(key="train_resume").label == f"Resume ({done} of 5 epochs done)"
    at.button(key="train_resume").click().run()
    assert f"Resumed run {run_dir.name}: training on to 5 epochs in all" in texts(at.success)
    assert at.selectbox(key="train_run").value == run_dir.name  # the live view follows it
    assert wait_final(run_dir, 300) == "completed"
    assert [e.epoch for e in read_metrics(run_dir).evals] == [1, 2, 3, 4, 5]

    at = manage(opened(), run_dir.name)
    keys = [b.key for b in at.button]
    assert "train_resume" not in keys  # nothing left of the plan: only "more"
    at.number_input(key="train_more_epochs").set_value(2).run()
    assert at.button(key="train_extend").label == "Train 2 more epochs"
    at.button(key="train_extend").click().run()
    assert "training on to 7 epochs in all" in texts(at.success)
    assert wait_final(run_dir, 300) == "completed"
    assert [e.epoch for e in read_metrics(run_dir).evals] == list(range(1, 8))
    assert TrainRequest.read(run_dir / "request.json").settings.epochs == 7


def test_a_run_without_a_checkpoint_is_refused_in_one_line(runs):
    run_dir = start_run(request(epochs=1, device="cpu", log_every=1), runs)  # 60,000 images: stopped long before epoch 1 ends
    wait_for(lambda: read_metrics(run_dir).train, 180, 0.05)
    stop_run(run_dir)
    assert wait_final(run_dir) == "stopped" and not read_metrics(run_dir).evals
    before = sorted(p.name for p in run_dir.iterdir())
    at = manage(opened(), run_dir.name)
    at.button(key="train_extend").click().run()
    error = texts(at.error)
    assert f"Not resumed: run {run_dir.name} has no checkpoint.pt to resume from" in error
    assert error.count("\n") == 0
    assert sorted(p.name for p in run_dir.iterdir()) == before and read_run(run_dir).state.state == "stopped"


# --- results, names, Compare: one real sweep, one real run, one run queued ---------------------------

@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """A real two-run sweep (lr 0.05 and 0.1) run by the real scheduler, then one run queued with none to start it."""
    root = tmp_path_factory.mktemp("results") / "runs"
    base = TrainRequest(SMALL, TrainSettings(epochs=1, device="cpu", max_train_examples=1500, max_test_examples=500,
                                             log_every=2, seed=1), name="lr test")
    sweep = queue_sweep(plan_sweep(base, {"lr": [0.05, 0.1]}), root)
    for run_id in sweep.runs:
        assert wait_ended(root / run_id) == "completed"
    wait_for(lambda: scheduler_pid(root) is None, 30)
    (waiting,) = queue_runs([base.replace(name="later")], root)  # no scheduler: it stays queued
    return root, sweep, waiting


@pytest.fixture
def results_runs(done, monkeypatch):
    root, sweep, waiting = done
    monkeypatch.setenv("VGG_RUNS_DIR", str(root))
    return done


def test_results_table_has_every_setting_and_result(results_runs):
    root, sweep, waiting = results_runs
    at = opened()
    table = at.dataframe[-1].value
    assert list(table.columns[:4]) == ["run", "state", "name", "sweep"]
    for header in ("best test acc", "last test acc", "params", "MACs", "training time", "examples/sec", "blocks",
                   "ratio", "input", "FC width", "BatchNorm", "lr", "optimizer", "batch", "train examples",
                   "epochs", "seed", "device", "queue place"):
        assert header in table.columns, header
    rows = table.set_index("run")
    for run_id, lr in zip(sweep.runs, (0.05, 0.1)):
        row = rows.loc[run_id]
        assert row["state"] == "completed" and row["name"] == f"lr test: lr={lr:g}" and row["lr"] == lr
        assert row["sweep"] == "lr test · 2 runs" and 0 < row["best test acc"] <= 1 and row["params"] > 0
        assert row["training time"] > 0 and row["train examples"] == 1500
    assert rows.loc[waiting, "state"] == "queued" and rows.loc[waiting, "queue place"] == 1
    zh = opened(query={"lang": "zh"})
    assert {"最佳测试精度", "训练时间", "扫描"} <= set(zh.dataframe[-1].value.columns)


def test_results_filters_and_charts(results_runs):
    root, sweep, waiting = results_runs
    at = opened()
    at.selectbox(key="train_results_sweep").set_value(sweep.sweep).run()
    table = at.dataframe[-1].value
    assert set(table["run"]) == set(sweep.runs)
    assert at.query_params["sweep"] in (sweep.sweep, [sweep.sweep])  # the chosen sweep is in the link
    assert "2 runs shown of 3" in texts(at.caption)
    # The charts of the sweep: both runs on accuracy vs parameters, the front marked among them.
    charts = {c.proto.id: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    params = next(f for f in charts.values() if f["layout"].get("xaxis", {}).get("title", {}).get("text") == "params")
    points, front = params["data"][0], params["data"][1]
    assert len(points["x"]) == 2 and front["name"] == "Pareto front" and 1 <= len(front["x"]) <= 2
    parcoords = next(f for f in charts.values() if f["data"][0]["type"] == "parcoords")
    assert [d["label"] for d in parcoords["data"][0]["dimensions"]] == ["lr", "best test acc"]

    at.selectbox(key="train_results_sweep").set_value("").run()
    at.multiselect(key="train_results_states").set_value(["queued"]).run()
    assert list(at.dataframe[-1].value["run"]) == [waiting]
    assert at.query_params["states"] in ("queued", ["queued"])
    at.multiselect(key="train_results_states").set_value([]).run()
    at.text_input(key="train_results_search").input("LR=0.1").run()  # any case, in the name
    assert list(at.dataframe[-1].value["run"]) == [sweep.runs[1]]
    at.text_input(key="train_results_search").input("later").run()
    assert list(at.dataframe[-1].value["run"]) == [waiting]
    assert "train_results_csv" in [b.key for b in at.get("download_button")]

    again = opened(query={"sweep": sweep.sweep, "states": "completed", "q": "lr"})  # a shared link keeps them
    assert set(again.dataframe[-1].value["run"]) == set(sweep.runs)


def test_rename_a_run_and_see_the_name_everywhere(results_runs):
    root, sweep, waiting = results_runs
    run_id = sweep.runs[0]
    at = manage(opened(), run_id)
    assert at.text_input(key="train_rename_name").value == "lr test: lr=0.05"  # filled from the run
    at.text_input(key="train_rename_name").input("slow lr").run()
    at.text_input(key="train_rename_note").input("half of 0.1").run()
    at.button(key="train_rename_save").click().run()
    assert f"Saved the name and note of run {run_id}" in texts(at.success)
    record = read_run(root / run_id)
    assert (record.name, record.note) == ("slow lr", "half of 0.1") and record.path.name == run_id
    at = opened()
    row = at.dataframe[-1].value.set_index("run").loc[run_id]
    assert row["name"] == "slow lr" and row["note"] == "half of 0.1"
    assert "slow lr" in at.selectbox(key="train_manage").format_func(run_id)
    at.text_input(key="train_rename_name").input("tab\there").run()  # the core takes printable text only
    at.button(key="train_rename_save").click().run()
    assert "Not saved: name must be printable text of at most 80 characters, got 'tab" in texts(at.error)
    assert read_run(root / run_id).name == "slow lr"


def test_compare_shows_the_results_and_the_chosen_runs_side_by_side(results_runs):
    root, sweep, waiting = results_runs
    at = opened("pages/compare.py", {"sweep": sweep.sweep})
    assert set(at.dataframe[-1].value["run"]) == set(sweep.runs)
    assert at.selectbox(key="compare_results_sweep").value == sweep.sweep
    at.multiselect(key="compare_runs").set_value(list(sweep.runs)).run()
    side = next(tb.value for tb in at.table if sweep.runs[0] in tb.value.columns)
    assert set(side.columns) == set(sweep.runs)
    assert list(side.loc["lr"]) == ["0.05", "0.1"] and "best test acc" in side.index
    assert not at.exception
