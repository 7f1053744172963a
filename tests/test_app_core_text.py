"""The core's one-line messages on the Chinese page: each made for real, then translated."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path
from typing import Callable

import fake_pynvml as fake
import pytest
import torch
from fake_pynvml import FakeGpu
from streamlit.testing.v1 import AppTest

from pages import core_text
from pages.core_text import PATTERNS, TEXTS, translate
from pages.state import spec_from_query
from vgg_core import gpu
from vgg_core.device import resolve_device
from vgg_core.job import failure_reason
from vgg_core.launch import LaunchError, TrainRequest, delete_run, measure_speed, start_run, stop_run
from vgg_core.runs import RunDirError, run_state
from vgg_core.spec import ArchSpec, SpecError, parse_conv_arch, preset
from vgg_core.train import TrainConfig, check_setup

from test_engine_launch import SMALL, wait_for

ROOT = Path(__file__).resolve().parents[1]
CJK = re.compile(r"[\u4e00-\u9fff]")
# Words of the English sentences; none may be left in a translation (quoted values hold none of them).
ENGLISH = re.compile(r"\b(must|got|allowed|is|the|use|or|at|most|from|to|of|has|not|such|as|write|took|over|failed|"
                     r"stop|first|exist|does|unknown|busy|with|wait|until|visible|available|needed|empty|leaves)\b")

REFUSALS: dict[str, Callable[[], object]] = {
    "whole number": lambda: ArchSpec(ratio="four"),
    "range": lambda: ArchSpec(fc_width=0),
    "block range": lambda: ArchSpec(conv_arch=((99, 64),)),
    "dropout": lambda: ArchSpec(dropout=1.5),
    "batch_norm": lambda: ArchSpec(batch_norm="yes"),
    "no channels": lambda: ArchSpec(conv_arch=((1, 2),), ratio=4),
    "too small, fewer blocks": lambda: ArchSpec(input_size=4),
    "too small": lambda: ArchSpec(conv_arch=((1, 64),), input_size=1),
    "no blocks": lambda: ArchSpec(conv_arch=()),
    "too many blocks": lambda: ArchSpec(conv_arch=((1, 8),) * 13, input_size=4096),
    "not pairs": lambda: ArchSpec(conv_arch="abc"),
    "empty text": lambda: parse_conv_arch("  "),
    "long text": lambda: parse_conv_arch("1x64 " * 500),
    "not text": lambda: parse_conv_arch(64),
    "not a list": lambda: parse_conv_arch("((1, 64)"),
    "a number": lambda: parse_conv_arch("64"),
    "compact token": lambda: parse_conv_arch("1x64 two"),
    "not a pair": lambda: parse_conv_arch("((1, 64, 3),)"),
    "preset": lambda: preset("vgg99"),
    "field": lambda: ArchSpec.from_dict({"depth": 3}),
    "link bn": lambda: spec_from_query({"bn": "yes"}),
    "link number": lambda: spec_from_query({"size": "big"}),
    "link ratio": lambda: spec_from_query({"ratio": "65"}),
    "classes": lambda: check_setup(SMALL.replace(num_classes=5), TrainConfig(device="cpu")),
    "device": lambda: resolve_device("cuda:7"),
    "speed timeout": lambda: measure_speed("cpu", timeout=0.01),
    "speed failed": lambda: measure_speed("cuda:7"),
    "no such run": lambda: delete_run(ROOT / "runs-that-are-not-there", "gone-404"),
}
# Why a run failed, as the training process words it for its run folder.
OOM = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
FAILURES: dict[str, Callable[[], str]] = {
    "out of memory": lambda: failure_reason(OOM, SMALL, TrainConfig(), torch.device("cpu")),
    # no estimate for a GPU that is not there: the message comes without the memory figures
    "out of memory, no estimate": lambda: failure_reason(OOM, SMALL, TrainConfig(), torch.device("cuda", 7)),
}


def refusal(make: Callable[[], object]) -> list[str]:
    with pytest.raises((SpecError, LaunchError, RunDirError, ValueError)) as info:
        make()
    return getattr(info.value, "problems", None) or [str(info.value)]


def check_translation(english: str) -> str:
    zh = translate(english, "zh")
    assert zh != english and CJK.search(zh), f"untranslated: {english}"
    assert not ENGLISH.search(zh), f"English left in {zh!r} (from {english!r})"
    assert set(re.findall(r"\d+", zh)) == set(re.findall(r"\d+", english)), (english, zh)  # figures carry over
    return zh


def raising(error: Exception) -> Callable[..., object]:
    def call(*args: object) -> object:
        raise error

    return call


def gpu_reasons(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Why the GPU panel has no GPU to show: the real pynvml on this machine, then each failure on
    the NVML stand-in (NVML's own codes and error classes)."""
    reasons = []

    def snap(binding) -> gpu.Snapshot:
        gpu.shutdown()
        monkeypatch.setattr(gpu, "_import_pynvml", binding)
        return gpu.snapshot()

    real = snap(gpu._import_pynvml)
    reasons.append(real.reason if not real.available else "")
    for code in (fake.NVML_ERROR_LIBRARY_NOT_FOUND, fake.NVML_ERROR_DRIVER_NOT_LOADED, fake.NVML_ERROR_NO_PERMISSION,
                 fake.NVML_ERROR_LIB_RM_VERSION_MISMATCH, fake.NVML_ERROR_GPU_NOT_FOUND, fake.NVML_ERROR_UNKNOWN):
        fake.configure(init_error=code)
        reasons.append(snap(lambda: fake).reason)
    fake.configure(gpus=[])
    reasons.append(snap(lambda: fake).reason)
    reasons.append(snap(raising(ModuleNotFoundError("No module named 'pynvml'"))).reason)
    fake.configure()
    monkeypatch.setattr(fake, "nvmlDeviceGetName", raising(RuntimeError("ctypes went wrong")))
    reasons.append(snap(lambda: fake).reason)
    monkeypatch.undo()
    fake.configure(gpus=[FakeGpu(name="A"), FakeGpu(name="B")])
    real_handle = fake.nvmlDeviceGetHandleByIndex
    monkeypatch.setattr(fake, "nvmlDeviceGetHandleByIndex",
                        lambda i: fake._raise(fake.NVML_ERROR_NO_PERMISSION) if i == 1 else real_handle(i))
    reasons.append(snap(lambda: fake).gpus[1].reason)
    gpu.shutdown()
    return [r for r in reasons if r]


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict[str, list[str]]:
    """Every message above, the GPU panel's reasons, and what a live run causes: a second launch,
    deleting it, and killing it (a lost run)."""
    messages = {name: refusal(make) for name, make in REFUSALS.items()}
    messages.update({name: [make()] for name, make in FAILURES.items()})
    with pytest.MonkeyPatch.context() as monkeypatch:
        messages["gpu"] = gpu_reasons(monkeypatch)
    root = tmp_path_factory.mktemp("runs")
    run_dir = start_run(SMALL, TrainRequest(epochs=20, device="cpu"), root)
    try:
        messages["busy"] = refusal(lambda: start_run(SMALL, TrainRequest(epochs=1, device="cpu"), root))
        messages["running"] = refusal(lambda: delete_run(root, run_dir.name))
        pid = wait_for(lambda: run_state(run_dir).state == "running" and run_state(run_dir).pid)
        os.kill(pid, signal.SIGKILL)  # a process killed outright writes no final status: the run is lost
        messages["lost"] = [wait_for(lambda: run_state(run_dir).state == "lost" and run_state(run_dir).reason)]
    finally:
        stop_run(run_dir)
    return messages


@pytest.mark.timeout(300)
def test_every_refusal_the_core_writes_reads_in_chinese(made):
    for name, problems in made.items():
        for english in problems:
            check_translation(english)


@pytest.mark.timeout(300)
def test_every_pattern_still_matches_a_message_the_core_writes(made):
    """A reworded core message leaves its pattern matching nothing: that fails here."""
    texts = [m for problems in made.values() for m in problems]
    texts += [core_text._BLOCK.sub(r"\g<rest>", m) for m in texts]
    # A pattern counts as used when it is the first to match a message, the one translate() takes;
    # a message quoted inside another (a reason, a child's refusal) counts too.
    firsts = set()
    while texts:
        text = texts.pop()
        i, m = next(((i, m) for i, (p, _) in enumerate(PATTERNS) if (m := p.fullmatch(text))), (None, None))
        firsts.add(i)
        texts += [v for k, v in (m.groupdict() if m else {}).items() if k in ("why", "reason")]
    unused = [en for i, (en, _) in enumerate(TEXTS) if i not in firsts]
    # "cuda:7" is either missing (no GPU here) or one past the GPUs there are: one of the two is not made.
    other = "does not exist: {count} CUDA GPU(s)" if not torch.cuda.is_available() else "no CUDA GPU is visible"
    assert [en for en in unused if other not in en] == []


def test_block_counts_and_nested_reasons_are_translated():
    zh = check_translation(refusal(REFUSALS["too small, fewer blocks"])[0])
    assert "5 个块" in zh and "最多 2 个块" in zh
    assert translate(refusal(REFUSALS["block range"])[0], "zh").startswith("第 1 块: num_convs")


def test_english_and_unknown_messages_pass_unchanged():
    english = refusal(REFUSALS["dropout"])[0]
    assert translate(english, "en") == english
    for unknown in ("CUDA out of memory", "block 2: something new happened"):
        assert translate(unknown, "zh") == unknown


@pytest.mark.timeout(300)
def test_the_chinese_page_shows_the_refusal_in_chinese():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params.update({"lang": "zh"})
    at.run()
    at.text_input(key="conv_arch").input("1x64 two").run()
    assert not at.exception
    errors = [e.value.replace("\\", "") for e in at.error]
    assert errors == ["未应用:第 2 块: 'two' 不是 2x256 这样的 层数x通道数 写法"], errors


@pytest.mark.timeout(300)
def test_a_bad_link_warns_in_chinese():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params.update({"lang": "zh", "ratio": "65"})
    at.run()
    assert not at.exception
    assert [w.value for w in at.warning] == ["无法读取链接中的架构,已显示默认架构:ratio 必须在 1 到 64 之间, 当前为 65"]
