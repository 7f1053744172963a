"""Build the networks exactly as d2l lays them out, so state dicts and printouts match the book.

Both families are walked from ``spec.stages`` (``vgg_core.stages``), one builder for both: VGG as
d2l's ``vgg()`` (one ``nn.Sequential`` per block, then the classifier), AlexNet as d2l 7.1 writes it
(one flat ``nn.Sequential``, so its state-dict keys are d2l's ``0.weight`` ... ``21.bias``).
"""

from __future__ import annotations

from torch import nn

from .spec import ArchSpec, format_conv_arch
from .stages import Conv, Stage, vgg_stages


def conv_layers(conv: Conv, in_channels: int, batch_norm: bool = False) -> list[nn.Module]:
    """Conv2d [, BatchNorm2d], ReLU."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, conv.out_channels, kernel_size=conv.kernel,
                                         stride=conv.stride, padding=conv.padding)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(conv.out_channels))
    layers.append(nn.ReLU())
    return layers


def stage_layers(stage: Stage, in_channels: int, batch_norm: bool = False) -> list[nn.Module]:
    """One block's layers in order: each conv with its ReLU, then the max-pool."""
    layers: list[nn.Module] = []
    for conv in stage.convs:
        layers += conv_layers(conv, in_channels, batch_norm)
        in_channels = conv.out_channels
    layers.append(nn.MaxPool2d(kernel_size=stage.pool.kernel, stride=stage.pool.stride))
    return layers


def vgg_block(num_convs: int, in_channels: int, out_channels: int, batch_norm: bool = False,
              kernel_size: int = 3) -> nn.Sequential:
    """d2l's ``vgg_block``: (k x k conv, padding k // 2 [, BN], ReLU) x num_convs, then a 2x2 max-pool."""
    (stage,) = vgg_stages([(num_convs, out_channels, kernel_size)])
    return nn.Sequential(*stage_layers(stage, in_channels, batch_norm))


def classifier(spec: ArchSpec) -> list[nn.Module]:
    """Flatten, (Linear, ReLU, Dropout) x 2, Linear: the same head in d2l's VGG and AlexNet."""
    return [
        nn.Flatten(),
        nn.Linear(spec.flatten_size, spec.fc_width),
        nn.ReLU(),
        nn.Dropout(spec.dropout),
        nn.Linear(spec.fc_width, spec.fc_width),
        nn.ReLU(),
        nn.Dropout(spec.dropout),
        nn.Linear(spec.fc_width, spec.num_classes),
    ]


def build_model(spec: ArchSpec) -> nn.Sequential:
    """d2l's ``vgg(conv_arch)`` (blocks, then the classifier), or d2l's AlexNet as one flat Sequential.

    Unlike d2l, the first Linear's width is the real flattened size, so any input size or
    block count works. Build under ``torch.device("meta")`` to get the shape without memory.
    """
    body: list[nn.Module] = []
    in_channels = spec.in_channels
    for stage in spec.stages:
        layers = stage_layers(stage, in_channels, spec.batch_norm)
        body += layers if spec.family_info.flat else [nn.Sequential(*layers)]
        in_channels = stage.convs[-1].out_channels
    return nn.Sequential(*body, *classifier(spec))


def init_xavier(model: nn.Module) -> nn.Module:
    """d2l's ``train_ch6`` init: Xavier-uniform weights on every Linear and Conv2d, biases as PyTorch left them."""
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
    return model


def model_code(spec: ArchSpec) -> str:
    """The current model as d2l-style PyTorch code, for a person to copy and run.

    A 3x3-only VGG prints exactly d2l 7.2's ``vgg_block``/``vgg``; other kernels add a
    ``kernel_size`` argument; AlexNet prints d2l 7.1's flat ``nn.Sequential``.
    """
    return _alexnet_code(spec) if spec.family_info.flat else _vgg_code(spec)


_SHAPE_WALK = (
    "for blk in net:\n"
    "    X = blk(X)\n"
    "    print(blk.__class__.__name__, 'output shape:\\t', X.shape)\n"
)


def _vgg_code(spec: ArchSpec) -> str:
    kernels = any(k != 3 for k in spec.kernel_sizes)
    conv = "kernel_size=kernel_size, padding=kernel_size // 2" if kernels else "kernel_size=3, padding=1"
    block_body = (
        f"        layers.append(nn.Conv2d(in_channels, out_channels, {conv}))\n"
        + ("        layers.append(nn.BatchNorm2d(out_channels))\n" if spec.batch_norm else "")
        + "        layers.append(nn.ReLU())\n"
    )
    k_arg, k_unpack = (", kernel_size=3", ", *kernel_size") if kernels else ("", "")
    arch_line = f"conv_arch = {format_conv_arch(spec.conv_arch)}\n"
    if spec.ratio != 1:
        scaled = "(block[0], block[1] // ratio, *block[2:]) for block" if kernels else "(pair[0], pair[1] // ratio) for pair"
        arch_line += f"ratio = {spec.ratio}\nconv_arch = [{scaled} in conv_arch]\n"
    n = len(spec.conv_arch)
    return (
        "import torch\n"
        "from torch import nn\n\n\n"
        f"def vgg_block(num_convs, in_channels, out_channels{k_arg}):\n"
        "    layers = []\n"
        "    for _ in range(num_convs):\n"
        f"{block_body}"
        "        in_channels = out_channels\n"
        "    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))\n"
        "    return nn.Sequential(*layers)\n\n\n"
        "def vgg(conv_arch):\n"
        "    conv_blks = []\n"
        f"    in_channels = {spec.in_channels}\n"
        f"    for (num_convs, out_channels{k_unpack}) in conv_arch:\n"
        f"        conv_blks.append(vgg_block(num_convs, in_channels, out_channels{k_unpack}))\n"
        "        in_channels = out_channels\n"
        "    return nn.Sequential(\n"
        "        *conv_blks, nn.Flatten(),\n"
        f"        # {spec.input_size}x{spec.input_size} input, {n} block{'s' if n != 1 else ''}: "
        f"the last feature map is {spec.feature_size}x{spec.feature_size}\n"
        f"        nn.Linear(out_channels * {spec.feature_size} * {spec.feature_size}, {spec.fc_width}), "
        f"nn.ReLU(), nn.Dropout({spec.dropout}),\n"
        f"        nn.Linear({spec.fc_width}, {spec.fc_width}), nn.ReLU(), nn.Dropout({spec.dropout}),\n"
        f"        nn.Linear({spec.fc_width}, {spec.num_classes}))\n\n\n"
        f"{arch_line}"
        "net = vgg(conv_arch)\n"
        f"X = torch.randn(size=(1, {spec.in_channels}, {spec.input_size}, {spec.input_size}))\n"
        + _SHAPE_WALK
    )


def _alexnet_code(spec: ArchSpec) -> str:
    """d2l 7.1's ``net = nn.Sequential(...)``, written from the same stages the builder walks."""
    lines, in_channels = [], spec.in_channels
    for stage in spec.stages:
        for conv in stage.convs:
            extra = (f", stride={conv.stride}" if conv.stride != 1 else "") + (f", padding={conv.padding}" if conv.padding else "")
            bn = f" nn.BatchNorm2d({conv.out_channels})," if spec.batch_norm else ""
            lines.append(f"nn.Conv2d({in_channels}, {conv.out_channels}, kernel_size={conv.kernel}{extra}),{bn} nn.ReLU(),")
            in_channels = conv.out_channels
        lines.append(f"nn.MaxPool2d(kernel_size={stage.pool.kernel}, stride={stage.pool.stride}),")
    side, fc = spec.feature_size, spec.fc_width
    lines += [
        "nn.Flatten(),",
        f"# {spec.input_size}x{spec.input_size} input: the last feature map is {in_channels}x{side}x{side}",
        f"nn.Linear({spec.flatten_size}, {fc}), nn.ReLU(), nn.Dropout(p={spec.dropout}),",
        f"nn.Linear({fc}, {fc}), nn.ReLU(), nn.Dropout(p={spec.dropout}),",
        f"nn.Linear({fc}, {spec.num_classes}))",
    ]
    return (
        "import torch\n"
        "from torch import nn\n\n"
        "net = nn.Sequential(\n"
        + "".join(f"    {line}\n" for line in lines)
        + "\n"
        f"X = torch.randn(size=(1, {spec.in_channels}, {spec.input_size}, {spec.input_size}))\n"
        + _SHAPE_WALK
    )
