"""The GPU page's state: how often it refreshes (kept across visits and in the URL)."""

from __future__ import annotations

from dataclasses import dataclass

from .session import PageState

REFRESH = {"1": 1.0, "2": 2.0, "pause": None}  # seconds between live updates; None: paused
REFRESH_KEYS = {"1": "gpu.refresh.1", "2": "gpu.refresh.2", "pause": "gpu.refresh.pause"}


@dataclass
class GpuPage(PageState):
    PAGE = "gpu"
    LABELLED = ("refresh",)
    URL = {"refresh": "refresh"}
    refresh: str = "1"

    def accepts(self, name: str, value: object) -> bool:
        return value in REFRESH
