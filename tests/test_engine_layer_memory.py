"""Training memory per layer: its columns are the estimate's parts, and what it says is saved is what autograd saves."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vgg_core.estimate import activation_bytes_per_example, estimate_training, layer_memory
from vgg_core.request import TrainRequest, TrainSettings
from vgg_core.spec import ArchSpec, preset
from vgg_core.summary import summarize
from vgg_core.train import prepare_model

CPU = torch.device("cpu")
SPECS = [
    ArchSpec(conv_arch=((1, 8, 5), (2, 16, 7)), input_size=32, fc_width=64),
    ArchSpec(conv_arch=((1, 8, 5), (2, 16)), input_size=32, fc_width=64, batch_norm=True, dropout=0.0),
    preset("alexnet").replace(input_size=96, fc_width=256),
    preset("d2l").replace(input_size=64, ratio=16),
]
SETTINGS = [TrainSettings(batch_size=32), TrainSettings(batch_size=8, momentum=0.9),
            TrainSettings(batch_size=16, optimizer="adam", weight_decay=1e-4)]


@pytest.mark.parametrize("settings", SETTINGS, ids=["sgd", "momentum", "adam"])
@pytest.mark.parametrize("spec", SPECS, ids=["k5k7", "bn", "alexnet", "d2l"])
def test_per_layer_columns_sum_to_the_estimate(spec, settings):
    request = TrainRequest(spec, settings)
    rows = layer_memory(request, CPU)
    est = estimate_training(request, device=CPU, measure_speed=False)
    summary = summarize(spec)
    assert [(r.block, r.name, r.type) for r in rows] == [(r.block, r.name, r.type) for r in summary.layers]
    for column in ("param_bytes", "grad_bytes", "optimizer_bytes", "amp_weight_bytes"):
        assert sum(getattr(r, column) for r in rows) == getattr(est, column), column
    assert sum(r.saved_bytes for r in rows) == est.activation_bytes
    assert sum(r.total_bytes for r in rows) == est.param_bytes + est.grad_bytes + est.optimizer_bytes + est.activation_bytes
    assert [r.output_bytes for r in rows] == [l.activation_bytes * settings.batch_size for l in summary.layers]
    weighted = [r for r in rows if r.param_bytes]
    assert {r.type for r in weighted} <= {"Conv2d", "Linear", "BatchNorm2d"}
    # The first conv keeps the input batch it reads: float32, whole batch.
    assert rows[0].saved_bytes == spec.in_channels * spec.input_size**2 * 4 * settings.batch_size


def test_under_autocast_the_saved_tensors_are_half_width_and_the_weights_get_a_copy():
    """What CUDA runs (bf16 autocast), computed without a GPU: the per-layer rows at cuda, amp on."""
    spec, settings = SPECS[0], TrainSettings(batch_size=4)
    rows = layer_memory(TrainRequest(spec, settings), torch.device("cuda"))
    summary = summarize(spec)
    assert sum(r.saved_bytes for r in rows) == activation_bytes_per_example(summary, "cuda", amp=True) * 4
    assert sum(r.amp_weight_bytes for r in rows) == summary.total_params * 2
    assert [r.output_bytes for r in rows] == [math.prod(l.output_shape) * 2 * 4 for l in summary.layers]


@pytest.mark.parametrize("spec", SPECS[:3], ids=["k5k7", "bn", "alexnet"])
def test_what_is_counted_as_saved_is_what_autograd_saves(spec):
    """Every tensor autograd saves for backward (weights aside), once per storage, on a real CPU step."""
    model, _ = prepare_model(spec, TrainSettings(), CPU)
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.untyped_storage().data_ptr() not in weights:
            saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    batch = 4
    x = torch.rand(batch, spec.in_channels, spec.input_size, spec.input_size).contiguous(memory_format=torch.channels_last)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        F.cross_entropy(model(x), torch.zeros(batch, dtype=torch.long)).backward()
    rows = layer_memory(TrainRequest(spec, TrainSettings(batch_size=batch)), CPU)
    counted = sum(r.saved_bytes for r in rows)
    # Left over: the loss's targets and, with batch norm, its per-channel statistics (not per example).
    channels = sum(c.out_channels for stage in spec.stages for c in stage.convs)
    assert 0 <= sum(saved.values()) - counted <= 36 + 16 * channels
