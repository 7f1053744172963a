"""What each nvidia-smi field means, in English and Chinese, for the UI's tooltips and the CLI's help.

The texts live in the core's locale files (``glossary.<key>.label`` and ``.help``), beside the
refusals, so one mechanism carries every translated text. Keys are the snapshot's keys
(``vgg_core.gpu``): per-GPU fields, ``processes.<field>`` for a process row, the snapshot's header
fields, ``host.<field>`` for the host figures, and NVML's figures beyond the table (clocks, clock
limits, PCIe, a process's SM share). ``label`` is the column nvidia-smi prints. The
Chinese follows the seed document's field guide; where that guide is loose (Uncorr. ECC, Compute M.)
both languages say what NVML actually reports.
"""

from __future__ import annotations

from .locale import CORE, LANGUAGES

_PREFIX, _LABEL = "glossary.", ".label"
KEYS: tuple[str, ...] = tuple(
    k[len(_PREFIX):-len(_LABEL)] for k in CORE.texts["en"] if k.startswith(_PREFIX) and k.endswith(_LABEL)
)


def label(key: str) -> str:
    """The column nvidia-smi prints for ``key`` (the same in every language)."""
    return CORE.text("en", f"{_PREFIX}{_check(key)}{_LABEL}")


def explain(key: str, lang: str = "en") -> str:
    """The tooltip for one field; raises KeyError naming what is known, so a typo shows at once."""
    return CORE.text(_lang(lang), f"{_PREFIX}{_check(key)}.help")


def note(lang: str = "en") -> str:
    """The seed's closing point: memory use and GPU utilisation are different things."""
    return CORE.text(_lang(lang), "glossary.note")


def na(lang: str = "en") -> str:
    return CORE.text(_lang(lang), "glossary.na")


def util_note(lang: str = "en") -> str:
    """One line: GPU-Util says a kernel was running, not that the GPU is full."""
    return CORE.text(_lang(lang), "glossary.util_note")


# Each name in vgg_core.gpu.THROTTLE_REASONS -> its text's key, written out in full (tests find each key used).
THROTTLE_KEYS = {
    "gpu_idle": "throttle.gpu_idle", "applications_clocks": "throttle.applications_clocks",
    "sw_power_cap": "throttle.sw_power_cap", "hw_slowdown": "throttle.hw_slowdown",
    "sync_boost": "throttle.sync_boost", "sw_thermal": "throttle.sw_thermal", "hw_thermal": "throttle.hw_thermal",
    "hw_power_brake": "throttle.hw_power_brake", "display_clocks": "throttle.display_clocks",
    "board_limit": "throttle.board_limit", "reliability": "throttle.reliability",
}


def throttle_reason(name: str, lang: str = "en") -> str:
    """A reason from ``GpuInfo.throttle_reasons`` in words ('power cap'); ``other_0x800`` names its bits."""
    if name.startswith("other_"):
        return CORE.text(_lang(lang), "throttle.other", bits=name.removeprefix("other_"))
    if name not in THROTTLE_KEYS:
        raise KeyError(f"no text for clock reason {name!r}")
    return CORE.text(_lang(lang), THROTTLE_KEYS[name])


def _check(key: str) -> str:
    if key not in KEYS:
        raise KeyError(f"no glossary entry for {key!r}")
    return key


def _lang(lang: str) -> str:
    if lang not in LANGUAGES:
        raise KeyError(f"unknown language {lang!r}; allowed: {', '.join(LANGUAGES)}")
    return lang


__all__ = ["KEYS", "LANGUAGES", "label", "explain", "note", "na", "util_note", "throttle_reason"]
