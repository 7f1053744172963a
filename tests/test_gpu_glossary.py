"""Every figure the GPU panel shows has a tooltip in English and Chinese, true to the seed's guide."""

from __future__ import annotations

import re

import pytest

from vgg_core import gpu
from vgg_core.glossary import KEYS, explain, label, note, throttle_reason, util_note

SHOWN = (
    [*gpu.GPU_FIELDS, *gpu.GPU_DETAIL_FIELDS, "lost"]
    + [f"processes.{f}" for f in gpu.PROCESS_FIELDS]
    + [f"host.{f}" for f in gpu.HOST_FIELDS]
    + ["driver_version", "cuda_version"]
)
HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize("key", SHOWN)
def test_every_field_explained_in_both_languages(key: str) -> None:
    assert label(key).strip()
    assert len(explain(key, "en")) > 15 and not HAN.search(explain(key, "en"))
    assert len(HAN.findall(explain(key, "zh"))) >= 5


def test_nothing_unexplained_and_nothing_stale() -> None:
    assert set(KEYS) == set(SHOWN)


def test_snapshot_keys_are_all_covered() -> None:
    """The keys a real snapshot carries (less bookkeeping) are exactly the glossary's."""
    g = gpu.GpuInfo(index=0).to_dict()
    keys = set(g) - {"reason", "na_reasons"} | {f"host.{k}" for k in gpu.host_stats().to_dict()}
    keys |= {f"processes.{k}" for k in gpu.ProcessInfo(1, None, None, "C").__dict__}
    keys |= {"driver_version", "cuda_version"}
    assert keys == set(KEYS)


def test_labels_are_nvidia_smis_columns() -> None:
    labels = {label(k) for k in KEYS}
    for column in ("GPU", "Fan", "Name", "Temp", "Perf", "Persistence-M", "Bus-Id", "Disp.A",
                   "GPU-Util", "Volatile Uncorr. ECC", "Compute M.", "Processes"):
        assert column in labels, column


@pytest.mark.parametrize(
    "key,zh,en",
    [
        ("performance_state", "从 P0（最大性能）到 P12（最小性能）", "from P0 (maximum performance) to P12 (minimum performance)"),
        ("persistence_mode", "持续模式虽然耗能大，但是在新的 GPU 应用启动时花费的时间更少", "a new GPU program starts faster"),
        ("fan_percent", "N/A 表示没有风扇", "N/A means the card has no fan"),
        ("temperature_c", "GPU 温度过高会导致 GPU 的频率下降", "lowers its clock"),
        ("bus_id", "domain:bus:device.function", "domain:bus:device.function"),
        ("display_active", "表示 GPU 的显示是否初始化", "Display Active"),
        ("index", "从 0 开始编号", "numbered from 0"),
        ("utilization_percent", "不是显存用了多少", "not how much memory is used"),
        ("memory_used_mib", "显存占用不等于 GPU 使用率", "This is not how busy the GPU is"),
    ],
)
def test_faithful_to_the_seed(key: str, zh: str, en: str) -> None:
    assert zh in explain(key, "zh")
    assert en in explain(key, "en")


def test_the_note_on_memory_versus_utilisation() -> None:
    assert "显存占用和 GPU 占用是两个不一样的东西" in note("zh") and "caffe" in note("zh") and "TensorFlow" in note("zh")
    assert "two different things" in note("en") and "Caffe" in note("en") and "TensorFlow" in note("en")


def test_explain_and_its_errors() -> None:
    assert explain("fan_percent", "zh").startswith("风扇转速")
    assert explain("fan_percent") == explain("fan_percent", "en")
    with pytest.raises(KeyError, match="allowed: en, zh"):
        explain("fan_percent", "fr")
    with pytest.raises(KeyError, match="no glossary entry"):
        explain("fan_speed")
    assert label("compute_mode") == "Compute M."


def test_gpu_util_note_says_a_kernel_ran_not_full() -> None:
    assert "a kernel was running" in util_note("en") and "not that the GPU is full" in util_note("en")
    assert "有内核在运行" in util_note("zh") and "\n" not in util_note("zh")


@pytest.mark.parametrize("name", sorted(gpu.THROTTLE_REASONS.values()))
def test_every_clock_reason_in_words_in_both_languages(name: str) -> None:
    assert throttle_reason(name, "en").strip() and HAN.search(throttle_reason(name, "zh"))
    assert "_" not in throttle_reason(name, "en")


def test_unknown_clock_reason_bits_named_and_typos_refused() -> None:
    assert "0x8000" in throttle_reason("other_0x8000") and "0x8000" in throttle_reason("other_0x8000", "zh")
    with pytest.raises(KeyError):
        throttle_reason("too_hot")
