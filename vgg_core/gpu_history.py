"""GPU and host figures over time, as a panel has seen them since it opened: bounded, with gaps kept.

Plain data over ``vgg_core.gpu``'s snapshots, so a page or any other poller can keep one per view;
``series`` puts a break wherever sampling stopped, so a chart draws no line across a pause.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from .gpu import Snapshot

GIB = 1024  # MiB per GiB
HISTORY_LEN = 300  # samples kept per panel: five minutes at one a second


def working(snap: Snapshot) -> list:
    """The GPUs that answered (a lost GPU, or one NVML cannot open, is reported on its own)."""
    return [g for g in snap.gpus if not g.lost and g.reason is None]


def same_pci(a: str | None, b: str | None) -> bool:
    """Whether two PCI addresses name one device: NVML writes 00000000:19:00.0, torch and lspci
    0000:19:00.0 or 19:00.0, in either case."""
    pa, pb = _pci(a), _pci(b)
    return pa is not None and pa == pb


def _pci(text: str | None) -> tuple[int, int, int, int] | None:
    m = re.fullmatch(r"(?:([0-9a-fA-F]{1,8}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])", (text or "").strip())
    if not m:
        return None
    domain, bus, device, function = m.groups()
    return int(domain or "0", 16), int(bus, 16), int(device, 16), int(function)



@dataclass
class History:
    """Samples of one panel, oldest first; bounded, so a panel left open all day stays small."""

    opened: float
    samples: deque = field(default_factory=lambda: deque(maxlen=HISTORY_LEN))
    paused: bool = False  # the panel was last drawn paused: a long gap is no reason to start afresh
    count: int = 0  # readings since it opened (the samples keep only the last HISTORY_LEN)

    def add(self, snap: Snapshot) -> None:
        if self.samples and self.samples[-1]["t"] >= snap.timestamp:
            return  # the same snapshot drawn twice in one run
        self.count += 1
        h = snap.host
        self.samples.append(
            {
                "t": snap.timestamp,
                "cpu": h.cpu_percent,
                "ram_gib": None if h.ram_used_mib is None else h.ram_used_mib / GIB,
                "ram_total_gib": None if h.ram_total_mib is None else h.ram_total_mib / GIB,
                "gpus": {
                    g.index: {
                        "name": g.name,
                        "util": g.utilization_percent,
                        "mem": g.memory_used_mib,
                        "mem_total": g.memory_total_mib,
                        "temp": g.temperature_c,
                        "power": g.power_draw_w,
                        "power_cap": g.power_limit_w,
                    }
                    for g in working(snap)
                },
            }
        )

    @property
    def last(self) -> float | None:
        return self.samples[-1]["t"] if self.samples else None

    def series(self, value: Callable[[dict], float | None], gap: float) -> tuple[list[datetime], list[float | None]]:
        """Times and values, with a None wherever sampling stopped for more than ``gap`` seconds
        (paused, or the page left and opened again), so a chart breaks its line there."""
        times: list[datetime] = []
        values: list[float | None] = []
        prev = None
        for s in self.samples:
            if prev is not None and s["t"] - prev > gap:
                times.append(datetime.fromtimestamp((s["t"] + prev) / 2))
                values.append(None)
            times.append(datetime.fromtimestamp(s["t"]))
            values.append(value(s))
            prev = s["t"]
        return times, values

    def gpu_indices(self) -> list[int]:
        seen: dict[int, None] = {}
        for s in self.samples:
            seen.update(dict.fromkeys(s["gpus"]))
        return sorted(seen)


def gpu_value(index: int, name: str) -> Callable[[dict], float | None]:
    return lambda s: s["gpus"].get(index, {}).get(name)


def latest_gpu(history: History, index: int, name: str) -> float | None:
    """The newest sample's figure (a cap or total line on a chart)."""
    for s in reversed(history.samples):
        value = s["gpus"].get(index, {}).get(name)
        if value is not None:
            return value
    return None
