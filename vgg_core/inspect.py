"""What a network sees and what it gets wrong: one image through the real forward pass, and the
test-set mistakes of a run's last evaluation.

``network_for`` gives the network to look inside: a run's own ``model.pt`` (checked by
``weights.load_run_weights``) or, for a spec, the untrained network with d2l's Xavier init from a
seed. ``look_inside`` runs one ``images.PreparedImage`` through it as training does (the same
``pipeline.to_model_input``, eval mode, on the CPU) and keeps what forward hooks saw at the end of
every feature block: small maps of the most active channels to draw, and figures that sum each
block up. The blocks are found from the summary's block labels, not from VGG's layout, so any
family ``summary`` can label works. ``run_errors`` reads ``predictions.npz`` (no forward pass):
the confusion matrix, per-class accuracy and the most confident mistakes, by test-image index.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import CLASSES, NUM_CLASSES
from .images import PreparedImage
from .model import build_model, init_xavier
from .pipeline import to_model_input
from .predictions import Predictions, load_predictions
from .problems import ProblemsError, problem
from .report import human_bytes
from .run_folder import MODEL
from .spec import ArchSpec
from .summary import CLASSIFIER, Summary, summarize
from .weights import load_run_weights

MAX_BYTES = 4 << 30  # weights plus one image's activations, for a network built on request
CHANNELS_SHOWN = 16  # maps kept per block: the page draws 8-16
MAX_MAP_SIDE = 56  # larger maps are shrunk (area average) to this side for drawing
TOP_WRONG = 20
_CACHED_NETWORKS = 2  # d2l's training net is 172 MB of weights
_forward_lock = threading.Lock()  # hooks on a shared model: one look at a time
_cache_lock = threading.Lock()
_networks: OrderedDict[tuple, "Network"] = OrderedDict()


class InspectError(ProblemsError):
    """A network that cannot be looked inside."""


# --- the network -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Network:
    """A network to look inside, in eval mode on the CPU. Shared between callers: never train it."""

    model: nn.Module
    spec: ArchSpec
    epoch: int | None  # of the run's weights; None for an untrained network
    run_dir: Path | None = None
    seed: int | None = None  # the init's seed, for an untrained network
    extra: dict[str, Any] = field(default_factory=dict)  # model.pt's figures: test_acc, steps ...


def network_for(source: str | os.PathLike | ArchSpec, seed: int = 0) -> Network:
    """A run folder's network with its saved weights, or an untrained spec with d2l's init.

    A run's network is kept while its model.pt stays the same file (a live run replaces it after
    every epoch, and is read again then). Raises WeightsError, InspectError or SpecError.
    """
    if isinstance(source, ArchSpec):
        return untrained_network(source, seed)
    run_dir = Path(source)
    if not run_dir.is_dir():
        raise InspectError(problem("run_dir_missing", path=str(run_dir)))
    try:
        s = (run_dir / MODEL).stat()
        key = (str(run_dir.resolve()), s.st_ino, s.st_size, s.st_mtime_ns)
    except OSError:
        key = None  # load_run_weights names what is missing
    with _cache_lock:
        if key in _networks:
            _networks.move_to_end(key)
            return _networks[key]
    weights = load_run_weights(run_dir)
    check_inspectable(weights.spec, building=False)
    epoch = weights.extra.get("epoch")
    network = Network(weights.model(), weights.spec, epoch if isinstance(epoch, int) else None, run_dir,
                      extra=weights.extra)
    if key is not None:
        with _cache_lock:
            _networks[key] = network
            while len(_networks) > _CACHED_NETWORKS:
                _networks.popitem(last=False)
    return network


def untrained_network(spec: ArchSpec, seed: int = 0) -> Network:
    """The network a run with ``seed`` starts from: ``torch.manual_seed(seed)``, then d2l's layout
    and Xavier init, as ``train.prepare_model`` does; the process's own random state is left as it was."""
    check_inspectable(spec, building=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = init_xavier(build_model(spec))
    return Network(model.eval(), spec, None, seed=seed)


def check_inspectable(spec: ArchSpec, building: bool) -> None:
    """Fashion-MNIST's 10 classes; and a network built on request must fit in ``MAX_BYTES``."""
    if spec.num_classes != NUM_CLASSES:
        raise InspectError(problem("inspect_num_classes", n=NUM_CLASSES, got=spec.num_classes))
    if building:
        s = summary_of(spec)
        need = s.param_bytes + s.activation_bytes
        if need > MAX_BYTES:
            raise InspectError(problem("inspect_too_big", need=human_bytes(need), most=human_bytes(MAX_BYTES)))


@lru_cache(maxsize=32)
def summary_of(spec: ArchSpec) -> Summary:
    return summarize(spec)


def feature_blocks(spec: ArchSpec) -> tuple[tuple[str, str, tuple[int, ...]], ...]:
    """(label, top-level module, output shape [C, H, W]) of each feature block, in order.

    A block's output is that of the last top-level module holding one of its layers: in d2l's VGG
    the block's own ``Sequential`` (ending in its pool); in a flat layout, the block's last layer.
    """
    summary = summary_of(spec)
    found = []
    for row in summary.blocks:
        if row.block == CLASSIFIER:
            continue
        tops = [layer.name.split(".")[0] for layer in summary.layers if layer.block == row.block]
        found.append((row.block, tops[-1], tuple(row.output_shape[1:])))
    return tuple(found)


# --- one image through it ----------------------------------------------------------------------------

@dataclass(frozen=True)
class BlockView:
    """What one feature block made of the image, summed up, plus the maps to draw."""

    index: int  # 1-based, in forward order
    name: str  # the summary's label: "block 1"
    module: str  # the top-level module whose output this is, e.g. "0"
    shape: tuple[int, ...]  # [C, H, W] after the block (its pool included)
    mean: float
    max: float
    positive_fraction: float  # of all activations in the block's output
    top_channels: tuple[int, ...]  # channel indices, most active (highest mean) first
    channel_means: tuple[float, ...]  # every channel's mean activation, by channel index
    maps: torch.Tensor = field(repr=False)  # float32 [len(top_channels), h, w], h, w <= MAX_MAP_SIDE

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "name": self.name, "module": self.module, "shape": list(self.shape),
                "mean": finite(self.mean), "max": finite(self.max), "positive_fraction": self.positive_fraction,
                "top_channels": list(self.top_channels)}


@dataclass(frozen=True)
class Inside:
    """One image through the network: the answer, and what each block saw on the way."""

    probabilities: tuple[float, ...]  # softmax over the classes, sums to 1
    predicted: int
    classes: tuple[str, ...]
    blocks: tuple[BlockView, ...]
    filters: torch.Tensor = field(repr=False)  # the first conv's weights [out, in, k, k]
    model_input: torch.Tensor = field(repr=False)  # what the network was given [C, S, S], in [0, 1]

    def to_dict(self) -> dict[str, Any]:
        return {"probabilities": [finite(p) for p in self.probabilities], "predicted": self.predicted,
                "classes": list(self.classes), "blocks": [b.to_dict() for b in self.blocks]}


def look_inside(model: nn.Module, spec: ArchSpec, image: PreparedImage | torch.Tensor, *,
                channels: int = CHANNELS_SHOWN, max_side: int = MAX_MAP_SIDE) -> Inside:
    """Run ``image`` (uint8 [H, W], as Fashion-MNIST stores it) through ``model`` as training's
    evaluation does, keeping each feature block's output with a forward hook."""
    pixels = image.pixels if isinstance(image, PreparedImage) else image
    x = to_model_input(pixels.reshape(1, *pixels.shape[-2:]), spec.input_size, spec.in_channels)
    blocks = feature_blocks(spec)
    seen: dict[str, torch.Tensor] = {}
    with _forward_lock, torch.inference_mode():
        model.eval()
        handles = [model.get_submodule(top).register_forward_hook(_keep(seen, top)) for _, top, _ in blocks]
        try:
            logits = model(x)
        finally:
            for h in handles:
                h.remove()
    probs = logits.float().softmax(dim=1)[0]
    views = tuple(_block_view(i, label, top, seen[top][0], channels, max_side)
                  for i, (label, top, _) in enumerate(blocks, start=1))
    names = CLASSES if len(probs) == len(CLASSES) else tuple(str(i) for i in range(len(probs)))
    return Inside(tuple(probs.tolist()), int(probs.argmax()), names, views, first_filters(model),
                  x[0].contiguous())


def _keep(seen: dict[str, torch.Tensor], name: str):
    def hook(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
        seen[name] = output.detach()

    return hook


def _block_view(index: int, label: str, top: str, out: torch.Tensor, channels: int, max_side: int) -> BlockView:
    """Figures of a block's output [C, H, W] and its ``channels`` most active maps, shrunk to draw.

    The figures are taken in NumPy, on one thread: a dozen small parallel torch ops each wait for
    a second thread, which on a busy 2-core server costs more than the arithmetic.
    """
    a = np.ascontiguousarray(out.float().numpy())
    means = a.mean(axis=(1, 2), dtype=np.float64)
    order = np.argsort(-means, kind="stable")[:channels]
    maps = torch.from_numpy(a[order])
    h, w = a.shape[-2:]
    if max(h, w) > max_side:
        scale = max_side / max(h, w)
        maps = F.adaptive_avg_pool2d(maps, (max(1, round(h * scale)), max(1, round(w * scale))))
    return BlockView(index, label, top, tuple(a.shape), float(means.mean()), float(a.max()),
                     float(np.count_nonzero(a > 0) / a.size), tuple(order.tolist()), tuple(means.tolist()),
                     maps.contiguous())


def first_filters(model: nn.Module) -> torch.Tensor:
    """The first convolution's kernels, [out, in, k, k] (an empty tensor for a net without one)."""
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return conv.weight.detach().float().clone() if conv is not None else torch.empty(0)


def finite(v: float) -> float | None:
    """NaN or infinity (the weights of a run that diverged) as None, so the JSON stays valid."""
    return v if math.isfinite(v) else None


# --- what a run gets wrong ---------------------------------------------------------------------------

@dataclass(frozen=True)
class WrongAnswer:
    index: int  # the test image's place in t10k-images-idx3-ubyte (``images.load_test_image``)
    label: int
    predicted: int
    confidence: float  # the probability given to the wrong class
    true_probability: float  # the probability given to the right one

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "label": self.label, "predicted": self.predicted,
                "confidence": self.confidence, "true_probability": self.true_probability}


@dataclass(frozen=True)
class RunErrors:
    """The test-set answers of the run's last evaluation, as counts and examples."""

    epoch: int  # of the evaluation these come from
    confusion: np.ndarray  # int64 [10, 10]: rows the true class, columns the predicted one
    per_class_acc: tuple[float | None, ...]  # None for a class without test examples
    test_examples: int
    test_acc: float
    most_confident_wrong: tuple[WrongAnswer, ...]
    predictions: Predictions = field(repr=False)

    def cell(self, label: int, predicted: int, limit: int = TOP_WRONG) -> tuple[WrongAnswer, ...]:
        """The examples of one confusion cell, most confident first (a diagonal cell: right answers)."""
        return _ranked(self.predictions, (self.predictions.labels == label) & (self.predictions.predicted == predicted),
                       limit)

    def to_dict(self) -> dict[str, Any]:
        return {"predictions_epoch": self.epoch, "confusion": self.confusion.tolist(),
                "per_class_acc": list(self.per_class_acc), "test_examples": self.test_examples,
                "test_acc": self.test_acc, "most_confident_wrong": [w.to_dict() for w in self.most_confident_wrong]}


def run_errors(run_dir: str | os.PathLike, top: int = TOP_WRONG) -> RunErrors:
    """From ``predictions.npz``; raises PredictionsError (one line) when the run has none yet."""
    p = load_predictions(run_dir)
    labels, predicted = p.labels, p.predicted
    confusion = np.bincount(labels * NUM_CLASSES + predicted, minlength=NUM_CLASSES**2).reshape(NUM_CLASSES, NUM_CLASSES)
    totals = confusion.sum(axis=1)
    per_class = tuple(float(confusion[i, i] / totals[i]) if totals[i] else None for i in range(NUM_CLASSES))
    acc = float(np.trace(confusion) / len(p))
    return RunErrors(p.epoch, confusion.astype(np.int64), per_class, len(p), acc,
                     _ranked(p, labels != predicted, top), p)


def _ranked(p: Predictions, chosen: np.ndarray, limit: int) -> tuple[WrongAnswer, ...]:
    index = np.flatnonzero(chosen)
    predicted = p.predicted[index]
    confidence = p.probabilities[index, predicted]
    order = np.argsort(-confidence, kind="stable")[:max(0, limit)]
    return tuple(WrongAnswer(int(index[i]), int(p.labels[index[i]]), int(predicted[i]), float(confidence[i]),
                             float(p.probabilities[index[i], p.labels[index[i]]])) for i in order)


__all__ = [
    "InspectError", "Network", "network_for", "untrained_network", "feature_blocks", "BlockView", "Inside",
    "look_inside", "first_filters", "WrongAnswer", "RunErrors", "run_errors",
]
