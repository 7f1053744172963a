"""The architecture flags shared by ``summary``, ``estimate``, ``train`` and ``inspect --untrained``."""

from __future__ import annotations

import argparse

from ..spec import NAMED, ArchSpec, SpecError, parse_conv_arch, preset

# The spec fields with a flag of their own (conv_arch is --arch or --preset).
ARCH_FIELDS = ("ratio", "in_channels", "input_size", "num_classes", "fc_width", "dropout", "batch_norm")
ARCH_FLAGS = ("arch", "preset", *ARCH_FIELDS)  # every flag's dest, for commands that take them only sometimes


def add_arch_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("architecture (default: d2l's VGG-11, 1x224x224, 10 classes)")
    src = g.add_mutually_exclusive_group()
    src.add_argument("--arch", metavar="TEXT",
                     help="conv_arch as ((1, 64), (1, 128, 5), ...) or 1x64 1x128k5 2x256: an optional third "
                          "number (k5) is the block's kernel size, odd from 1 to 11 (default 3)")
    src.add_argument("--preset", choices=sorted(NAMED),
                     help="a named configuration: 'd2l' is VGG-11 with ratio 4; 'pair_3x3' and 'pair_5x5' set two "
                          "3x3 convs beside one 5x5 (same receptive field, fewer weights); 'alexnet' is d2l 7.1's "
                          "AlexNet (fixed blocks: no --arch or --ratio)")
    g.add_argument("--ratio", type=int, help="divide every block's channels by this, as d2l does (default 1)")
    g.add_argument("--in-channels", type=int, help="input channels (default 1)")
    g.add_argument("--input-size", type=int, help="input side in pixels (default 224)")
    g.add_argument("--num-classes", type=int, help="output classes (default 10)")
    g.add_argument("--fc-width", type=int, help="width of the two hidden Linear layers (default 4096)")
    g.add_argument("--dropout", type=float, help="dropout after each hidden Linear (default 0.5)")
    g.add_argument("--batch-norm", action="store_true", default=None, help="BatchNorm2d after every conv (VGG-BN)")


def spec_from_args(args: argparse.Namespace, base: ArchSpec | None = None) -> ArchSpec:
    """Start from the preset (or ``base``, or the default) and apply the flags given; raises SpecError."""
    base = preset(args.preset) if args.preset else (base or ArchSpec())
    changes = {key: getattr(args, key) for key in ARCH_FIELDS if getattr(args, key) is not None}
    if args.arch is not None:
        changes["conv_arch"] = parse_conv_arch(args.arch)
    return base.replace(**changes) if changes else base


__all__ = ["ARCH_FLAGS", "ARCH_FIELDS", "add_arch_arguments", "spec_from_args", "SpecError"]
