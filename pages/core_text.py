"""The core's one-line refusals, in the page's language.

``vgg_core`` writes its messages in English: its CLI and library callers read them. The Chinese
page shows the same message in Chinese by matching it against the patterns below, one per message
the core (or ``pages.state``) can write. A message no pattern knows is shown in English, as before.
``tests/test_app_core_text.py`` makes each of those messages, for real, and checks that every
pattern still matches one, so a reworded core message fails a test instead of going untranslated.
"""

from __future__ import annotations

import re
from typing import Iterable

from .i18n import lang

_BLOCK = re.compile(r"block (?P<i>\d+): (?P<rest>.*)", re.S)
_BLOCKS = re.compile(r"\b(\d+) blocks?\b")
_FIELD = re.compile(r"\{(\w+)\}")

# (English, written as the core's f-string, each {field} a value it quotes; the Chinese, with the
# same fields). Where two could match, the more specific comes first.
TEXTS: list[tuple[str, str]] = [
    # vgg_core.spec: numbers and fields
    ("{name} must be a whole number from {low} to {high}, got {got}",
     "{name} 必须是 {low} 到 {high} 之间的整数, 当前为 {got}"),
    ("dropout must be a number from 0 up to (not including) 1, got {got}",
     "dropout 必须是 0 到 1 之间的数 (不含 1), 当前为 {got}"),
    ("batch_norm must be true or false, got {got}", "batch_norm 必须是 true 或 false, 当前为 {got}"),
    ("ratio {r} leaves {c} // {r2} = 0 channels; use a ratio of at most {most} or more channels",
     "ratio {r} 使 {c} // {r2} = 0 个通道; 请把 ratio 设为不超过 {most}, 或增加通道数"),
    ("input_size {size} is too small for {n}: the side reaches 0 after block {at} (each block halves it); "
     "use input_size >= {need} or at most {k}",
     "input_size {size} 对 {n} 来说太小: 边长在第 {at} 块后变为 0 (每个块减半); "
     "请使用 input_size >= {need}, 或最多 {k}"),
    ("input_size {size} is too small for {n}: the side reaches 0 after block {at} (each block halves it); "
     "use input_size >= {need}",
     "input_size {size} 对 {n} 来说太小: 边长在第 {at} 块后变为 0 (每个块减半); "
     "请使用 input_size >= {need}"),
    # ranges: the spec's, the Train page's and pages.state's
    ("{name} must be from {low} to {high}, got {got}", "{name} 必须在 {low} 到 {high} 之间, 当前为 {got}"),
    # vgg_core.spec: conv_arch
    ("conv_arch has no blocks; at least 1 is needed", "conv_arch 没有任何块, 至少需要 1 个"),
    ("conv_arch has {n} blocks; at most {most} allowed", "conv_arch 有 {n} 个块, 最多允许 {most} 个"),
    ("conv_arch is empty; write blocks as ((1, 64), (1, 128)) or 1x64 1x128",
     "conv_arch 为空; 请写成 ((1, 64), (1, 128)) 或 1x64 1x128"),
    ("conv_arch text is {n} characters; at most {most} allowed",
     "conv_arch 文本有 {n} 个字符, 最多允许 {most} 个"),
    ("conv_arch must be text, got {got}", "conv_arch 必须是文本, 当前为 {got}"),
    ("conv_arch {text} is not a list of (num_convs, out_channels) pairs; write ((1, 64), (1, 128), (2, 256)) "
     "or 1x64 1x128 2x256",
     "conv_arch {text} 不是 (num_convs, out_channels) 对组成的列表; "
     "请写成 ((1, 64), (1, 128), (2, 256)) 或 1x64 1x128 2x256"),
    ("conv_arch must be a list of (num_convs, out_channels) pairs, got {got}",
     "conv_arch 必须是 (num_convs, out_channels) 对组成的列表, 当前为 {got}"),
    ("conv_arch must be a list of (num_convs, out_channels) pairs",
     "conv_arch 必须是 (num_convs, out_channels) 对组成的列表"),
    ("{token} is not NUMxCHANNELS such as 2x256", "{token} 不是 2x256 这样的 层数x通道数 写法"),
    ("{value} is not a (num_convs, out_channels) pair", "{value} 不是一个 (num_convs, out_channels) 对"),
    ("unknown preset {name}; allowed: {allowed}", "没有预设 {name}; 可选: {allowed}"),
    ("unknown spec field(s): {names}; allowed: {allowed}", "未知的架构字段: {names}; 可用: {allowed}"),
    # pages.state: a shared link
    ("URL parameter {param} must be 0 or 1", "链接参数 {param} 必须是 0 或 1"),
    ("URL parameter {param} is not a whole number", "链接参数 {param} 不是整数"),
    # vgg_core.train, .device, .launch and .runs: what the Train page can be refused
    ("num_classes must be {n} to train on Fashion-MNIST, got {got}",
     "在 Fashion-MNIST 上训练时 num_classes 必须是 {n}, 当前为 {got}"),
    ("device {device} is not available: no CUDA GPU is visible; available: {available}",
     "设备 {device} 不可用: 看不到 CUDA GPU; 可用: {available}"),
    ("device {device} does not exist: {count} CUDA GPU(s) visible; available: {available}",
     "设备 {device} 不存在: 可见的 CUDA GPU 有 {count} 块; 可用: {available}"),
    ("{device} is busy with run {run}: stop it or wait until it ends (one run per device at a time)",
     "{device} 正在训练 {run}: 请先停止它或等它结束 (每个设备同时只跑一个训练)"),
    ("measuring the speed of {device} took over {limit} s", "测量 {device} 的速度超过了 {limit} 秒"),
    ("measuring the speed of {device} failed: {why}", "测量 {device} 的速度失败: {why}"),
    ("run {run} is still running: stop it first", "训练 {run} 仍在运行: 请先停止它"),
    ("run {run} does not exist", "训练 {run} 不存在"),
    # vgg_core.job and vgg_core.runs: why a run failed or is lost
    ("{where} out of memory at batch {batch}, input {size}: it needs about {total} (weights {weights}), {free} free; "
     "try a smaller --batch-size, a larger --ratio, a smaller --input-size or --fc-width",
     "{where} 内存不足 (batch {batch}, 输入 {size}): 约需 {total} (其中权重 {weights}), 可用 {free}; "
     "请减小 batch size、增大 ratio、减小 input_size 或 fc_width"),
    ("{where} out of memory at batch {batch}, input {size}; "
     "try a smaller --batch-size, a larger --ratio, a smaller --input-size or --fc-width",
     "{where} 内存不足 (batch {batch}, 输入 {size}); 请减小 batch size、增大 ratio、减小 input_size 或 fc_width"),
    ("the training process (pid {pid}) ended without writing a final status",
     "训练进程 (pid {pid}) 结束时没有写下最终状态"),
    # vgg_core.gpu: why there is no GPU to show (NVML's own error names stay as nvidia-smi prints them)
    ("{reason}: showing host CPU and RAM only", "{reason}: 只显示主机的 CPU 和内存"),
    ("No NVIDIA driver found (the NVML library could not be loaded)", "没有找到 NVIDIA 驱动 (无法加载 NVML 库)"),
    ("The NVIDIA driver is not loaded (NVML: Driver Not Loaded)", "NVIDIA 驱动没有加载 (NVML: Driver Not Loaded)"),
    ("No permission to query the NVIDIA driver (NVML: Insufficient Permissions)",
     "没有查询 NVIDIA 驱动的权限 (NVML: Insufficient Permissions)"),
    ("The NVIDIA driver and its NVML library do not match (restart after a driver update)",
     "NVIDIA 驱动与它的 NVML 库版本不一致 (更新驱动后请重启)"),
    ("NVML found no usable NVIDIA GPU (NVML: GPU Not Found)", "NVML 没有找到可用的 NVIDIA GPU (NVML: GPU Not Found)"),
    ("NVML found no NVIDIA GPU", "NVML 没有找到 NVIDIA GPU"),
    ("NVML could not start ({detail})", "NVML 无法启动 ({detail})"),
    ("nvidia-ml-py (pynvml) is not installed ({detail})", "没有安装 nvidia-ml-py (pynvml) ({detail})"),
    ("GPU query failed ({detail})", "GPU 查询失败 ({detail})"),
    ("NVML cannot open this GPU ({detail})", "NVML 无法打开这块 GPU ({detail})"),
]


def _regex(template: str) -> re.Pattern[str]:
    """The English template as a pattern: its text literal, each {field} any value."""
    parts = _FIELD.split(template)  # text, field, text, field, ..., text
    return re.compile("".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts)), re.S)


PATTERNS: list[tuple[re.Pattern[str], str]] = [(_regex(en), zh) for en, zh in TEXTS]


def translate(message: str, language: str) -> str:
    """``message`` in ``language``; English, or a message no pattern knows, comes back unchanged."""
    if language != "zh":
        return message
    block = _BLOCK.fullmatch(message)
    if block:
        rest = translate(block["rest"], language)
        return f"第 {block['i']} 块: {rest}" if rest != block["rest"] else message
    for pattern, zh in PATTERNS:
        m = pattern.fullmatch(message)
        if m:
            fields = m.groupdict()
            for k in ("n", "k"):  # "5 blocks" counts; other fields are quoted as they are
                if k in fields:
                    fields[k] = _BLOCKS.sub(r"\1 个块", fields[k])
            for k in ("why", "reason"):  # a message that quotes another: a speed test's, NVML's
                if k in fields:
                    fields[k] = translate(fields[k], language)
            return zh.format(**fields)
    return message


def localized(message: str) -> str:
    """One core message in the session's language."""
    return translate(message, lang())


def localized_all(problems: Iterable[str]) -> str:
    """A ProblemsError's problems on one line, as ``str(error)`` joins them, in the session's language."""
    return "; ".join(localized(p) for p in problems)


def localized_error(error: Exception) -> str:
    """A refusal from the core (its ``problems`` when it keeps them) in the session's language."""
    return localized_all(getattr(error, "problems", None) or [str(error)])
