"""Fashion-MNIST from local files, checked byte by byte, loaded once as uint8 tensors.

The whole set is 55 MB, so it lives on the training device and batches are cut from it there
(see ``pipeline``): no DataLoader, no per-image decoding. Sources are tried in a fixed order and
a folder the user names is either used or refused, never swapped for another source.
"""

from __future__ import annotations

import contextlib
import gzip
import math
import os
import struct
import sys
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from .problems import ProblemsError, problem

CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
NUM_CLASSES = len(CLASSES)
IMAGE_SIZE = 28
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049  # IDX: unsigned bytes, 3 dims / 1 dim
SPLITS = {"train": 60_000, "t10k": 10_000}
FILES = tuple(f"{split}-{kind}" for split in SPLITS for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"))

DATA_DIR_ENV = "VGG_DATA_DIR"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian package dataset-fashion-mnist
FILES_TEXT = ", ".join(f + "[.gz]" for f in FILES)


class DataError(ProblemsError):
    """The data cannot be used; the message is one line that names the file or the places tried."""


@dataclass(frozen=True)
class FashionMNIST:
    train_images: torch.Tensor  # uint8 [60000, 28, 28]
    train_labels: torch.Tensor  # int64 [60000]
    test_images: torch.Tensor  # uint8 [10000, 28, 28]
    test_labels: torch.Tensor  # int64 [10000]
    source: str  # the folder (or download cache) the files came from

    @property
    def device(self) -> torch.device:
        return self.train_images.device

    def to(self, device: torch.device | str) -> "FashionMNIST":
        return replace(
            self,
            **{k: getattr(self, k).to(device) for k in ("train_images", "train_labels", "test_images", "test_labels")},
        )

    def subset(self, max_train: int | None = None, max_test: int | None = None) -> "FashionMNIST":
        """The first examples of each split: a fixed subset for quick demos (the files are already shuffled)."""
        return replace(
            self,
            train_images=self.train_images[:max_train], train_labels=self.train_labels[:max_train],
            test_images=self.test_images[:max_test], test_labels=self.test_labels[:max_test],
        )


def load_fashion_mnist(data_dir: str | os.PathLike | None = None, device: torch.device | str = "cpu") -> FashionMNIST:
    """Find, check and load the four files: ``data_dir``, else $VGG_DATA_DIR, else Debian's copy,
    else a torchvision download into the cache folder. Raises ``DataError`` (one line)."""
    files, source = locate(data_dir)
    return _load(files, source).to(device)


def locate(data_dir: str | os.PathLike | None = None) -> tuple[dict[str, Path], str]:
    """(the four files by name, where they came from), in ``load_fashion_mnist``'s order."""
    named = data_dir if data_dir not in (None, "") else os.environ.get(DATA_DIR_ENV) or None
    if named is not None:
        how = "--data-dir" if data_dir not in (None, "") else DATA_DIR_ENV
        folder = Path(named).expanduser()
        files = find_files(folder)
        if files is None:
            raise DataError(problem("data_named_missing", folder=str(folder), how=how, files=FILES_TEXT))
        return files, str(folder)

    files = find_files(DEBIAN_DIR)
    if files is not None:
        return files, str(DEBIAN_DIR)
    tried = [problem("data_place_absent", place=str(DEBIAN_DIR))]
    try:
        files = find_files(cache_dir())
    except DataError:  # an interrupted download: torchvision fetches what is missing
        files = None
    if files is not None:
        return files, str(cache_dir())
    tried.append(problem("data_place_absent", place=str(cache_dir())))
    try:
        folder = _download(cache_dir())
    except Exception as e:  # noqa: BLE001 - any download failure ends in the one message below
        reason = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        tried.append(problem("data_download_failed", place=str(cache_dir()), why=reason))
    else:
        files = find_files(folder)
        if files is not None:
            return files, f"{folder} (downloaded)"
        tried.append(problem("data_download_empty", place=str(cache_dir())))
    fix = problem("data_fix", env=DATA_DIR_ENV, files=FILES_TEXT)
    raise DataError(problem("data_not_found", tried=tuple(tried), fix=fix))


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vgg-explorer"


def find_files(folder: Path) -> dict[str, Path] | None:
    """The four files in ``folder`` or its torchvision ``FashionMNIST/raw`` (or ``raw``) subfolder.

    Returns None when none of them is in any candidate folder; a folder holding only some of
    them is refused by name, as is one that is not a folder at all.
    """
    if folder.exists() and not folder.is_dir():
        raise DataError(problem("data_not_folder", path=str(folder)))
    for candidate in (folder, folder / "FashionMNIST" / "raw", folder / "raw"):
        found = {name: _pick(candidate, name) for name in FILES}
        present = {k: v for k, v in found.items() if v is not None}
        if len(present) == len(FILES):
            return present
        if present:
            missing = [name for name in FILES if name not in present]
            raise DataError(problem("data_partial", path=str(candidate), files=", ".join(m + "[.gz]" for m in missing)))
    return None


def _pick(folder: Path, name: str) -> Path | None:
    for path in (folder / name, folder / f"{name}.gz"):
        if path.is_file():
            return path
    return None


def _load(files: dict[str, Path], source: str) -> FashionMNIST:
    tensors = {}
    for split, count in SPLITS.items():
        images = read_idx(files[f"{split}-images-idx3-ubyte"], IMAGE_MAGIC, (count, IMAGE_SIZE, IMAGE_SIZE))
        labels = read_idx(files[f"{split}-labels-idx1-ubyte"], LABEL_MAGIC, (count,))
        bad = int((labels >= NUM_CLASSES).sum())
        if bad:
            path = files[f"{split}-labels-idx1-ubyte"]
            raise DataError(problem("data_bad_labels", path=str(path), bad=bad, most=NUM_CLASSES - 1))
        tensors[split] = (images, labels.long())
    return FashionMNIST(*tensors["train"], *tensors["t10k"], source=source)


def read_idx(path: Path, magic: int, shape: tuple[int, ...]) -> torch.Tensor:
    """Read one IDX file (gzipped or not) as uint8, refusing anything but exactly ``shape``.

    Never reads past the size the shape implies (plus one byte to tell "longer" apart), so a small
    gzip that expands to gigabytes is refused after reading what a real file holds.
    """
    header_len = 4 + 4 * len(shape)
    expected = header_len + math.prod(shape)
    raw = _read_at_most(path, expected + 1)
    if len(raw) < header_len:
        raise DataError(problem("data_header_short", path=str(path), size=len(raw), header=header_len))
    found_magic = struct.unpack(">i", raw[:4])[0]
    if found_magic != magic:
        kind = "image" if magic == IMAGE_MAGIC else "label"
        raise DataError(problem("data_bad_magic", path=str(path), kind=kind, found=found_magic, want=magic))
    dims = struct.unpack(f">{len(shape)}i", raw[4:header_len])
    if dims != shape:
        raise DataError(problem("data_bad_shape", path=str(path), found=str(list(dims)), want=str(list(shape))))
    if len(raw) != expected:
        code = "data_truncated" if len(raw) < expected else "data_too_long"
        size = len(raw) if len(raw) < expected else _full_size(path, len(raw))
        raise DataError(problem(code, path=str(path), size=size, want=expected))
    return torch.frombuffer(bytearray(raw[header_len:]), dtype=torch.uint8).view(shape)


def _read_at_most(path: Path, limit: int) -> bytes:
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
            return f.read(limit)
    except EOFError:
        raise DataError(problem("data_gzip_truncated", path=str(path))) from None
    except (OSError, zlib.error) as e:
        raise DataError(problem("data_unreadable", path=str(path), why=str(e))) from None


def _full_size(path: Path, read: int) -> str:
    """The size on disk of an over-long file: a plain file's is known; a gzip's is not read out."""
    return str(path.stat().st_size) if path.suffix != ".gz" else f"over {read - 1}"


def _download(root: Path) -> Path:
    """torchvision's own download, into the cache; its chatter goes to stderr, not our stdout."""
    from torchvision.datasets import FashionMNIST as TorchvisionFashionMNIST

    root.mkdir(parents=True, exist_ok=True)
    with contextlib.redirect_stdout(sys.stderr):
        for train in (True, False):
            TorchvisionFashionMNIST(str(root), train=train, download=True)
    return root
