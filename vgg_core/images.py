"""The image to look inside a network with: a Fashion-MNIST test image, or a picture a person uploads.

A test image is read from the original ``t10k-images-idx3-ubyte`` file, found as training finds it
(``data.locate``), so its index means the same in a run's predictions, on the page and in the CLI.

An upload is untrusted bytes, handled in memory and never written anywhere. It is refused in one
line when it is empty, not an image Pillow reads here, or over 20 megapixels, the size read from
the header before a single pixel is decoded (Pillow's own decompression-bomb check is kept as a
second guard). Then it is made to look like Fashion-MNIST: one grey channel, padded to a square
with its own background, inverted when that background is light (Fashion-MNIST is a light object
on black), 28x28. Each step is kept as a ``Note``, data like a refusal, so the page says what was
done in either language.
"""

from __future__ import annotations

import io
import os
import stat
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageOps

from .data import IMAGE_MAGIC, IMAGE_SIZE, LABEL_MAGIC, SPLITS, locate, read_idx
from .locale import CORE, Catalog
from .problems import ProblemsError, problem
from .report import human_bytes

MAX_PIXELS = 20_000_000  # a 20-megapixel photo decodes to 60 MB of RGB; far beyond is not a picture to look at
MAX_FILE_BYTES = 50 << 20
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")  # plain decoders only (no PostScript, no plugins that run tools)
TEST_IMAGES = SPLITS["t10k"]
NOTE_PREFIX = "image_note."
_LIGHT = 128  # a background at this grey level or above counts as light


class ImageError(ProblemsError):
    """An image index or file that cannot be looked at."""


@dataclass(frozen=True)
class Note:
    """One thing done to an uploaded image, rendered only when shown: ``image_note.<code>``."""

    code: str
    params: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if not CORE.has(NOTE_PREFIX + self.code):
            raise KeyError(f"no text for image note {self.code!r}")

    def render(self, lang: str = "en", catalog: Catalog = CORE) -> str:
        return catalog.text(lang, NOTE_PREFIX + self.code, **dict(self.params))

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "params": dict(self.params), "text": self.render("en")}


def note(code: str, **params: Any) -> Note:
    return Note(code, tuple(params.items()))


@dataclass(frozen=True)
class PreparedImage:
    """A 28x28 grey image as Fashion-MNIST stores it (uint8, light object on black), ready for
    ``pipeline.to_model_input``."""

    pixels: torch.Tensor  # uint8 [28, 28]
    index: int | None = None  # the test image's place in t10k-images-idx3-ubyte
    label: int | None = None  # its true class; None for a file
    name: str | None = None  # the uploaded file's name
    inverted: bool | None = None  # None for a test image (nothing done to it)
    notes: tuple[Note, ...] = ()

    @property
    def source(self) -> int | str:
        """What the JSON calls ``image``: the index, or the file's name."""
        return self.index if self.index is not None else (self.name or "")


# --- Fashion-MNIST's test images ------------------------------------------------------------------

def load_test_image(index: int, data_dir: str | os.PathLike | None = None) -> PreparedImage:
    """The ``index``-th image (0-based) of the test set, with its label; raises ImageError or DataError."""
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < TEST_IMAGES:
        raise ImageError(problem("image_index", got=str(index)[:40], most=TEST_IMAGES - 1, n=TEST_IMAGES))
    files, _ = locate(data_dir)
    images, labels = _test_set(_file_key(files["t10k-images-idx3-ubyte"]), _file_key(files["t10k-labels-idx1-ubyte"]))
    return PreparedImage(images[index].clone(), index=index, label=int(labels[index]))


def _file_key(path: Path) -> tuple[str, int, int, int]:
    """The file and its identity now: a replaced file is read again, an unchanged one is not."""
    s = path.stat()
    return str(path), s.st_ino, s.st_size, s.st_mtime_ns


@lru_cache(maxsize=2)
def _test_set(images_key: tuple, labels_key: tuple) -> tuple[torch.Tensor, torch.Tensor]:
    """The 10,000 test images (7.8 MB) and labels, read and checked once per file version."""
    images = read_idx(Path(images_key[0]), IMAGE_MAGIC, (TEST_IMAGES, IMAGE_SIZE, IMAGE_SIZE))
    labels = read_idx(Path(labels_key[0]), LABEL_MAGIC, (TEST_IMAGES,))
    return images, labels.long()


# --- an uploaded file ---------------------------------------------------------------------------

def load_image_file(data: bytes, name: str) -> PreparedImage:
    """An uploaded PNG/JPEG (or GIF, BMP, WebP) as Fashion-MNIST would hold it; raises ImageError."""
    name = str(name)[:200] or "image"
    if not data:
        raise ImageError(problem("image_empty", name=name))
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(problem("image_file_too_large", name=name, size=human_bytes(len(data)),
                                 most=human_bytes(MAX_FILE_BYTES)))
    im = _open_header(data, name)
    width, height = im.size
    if width * height > MAX_PIXELS:
        raise ImageError(problem("image_too_large", name=name, width=width, height=height,
                                 megapixels=f"{width * height / 1e6:.1f}", most=MAX_PIXELS // 1_000_000))
    notes = [note("format", format=im.format, width=width, height=height)]
    try:
        grey = _to_grey(im, notes)
    except Exception as e:  # noqa: BLE001 - a broken file fails in many ways inside Pillow; each is one refusal
        raise ImageError(problem("image_broken", name=name, why=_why(e))) from None
    pixels, inverted = _like_fashion_mnist(grey, notes)
    return PreparedImage(pixels, name=name, inverted=inverted, notes=tuple(notes))


def read_image_file(path: str | os.PathLike) -> PreparedImage:
    """A file named on the command line: its bytes read into memory, then as an upload."""
    path = Path(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a folder, a FIFO, /dev/zero: nothing to read to the end
            raise ImageError(problem("image_file_not_regular", path=str(path)))
        if info.st_size > MAX_FILE_BYTES:
            raise ImageError(problem("image_file_too_large", name=path.name, size=human_bytes(info.st_size),
                                     most=human_bytes(MAX_FILE_BYTES)))
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise ImageError(problem("image_file_unreadable", path=str(path), why=e.strerror or type(e).__name__)) from None
    return load_image_file(data, path.name)


def _open_header(data: bytes, name: str) -> Image.Image:
    """Pillow reads the header only; the pixels are decoded later, once the size is known to be sane."""
    try:
        with warnings.catch_warnings():  # 89-179 MP warns; it is refused below on our own, lower limit
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError:
        raise ImageError(problem("image_bomb", name=name, limit=2 * (Image.MAX_IMAGE_PIXELS or 0) // 1_000_000,
                                 most=MAX_PIXELS // 1_000_000)) from None
    except Exception:  # noqa: BLE001 - UnidentifiedImageError, or a header so broken a plugin trips on it
        raise ImageError(problem("image_not_image", name=name, formats=", ".join(FORMATS))) from None


def _to_grey(im: Image.Image, notes: list[Note]) -> Image.Image:
    """Decode (a large JPEG at a reduced scale, still 8x the final side), turn it upright, fill
    transparency so the object stands out, and keep one grey channel."""
    mode = im.mode
    if im.format == "JPEG":
        im.draft("L", (IMAGE_SIZE * 8, IMAGE_SIZE * 8))
    im.load()
    if im.getexif().get(0x0112, 1) != 1:
        im = ImageOps.exif_transpose(im)
        notes.append(note("exif_rotated"))
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = _fill_transparency(im.convert("LA"), notes)
    elif im.mode == "I" or im.mode.startswith("I;16"):  # 16-bit grey: scaled, where convert() would clip
        im = im.convert("I").point(lambda v: v / 257).convert("L")
    elif im.mode != "L":
        im = im.convert("L")
    if mode != "L":
        notes.append(note("grey", mode=mode))
    return im


def _fill_transparency(im: Image.Image, notes: list[Note]) -> Image.Image:
    """Fill transparent areas white behind a dark object, black behind a light one."""
    grey, alpha = (torch.frombuffer(bytearray(band.tobytes()), dtype=torch.uint8).float() for band in im.split())
    weight = alpha.sum()
    dark = weight == 0 or float((grey * alpha).sum() / weight) < _LIGHT
    fill = 255 if dark else 0
    notes.append(note("transparent_white" if dark else "transparent_black"))
    background = Image.new("L", im.size, fill)
    background.paste(im.getchannel("L"), mask=im.getchannel("A"))
    return background


def _like_fashion_mnist(grey: Image.Image, notes: list[Note]) -> tuple[torch.Tensor, bool]:
    """Pad to a square with the border's grey level, invert a light background, resize to 28x28."""
    width, height = grey.size
    pixels = torch.frombuffer(bytearray(grey.tobytes()), dtype=torch.uint8).view(height, width)
    border = torch.cat([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    level = int(border.float().median())
    side = max(width, height)
    if width != height:
        square = Image.new("L", (side, side), level)
        square.paste(grey, ((side - width) // 2, (side - height) // 2))
        grey = square
        notes.append(note("padded", level=level))
    inverted = level >= _LIGHT
    if inverted:
        grey = ImageOps.invert(grey)
    notes.append(note("inverted" if inverted else "kept_dark", level=level))
    if side != IMAGE_SIZE:
        grey = grey.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
        notes.append(note("resized", size=IMAGE_SIZE))
    out = torch.frombuffer(bytearray(grey.tobytes()), dtype=torch.uint8).view(IMAGE_SIZE, IMAGE_SIZE)
    return out, inverted


def _why(e: Exception) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text[:199] + "…" if len(text) > 200 else text


__all__ = [
    "ImageError", "Note", "PreparedImage", "load_test_image", "load_image_file", "read_image_file",
    "MAX_PIXELS", "MAX_FILE_BYTES", "FORMATS",
]
