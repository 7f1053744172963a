"""What the Inside page looks at: a network, an image, and one image's view through the network.

The network is a run's own (``inspect.network_for``: loaded on the CPU, kept by the core while its
model.pt stays the same file) or the current architecture untrained, which the session holds, one
at a time (shared with sessions asking for the same one). Views are cached server-wide (``st.cache_data``) by what decides them:
the weights (the model.pt's identity, or the spec and seed) and the image's 28x28 pixels, so going
back to an image costs no forward pass. Nothing uploaded is written anywhere: an upload is prepared
from its bytes in memory.
"""

from __future__ import annotations

import io
import json

import numpy as np
import streamlit as st
import torch
from PIL import Image

from vgg_core.data import CLASSES
from vgg_core.images import PreparedImage, load_image_file, load_test_image
from vgg_core.inspect import Inside, Network, RunErrors, look_inside, network_for, run_errors, untrained_network
from vgg_core.run_folder import MODEL, PREDICTIONS, run_file
from vgg_core.runs import RunRecord
from vgg_core.spec import ArchSpec

from . import session
from .inside_state import HELD, UNTRAINED, HeldNetwork

GALLERY_PER_CLASS = 3
THUMB_PX = 56  # a 28x28 image at twice its size, every pixel a 2x2 square
INPUT_PX = 224  # the model input is drawn at least this large


# --- the network ----------------------------------------------------------------------------------

def inspectable(records: list[RunRecord]) -> list[RunRecord]:
    """Runs to choose from: readable ones that have started (a run without weights yet says so)."""
    return [r for r in records if not r.unreadable and r.state.state != "queued"]


def has_weights(record: RunRecord) -> bool:
    return run_file(record.path, MODEL) is not None


def default_choice(records: list[RunRecord]) -> str:
    """The newest run with weights, else the untrained network."""
    return next((r.run_id for r in records if has_weights(r)), UNTRAINED)


def run_network(record: RunRecord) -> Network:
    """The run's weights on the CPU; raises WeightsError / InspectError with one line."""
    return network_for(record.path)


@st.cache_resource(max_entries=2, show_spinner=False)
def _shared_untrained(spec_json: str, seed: int) -> Network:
    return untrained_network(ArchSpec.from_dict(json.loads(spec_json)), seed)


def untrained(spec: ArchSpec, seed: int) -> Network:
    """The untrained network this session holds (one at most: another spec or seed replaces it).

    Sessions asking for the same spec and seed share one object (a class looking at the same run's
    starting network holds it once, not once per student); a network is never trained or changed
    here, as ``inspect.network_for``'s run networks are shared. Raises InspectError / SpecError.
    """
    held = session.typed(HELD, HeldNetwork)
    if held.key != (spec, seed):
        held.key, held.network = None, None
        held.network = _shared_untrained(json.dumps(spec.to_dict(), sort_keys=True), seed)
        held.key = (spec, seed)
    assert held.network is not None
    return held.network


def weights_key(network: Network) -> tuple:
    """What decides a network's answers: its model.pt as a file (a live run replaces it every epoch),
    or the spec and seed it was initialised from."""
    if network.run_dir is None:
        return (UNTRAINED, json.dumps(network.spec.to_dict(), sort_keys=True), network.seed)
    path = run_file(network.run_dir, MODEL)
    stat = path.stat() if path is not None else None
    return (str(network.run_dir), stat and (stat.st_ino, stat.st_size, stat.st_mtime_ns), network.epoch)


# --- the image ------------------------------------------------------------------------------------

@st.cache_data(max_entries=8, show_spinner=False)
def _upload(data: bytes, name: str) -> PreparedImage:
    return load_image_file(data, name)


def uploaded_image(data: bytes, name: str) -> PreparedImage:
    """An upload as Fashion-MNIST would hold it; raises ImageError with one line."""
    return _upload(data, name)


def test_image(index: int) -> PreparedImage:
    """Raises ImageError (index outside 0..9999) or DataError (no test set here)."""
    return load_test_image(index)


@st.cache_data(show_spinner=False)
def gallery(per_class: int = GALLERY_PER_CLASS) -> tuple[tuple[int, int], ...]:
    """(index, label) of the first ``per_class`` test images of every class, class by class."""
    found: dict[int, list[int]] = {c: [] for c in range(len(CLASSES))}
    index = 0
    while any(len(v) < per_class for v in found.values()) and index < 10_000:
        label = load_test_image(index).label
        if label is not None and len(found[label]) < per_class:
            found[label].append(index)
        index += 1
    return tuple((i, c) for c in found for i in found[c])


@st.cache_data(max_entries=512, show_spinner=False)
def thumbnail(index: int, px: int = THUMB_PX) -> bytes:
    """Test image ``index`` enlarged with square pixels (no smoothing: the class sees the real
    pixels), as PNG bytes, made once: the page draws 50 of them on every rerun."""
    pixels = load_test_image(index).pixels
    buf = io.BytesIO()
    Image.fromarray(pixels.numpy()).resize((px, px), Image.Resampling.NEAREST).save(buf, format="PNG")
    return buf.getvalue()


def input_picture(model_input: torch.Tensor) -> Image.Image:
    """The network's input [C, S, S] in [0, 1] as a picture (the channels' mean for C > 1), enlarged
    to at least ``INPUT_PX`` with square pixels."""
    grey = model_input.float().mean(dim=0).clamp(0, 1).mul(255).round().to(torch.uint8).numpy()
    side = grey.shape[-1]
    scale = max(1, -(-INPUT_PX // side))
    return Image.fromarray(grey).resize((side * scale, side * scale), Image.Resampling.NEAREST)


# --- views ------------------------------------------------------------------------------------------

@st.cache_data(max_entries=32, show_spinner=False)
def _view(weights: tuple, pixels: bytes, _network: Network, _image: PreparedImage) -> Inside:
    return look_inside(_network.model, _network.spec, _image)


def view(network: Network, image: PreparedImage) -> Inside:
    """``look_inside`` of the image, computed once per weights and image."""
    return _view(weights_key(network), image.pixels.numpy().tobytes(), network, image)


@st.cache_data(max_entries=16, show_spinner=False)
def _errors(run_dir: str, file_key: tuple) -> RunErrors:
    return run_errors(run_dir)


def errors_of(record: RunRecord) -> RunErrors:
    """The run's test-set mistakes, read again only when predictions.npz changes; raises
    PredictionsError (one line) while the run has none."""
    path = run_file(record.path, PREDICTIONS)
    if path is None:
        return run_errors(record.path)  # names what is missing
    s = path.stat()
    return _errors(str(record.path), (s.st_ino, s.st_size, s.st_mtime_ns))


def finite(inside: Inside) -> bool:
    """False for the weights of a run that diverged (NaN or infinite probabilities)."""
    return bool(np.isfinite(np.asarray(inside.probabilities)).all())
