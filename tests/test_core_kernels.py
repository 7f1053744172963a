"""Kernel sizes per block, receptive fields and the arithmetic per layer, held to PyTorch's own counts."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from vgg_core import ArchSpec, build_model, model_code, preset, summarize
from vgg_core.locale import CORE, placeholders
from vgg_core.report import layers_frame, to_table
from vgg_core.spec import KERNEL_SIZES, SpecError, format_compact, format_conv_arch, parse_conv_arch

# d2l's reference list: VGG-11's conv and pool layers, 3x3 convs with stride 1 and 2x2 pools with stride 2.
VGG11_FIELDS = [3, 4, 8, 10, 18, 26, 30, 46, 62, 70, 102, 134, 150]

# A mixed-kernel net: rf starts at 1, jump (input pixels between neighbouring outputs) at 1.
MIXED = ArchSpec(conv_arch=((1, 8, 5), (2, 8), (1, 8, 7)), input_size=32, fc_width=64)
MIXED_FIELDS = [
    5,  # block 1, 5x5 conv:  1 + (5 - 1) * 1 = 5
    6,  # its 2x2 pool:       5 + (2 - 1) * 1 = 6, then jump = 1 * 2 = 2
    10,  # block 2, 3x3 conv: 6 + (3 - 1) * 2 = 10
    14,  # second 3x3 conv:  10 + (3 - 1) * 2 = 14
    16,  # pool:             14 + (2 - 1) * 2 = 16, then jump = 2 * 2 = 4
    40,  # block 3, 7x7 conv: 16 + (7 - 1) * 4 = 40
    44,  # pool:             40 + (2 - 1) * 4 = 44, then jump = 8
]
KERNEL_SPECS = [
    ArchSpec(conv_arch=((1, 8, 5), (2, 16, 7)), input_size=28, fc_width=32),
    ArchSpec(conv_arch=((2, 12, 7), (1, 20), (1, 6, 5)), ratio=2, in_channels=3, input_size=37, num_classes=7,
             fc_width=50, batch_norm=True),
    ArchSpec(conv_arch=((1, 4, 11), (1, 8, 1)), input_size=12, fc_width=16),
]


def _refused(fn) -> str:
    with pytest.raises(SpecError) as e:
        fn()
    text = str(e.value)
    assert "\n" not in text
    return text


# --- syntax ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, blocks",
    [
        ("2x64k5", ((2, 64, 5),)),
        ("1x64 2 x 128 K 7, 3x256k3", ((1, 64), (2, 128, 7), (3, 256))),  # k3 is d2l's default: stored as a pair
        ("((1, 64, 5), (2, 128))", ((1, 64, 5), (2, 128))),
        ("[[1, 64, 11]]", ((1, 64, 11),)),
        ("(1, 64, 5)", ((1, 64, 5),)),  # one triple alone is one block, as one pair alone is
    ],
)
def test_kernel_syntax_parses_and_round_trips(text, blocks):
    parsed = ArchSpec(conv_arch=parse_conv_arch(text), input_size=64).conv_arch
    assert parsed == blocks
    assert parse_conv_arch(format_conv_arch(parsed)) == parsed
    assert parse_conv_arch(format_compact(parsed)) == parsed


def test_a_3x3_spec_formats_exactly_as_before():
    spec = ArchSpec(conv_arch=((1, 64, 3), (1, 128), (2, 256, 3), (2, 512), (2, 512)))
    assert spec == ArchSpec() and spec.conv_arch == ArchSpec().conv_arch
    assert format_conv_arch(spec.conv_arch) == "((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))"
    assert format_compact(spec.conv_arch) == "1x64 1x128 2x256 2x512 2x512"
    assert spec.to_dict()["conv_arch"] == [[1, 64], [1, 128], [2, 256], [2, 512], [2, 512]]
    assert "family" not in spec.to_dict()


def test_kernels_survive_ratio_and_dict_round_trip():
    spec = ArchSpec(conv_arch=((1, 64, 5), (2, 128)), ratio=4, input_size=64)
    assert spec.blocks == ((1, 16, 5), (2, 32)) and spec.kernel_sizes == (5, 3)
    assert format_conv_arch(spec.conv_arch) == "((1, 64, 5), (2, 128))"
    assert format_compact(spec.blocks) == "1x16k5 2x32"
    assert ArchSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda: ArchSpec(conv_arch=((1, 64), (1, 64, 4))), "block 2: kernel_size 4 is even"),
        (lambda: ArchSpec(conv_arch=((1, 64, 0),)), "block 1: kernel_size must be from 1 to 11 and odd (1, 3, 5, 7, 9, 11), got 0"),
        (lambda: ArchSpec(conv_arch=((1, 64, 13),)), "block 1: kernel_size must be from 1 to 11 and odd"),
        (lambda: ArchSpec(conv_arch=((1, 64, 5.5),)), "block 1: kernel_size must be an odd whole number (1, 3, 5, 7, 9, 11), got 5.5"),
        (lambda: ArchSpec(conv_arch=((1, 64, "5"),)), "block 1: kernel_size must be an odd whole number"),
        (lambda: ArchSpec(conv_arch=((1, 64, True),)), "block 1: kernel_size must be an odd whole number"),
        (lambda: parse_conv_arch("((1, 64, 3, 1),)"), "block 1: (1, 64, 3, 1) is not a (num_convs, out_channels) pair"),
        (lambda: parse_conv_arch("1x64k5.5"), "block 1: '1x64k5.5' is not NUMxCHANNELS such as 2x256, or NUMxCHANNELSkKERNEL"),
        (lambda: parse_conv_arch("1x64 1x64k"), "block 2: '1x64k' is not NUMxCHANNELS"),
    ],
)
def test_bad_kernels_are_named_with_their_block_and_the_allowed_values(make, expected):
    assert expected in _refused(make)


def test_a_kernel_whose_outer_weights_only_meet_padding_is_refused():
    """Padding k // 2 keeps every side, so no map vanishes; the refusal is for weights that never see the image.

    16x16 input: block 3 sees 16 >> 2 = 4x4. A weight d pixels from the centre reaches the image only when
    |d| <= 4 - 1 = 3: a 7x7 kernel (|d| <= 3) is allowed, a 9x9 (|d| up to 4) is not.
    """
    ArchSpec(conv_arch=((1, 8), (1, 8), (1, 8, 7)), input_size=16)
    msg = _refused(lambda: ArchSpec(conv_arch=((1, 8), (1, 8), (1, 8, 9)), input_size=16))
    assert msg == ("block 3: a 9x9 kernel is too large for the 4x4 map this block sees: with padding 4, its outer "
                   "weights only ever meet the zero padding and never learn; use kernel_size 7 or less here, or a "
                   "larger input_size")
    # The rule, checked on a real model: the 9x9 kernel's outer ring gets no gradient, the 7x7's does.
    for k, dead in ((7, False), (9, True)):
        torch.manual_seed(0)
        conv = nn.Conv2d(1, 1, k, padding=k // 2)
        conv(torch.rand(1, 1, 4, 4)).sum().backward()
        ring = torch.cat([conv.weight.grad[0, 0, 0], conv.weight.grad[0, 0, -1]])
        assert bool((ring == 0).all()) is dead


def test_refusals_exist_in_both_languages_with_the_same_placeholders():
    en, zh = CORE.texts["en"], CORE.texts["zh"]
    for code in ("kernel_not_whole", "kernel_range", "kernel_even", "kernel_too_large", "family_fixed",
                 "input_too_small_for", "block_token", "block_not_pair", "conv_arch_unreadable"):
        key = f"refusal.{code}"
        assert placeholders(en[key]) == placeholders(zh[key]), key
        assert not any(mark in zh[key] for mark in ("; ", ": ", ", got")), key  # full-width punctuation in Chinese
    with pytest.raises(SpecError) as e:
        ArchSpec(conv_arch=((1, 64, 4),))
    assert e.value.render("zh") == "第 1 块：kernel_size 4 是偶数：padding 为 k // 2 时只有奇数卷积核才能保持边长；请使用 1, 3, 5, 7, 9, 11 之一"


# --- model, code, counts -----------------------------------------------------------------------


def test_kernel_blocks_build_the_convs_they_name():
    model = build_model(ArchSpec(conv_arch=((1, 8, 5), (2, 16, 7)), input_size=28))
    assert [m.kernel_size for m in model.modules() if isinstance(m, nn.Conv2d)] == [(5, 5), (7, 7), (7, 7)]
    assert [m.padding for m in model.modules() if isinstance(m, nn.Conv2d)] == [(2, 2), (3, 3), (3, 3)]
    assert all(m.stride == (1, 1) for m in model.modules() if isinstance(m, nn.Conv2d))


@pytest.mark.parametrize("spec", KERNEL_SPECS, ids=lambda s: format_compact(s.conv_arch))
def test_counts_of_kernel_blocks_equal_pytorchs_own(spec):
    """Real tensors on the CPU: shapes, parameters (numel), MACs (FlopCounterMode) and the formula numbers."""
    model = build_model(spec).eval()
    with FlopCounterMode(display=False) as counter:
        y = model(torch.randn(2, spec.in_channels, spec.input_size, spec.input_size))
    s = summarize(spec)
    assert y.shape == (2, spec.num_classes)
    assert s.total_params == sum(p.numel() for p in model.parameters())
    assert s.total_flops == counter.get_total_flops() // 2  # a batch of 2, the summary counts one example
    assert s.total_flops == 2 * s.total_macs
    flops = counter.get_flop_counts()
    for r in s.layers:
        assert r.flops == sum(flops.get(f"Sequential.{r.name}", {}).values()) // 2 == 2 * r.macs
        a = r.arithmetic
        if r.type in ("Conv2d", "MaxPool2d", "Linear"):
            # The formulas, written out from their numbers, give PyTorch's counts.
            assert a.params == a.weights + a.biases == r.params
            assert a.macs == r.macs
            if a.kind != "linear":
                assert a.out_size == (a.in_size + 2 * a.padding - a.kernel) // a.stride + 1 == r.output_shape[-1]
                assert (a.kernel, a.stride, a.padding) == (r.kernel_size, r.stride, r.padding)
            if a.kind == "conv":
                assert a.weights == a.kernel**2 * a.in_channels * a.out_channels
                assert a.macs == a.weights * a.out_size**2
        else:
            assert a is None and r.kernel_size is None


def test_generated_code_for_kernels_runs_and_builds_the_same_model():
    """The code a person copies: same parameter names and shapes, and the same output with the same weights."""
    for spec in KERNEL_SPECS + [preset("pair_5x5")]:
        scope: dict = {}
        exec(compile(model_code(spec).split("X = torch.randn")[0], "<model_code>", "exec"), scope)
        theirs, ours = scope["net"].eval(), build_model(spec).eval()
        assert [(n, p.shape) for n, p in theirs.named_parameters()] == [(n, p.shape) for n, p in ours.named_parameters()]
        theirs.load_state_dict(ours.state_dict())
        x = torch.randn(1, spec.in_channels, spec.input_size, spec.input_size)
        assert torch.equal(theirs(x), ours(x))


# --- receptive fields --------------------------------------------------------------------------


def _windowed(summary):
    return [r.receptive_field for r in summary.layers if r.kernel_size is not None]


def test_vgg11_receptive_fields_are_the_books():
    s = summarize(ArchSpec())
    assert _windowed(s) == VGG11_FIELDS
    relu = [r for r in s.layers if r.type == "ReLU" and r.block != "classifier"]
    assert all(r.receptive_field == s.layers[s.layers.index(r) - 1].receptive_field for r in relu)
    assert all(r.receptive_field is None for r in s.layers if r.block == "classifier")


def test_mixed_kernel_receptive_fields_match_the_derivation():
    assert _windowed(summarize(MIXED)) == MIXED_FIELDS


def _measured_field(model: nn.Module, spec: ArchSpec, upto: str) -> int:
    """The receptive field seen by PyTorch: the input pixels an interior output pixel's gradient reaches.

    Max-pool routes a gradient to one pixel and ReLU can block it, so each is swapped for what spreads it
    everywhere (an average pool of the same window, the identity), with every weight 1 in float64.
    """
    leaves = [(n, m) for n, m in model.named_modules() if n and not list(m.children())]
    x = torch.ones(1, spec.in_channels, spec.input_size, spec.input_size, dtype=torch.float64, requires_grad=True)
    y = x
    for name, m in leaves:
        if isinstance(m, nn.MaxPool2d):
            m = nn.AvgPool2d(m.kernel_size, m.stride)
        elif isinstance(m, nn.Conv2d):
            m = m.double()
            nn.init.ones_(m.weight)
        elif not isinstance(m, nn.BatchNorm2d):
            m = nn.Identity()
        y = m(y)
        if name == upto:
            break
    y[0, 0, y.shape[-2] // 2, y.shape[-1] // 2].backward()
    rows = x.grad[0, 0].abs().sum(dim=1).nonzero().flatten()
    assert 0 < rows.min() and rows.max() < spec.input_size - 1, "the field reached the border: use a larger input"
    return int(rows.max() - rows.min() + 1)


@pytest.mark.parametrize("spec", [MIXED.replace(input_size=96), preset("d2l").replace(ratio=16, input_size=320),
                                  preset("alexnet").replace(input_size=400)], ids=["mixed", "vgg11", "alexnet"])
def test_receptive_fields_are_what_gradients_reach(spec):
    model = build_model(spec)
    s = summarize(spec)
    for r in s.layers:
        if r.kernel_size is not None:
            assert _measured_field(model, spec, r.name) == r.receptive_field, r.name


# --- the paper's claim, as presets -------------------------------------------------------------


def test_pair_presets_see_the_same_field_with_fewer_weights():
    """Two stacked 3x3 convs see what one 5x5 sees (after every pool), with 2*9*C*C weights instead of 25*C*C."""
    pair, single = summarize(preset("pair_3x3")), summarize(preset("pair_5x5"))
    pools = lambda s: [r.receptive_field for r in s.layers if r.type == "MaxPool2d"]  # noqa: E731
    assert pools(pair) == pools(single) == [4, 14, 34]
    assert [b.output_shape for b in pair.blocks] == [b.output_shape for b in single.blocks]
    c = 64
    for block in ("block 2", "block 3"):
        conv = lambda s: sum(r.params for r in s.layers if r.block == block and r.type == "Conv2d")  # noqa: E731
        assert conv(pair) == 2 * (9 * c * c + c) < conv(single) == 25 * c * c + c
    assert pair.conv_params < single.conv_params and pair.conv_macs < single.conv_macs
    assert preset("pair_3x3").kernel_sizes == (3, 3, 3) and preset("pair_5x5").kernel_sizes == (3, 5, 5)


def test_table_and_frame_show_the_window_the_field_and_flops():
    s = summarize(MIXED)
    frame = layers_frame(s)
    assert list(frame["receptive_field"].dropna()) == [r.receptive_field for r in s.layers if r.receptive_field]
    assert frame["flops"].sum() == s.total_flops == 2 * s.total_macs
    assert str(frame["kernel_size"].dtype) == "Int64" and frame["kernel_size"].isna().sum() > 0
    table = to_table(s)
    assert " RF " in table.splitlines()[2] + " " and "5/1/2" in table and "7/1/3" in table
    assert f"Total FLOPs:               {s.total_flops:,}" in table
    assert KERNEL_SIZES == (1, 3, 5, 7, 9, 11)
