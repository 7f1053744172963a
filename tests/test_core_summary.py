"""The summary agrees with PyTorch itself: real forward passes, real torchvision models, the book's figures."""

import pytest
import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from vgg_core import ArchSpec, build_model, model_code, preset, summarize
from vgg_core.report import human, to_csv


def test_seed_shape_walk():
    """d2l 7.2's printout on a 1x1x224x224 input, block by block."""
    s = summarize(ArchSpec())
    walk = [b.output_shape for b in s.blocks[:-1]]
    assert walk == [(1, 64, 112, 112), (1, 128, 56, 56), (1, 256, 28, 28), (1, 512, 14, 14), (1, 512, 7, 7)]
    head = [(r.type, r.output_shape) for r in s.layers if r.block == "classifier"]
    assert head == [
        ("Flatten", (1, 25088)),
        ("Linear", (1, 4096)), ("ReLU", (1, 4096)), ("Dropout", (1, 4096)),
        ("Linear", (1, 4096)), ("ReLU", (1, 4096)), ("Dropout", (1, 4096)),
        ("Linear", (1, 10)),
    ]
    assert s.flatten_size == 25088


def test_d2l_parameter_counts():
    assert summarize(ArchSpec()).total_params == 128_806_154
    assert summarize(ArchSpec(ratio=4)).total_params == 43_093_322
    assert summarize(preset("d2l")).total_params == 43_093_322


def test_fc_layers_hold_the_parameters_and_convs_the_compute():
    s = summarize(ArchSpec())
    first_linear = next(r for r in s.layers if r.type == "Linear")
    assert first_linear.params == 25088 * 4096 + 4096
    assert s.fc_params / s.total_params > 0.9
    assert s.conv_macs / s.total_macs > 0.95
    assert s.conv_params + s.fc_params == s.total_params
    assert s.conv_macs + s.fc_macs == s.total_macs


@pytest.mark.parametrize(
    "name, params, gmacs",
    [
        ("vgg11", 132_863_336, 7.609),
        ("vgg13", 133_047_848, 11.308),
        ("vgg16", 138_357_544, 15.470),
        ("vgg19", 143_667_240, 19.632),
    ],
)
def test_torchvision_counts_reproduced(name, params, gmacs):
    spec = preset(name).replace(in_channels=3, num_classes=1000)
    s = summarize(spec)
    with torch.device("meta"):
        tv = getattr(torchvision.models, name)(weights=None)
    tv_params = sum(p.numel() for p in tv.parameters())
    with FlopCounterMode(display=False) as counter:
        tv(torch.empty(1, 3, 224, 224, device="meta"))
    assert s.total_params == tv_params == params
    assert s.total_macs == counter.get_total_flops() // 2
    assert round(s.total_macs / 1e9, 3) == gmacs


def test_batch_norm_matches_torchvision_vgg_bn():
    s = summarize(preset("vgg11").replace(in_channels=3, num_classes=1000, batch_norm=True))
    with torch.device("meta"):
        tv = torchvision.models.vgg11_bn(weights=None)
    assert s.total_params == sum(p.numel() for p in tv.parameters())
    assert [r.type for r in s.layers[:4]] == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]


ODD_SPECS = [
    ArchSpec(conv_arch=((1, 8), (2, 16)), input_size=28, fc_width=64),
    ArchSpec(conv_arch=((3, 12), (1, 20), (2, 7)), ratio=2, in_channels=3, input_size=37, num_classes=7, fc_width=50),
    ArchSpec(conv_arch=((1, 16),), input_size=9, num_classes=3, fc_width=33, batch_norm=True),
    ArchSpec(conv_arch=((2, 24), (2, 48), (1, 96), (1, 96)), ratio=3, input_size=96, fc_width=128, dropout=0.1),
    ArchSpec(conv_arch=((1, 5),) * 6, in_channels=2, input_size=65, num_classes=2, fc_width=10),
]


@pytest.mark.parametrize("spec", ODD_SPECS, ids=lambda s: f"{s.conv_arch}-r{s.ratio}-{s.input_size}")
def test_summary_equals_a_real_forward_pass(spec):
    """Real tensors on the CPU: every layer's shape, every count and the flop counter's MACs."""
    torch.manual_seed(0)
    model = build_model(spec).eval()
    shapes = {}
    for name, m in model.named_modules():
        if name and not list(m.children()):
            m.register_forward_hook(lambda mod, i, o, name=name: shapes.__setitem__(name, tuple(o.shape)))
    x = torch.randn(1, spec.in_channels, spec.input_size, spec.input_size)
    with FlopCounterMode(display=False) as counter:
        y = model(x)
    s = summarize(spec)
    assert y.shape == (1, spec.num_classes)
    assert [(r.name, r.output_shape) for r in s.layers] == list(shapes.items())
    assert s.total_params == sum(p.numel() for p in model.parameters())
    assert s.trainable_params == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert s.total_macs * 2 == counter.get_total_flops()
    flops = counter.get_flop_counts()
    for r in s.layers:
        assert r.macs * 2 == sum(flops.get(f"Sequential.{r.name}", {}).values())
        assert r.activation_bytes == 4 * torch.Size(r.output_shape).numel()
    for b in s.blocks:
        rows = [r for r in s.layers if r.block == b.block]
        assert b.params == sum(r.params for r in rows) and b.macs == sum(r.macs for r in rows)
    assert s.flatten_size == next(r.output_shape[1] for r in s.layers if r.type == "Flatten")


def test_model_is_laid_out_like_d2l():
    model = build_model(ArchSpec(conv_arch=((1, 8), (2, 16)), input_size=28))
    assert isinstance(model[0], nn.Sequential) and isinstance(model[1], nn.Sequential)
    assert [type(m).__name__ for m in model[1]] == ["Conv2d", "ReLU", "Conv2d", "ReLU", "MaxPool2d"]
    conv = model[1][0]
    assert conv.kernel_size == (3, 3) and conv.padding == (1, 1) and conv.in_channels == 8
    assert model[0][-1].kernel_size == 2 and model[0][-1].stride == 2
    assert [type(m).__name__ for m in model[2:]] == [
        "Flatten", "Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"
    ]
    assert model[3].in_features == 16 * 7 * 7


def test_generated_code_builds_the_same_model():
    """The code shown to users runs and builds a model with the same parameters, layer for layer."""
    for spec in [ArchSpec(ratio=4), ODD_SPECS[1], ODD_SPECS[2], ODD_SPECS[0]]:
        scope: dict = {}
        code = model_code(spec).split("X = torch.randn")[0]
        exec(compile(code, "<model_code>", "exec"), scope)  # our own generated code, not user text
        theirs = scope["net"]
        ours = build_model(spec)
        assert [(n, p.shape) for n, p in theirs.named_parameters()] == [(n, p.shape) for n, p in ours.named_parameters()]


def test_summary_allocates_no_weights():
    s = summarize(preset("vgg19"))
    assert s.param_bytes == 4 * s.total_params
    with torch.device("meta"):
        m = build_model(preset("vgg19"))
    assert all(p.device.type == "meta" for p in m.parameters())


@pytest.mark.parametrize(
    "n, expected",
    [
        (999, "999"),
        (1000, "1.0 K"),
        (128_806_154, "128.8 M"),
        (999.9e12, "999.9 T"),
        (1e15, "1.0 P"),
        (10_212_893e9, "10.2 P"),  # was '10212.9 T'
        (-2.5e15, "-2.5 P"),
    ],
)
def test_human_units_reach_peta(n, expected):
    assert human(n) == expected


def test_csv_bom_only_when_asked():
    """The download needs the UTF-8 mark for Excel to read "×"; the CLI's stdout must not start with one."""
    s = summarize(ArchSpec(ratio=4))
    plain, marked = to_csv(s), to_csv(s, bom=True)
    assert plain.startswith("block,layer,") and "×" in plain
    assert marked == "\ufeff" + plain
    assert marked.encode("utf-8").startswith(b"\xef\xbb\xbfblock,")
