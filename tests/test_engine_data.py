"""Fashion-MNIST loading and the on-device input pipeline, on the real files Debian installs."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image
from torchvision import transforms

from vgg_core import data as data_mod
from vgg_core.data import DEBIAN_DIR, FILES, DataError, load_fashion_mnist
from vgg_core.pipeline import epoch_batches, num_batches, to_model_input

pytestmark = pytest.mark.skipif(not DEBIAN_DIR.is_dir(), reason="needs Debian's dataset-fashion-mnist (see .ci/run)")


@pytest.fixture(scope="module")
def fmnist() -> data_mod.FashionMNIST:
    return load_fashion_mnist(DEBIAN_DIR)


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(data_mod.DATA_DIR_ENV, raising=False)


def _copy_gz(dst: Path) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copy(DEBIAN_DIR / f"{name}.gz", dst / f"{name}.gz")
    return dst


def test_finds_debian_files_unprompted(no_env: None) -> None:
    d = load_fashion_mnist()
    assert d.source == str(DEBIAN_DIR)
    assert d.train_images.shape == (60000, 28, 28) and d.train_images.dtype == torch.uint8
    assert d.test_images.shape == (10000, 28, 28) and d.test_images.dtype == torch.uint8
    assert d.train_labels.dtype == torch.int64 and d.train_labels.shape == (60000,)
    # The real set: 6,000 / 1,000 of each class, and real pictures, not blank ones.
    assert d.train_labels.bincount().tolist() == [6000] * 10
    assert d.test_labels.bincount().tolist() == [1000] * 10
    assert 60 < d.train_images.float().mean() < 90


def test_truncated_file_is_refused_by_name(tmp_path: Path, no_env: None) -> None:
    folder = _copy_gz(tmp_path / "fm")
    victim = folder / "train-images-idx3-ubyte.gz"
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz is truncated"):
        load_fashion_mnist(folder)


def test_short_uncompressed_file_is_refused_by_name(tmp_path: Path) -> None:
    raw = tmp_path / "root" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in FILES:
        with gzip.open(DEBIAN_DIR / f"{name}.gz") as src:
            (raw / name).write_bytes(src.read())
    labels = raw / "t10k-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-1])
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte is truncated: 10007 bytes, expected 10008"):
        load_fashion_mnist(tmp_path / "root")


def test_wrong_magic_is_refused(tmp_path: Path) -> None:
    folder = _copy_gz(tmp_path / "fm")
    # Swap a label file in for an image file: a valid gzip, the wrong IDX magic.
    shutil.copy(folder / "t10k-labels-idx1-ubyte.gz", folder / "t10k-images-idx3-ubyte.gz")
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz is not an IDX image file: magic number 2049, expected 2051"):
        load_fashion_mnist(folder)


def test_corrupt_gzip_is_refused_by_name(tmp_path: Path) -> None:
    folder = _copy_gz(tmp_path / "fm")
    victim = folder / "train-labels-idx1-ubyte.gz"
    blob = bytearray(victim.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    victim.write_bytes(bytes(blob))
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz"):
        load_fashion_mnist(folder)


def test_torchvision_raw_layout_unzipped_is_accepted(tmp_path: Path, fmnist: data_mod.FashionMNIST) -> None:
    raw = tmp_path / "root" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in FILES:
        with gzip.open(DEBIAN_DIR / f"{name}.gz") as src, open(raw / name, "wb") as dst:
            shutil.copyfileobj(src, dst)
    d = load_fashion_mnist(tmp_path / "root")
    assert d.source == str(tmp_path / "root")
    assert torch.equal(d.train_images, fmnist.train_images) and torch.equal(d.test_labels, fmnist.test_labels)


def test_named_empty_folder_is_refused_not_replaced(tmp_path: Path, no_env: None) -> None:
    with pytest.raises(DataError, match=rf"not found in {tmp_path} \(named by --data-dir\)"):
        load_fashion_mnist(tmp_path)


def test_env_folder_is_used_or_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(data_mod.DATA_DIR_ENV, str(tmp_path / "missing"))
    with pytest.raises(DataError, match=r"named by VGG_DATA_DIR"):
        load_fashion_mnist()
    monkeypatch.setenv(data_mod.DATA_DIR_ENV, str(_copy_gz(tmp_path / "fm")))
    assert load_fashion_mnist().source == str(tmp_path / "fm")


def test_partial_folder_names_missing_files(tmp_path: Path) -> None:
    folder = _copy_gz(tmp_path / "fm")
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"holds only part of Fashion-MNIST: missing t10k-labels-idx1-ubyte"):
        load_fashion_mnist(folder)


@pytest.mark.timeout(120)
def test_nothing_found_lists_every_place_tried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_env: None) -> None:
    # Debian's copy "not installed", an empty cache, and torchvision's real download, which has no
    # network on this machine (the proxy below makes that so on any machine).
    monkeypatch.setattr(data_mod, "DEBIAN_DIR", tmp_path / "not-installed")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    with pytest.raises(DataError) as err:
        load_fashion_mnist()
    msg = str(err.value)
    assert "\n" not in msg
    assert str(tmp_path / "not-installed") in msg
    assert str(tmp_path / "cache" / "vgg-explorer") in msg
    assert "download into" in msg and "failed" in msg
    assert "apt-get install dataset-fashion-mnist" in msg and "--data-dir" in msg


def test_resize_matches_d2l_transforms(fmnist: data_mod.FashionMNIST) -> None:
    """Our batch resize against d2l's Resize + ToTensor on PIL images: within PIL's 8-bit rounding."""
    images = fmnist.test_images[:32]
    for size in (224, 96, 16):
        trans = transforms.Compose([transforms.Resize(size), transforms.ToTensor()])
        ref = torch.stack([trans(Image.fromarray(im.numpy(), mode="L")) for im in images])
        ours = to_model_input(images, size, channels_last=False)
        assert ours.shape == ref.shape == (32, 1, size, size)
        assert (ours - ref).abs().max().item() <= 1 / 255 + 1e-6
        assert (ours - ref).abs().mean().item() < 0.25 / 255
    x28 = to_model_input(images, 28)
    assert torch.allclose(x28[:, 0], images.float() / 255)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the restriding is for cuDNN")
def test_one_channel_input_is_unambiguously_channels_last(fmnist: data_mod.FashionMNIST) -> None:
    """With one channel NCHW and NHWC strides describe the same bytes; ours must read as NHWC, or the
    first conv runs NCHW and cuDNN converts layouts twice a step."""
    images = fmnist.test_images[:4].cuda()
    x = to_model_input(images, 224)
    assert x.stride() == (224 * 224, 1, 224, 1)
    assert torch.equal(x, to_model_input(images, 224, channels_last=False))
    conv = torch.nn.Conv2d(1, 4, 3, padding=1).cuda().to(memory_format=torch.channels_last)
    assert conv(x).is_contiguous(memory_format=torch.channels_last)


def test_multi_channel_input_repeats_grey(fmnist: data_mod.FashionMNIST) -> None:
    x = to_model_input(fmnist.test_images[:4], 32, channels=3)
    assert x.shape == (4, 3, 32, 32) and x.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2])


def test_epoch_batches_cover_every_example_once(fmnist: data_mod.FashionMNIST) -> None:
    labels = torch.arange(1000)
    images = fmnist.train_images[:1000]
    gen = torch.Generator().manual_seed(0)
    batches = list(epoch_batches(images, labels, 128, gen))
    assert len(batches) == num_batches(1000, 128) == 8
    assert [b[1].shape[0] for b in batches] == [128] * 7 + [104]  # the last one partial, as d2l's DataLoader
    seen = torch.cat([b[1] for b in batches])
    assert sorted(seen.tolist()) == list(range(1000)) and seen.tolist() != list(range(1000))
    for xb, yb in batches[:2]:
        assert torch.equal(xb, images[yb])
    in_order = torch.cat([b[1] for b in epoch_batches(images, labels, 300, shuffle=False)])
    assert in_order.tolist() == list(range(1000))
