"""Every piece of UI text, in English and Chinese: one dict per language, ``t(key)`` to look up.

Messages from the core (``SpecError``) stay in English; the text around them is translated.
"""

from __future__ import annotations

from typing import Callable, Iterable

import streamlit as st

EN: dict[str, str] = {
    # app shell
    "app.title": "VGG Explorer",
    "lang.label": "Language",
    "nav.explore": "Explore",
    "nav.compare": "Compare",
    "nav.train": "Train",
    "nav.gpu": "GPU",
    "sidebar.current": "Current architecture",
    "sidebar.preset": "Preset",
    "sidebar.blocks": "Blocks",
    "sidebar.input": "Input",
    "sidebar.classes": "Classes",
    "sidebar.fc": "FC width",
    "sidebar.params": "Parameters",
    "sidebar.macs": "MACs",
    "sidebar.link": "The page's address holds this architecture: reload or share it to get the same view.",
    "sidebar.reset": "Back to d2l's VGG-11",
    "url.warning": "The link's architecture could not be read, so the default is shown: {problem}",
    "spec.invalid": "Not applied: {problem}",
    # presets
    "preset.vgg11": "VGG-11 (A)",
    "preset.vgg13": "VGG-13 (B)",
    "preset.vgg16": "VGG-16 (D)",
    "preset.vgg19": "VGG-19 (E)",
    "preset.d2l": "d2l training setting (VGG-11, ratio 4)",
    "preset.custom": "custom",
    "preset.current": "current (from Explore)",
    # explore: inputs
    "explore.title": "VGG architecture explorer",
    "explore.caption": (
        "d2l §7.2, Networks Using Blocks: a VGG network is `conv_arch`, a list of blocks "
        "(num_convs, out_channels), each block ending in a 2×2 max-pool, then three fully-connected layers. "
        "Change anything below and every number follows, measured from PyTorch itself."
    ),
    "explore.inputs": "Architecture",
    "input.preset": "Preset",
    "input.conv_arch": "conv_arch",
    "input.conv_arch.help": (
        "Blocks of (num_convs, out_channels), in d2l's syntax ((1, 64), (1, 128), (2, 256)) "
        "or compact 1x64 1x128 2x256. Press Enter to apply."
    ),
    "input.blocks": "Blocks (edit cells, add or delete rows)",
    "input.num_convs": "num_convs",
    "input.out_channels": "out_channels",
    "input.built_channels": "Channels as built, out_channels // {ratio}: {channels}",
    "input.ratio": "ratio",
    "input.ratio.help": "d2l's channel divisor: each block gets out_channels // ratio channels (d2l trains with 4).",
    "input.input_size": "Input size (pixels)",
    "input.in_channels": "Input channels",
    "input.num_classes": "Classes",
    "input.fc_width": "FC width",
    "input.batch_norm": "BatchNorm",
    "input.batch_norm.help": "A BatchNorm2d after every convolution, as torchvision's vgg11_bn.",
    # explore: results
    "explore.last_valid": "The table shows the last valid architecture, {arch}.",
    "totals.params": "Parameters",
    "totals.macs": "MACs",
    "totals.flatten": "Flatten width",
    "totals.param_mem": "Parameter memory",
    "totals.act_mem": "Activations per image",
    "totals.flatten.caption": "{c} channels × {s} × {s}",
    "totals.param_mem.caption": "float32 weights",
    "totals.act_mem.caption": "float32 layer outputs, forward",
    "split.title": "Convolutions vs fully-connected layers",
    "split.conv": "convolutions",
    "split.fc": "fully connected",
    "split.params_fc": "Parameters in FC layers",
    "split.macs_conv": "MACs in convolutions",
    "split.params_caption": "conv {conv} · FC {fc}",
    "split.macs_caption": "conv {conv} · FC {fc}",
    "split.axis_share": "share (%)",
    "split.row_params": "Parameters",
    "split.row_macs": "MACs",
    "table.title": "Layer by layer",
    "table.view": "View",
    "table.view.layers": "Layers",
    "table.view.blocks": "Blocks",
    "table.download": "Download CSV",
    "col.block": "block",
    "col.layer": "layer",
    "col.type": "type",
    "col.module": "PyTorch name",
    "col.output_shape": "output shape",
    "col.params": "params",
    "col.macs": "MACs",
    "col.activation": "activation memory",
    "block.n": "block {n}",
    "block.classifier": "classifier",
    "charts.title": "Where the parameters and the compute are",
    "charts.params": "Parameters per layer",
    "charts.macs": "MACs per layer",
    "charts.log": "Logarithmic scale",
    "charts.kind": "kind",
    "charts.lesson": (
        "The first Linear layer ({layer}) alone holds {first} of the {total} parameters ({first_pct}); "
        "the fully-connected layers together hold {fc_pct}. The convolutions do {conv_macs_pct} of the MACs."
    ),
    "code.title": "PyTorch code (d2l style)",
    # compare
    "compare.title": "Compare architectures",
    "compare.caption": (
        "Presets keep their blocks and ratio; every architecture here uses the current input "
        "({input}), {classes} classes and FC width {fc}, so the numbers compare like for like."
    ),
    "compare.choose": "Architectures",
    "compare.custom": "Custom architectures, one conv_arch per line (ratio 1)",
    "compare.custom.help": "e.g. ((1, 32), (1, 64), (2, 128)) or 2x64 2x128 3x256",
    "compare.custom.name": "custom {n}",
    "compare.custom.error": "Line {n}: {problem}",
    "compare.preset.error": "{name} does not fit the current input: {problem}",
    "compare.need_two": "Choose at least two architectures to compare.",
    "compare.totals": "Totals",
    "compare.shapes": "Output shape of each block",
    "compare.charts": "Per block",
    "compare.params": "Parameters per block",
    "compare.macs": "MACs per block",
    "compare.architecture": "architecture",
    "row.conv_arch": "conv_arch (as built)",
    "row.conv_layers": "conv layers",
    "row.flatten": "Flatten width",
    "row.params": "parameters",
    "row.params_h": "parameters (≈)",
    "row.macs": "MACs",
    "row.macs_h": "MACs (≈)",
    "row.param_mem": "parameter memory",
    "row.act_mem": "activations per image",
    "row.fc_pct": "parameters in FC layers",
    "row.conv_macs_pct": "MACs in convolutions",
    # placeholders
    "train.title": "Train on Fashion-MNIST",
    "train.soon": "Training the current architecture, with live charts, arrives soon.",
    "gpu.title": "GPU status",
    "gpu.soon": "The GPU panel (every nvidia-smi field, explained) arrives soon.",
}

ZH: dict[str, str] = {
    "app.title": "VGG 探索器",
    "lang.label": "语言",
    "nav.explore": "架构浏览",
    "nav.compare": "架构对比",
    "nav.train": "训练",
    "nav.gpu": "GPU 状态",
    "sidebar.current": "当前架构",
    "sidebar.preset": "预设",
    "sidebar.blocks": "块",
    "sidebar.input": "输入",
    "sidebar.classes": "类别数",
    "sidebar.fc": "全连接宽度",
    "sidebar.params": "参数量",
    "sidebar.macs": "乘加运算 (MACs)",
    "sidebar.link": "页面地址保存了这个架构:刷新或分享链接即可得到同样的视图。",
    "sidebar.reset": "恢复 d2l 的 VGG-11",
    "url.warning": "无法读取链接中的架构,已显示默认架构:{problem}",
    "spec.invalid": "未应用:{problem}",
    "preset.vgg11": "VGG-11 (A)",
    "preset.vgg13": "VGG-13 (B)",
    "preset.vgg16": "VGG-16 (D)",
    "preset.vgg19": "VGG-19 (E)",
    "preset.d2l": "d2l 训练设置 (VGG-11, ratio 4)",
    "preset.custom": "自定义",
    "preset.current": "当前架构 (来自架构浏览)",
    "explore.title": "VGG 架构浏览",
    "explore.caption": (
        "d2l 7.2 节,使用块的网络 (VGG):VGG 网络由 `conv_arch` 描述,即若干块 (num_convs, out_channels),"
        "每块以 2×2 最大汇聚层结束,之后是三个全连接层。修改下面任意一项,所有数字随之更新,均由 PyTorch 实测得出。"
    ),
    "explore.inputs": "架构",
    "input.preset": "预设",
    "input.conv_arch": "conv_arch",
    "input.conv_arch.help": (
        "块列表 (num_convs, out_channels),可用 d2l 写法 ((1, 64), (1, 128), (2, 256)) "
        "或简写 1x64 1x128 2x256。按回车应用。"
    ),
    "input.blocks": "块 (可编辑单元格、增删行)",
    "input.num_convs": "num_convs",
    "input.out_channels": "out_channels",
    "input.built_channels": "实际通道数 out_channels // {ratio}:{channels}",
    "input.ratio": "ratio",
    "input.ratio.help": "d2l 的通道缩减比:每块通道数为 out_channels // ratio (d2l 训练时取 4)。",
    "input.input_size": "输入尺寸 (像素)",
    "input.in_channels": "输入通道数",
    "input.num_classes": "类别数",
    "input.fc_width": "全连接宽度",
    "input.batch_norm": "BatchNorm",
    "input.batch_norm.help": "每个卷积层后加一个 BatchNorm2d,与 torchvision 的 vgg11_bn 相同。",
    "explore.last_valid": "表格显示的是上一个有效架构 {arch}。",
    "totals.params": "参数量",
    "totals.macs": "乘加运算 (MACs)",
    "totals.flatten": "展平 (Flatten) 宽度",
    "totals.param_mem": "参数内存",
    "totals.act_mem": "每张图像的激活内存",
    "totals.flatten.caption": "{c} 通道 × {s} × {s}",
    "totals.param_mem.caption": "float32 权重",
    "totals.act_mem.caption": "float32 各层前向输出",
    "split.title": "卷积层与全连接层",
    "split.conv": "卷积层",
    "split.fc": "全连接层",
    "split.params_fc": "全连接层的参数占比",
    "split.macs_conv": "卷积层的 MACs 占比",
    "split.params_caption": "卷积 {conv} · 全连接 {fc}",
    "split.macs_caption": "卷积 {conv} · 全连接 {fc}",
    "split.axis_share": "占比 (%)",
    "split.row_params": "参数量",
    "split.row_macs": "MACs",
    "table.title": "逐层统计",
    "table.view": "视图",
    "table.view.layers": "按层",
    "table.view.blocks": "按块",
    "table.download": "下载 CSV",
    "col.block": "块",
    "col.layer": "层",
    "col.type": "类型",
    "col.module": "PyTorch 名称",
    "col.output_shape": "输出形状",
    "col.params": "参数量",
    "col.macs": "MACs",
    "col.activation": "激活内存",
    "block.n": "块 {n}",
    "block.classifier": "分类器",
    "charts.title": "参数和计算量在哪里",
    "charts.params": "各层参数量",
    "charts.macs": "各层 MACs",
    "charts.log": "对数坐标",
    "charts.kind": "类别",
    "charts.lesson": (
        "仅第一个全连接层 ({layer}) 就有 {first} 个参数,占全部 {total} 的 {first_pct};"
        "全连接层合计占 {fc_pct}。而卷积层完成了 {conv_macs_pct} 的乘加运算。"
    ),
    "code.title": "PyTorch 代码 (d2l 风格)",
    "compare.title": "架构对比",
    "compare.caption": (
        "预设保留其块和 ratio;这里所有架构都使用当前的输入 ({input})、{classes} 个类别和全连接宽度 {fc},"
        "以便公平比较。"
    ),
    "compare.choose": "参与对比的架构",
    "compare.custom": "自定义架构,每行一个 conv_arch (ratio 为 1)",
    "compare.custom.help": "例如 ((1, 32), (1, 64), (2, 128)) 或 2x64 2x128 3x256",
    "compare.custom.name": "自定义 {n}",
    "compare.custom.error": "第 {n} 行:{problem}",
    "compare.preset.error": "{name} 不适用于当前输入:{problem}",
    "compare.need_two": "请至少选择两个架构进行对比。",
    "compare.totals": "总计",
    "compare.shapes": "各块输出形状",
    "compare.charts": "按块统计",
    "compare.params": "各块参数量",
    "compare.macs": "各块 MACs",
    "compare.architecture": "架构",
    "row.conv_arch": "conv_arch (实际通道)",
    "row.conv_layers": "卷积层数",
    "row.flatten": "展平宽度",
    "row.params": "参数量",
    "row.params_h": "参数量 (约)",
    "row.macs": "MACs",
    "row.macs_h": "MACs (约)",
    "row.param_mem": "参数内存",
    "row.act_mem": "每张图像的激活内存",
    "row.fc_pct": "全连接层参数占比",
    "row.conv_macs_pct": "卷积层 MACs 占比",
    "train.title": "在 Fashion-MNIST 上训练",
    "train.soon": "训练当前架构 (含实时曲线) 的功能即将推出。",
    "gpu.title": "GPU 状态",
    "gpu.soon": "GPU 面板 (逐项解释 nvidia-smi 的每个字段) 即将推出。",
}

TEXTS = {"en": EN, "zh": ZH}
LANG_LABELS = {"en": "English", "zh": "中文"}


def lang() -> str:
    value = st.session_state.get("lang", "en")
    return value if value in TEXTS else "en"


def t(key: str, **values: object) -> str:
    """The text for ``key`` in the session's language, with ``{name}`` fields filled in."""
    text = TEXTS[lang()].get(key) or EN[key]
    return text.format(**values) if values else text


def labels(prefix: str, options: Iterable[str]) -> Callable[[str], str]:
    """A widget's ``format_func``, fixed to this run's language.

    Looked up now rather than when called, so the function means the same thing wherever it
    is called later (Streamlit's AppTest calls it outside the script run).
    """
    table = {option: t(f"{prefix}.{option}") for option in options}
    return table.__getitem__
