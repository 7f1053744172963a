"""The app's own route for a run's files: streamed from disk, and nothing but a run's own files.

A real ``streamlit run app.py`` (its ``st.App`` with the route) over a runs folder this test plants:
one good run, one whose model.pt is a link out, and a secret beside the runs folder.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from streamlit_browser import free_port, streamlit_server
from vgg_core.model import build_model
from vgg_core.request import TrainRequest
from vgg_core.spec import ArchSpec
from vgg_core.weights import cpu_state, save_weights

ROOT = Path(__file__).resolve().parents[1]
SPEC = ArchSpec(conv_arch=((1, 16), (1, 32)), input_size=28, fc_width=256)
DONE = '{"kind": "status", "state": "running", "pid": 1, "time": 1000.0}\n{"kind": "status", "state": "completed", "time": 1001.0}\n'


def plant(root: Path, run_id: str) -> Path:
    run = root / run_id
    run.mkdir(parents=True)
    (run / "request.json").write_text(TrainRequest(SPEC).to_json())
    (run / "metrics.jsonl").write_text(DONE)
    return run


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("files")
    runs = tmp / "runs"
    good = plant(runs, "20260101-000000-good00")
    save_weights(good / "model.pt", cpu_state(build_model(SPEC)), SPEC, epoch=1)
    (tmp / "secret.txt").write_text("the teacher's password")
    linked = plant(runs, "20260101-000000-link00")
    (linked / "model.pt").symlink_to(tmp / "secret.txt")
    with streamlit_server(free_port(), runs, tmp / "server.log") as url:
        yield url, runs


def fetch(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.read(), resp.headers.get("Content-Disposition", "")
    except urllib.error.HTTPError as e:
        return e.code, e.read(), ""


def test_a_runs_weights_are_served_from_disk(served) -> None:
    url, runs = served
    status, body, disposition = fetch(f"{url}/runfiles/20260101-000000-good00/model.pt")
    assert status == 200 and body == (runs / "20260101-000000-good00" / "model.pt").read_bytes()
    assert "attachment" in disposition and "20260101-000000-good00-model.pt" in disposition
    saved = torch.load(__import__("io").BytesIO(body), weights_only=True)
    assert saved["format"] == 1 and saved["epoch"] == 1


@pytest.mark.parametrize("path", [
    "20260101-000000-link00/model.pt",  # a planted link out of the run folder
    "20260101-000000-good00/request.json",  # not a file the route serves
    "20260101-000000-good00/..%2F..%2Fsecret.txt",
    "..%2Fsecret.txt/model.pt",
    "no-such-run/model.pt",
    ".hidden/model.pt",
])
def test_nothing_else_is_served(served, path: str) -> None:
    url, _ = served
    status, body, _ = fetch(f"{url}/runfiles/{path}")
    assert status in (400, 404) and b"password" not in body  # 400: the server's own path check came first


def test_the_train_page_links_the_weights_only_when_they_are_a_regular_file(served, monkeypatch) -> None:
    _, runs = served
    monkeypatch.setenv("VGG_RUNS_DIR", str(runs))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/train.py")
    at.run()
    assert not at.exception
    at.selectbox(key="train_manage").set_value("20260101-000000-good00").run()
    links = {b.proto.url for b in at.get("link_button")}
    assert "runfiles/20260101-000000-good00/model.pt" in links
    at.selectbox(key="train_manage").set_value("20260101-000000-link00").run()
    assert not any("link00" in b.proto.url for b in at.get("link_button"))


