"""Build the network exactly as d2l lays it out, so state dicts and printouts match the book."""

from __future__ import annotations

from torch import nn

from .spec import ArchSpec, format_conv_arch


def vgg_block(num_convs: int, in_channels: int, out_channels: int, batch_norm: bool = False) -> nn.Sequential:
    """d2l's ``vgg_block``: (3x3 conv, padding 1 [, BN], ReLU) x num_convs, then a 2x2 max-pool."""
    layers: list[nn.Module] = []
    for _ in range(num_convs):
        layers.append(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ReLU())
        in_channels = out_channels
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


def build_model(spec: ArchSpec) -> nn.Sequential:
    """d2l's ``vgg(conv_arch)``: blocks, Flatten, (Linear, ReLU, Dropout) x 2, Linear.

    Unlike d2l, the first Linear's width is the real flattened size, so any input size or
    block count works. Build under ``torch.device("meta")`` to get the shape without memory.
    """
    blocks = []
    in_channels = spec.in_channels
    for num_convs, out_channels in spec.blocks:
        blocks.append(vgg_block(num_convs, in_channels, out_channels, spec.batch_norm))
        in_channels = out_channels
    return nn.Sequential(
        *blocks,
        nn.Flatten(),
        nn.Linear(spec.flatten_size, spec.fc_width),
        nn.ReLU(),
        nn.Dropout(spec.dropout),
        nn.Linear(spec.fc_width, spec.fc_width),
        nn.ReLU(),
        nn.Dropout(spec.dropout),
        nn.Linear(spec.fc_width, spec.num_classes),
    )


def init_xavier(model: nn.Module) -> nn.Module:
    """d2l's ``train_ch6`` init: Xavier-uniform weights on every Linear and Conv2d, biases as PyTorch left them."""
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
    return model


def model_code(spec: ArchSpec) -> str:
    """The current model as d2l-style PyTorch code, for a person to copy and run."""
    bn = spec.batch_norm
    block_body = (
        "        layers.append(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1))\n"
        + ("        layers.append(nn.BatchNorm2d(out_channels))\n" if bn else "")
        + "        layers.append(nn.ReLU())\n"
    )
    arch_line = f"conv_arch = {format_conv_arch(spec.conv_arch)}\n"
    if spec.ratio != 1:
        arch_line += f"ratio = {spec.ratio}\nconv_arch = [(pair[0], pair[1] // ratio) for pair in conv_arch]\n"
    return (
        "import torch\n"
        "from torch import nn\n\n\n"
        "def vgg_block(num_convs, in_channels, out_channels):\n"
        "    layers = []\n"
        "    for _ in range(num_convs):\n"
        f"{block_body}"
        "        in_channels = out_channels\n"
        "    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))\n"
        "    return nn.Sequential(*layers)\n\n\n"
        "def vgg(conv_arch):\n"
        "    conv_blks = []\n"
        f"    in_channels = {spec.in_channels}\n"
        "    for (num_convs, out_channels) in conv_arch:\n"
        "        conv_blks.append(vgg_block(num_convs, in_channels, out_channels))\n"
        "        in_channels = out_channels\n"
        "    return nn.Sequential(\n"
        "        *conv_blks, nn.Flatten(),\n"
        f"        # {spec.input_size}x{spec.input_size} input, {len(spec.conv_arch)} block{'s' if len(spec.conv_arch) != 1 else ''}: "
        f"the last feature map is {spec.feature_size}x{spec.feature_size}\n"
        f"        nn.Linear(out_channels * {spec.feature_size} * {spec.feature_size}, {spec.fc_width}), "
        f"nn.ReLU(), nn.Dropout({spec.dropout}),\n"
        f"        nn.Linear({spec.fc_width}, {spec.fc_width}), nn.ReLU(), nn.Dropout({spec.dropout}),\n"
        f"        nn.Linear({spec.fc_width}, {spec.num_classes}))\n\n\n"
        f"{arch_line}"
        "net = vgg(conv_arch)\n"
        f"X = torch.randn(size=(1, {spec.in_channels}, {spec.input_size}, {spec.input_size}))\n"
        "for blk in net:\n"
        "    X = blk(X)\n"
        "    print(blk.__class__.__name__, 'output shape:\\t', X.shape)\n"
    )
