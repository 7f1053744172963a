"""A run's own resource record on the pages, over a real CPU run; one run over several GPUs, offered
where there are several (the GPU count is the one thing this machine lacks, so only it is stood in)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from vgg_core.launch import held_devices, visible_gpus
from vgg_core.request import TrainRequest, TrainSettings
from vgg_core.resources import summarize
from vgg_core.run_rows import read_metrics
from vgg_core.scheduler import devices_needed
from vgg_core.spec import ArchSpec

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(300)
SMALL = {"arch": "1x16 1x32", "size": "28", "fc": "256"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A real 2-epoch CPU run (long enough for a few 2-second resource samples)."""
    runs = tmp_path_factory.mktemp("resources") / "runs"
    done = subprocess.run(
        [sys.executable, "-m", "vgg_core", "train", "--arch", "1x16 1x32", "--input-size", "28", "--fc-width", "256",
         "--epochs", "2", "--max-train-examples", "12000", "--max-test-examples", "2000", "--device", "cpu",
         "--seed", "0", "--run-dir", str(runs / "r")], cwd=ROOT, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr
    return runs


def train_page(runs: Path, monkeypatch, query: dict | None = None) -> AppTest:
    monkeypatch.setenv("VGG_RUNS_DIR", str(runs))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params.update({**SMALL, **(query or {})})
    at.switch_page("pages/train.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_resource_chart_sits_under_the_loss_curve(trained: Path, monkeypatch) -> None:
    metrics = read_metrics(trained / "r")
    assert len(metrics.system) >= 2  # a sample every 2 s and one at the end
    at = train_page(trained, monkeypatch)
    charts = at.get("plotly_chart")
    names = [t["name"] for c in charts for t in __import__("json").loads(c.proto.spec).get("data", [])]
    assert "CPU % (100 = one core)" in names and "memory (MiB)" in names
    used = summarize(metrics.system, 2)
    caption = "\n".join(c.value for c in at.caption)
    assert f"peak memory {used.peak_rss_mib:,.0f} MiB" in caption and f"mean CPU {used.mean_cpu_percent:.0f}%" in caption


def test_the_results_table_has_what_the_run_used(trained: Path, monkeypatch) -> None:
    at = train_page(trained, monkeypatch, {"lang": "zh"})
    table = next(d.value for d in at.dataframe if "内存峰值（MiB）" in d.value.columns)
    used = summarize(read_metrics(trained / "r").system, 2)
    assert table["内存峰值（MiB）"].iloc[0] == pytest.approx(used.peak_rss_mib)
    assert table["平均 CPU %"].iloc[0] == pytest.approx(used.mean_cpu_percent)


def test_gpus_are_offered_only_where_there_are_several(trained: Path, monkeypatch) -> None:
    at = train_page(trained, monkeypatch)
    assert "GPUs" not in [s.label for s in at.selectbox]  # this machine: no CUDA GPU
    import pages.train_state as train_state
    monkeypatch.setattr(train_state, "several_gpus", lambda: 4)
    import pages.train  # noqa: F401 - the page file imports the name; AppTest re-runs it from disk
    at = train_page(trained, monkeypatch, {"gpus": "2"})
    gpus = next(s for s in at.selectbox if s.label == "GPUs")
    assert gpus.options == ["1", "2", "3", "4"] and gpus.value == 2
    assert at.session_state["page.train"].settings().nproc == 2


def test_a_run_over_several_gpus_holds_each_of_them(monkeypatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert held_devices("cuda:0", 1) == ("cuda:0",) and held_devices("cpu", 2) == ("cpu",)
    assert held_devices("cuda:0", 3) == ("cuda:0", "cuda:1", "cuda:2")
    assert visible_gpus(("cuda:2", "cuda:3")) == {"CUDA_VISIBLE_DEVICES": "2,3"}
    assert visible_gpus(("cuda:0",)) == {} and visible_gpus(("cpu",)) == {}
    request = TrainRequest(ArchSpec(), TrainSettings(nproc=2))
    assert devices_needed(request, ["cuda:0", "cuda:1", "cuda:2"]) == 2 and devices_needed(request, ["cpu"]) == 1


def test_a_short_run_s_one_sample_is_drawn_and_a_long_one_is_a_line(trained: Path) -> None:
    """A run of a few seconds has one or two samples: as a bare line they drew an empty chart."""
    import dataclasses

    from pages import resource_chart

    metrics = read_metrics(trained / "r")
    one = dataclasses.replace(metrics, system=metrics.system[-1:])
    modes = {tr.mode for tr in resource_chart.chart(one).data}
    assert modes == {"lines+markers"}
    many = dataclasses.replace(metrics, system=metrics.system[-1:] * resource_chart.FEW_SAMPLES)
    assert {tr.mode for tr in resource_chart.chart(many).data} == {"lines"}
