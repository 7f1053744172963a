"""The spec: parsing what people type, and refusing bad input with one clear sentence per problem."""

import ast

import pytest

from vgg_core.spec import (
    MAX_CHANNELS,
    MAX_CONVS_PER_BLOCK,
    MAX_INPUT_SIZE,
    PRESETS,
    ArchSpec,
    SpecError,
    format_conv_arch,
    parse_conv_arch,
    preset,
)

VGG11 = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))


@pytest.mark.parametrize(
    "text",
    [
        "((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))",  # d2l's own spelling
        "[(1, 64), (1, 128), (2, 256), (2, 512), (2, 512)]",
        "[[1,64],[1,128],[2,256],[2,512],[2,512]]",
        "(1, 64), (1, 128), (2, 256), (2, 512), (2, 512)",  # literal_eval reads a bare tuple of pairs
        "1x64 1x128 2x256 2x512 2x512",
        "1×64, 1×128, 2×256, 2×512, 2×512",
        "  1X64 1x128\n2x256 2x512 2x512  ",
    ],
)
def test_parse_accepts_d2l_syntax_lists_and_compact_form(text):
    assert parse_conv_arch(text) == VGG11


def test_single_block_forms():
    assert parse_conv_arch("(1, 64)") == ((1, 64),)
    assert parse_conv_arch("((1, 64),)") == ((1, 64),)
    assert parse_conv_arch("3x32") == ((3, 32),)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1 x 64 1 x 128", ((1, 64), (1, 128))),
        ("1× 64, 2 ×128", ((1, 64), (2, 128))),
        ("2 X 256;3\tx\t512", ((2, 256), (3, 512))),
    ],
)
def test_compact_form_allows_spaces_around_the_x(text, expected):
    assert parse_conv_arch(text) == expected


def test_format_round_trips():
    assert format_conv_arch(VGG11) == "((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))"
    for spec in PRESETS.values():
        assert parse_conv_arch(format_conv_arch(spec.conv_arch)) == spec.conv_arch


def test_format_of_one_block_is_a_tuple_of_one_pair():
    text = format_conv_arch(((2, 512),))
    assert text == "((2, 512),)"
    assert ast.literal_eval(text) == ((2, 512),)  # Python (and d2l's vgg()) read a tuple of blocks
    assert parse_conv_arch(text) == ((2, 512),)
    assert format_conv_arch([(1, 64), (1, 128)]) == "((1, 64), (1, 128))"  # no trailing comma for several


def test_presets_are_the_papers_configurations():
    widths = (64, 128, 256, 512, 512)
    assert PRESETS["vgg11"].conv_arch == tuple(zip((1, 1, 2, 2, 2), widths))
    assert PRESETS["vgg13"].conv_arch == tuple(zip((2, 2, 2, 2, 2), widths))
    assert PRESETS["vgg16"].conv_arch == tuple(zip((2, 2, 3, 3, 3), widths))
    assert PRESETS["vgg19"].conv_arch == tuple(zip((2, 2, 4, 4, 4), widths))
    d2l = preset("d2l")
    assert d2l.conv_arch == VGG11 and d2l.ratio == 4
    assert d2l.blocks == ((1, 16), (1, 32), (2, 64), (2, 128), (2, 128))
    assert ArchSpec() == PRESETS["vgg11"]  # the default is the seed's VGG-11


def test_spec_dict_round_trip():
    spec = ArchSpec(conv_arch=((2, 32), (3, 48)), ratio=2, in_channels=3, input_size=40, batch_norm=True)
    assert ArchSpec.from_dict(spec.to_dict()) == spec


def _message(fn):
    with pytest.raises(SpecError) as e:
        fn()
    text = str(e.value)
    assert "\n" not in text and "Traceback" not in text
    return text


@pytest.mark.parametrize(
    "text, expected",
    [
        ("((1, 64), (1, 128)", "not a list of (num_convs, out_channels) pairs"),  # unbalanced
        ("__import__('os').system('echo hi')", "not a list of (num_convs, out_channels) pairs"),
        ("vgg11", "not a list of (num_convs, out_channels) pairs"),
        ("", "conv_arch is empty"),
        # (1, 64, 3) is a block with its kernel size since kernels per block; four numbers are not
        ("((1, 64, 3, 1), (1, 128))", "block 1: (1, 64, 3, 1) is not a (num_convs, out_channels) pair"),
        ("(1, 64), 7", "block 2: 7 is not a (num_convs, out_channels) pair"),
        ("1x64 2by128", "block 2: '2by128' is not NUMxCHANNELS"),
        ("1 x 64 2 by 128", "block 2: '2' is not NUMxCHANNELS"),
        ("1 x", "block 1: '1' is not NUMxCHANNELS"),
        ("1 x 64 x", "block 2: 'x' is not NUMxCHANNELS"),
        ("[" * 500 + "]" * 500, "not a list of (num_convs, out_channels) pairs"),
        ("(1, 64)," * 400, "at most 2000 allowed"),
    ],
)
def test_malformed_text_is_refused_with_its_reason(text, expected):
    assert expected in _message(lambda: parse_conv_arch(text))


def test_eval_is_never_used(tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(SpecError):
        parse_conv_arch(f"open({str(marker)!r}, 'w')")
    assert not marker.exists()


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"conv_arch": ((1, 64), (1.5, 128))}, "block 2: num_convs must be a whole number from 1 to 64, got 1.5"),
        ({"conv_arch": ((1, 64), (1, "128"))}, "block 2: out_channels must be a whole number"),
        ({"conv_arch": ((True, 64),)}, "block 1: num_convs must be a whole number"),
        ({"conv_arch": ((0, 64),)}, "block 1: num_convs must be from 1 to 64, got 0"),
        ({"conv_arch": ((1, -8),)}, f"block 1: out_channels must be from 1 to {MAX_CHANNELS}, got -8"),
        ({"conv_arch": ((MAX_CONVS_PER_BLOCK + 1, 8),)}, "block 1: num_convs must be from 1 to 64, got 65"),
        ({"conv_arch": ((1, MAX_CHANNELS + 1),)}, f"out_channels must be from 1 to {MAX_CHANNELS}, got 16385"),
        ({"conv_arch": ()}, "conv_arch has no blocks"),
        ({"conv_arch": ((1, 8),) * 13, "input_size": 4096}, "conv_arch has 13 blocks; at most 12 allowed"),
        ({"ratio": 0}, "ratio must be from 1 to 1024, got 0"),
        ({"ratio": 2.5}, "ratio must be a whole number"),
        ({"ratio": 128}, "block 1: ratio 128 leaves 64 // 128 = 0 channels"),
        ({"input_size": 16}, "input_size 16 is too small for 5 blocks: the side reaches 0 after block 5"),
        ({"input_size": 3}, "the side reaches 0 after block 2"),
        ({"input_size": MAX_INPUT_SIZE + 1}, f"input_size must be from 1 to {MAX_INPUT_SIZE}, got 4097"),
        ({"input_size": 0}, "input_size must be from 1 to 4096, got 0"),
        ({"in_channels": 0}, "in_channels must be from 1"),
        ({"num_classes": -1}, "num_classes must be from 1"),
        ({"fc_width": 10**6}, "fc_width must be from 1 to 65536"),
        ({"dropout": 1.0}, "dropout must be a number from 0 up to (not including) 1"),
        ({"batch_norm": "yes"}, "batch_norm must be true or false"),
    ],
)
def test_each_kind_of_bad_value_is_named(changes, expected):
    assert expected in _message(lambda: ArchSpec(**changes))


def test_ratio_message_names_every_block_it_empties():
    msg = _message(lambda: ArchSpec(ratio=256))
    assert "block 1: ratio 256 leaves 64 // 256 = 0 channels" in msg
    assert "block 2: ratio 256 leaves 128 // 256 = 0 channels" in msg
    assert "block 3" not in msg  # 256 // 256 = 1 channel is allowed
    with pytest.raises(SpecError) as e:
        ArchSpec(ratio=256)
    assert len(e.value.problems) == 2


def test_several_problems_are_all_reported_at_once():
    with pytest.raises(SpecError) as e:
        ArchSpec(conv_arch=((0, 64), (1, 0)), num_classes=0)
    assert len(e.value.problems) == 3


def test_unknown_preset_and_field():
    assert "unknown preset 'vgg99'; allowed: vgg11, vgg13, vgg16, vgg19, d2l" in _message(lambda: preset("vgg99"))
    assert "unknown spec field(s): colour" in _message(lambda: ArchSpec.from_dict({"colour": 1}))
