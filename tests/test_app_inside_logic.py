"""The Inside page's logic through AppTest, over a real run trained here on the real Fashion-MNIST:
every bad input is one line and never a traceback, the untrained network follows the current
architecture, the URL keeps the run and the image, and the softmax drawn is ``look_inside``'s."""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from vgg_core.images import load_test_image
from vgg_core.inspect import look_inside, network_for

from test_engine_train import ROOT, SMALL, pytestmark  # noqa: F401 (skip without the data)

APP = str(ROOT / "app.py")
SMALL_QUERY = {"arch": "1x16 1x32", "size": "28", "fc": "256"}
TINY_RUN = [*SMALL, "--epochs", "1", "--max-train-examples", "3000", "--seed", "0", "--device", "cpu"]


def train_tiny(run_dir: Path, timeout: float = 300) -> Path:
    """The tiny net for one epoch on 3,000 training images, evaluated on all 10,000, by the real CLI."""
    out = subprocess.run([sys.executable, "-m", "vgg_core", "train", *TINY_RUN, "--run-dir", str(run_dir)],
                         cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr
    return run_dir


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny(tmp_path_factory.mktemp("inside") / "tiny")


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trained: Path) -> Path:
    """A runs folder of its own holding a copy of the trained run (tests may break their copy)."""
    root = tmp_path / "runs"
    root.mkdir()
    shutil.copytree(trained, root / "tiny")
    monkeypatch.setenv("VGG_RUNS_DIR", str(root))
    return root


def inside_page(query: dict[str, str] | None = None) -> AppTest:
    """A session whose first request is the Inside page with ``query`` (a reload or a shared link:
    another page drawn first would rewrite the address to its own parameters)."""
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update(query or {})
    at.switch_page("pages/inside.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements) -> str:
    """Element texts as a reader sees them (without the Markdown escapes and bold marks the page adds)."""
    return "\n".join(str(e.value) for e in elements).replace("\\", "").replace("**", "")


def one_line(at: AppTest, needle: str) -> str:
    """The page shows exactly one error, on one line, containing ``needle``; no traceback."""
    assert not at.exception, [e.value for e in at.exception]
    errors = [str(e.value).replace("\\", "") for e in at.error]
    assert len(errors) == 1 and "\n" not in errors[0] and needle in errors[0], errors
    assert "Traceback" not in errors[0]
    return errors[0]


def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def softmax_of(at: AppTest) -> list[float]:
    """The viewer's softmax bars (the first chart whose trace is the softmax)."""
    return next(c["data"][0]["x"] for c in charts(at) if c["data"][0].get("name") == "softmax")


def block_titles(at: AppTest) -> list[str]:
    return [c["layout"]["title"]["text"] for c in charts(at) if c["layout"].get("title", {}).get("text", "").startswith("Block")]


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` pixels and holds one row: huge by its header only."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * (width + 1))) + chunk(b"IEND", b"")


# --- what the page shows --------------------------------------------------------------------------

def test_a_run_by_default_and_the_softmax_is_look_insides(runs: Path) -> None:
    at = inside_page({**SMALL_QUERY, "image": "42"})
    assert at.selectbox(key="inside_run").value == "tiny"  # the newest run with weights
    assert not at.error
    probs = softmax_of(at)
    assert sum(probs) == pytest.approx(1.0, abs=1e-6)
    network = network_for(runs / "tiny")
    expected = look_inside(network.model, network.spec, load_test_image(42)).probabilities
    assert probs == pytest.approx(list(expected), abs=1e-7)
    assert block_titles(at)[:2] == ["Block 1: 16 × 14 × 14", "Block 2: 32 × 7 × 7"]
    assert "Test image 42" in texts(at.markdown)
    assert "10,000 test images" in texts(at.caption)  # the run's confusion part


def test_url_round_trip_of_run_and_image(runs: Path) -> None:
    at = inside_page({**SMALL_QUERY, "run": "tiny", "image": "123"})
    assert at.number_input(key="inside_index").value == 123
    at.number_input(key="inside_index").set_value(456).run()
    assert at.query_params["image"] in ("456", ["456"]) and at.query_params["run"] in ("tiny", ["tiny"])
    again = inside_page({**SMALL_QUERY, "run": "tiny", "image": "456"})
    assert again.selectbox(key="inside_run").value == "tiny"
    assert again.number_input(key="inside_index").value == 456
    assert softmax_of(again) == softmax_of(at)
    at.selectbox(key="inside_run").set_value("untrained").run()
    assert at.query_params["run"] in ("untrained", ["untrained"])


def test_a_run_that_is_gone_falls_back_and_says_so(runs: Path) -> None:
    at = inside_page({**SMALL_QUERY, "run": "no-such-run"})
    assert at.selectbox(key="inside_run").value == "tiny"
    assert "Run no-such-run is not in the runs folder" in texts(at.caption)


def test_the_untrained_choice_follows_the_current_architecture(runs: Path) -> None:
    at = inside_page({**SMALL_QUERY, "run": "untrained", "seed": "3"})
    assert block_titles(at) == ["Block 1: 16 × 14 × 14", "Block 2: 32 × 7 × 7"]
    assert "errors" not in [c.key for c in at.get("plotly_chart")]  # no run: no confusion part
    assert not any("Confusion" in m for m in texts(at.markdown).splitlines())
    first = softmax_of(at)
    at.number_input(key="inside_seed").set_value(4).run()
    assert softmax_of(at) != first  # another init, another answer
    at.button(key="reset_arch").click().run()  # the sidebar's reset: d2l's VGG-11 becomes current
    assert not at.exception
    assert block_titles(at)[-1].startswith("Block 5: 512 × 7 × 7")
    assert "1 → 64 → 128 → 256 → 512 → 512" in texts(at.markdown)


# --- one line for each bad input ------------------------------------------------------------------

def test_a_run_without_weights(runs: Path) -> None:
    (runs / "tiny" / "model.pt").unlink()
    assert inside_page(SMALL_QUERY).selectbox(key="inside_run").value == "untrained"  # the default: none has weights
    at = inside_page({**SMALL_QUERY, "run": "tiny"})
    one_line(at, "the run has no weights yet")
    assert "10,000 test images" in texts(at.caption)  # its predictions still show what it got wrong


def test_a_run_without_predictions_still_shows_the_image(runs: Path) -> None:
    (runs / "tiny" / "predictions.npz").unlink()
    at = inside_page(SMALL_QUERY)
    assert not at.error and softmax_of(at)
    assert "predictions.npz does not exist: the run has not finished an epoch yet" in texts(at.info)


@pytest.mark.parametrize("content, needle", [
    (b"not a zip at all", "cannot be read as PyTorch weights"),
    (None, "is not a VGG Explorer model.pt"),
])
def test_a_corrupt_or_foreign_model_pt(runs: Path, content: bytes | None, needle: str) -> None:
    path = runs / "tiny" / "model.pt"
    if content is None:
        torch.save({"weights": torch.zeros(3)}, path)  # a real PyTorch file, not ours
    else:
        path.write_bytes(content)
    one_line(inside_page(SMALL_QUERY), needle)


@pytest.mark.parametrize("index", [10000, -1])
def test_an_index_outside_the_test_set(runs: Path, index: int) -> None:
    at = inside_page(SMALL_QUERY)
    at.number_input(key="inside_index").set_value(index).run()
    one_line(at, f"image index {index} is outside 0..9999")
    assert "10,000 test images" in texts(at.caption)


def test_an_index_outside_the_test_set_in_a_link(runs: Path) -> None:
    one_line(inside_page({**SMALL_QUERY, "image": "12345"}), "image index 12345 is outside 0..9999")


@pytest.mark.parametrize("name, content, needle", [
    ("notes.txt", b"just some text, not a picture", "notes.txt is not an image this app reads"),
    ("huge.png", png_header(6000, 4000), "huge.png is 6000×4000 pixels (24.0 megapixels)"),
    ("empty.png", b"", "empty.png is empty (0 bytes)"),
])
def test_a_bad_upload(runs: Path, name: str, content: bytes, needle: str) -> None:
    at = inside_page(SMALL_QUERY)
    at.radio(key="inside_source").set_value("upload").run()
    at.file_uploader(key="inside_upload").set_value((name, content, "application/octet-stream")).run()
    one_line(at, needle)


def test_an_upload_is_prepared_and_its_notes_shown_in_the_pages_language(runs: Path) -> None:
    im = Image.new("RGB", (60, 40), (240, 240, 240))
    im.paste((20, 20, 20), (20, 10, 40, 30))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    at = inside_page({**SMALL_QUERY, "lang": "zh"})
    at.radio(key="inside_source").set_value("upload").run()
    at.file_uploader(key="inside_upload").set_value(("shoe.png", buf.getvalue(), "image/png")).run()
    assert not at.exception and not at.error
    notes = texts(at.markdown)
    # Each step done to the picture, in the page's language (the core's notes, rendered in Chinese).
    assert "PNG 图片，60×40 像素" in notes and "已反色" in notes and "已缩放到 28×28" in notes
    assert "shoe.png" in notes
    assert sum(softmax_of(at)) == pytest.approx(1.0, abs=1e-6)


def test_a_session_holds_one_untrained_network_and_sessions_share_it(runs: Path) -> None:
    at = inside_page({**SMALL_QUERY, "run": "untrained", "seed": "5"})
    held = at.session_state["page.inside.network"]
    first = held.network
    assert held.key[1] == 5 and first.seed == 5
    other = inside_page({**SMALL_QUERY, "run": "untrained", "seed": "5"})  # a second student, same choice
    assert other.session_state["page.inside.network"].network is first
    at.number_input(key="inside_seed").set_value(6).run()
    now = at.session_state["page.inside.network"]
    assert now.key[1] == 6 and now.network.seed == 6 and now.network is not first  # replaced, not added
    assert all(p.device.type == "cpu" for p in now.network.model.parameters())


def test_a_language_switch_relabels_the_choices_and_the_classes(runs: Path) -> None:
    at = inside_page({**SMALL_QUERY, "run": "untrained", "image": "0"})
    at.radio(key="lang").set_value("zh").run()
    assert not at.exception
    assert at.radio(key="inside_source").options == ["测试图像", "你的图片"]
    assert at.selectbox(key="inside_run").options[0].startswith("未训练：当前架构")
    assert "测试图像 0，类别 短靴" in texts(at.markdown)
    assert softmax_of(at) and "短靴" in next(c["data"][0]["y"] for c in charts(at) if c["data"][0].get("name") == "softmax")
