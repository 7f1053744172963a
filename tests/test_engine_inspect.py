"""Looking inside a trained network: a real run trained here on the real Fashion-MNIST, then
``python -m vgg_core inspect`` and the library calls the page makes, checked against a forward
pass this test builds itself from the files on disk."""

from __future__ import annotations

import builtins
import io
import json
import re
import shutil
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from vgg_core import run_folder
from vgg_core.cli import main as cli_main
from vgg_core.data import CLASSES, load_fashion_mnist
from vgg_core.images import MAX_FILE_BYTES, MAX_PIXELS, Note, load_image_file, load_test_image, read_image_file
from vgg_core.inspect import feature_blocks, look_inside, network_for, run_errors
from vgg_core.locale import CORE, placeholders
from vgg_core.model import build_model
from vgg_core.pipeline import to_model_input
from vgg_core.predictions import load_predictions
from vgg_core.problems import ProblemsError
from vgg_core.request import TrainSettings
from vgg_core.spec import ArchSpec, parse_conv_arch
from vgg_core.train import prepare_model
from vgg_core.weights import load_run_weights

from test_engine_train import ROOT, SMALL, cli, finish, read_metrics, pytestmark  # noqa: F401 (skip without the data)

TINY_RUN = [*SMALL, "--max-train-examples", "3000", "--seed", "0", "--device", "cpu"]


# --- helpers ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real two-epoch run of the tiny net on 3,000 training images, evaluated on all 10,000."""
    tmp = tmp_path_factory.mktemp("inspect")
    run_dir = tmp / "run"
    code, _, err = finish(cli(tmp, *TINY_RUN, "--epochs", "2", "--run-dir", str(run_dir)), 300)
    assert code == 0, err
    return run_dir


@pytest.fixture(scope="module")
def test_set():
    return load_fashion_mnist()


def inspect(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The CLI in this process (torch is imported once): exit status, stdout, stderr."""
    capsys.readouterr()
    code = cli_main(["inspect", *args])
    out, err = capsys.readouterr()
    return code, out, err


def inspect_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    code, out, err = inspect(capsys, *args, "--format", "json")
    assert code == 0 and not err, err
    return json.loads(out)


def refused(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """A refusal is exit 2, nothing on stdout and one line on stderr."""
    code, out, err = inspect(capsys, *args)
    assert code == 2 and out == "", (code, out, err)
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def own_model(run_dir: Path) -> tuple[torch.nn.Module, ArchSpec, dict]:
    """The network as this test builds it from model.pt: torch.load, build_model, load_state_dict."""
    saved = torch.load(run_dir / run_folder.MODEL, map_location="cpu", weights_only=True)
    spec = ArchSpec.from_dict(saved["spec"])
    model = build_model(spec)
    model.load_state_dict(saved["state_dict"])
    return model.eval(), spec, saved


def own_forward(model: torch.nn.Module, spec: ArchSpec, pixels: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(to_model_input(pixels.reshape(1, 28, 28), spec.input_size, spec.in_channels,
                                    channels_last=False)).softmax(dim=1)[0]


def png(background: int, shape: int, size: tuple[int, int] = (60, 40), mode: str = "L") -> bytes:
    """A picture a person might upload: a filled rectangle on a plain background."""
    im = Image.new(mode, size, background if mode == "L" else (background,) * 3)
    ImageDraw.Draw(im).rectangle((15, 10, 44, 29), fill=shape if mode == "L" else (shape,) * 3)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` and holds no pixel data: its header, then an IDAT
    chunk that says 1 MiB follows and ends there."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    header = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    return header + struct.pack(">I", 1 << 20) + b"IDAT"


def codes(error: pytest.ExceptionInfo) -> list[str]:
    assert isinstance(error.value, ProblemsError)
    return [p.code for p in error.value.problems]


# --- the forward pass is the real one -------------------------------------------------------------

@pytest.mark.timeout(300)
def test_cli_probabilities_are_a_forward_pass_through_model_pt(trained: Path, test_set) -> None:
    """The CLI in its own process, as a user runs it, against this test's own forward pass."""
    proc = subprocess.run([sys.executable, "-m", "vgg_core", "inspect", "--run-dir", str(trained), "--image", "123",
                           "--format", "json"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    model, spec, saved = own_model(trained)
    expected = own_forward(model, spec, test_set.test_images[123])

    assert r["epoch"] == saved["epoch"] == 2 and r["image"] == 123 and r["label"] == int(test_set.test_labels[123])
    assert r["classes"] == list(CLASSES) and r["preprocessing"] == [] and r["inverted"] is None
    assert torch.allclose(torch.tensor(r["probabilities"]), expected, atol=1e-6, rtol=0)
    assert abs(sum(r["probabilities"]) - 1) < 1e-5 and r["predicted"] == int(expected.argmax())


def test_each_block_is_what_that_block_outputs(trained: Path, test_set, capsys) -> None:
    r = inspect_json(capsys, "--run-dir", str(trained), "--image", "7")
    model, spec, _ = own_model(trained)
    x = to_model_input(test_set.test_images[7:8], spec.input_size, channels_last=False)
    assert [b["name"] for b in r["blocks"]] == [f"block {i + 1}" for i in range(len(spec.conv_arch))]
    with torch.no_grad():
        for i, block in enumerate(r["blocks"]):
            out = model[: i + 1](x)[0]  # d2l's layout: block i is the Sequential's i-th module
            assert block["shape"] == list(out.shape) == [spec.blocks[i][1], 28 >> (i + 1), 28 >> (i + 1)]
            assert block["mean"] == pytest.approx(out.mean().item(), abs=1e-5)
            assert block["max"] == pytest.approx(out.max().item(), abs=1e-5)
            assert block["positive_fraction"] == pytest.approx((out > 0).float().mean().item(), abs=2e-3)
            means = out.mean(dim=(1, 2))
            top = block["top_channels"]
            assert len(top) == min(16, out.shape[0]) and top[0] == int(means.argmax())
            assert all(means[a] >= means[b] - 1e-6 for a, b in zip(top, top[1:]))


def test_confusion_matrix_adds_up_to_the_logged_test_accuracy(trained: Path, test_set, capsys) -> None:
    r = inspect_json(capsys, "--run-dir", str(trained), "--image", "0")
    confusion = np.array(r["confusion"])
    last_eval = [row for row in read_metrics(trained) if row["kind"] == "eval"][-1]
    assert confusion.shape == (10, 10) and confusion.sum() == r["test_examples"] == 10_000
    assert r["predictions_epoch"] == last_eval["epoch"] == r["epoch"] == 2
    assert np.trace(confusion) / confusion.sum() == pytest.approx(last_eval["test_acc"], abs=1e-12)
    assert r["test_acc"] == pytest.approx(last_eval["test_acc"], abs=1e-12)
    assert (confusion.sum(axis=1) == np.bincount(test_set.test_labels.numpy(), minlength=10)).all()  # rows: true class
    for i, acc in enumerate(r["per_class_acc"]):
        assert acc == pytest.approx(confusion[i, i] / confusion[i].sum())


def test_most_confident_mistakes_are_what_the_weights_answer(trained: Path, test_set, capsys) -> None:
    """Predictions and weights are of the same epoch: this test's forward pass makes the same mistakes."""
    r = inspect_json(capsys, "--run-dir", str(trained), "--image", "0")
    wrong = r["most_confident_wrong"]
    assert len(wrong) == 20 and all(w["label"] != w["predicted"] for w in wrong)
    assert [w["confidence"] for w in wrong] == sorted((w["confidence"] for w in wrong), reverse=True)
    model, spec, _ = own_model(trained)
    for w in wrong[:5]:
        assert w["label"] == int(test_set.test_labels[w["index"]])
        probs = own_forward(model, spec, test_set.test_images[w["index"]])
        assert int(probs.argmax()) == w["predicted"] and probs[w["predicted"]].item() == pytest.approx(w["confidence"], abs=1e-4)
    # The library hands the page the same records, and any cell of the matrix.
    errors = run_errors(trained)
    assert [w.to_dict() for w in errors.most_confident_wrong] == wrong
    cell = errors.cell(9, 7, limit=3)
    assert len(cell) == min(3, errors.confusion[9, 7]) and all((c.label, c.predicted) == (9, 7) for c in cell)


def test_the_table_names_the_answer_and_the_errors(trained: Path, capsys) -> None:
    code, out, err = inspect(capsys, "--run-dir", str(trained), "--image", "0")
    assert code == 0 and not err
    assert re.search(r"^predicted: \d .+ \(0\.\d{3}\)$", out, re.M) and "true class 9 Ankle boot" in out
    assert "block 2   32x7x7" in out and "10,000 examples" in out and "most confident mistakes" in out


# --- a stopped run, a run without predictions -------------------------------------------------------

@pytest.mark.timeout(300)
def test_a_stopped_run_keeps_weights_and_predictions_of_its_last_finished_epoch(tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "stopped"
    proc = cli(tmp_path, *TINY_RUN, "--epochs", "200", "--log-every", "1", "--run-dir", str(run_dir))
    deadline = time.monotonic() + 240
    while not any(row["kind"] == "eval" for row in read_metrics(run_dir)):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    run_folder.request_stop(run_dir)
    code, _, err = finish(proc, 120)
    assert code == 0, err
    rows = read_metrics(run_dir)
    evals = [row for row in rows if row["kind"] == "eval"]
    assert rows[-1]["state"] == "stopped" and rows[-1]["epochs_completed"] < 200

    weights, predictions = load_run_weights(run_dir), load_predictions(run_dir)
    assert weights.extra["epoch"] == predictions.epoch == evals[-1]["epoch"] >= 1
    assert rows[-1]["epochs_completed"] >= evals[-1]["epoch"]  # a stop during an evaluation ends it unsaved
    r = inspect_json(capsys, "--run-dir", str(run_dir), "--image", "3")
    assert r["epoch"] == r["predictions_epoch"] == evals[-1]["epoch"]
    assert r["test_acc"] == pytest.approx(evals[-1]["test_acc"], abs=1e-12)


def test_a_run_that_diverged_shows_null_not_invalid_json(trained: Path, tmp_path: Path, capsys) -> None:
    """A too-high learning rate leaves NaN weights: JSON has no NaN, so the figures are null."""
    run_dir = tmp_path / "diverged"
    run_dir.mkdir()
    saved = torch.load(trained / run_folder.MODEL, weights_only=True)
    saved["state_dict"] = {k: torch.full_like(v, float("nan")) for k, v in saved["state_dict"].items()}
    torch.save(saved, run_dir / run_folder.MODEL)
    r = inspect_json(capsys, "--run-dir", str(run_dir), "--image", "0")
    assert r["probabilities"] == [None] * 10 and r["blocks"][0]["mean"] is None
    code, out, _ = inspect(capsys, "--run-dir", str(run_dir), "--image", "0")
    assert code == 0 and "  0  T-shirt/top  nan" in out


def test_a_run_without_predictions_still_shows_its_image(trained: Path, tmp_path: Path, capsys) -> None:
    """An epoch that never finished leaves model.pt but no predictions.npz: the image works, the
    errors part says why it is missing."""
    run_dir = tmp_path / "no-predictions"
    run_dir.mkdir()
    for name in (run_folder.CONFIG, run_folder.METRICS, run_folder.MODEL):
        shutil.copy(trained / name, run_dir / name)
    r = inspect_json(capsys, "--run-dir", str(run_dir), "--image", "0")
    assert r["confusion"] is None and r["most_confident_wrong"] is None and len(r["probabilities"]) == 10
    assert r["errors_missing"]["code"] == "predictions_missing" and "not finished an epoch" in r["errors_missing"]["text"]
    code, out, _ = inspect(capsys, "--run-dir", str(run_dir), "--image", "0")
    assert code == 0 and "test-set errors: none yet (" in out
    with pytest.raises(ProblemsError) as e:
        run_errors(run_dir)
    assert codes(e) == ["predictions_missing"]


# --- uploaded pictures ---------------------------------------------------------------------------

def test_a_light_background_is_inverted_and_a_dark_one_is_not(trained: Path, tmp_path: Path, capsys) -> None:
    light, dark = tmp_path / "light.png", tmp_path / "dark.png"
    light.write_bytes(png(background=245, shape=10))  # a dark shape on white paper
    dark.write_bytes(png(background=10, shape=245))  # the inverse: already Fashion-MNIST's way
    before = sorted(p.name for p in trained.iterdir())

    r_light = inspect_json(capsys, "--run-dir", str(trained), "--image-file", str(light))
    r_dark = inspect_json(capsys, "--run-dir", str(trained), "--image-file", str(dark))
    assert r_light["image"] == "light.png" and r_light["label"] is None
    assert (r_light["inverted"], r_dark["inverted"]) == (True, False)
    light_codes = [n["code"] for n in r_light["preprocessing"]]
    assert light_codes == ["format", "padded", "inverted", "resized"]
    assert [n["code"] for n in r_dark["preprocessing"]] == ["format", "padded", "kept_dark", "resized"]
    assert r_light["preprocessing"][2]["params"]["level"] == 245 and "inverted" in r_light["preprocessing"][2]["text"]
    code, out, _ = inspect(capsys, "--run-dir", str(trained), "--image-file", str(light))
    assert code == 0 and "inverted: its background is light (grey level 245/255)" in out
    assert sorted(p.name for p in trained.iterdir()) == before  # nothing written for an upload

    # Inverting the light picture gives exactly the dark one: a light object on black, square, 28x28.
    a, b = load_image_file(light.read_bytes(), "light.png"), load_image_file(dark.read_bytes(), "dark.png")
    assert torch.equal(a.pixels, b.pixels) and a.pixels.shape == (28, 28) and a.pixels.dtype == torch.uint8
    assert a.pixels[0, 0] == 10 and a.pixels[14, 14] == 245  # the padding took the background's grey


def test_colour_and_transparency_are_made_grey(tmp_path: Path) -> None:
    rgb = load_image_file(png(255, 0, size=(28, 28), mode="RGB"), "rgb.png")
    assert [n.code for n in rgb.notes] == ["format", "grey", "inverted"] and rgb.notes[1].params == (("mode", "RGB"),)
    im = Image.new("RGBA", (32, 32), (0, 0, 0, 0))  # a dark shape on a transparent background
    ImageDraw.Draw(im).ellipse((8, 8, 23, 23), fill=(30, 30, 30, 255))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    clip_art = load_image_file(buf.getvalue(), "clip.png")
    assert [n.code for n in clip_art.notes][1:4] == ["transparent_white", "grey", "inverted"]
    assert clip_art.pixels[0, 0] == 0 and clip_art.pixels[14, 14] > 200
    deep = io.BytesIO()  # 16-bit grey: a light background at 60,000 of 65,535
    Image.fromarray(np.full((28, 28), 60_000, dtype=np.uint16)).save(deep, format="PNG")
    sixteen = load_image_file(deep.getvalue(), "deep.png")
    assert sixteen.inverted and sixteen.notes[-1] == Note("inverted", (("level", 233),))
    jpeg = io.BytesIO()
    Image.new("RGB", (40, 40), (240, 240, 240)).save(jpeg, format="JPEG")
    assert load_image_file(jpeg.getvalue(), "photo.jpg").inverted is True
    # A photo taken sideways: stored 40 wide with a dark left quarter; EXIF says turn it a quarter
    # clockwise, which puts that quarter on top (light on black once inverted).
    sideways = Image.new("RGB", (40, 20), (240, 240, 240))
    ImageDraw.Draw(sideways).rectangle((0, 0, 9, 19), fill=(20, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    phone = io.BytesIO()
    sideways.save(phone, format="JPEG", exif=exif)
    upright = load_image_file(phone.getvalue(), "phone.jpg")
    assert [n.code for n in upright.notes][:3] == ["format", "exif_rotated", "grey"] and upright.inverted
    assert upright.notes[0].params == (("format", "JPEG"), ("width", 40), ("height", 20))
    assert upright.pixels[3, 14] > 200 and upright.pixels[20, 14] < 50 and upright.pixels[14, 3] < 50


def test_an_upload_is_never_written(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    real_open = builtins.open

    def watching(file, mode="r", *args, **kwargs):
        opened.append(str(mode))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", watching)
    load_image_file(png(255, 0), "x.png")
    assert not any(set(m) & set("wax+") for m in opened), opened


# --- every bad input: one line, exit 2; the library raises a ProblemsError ----------------------

def bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """(file, the refusal's code) for each kind of upload that must be refused."""
    real = png(255, 0)
    big = io.BytesIO()
    Image.new("L", (5000, 4001)).save(big, format="PNG")  # 20.005 MP, a real (and tiny) file
    files = {
        "empty.png": (b"", "image_empty"),
        "notes.txt": (b"this is not an image\n" * 10, "image_not_image"),
        "fake.png": (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "image_not_image"),
        "big.png": (big.getvalue(), "image_too_large"),
        "claims-30mp.png": (png_header(6000, 5000), "image_too_large"),  # refused from the header: no pixels at all
        "claims-100mp.png": (png_header(10_000, 10_000), "image_too_large"),  # past Pillow's warning, under its error
        "bomb.png": (png_header(20_000, 20_000), "image_bomb"),  # Pillow's own decompression-bomb check
        "cut.png": (real[: len(real) // 2], "image_broken"),
    }
    for name, (data, _) in files.items():
        (tmp_path / name).write_bytes(data)
    return {name: (tmp_path / name, code) for name, (_, code) in files.items()}


def test_bad_uploads_are_refused_in_one_line(trained: Path, tmp_path: Path, capsys) -> None:
    assert 5000 * 4001 > MAX_PIXELS >= 5000 * 4000
    for name, (path, code) in bad_files(tmp_path).items():
        err = refused(capsys, "--run-dir", str(trained), "--image-file", str(path))
        assert name in err, err
        with pytest.raises(ProblemsError) as e:
            load_image_file(path.read_bytes(), name)
        assert codes(e) == [code], name
    err = refused(capsys, "--run-dir", str(trained), "--image-file", str(tmp_path / "missing.png"))
    assert "cannot read" in err and "missing.png" in err
    huge_file = tmp_path / "huge.png"
    with open(huge_file, "wb") as f:
        f.truncate(MAX_FILE_BYTES + (10 << 20))  # sparse: takes no disk
    assert "huge.png is 60.0 MiB; an image file may be at most 50.0 MiB" in refused(
        capsys, "--untrained", *SMALL, "--image-file", str(huge_file))
    with pytest.raises(ProblemsError) as e:
        load_image_file(bytes(MAX_FILE_BYTES + 1), "huge.png")
    assert codes(e) == ["image_file_too_large"]
    for not_a_file in (tmp_path, Path("/dev/zero")):  # a folder; a file that never ends
        assert "is not a regular file" in refused(capsys, "--untrained", *SMALL, "--image-file", str(not_a_file))
        with pytest.raises(ProblemsError) as e:
            read_image_file(not_a_file)
        assert codes(e) == ["image_file_not_regular"]


def test_a_huge_image_is_refused_before_its_pixels_are_decoded() -> None:
    """A header claiming 30 MP with no pixel data: decoding it would fail as broken, as the same
    header claiming 20x20 does; it never gets that far."""
    t0 = time.perf_counter()
    with pytest.raises(ProblemsError) as e:
        load_image_file(png_header(6000, 5000), "x.png")
    assert codes(e) == ["image_too_large"] and e.value.problems[0].args["megapixels"] == "30.0"
    assert "6000×5000 pixels (30.0 megapixels); at most 20 megapixels" in str(e.value)
    print(f"refused in {1e3 * (time.perf_counter() - t0):.2f} ms")
    with pytest.raises(ProblemsError) as e:
        load_image_file(png_header(20, 20), "x.png")
    assert codes(e) == ["image_broken"]


def test_bad_image_indices_are_refused(trained: Path, capsys) -> None:
    for index in ("10000", "-1"):
        err = refused(capsys, "--run-dir", str(trained), "--image", index)
        assert f"image index {index} is outside 0..9999" in err
    for index in (10_000, -1, True, 1.5):
        with pytest.raises(ProblemsError) as e:
            load_test_image(index)
        assert codes(e) == ["image_index"]
    assert load_test_image(9999).label is not None


def test_bad_run_folders_are_refused_in_one_line(trained: Path, tmp_path: Path, capsys) -> None:
    no_weights = tmp_path / "no-weights"
    no_weights.mkdir()
    shutil.copy(trained / run_folder.CONFIG, no_weights / run_folder.CONFIG)
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / run_folder.MODEL).write_bytes(b"not a zip file at all" * 100)
    cut = tmp_path / "cut"
    cut.mkdir()
    data = (trained / run_folder.MODEL).read_bytes()
    (cut / run_folder.MODEL).write_bytes(data[: len(data) // 2])
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    torch.save({"format": 99, "state_dict": {}}, foreign / run_folder.MODEL)
    mismatch = tmp_path / "mismatch"
    mismatch.mkdir()
    saved = torch.load(trained / run_folder.MODEL, weights_only=True)
    saved["spec"]["fc_width"] = 128
    torch.save(saved, mismatch / run_folder.MODEL)
    cases = {
        tmp_path / "absent": ("run_dir_missing", "does not exist"),
        no_weights: ("weights_missing", "the run has no weights yet"),
        corrupt: ("weights_unreadable", "cannot be read as PyTorch weights"),
        cut: ("weights_unreadable", "cannot be read as PyTorch weights"),
        foreign: ("weights_foreign", "is not a VGG Explorer model.pt"),
        mismatch: ("weights_mismatch", "do not fit its architecture"),
    }
    for run_dir, (code, words) in cases.items():
        assert words in refused(capsys, "--run-dir", str(run_dir), "--image", "0")
        with pytest.raises(ProblemsError) as e:
            network_for(run_dir)
        assert codes(e) == [code]


def test_flags_that_do_not_fit_are_refused(trained: Path, capsys) -> None:
    assert "apply to --untrained only" in refused(capsys, "--run-dir", str(trained), "--image", "0", "--ratio", "2")
    assert "num_classes must be 10" in refused(capsys, "--untrained", *SMALL, "--num-classes", "5", "--image", "0")
    err = refused(capsys, "--untrained", "--arch", "1x16", "--input-size", "4096", "--fc-width", "65536", "--image", "0")
    assert "needs about 16.0 TiB of memory; at most 4.0 GiB" in err
    assert "one of the arguments --image --image-file is required" in refused(capsys, "--untrained")


# --- the untrained network, the blocks found generically -------------------------------------------

def test_untrained_is_the_network_a_run_with_that_seed_starts_from(capsys) -> None:
    spec = ArchSpec(conv_arch=parse_conv_arch("1x16 1x32"), input_size=28, fc_width=256)
    rng = torch.get_rng_state()
    network = network_for(spec, seed=5)
    assert torch.equal(torch.get_rng_state(), rng)  # the caller's random state is left alone
    torch.manual_seed(5)
    started, _ = prepare_model(spec, TrainSettings(device="cpu"), torch.device("cpu"))
    got = network.model.state_dict()
    assert all(torch.equal(got[k], v) for k, v in started.state_dict().items())
    r = inspect_json(capsys, "--untrained", *SMALL, "--seed", "5", "--image", "0")
    assert r["epoch"] is None and r["seed"] == 5 and "confusion" not in r and len(r["blocks"]) == 2
    probs = look_inside(network.model, spec, load_test_image(0)).probabilities
    assert torch.allclose(torch.tensor(r["probabilities"]), torch.tensor(probs), atol=1e-7)
    assert inspect_json(capsys, "--untrained", *SMALL, "--image", "0")["probabilities"] != r["probabilities"]


def test_blocks_come_from_the_summary_and_large_maps_are_shrunk_to_draw() -> None:
    spec = ArchSpec(conv_arch=parse_conv_arch("1x8 2x16 1x16"), input_size=224, fc_width=16, batch_norm=True)
    assert feature_blocks(spec) == (("block 1", "0", (8, 112, 112)), ("block 2", "1", (16, 56, 56)),
                                    ("block 3", "2", (16, 28, 28)))
    network = network_for(spec, seed=0)
    image = load_test_image(11)
    inside = look_inside(network.model, spec, image, channels=4, max_side=56)
    with torch.no_grad():
        first = network.model[0](to_model_input(image.pixels[None], 224, channels_last=False))[0]
    block = inside.blocks[0]
    assert block.shape == (8, 112, 112) and block.maps.shape == (4, 56, 56) and len(block.channel_means) == 8
    expected = F.adaptive_avg_pool2d(first[list(block.top_channels)], (56, 56))
    assert torch.allclose(block.maps, expected, atol=1e-5)
    assert inside.blocks[1].maps.shape == (4, 56, 56)  # already small enough: kept as is
    assert inside.filters.shape == (8, 1, 3, 3) and inside.model_input.shape == (1, 224, 224)


def test_the_new_texts_exist_in_both_languages_with_the_same_placeholders() -> None:
    en, zh = CORE.texts["en"], CORE.texts["zh"]
    assert set(en) == set(zh)
    assert all(placeholders(en[k]) == placeholders(zh[k]) for k in en)
    mine = [k for k in zh if k.startswith(("refusal.image_", "refusal.inspect_", "image_note.", "refusal.run_dir_missing"))]
    assert len(mine) == 21
    for key in mine:
        text = re.sub(r"\{\w+\}", "X", zh[key])
        assert re.search(r"[\u4e00-\u9fff]", text) and not re.search(r"[,:;()]", text), key
        assert not re.search(r"[\u4e00-\u9fff][A-Za-z0-9X]|[A-Za-z0-9X][\u4e00-\u9fff]", text), key
