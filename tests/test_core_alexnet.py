"""AlexNet (d2l 7.1) as a reference network: d2l's exact layers, counts and shapes, a spec whose blocks are fixed."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from vgg_core import ArchSpec, build_model, model_code, preset, summarize
from vgg_core.diagram import layout, to_svg
from vgg_core.report import to_table
from vgg_core.request import TrainRequest, TrainSettings
from vgg_core.spec import NAMED, PRESETS, SpecError, arch_text
from vgg_core.stages import ALEXNET, min_input_size, stage_sizes

# d2l 7.1's printout on a 1x1x224x224 input: the outputs of every layer but the ReLUs and Dropouts.
D2L_SHAPES = [(96, 54, 54), (96, 26, 26), (256, 26, 26), (256, 12, 12), (384, 12, 12), (384, 12, 12),
              (256, 12, 12), (256, 5, 5), (6400,), (4096,), (4096,), (10,)]


def d2l_alexnet() -> nn.Sequential:
    """d2l 7.1's ``net``, written out as the book writes it."""
    return nn.Sequential(
        nn.Conv2d(1, 96, kernel_size=11, stride=4, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(96, 256, kernel_size=5, padding=2), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(256, 384, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Flatten(),
        nn.Linear(6400, 4096), nn.ReLU(), nn.Dropout(p=0.5),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(p=0.5),
        nn.Linear(4096, 10))


@pytest.fixture(scope="module")
def alexnet():
    return build_model(preset("alexnet")).eval()


def test_it_is_d2ls_network_layer_for_layer(alexnet):
    ref = d2l_alexnet()
    assert [repr(m) for m in alexnet] == [repr(m) for m in ref]  # one flat Sequential, the same modules
    assert [(k, v.shape) for k, v in alexnet.state_dict().items()] == [(k, v.shape) for k, v in ref.state_dict().items()]
    ref.load_state_dict(alexnet.state_dict())  # a d2l checkpoint and ours are interchangeable


def test_counts_and_shapes_from_a_real_forward_pass(alexnet):
    shapes = []
    for m in alexnet:
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.Flatten, nn.Linear)):
            m.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape[1:])))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        alexnet(torch.randn(1, 1, 224, 224))
    assert shapes == D2L_SHAPES
    params = sum(p.numel() for p in alexnet.parameters())
    assert params == 46_764_746
    assert counter.get_total_flops() // 2 == 938_146_176
    s = summarize(preset("alexnet"))
    assert (s.total_params, s.total_macs, s.total_flops) == (params, 938_146_176, counter.get_total_flops())
    assert s.flatten_size == 6400
    assert [r.output_shape[1:] for r in s.layers if r.type in ("Conv2d", "MaxPool2d", "Flatten", "Linear")] == D2L_SHAPES


def test_summary_groups_the_flat_layers_into_blocks_ending_at_each_pool():
    s = summarize(preset("alexnet"))
    assert [b.block for b in s.blocks] == ["block 1", "block 2", "block 3", "classifier"]
    assert [b.output_shape for b in s.blocks] == [(1, 96, 26, 26), (1, 256, 12, 12), (1, 256, 5, 5), (1, 10)]
    assert [r.name for r in s.layers if r.block == "block 3"] == [str(i) for i in range(6, 13)]
    # rf walk: 11x11 stride 4: 11, jump 4; pool 3/2: 11 + 2*4 = 19, jump 8; 5x5: 19 + 4*8 = 51;
    # pool: 51 + 2*8 = 67, jump 16; three 3x3: 99, 131, 163; pool: 163 + 2*16 = 195.
    windows = [(r.kernel_size, r.stride, r.padding, r.receptive_field) for r in s.layers if r.kernel_size]
    assert windows == [(11, 4, 1, 11), (3, 2, 0, 19), (5, 1, 2, 51), (3, 2, 0, 67), (3, 1, 1, 99), (3, 1, 1, 131),
                       (3, 1, 1, 163), (3, 2, 0, 195)]
    first = s.layers[0].arithmetic
    assert (first.in_size, first.out_size) == (224, 54) and first.out_size == (224 + 2 * 1 - 11) // 4 + 1
    assert "AlexNet summary: input 1×1×224×224" in to_table(s) and "11/4/1" in to_table(s)


def test_the_diagram_draws_its_blocks_as_vggs():
    d = layout(summarize(preset("alexnet")))
    convs = [i.data for i in d.items if i.data.kind == "conv"]
    assert [(c.label, c.repeat, c.kernel) for c in convs] == [("conv 96", 1, "11×11"), ("conv 256", 1, "5×5"),
                                                              ("conv 384/384/256", 3, "3×3")]
    assert "11×11" in to_svg(d)


def test_inputs_and_classifier_can_change_but_not_the_blocks():
    spec = preset("alexnet").replace(input_size=96, in_channels=3, num_classes=100, fc_width=512, dropout=0.2,
                                     batch_norm=True)
    assert spec.stages == ALEXNET and spec.flatten_size == 256 * 1 * 1
    assert ArchSpec.from_dict(spec.to_dict()) == spec
    assert spec.to_dict()["family"] == "alexnet" and "conv_arch" not in spec.to_dict() and "ratio" not in spec.to_dict()
    assert summarize(spec).total_params == sum(p.numel() for p in build_model(spec).parameters())
    for make, name in [(lambda: preset("alexnet").replace(ratio=2), "ratio"),
                       (lambda: preset("alexnet").replace(conv_arch=((1, 64),)), "conv_arch"),
                       (lambda: ArchSpec.from_dict({"family": "alexnet", "conv_arch": [[1, 64]]}), "conv_arch")]:
        with pytest.raises(SpecError) as e:
            make()
        assert str(e.value) == (f"AlexNet's blocks are fixed (d2l's own layers), so {name} cannot be given; "
                                "change input_size, in_channels, num_classes, fc_width or dropout instead")


def test_the_smallest_input_is_computed_and_named():
    """65 = the side the layers need, walked back from a 1x1 map: each window needs (m - 1) * s + k - 2p."""
    need = min_input_size(ALEXNET)
    assert need == 65
    assert stage_sizes(need, ALEXNET)[-1][1] == 1 and stage_sizes(need - 1, ALEXNET)[-1][1] == 0
    assert summarize(preset("alexnet").replace(input_size=65)).flatten_size == 256
    with pytest.raises(SpecError) as e:
        preset("alexnet").replace(input_size=64)
    assert str(e.value) == ("input_size 64 is too small for AlexNet: the side reaches 0 in block 3; "
                            "the smallest input_size it takes is 65")
    with pytest.raises(SpecError) as e:
        preset("alexnet").replace(input_size=8)
    assert "the side reaches 0 in block 1" in str(e.value)


def test_generated_code_is_d2ls_and_builds_the_same_model():
    for spec in (preset("alexnet"), preset("alexnet").replace(input_size=96, batch_norm=True, num_classes=7)):
        code = model_code(spec)
        assert "nn.Conv2d(1, 96, kernel_size=11, stride=4, padding=1), " in code
        scope: dict = {}
        exec(compile(code.split("X = torch.randn")[0], "<model_code>", "exec"), scope)
        ours = build_model(spec)
        assert [(n, p.shape) for n, p in scope["net"].named_parameters()] == [(n, p.shape) for n, p in ours.named_parameters()]


def test_default_lr_is_d2ls_for_alexnet():
    alexnet, vgg = preset("alexnet"), preset("d2l")
    assert TrainRequest(alexnet).learning_rate == 0.01  # d2l 7.1
    assert TrainRequest(vgg).learning_rate == 0.05  # d2l 7.2
    assert TrainRequest(alexnet, TrainSettings(lr=0.2)).learning_rate == 0.2
    assert TrainRequest(alexnet, TrainSettings(optimizer="adam")).learning_rate == 0.001


def test_it_is_a_named_network_apart_from_the_editable_presets():
    assert "alexnet" in NAMED and "alexnet" not in PRESETS
    assert arch_text(preset("alexnet")) == "AlexNet" and arch_text(preset("pair_5x5")) == "1x64 1x64k5 1x64k5"
