"""The Compare page's state: the chosen architectures and runs, kept across visits and in the URL."""

from __future__ import annotations

from dataclasses import dataclass, field

from vgg_core.spec import NAMED

from . import results_state
from .session import PageState

CURRENT = "current"
CHOICES = (CURRENT, *NAMED)  # the VGG presets and AlexNet, on the current input


@dataclass
class ComparePage(PageState):
    PAGE = "compare"
    LABELLED = ("archs", "runs", *results_state.LABELLED)
    URL = {"archs": "archs", "custom": "custom", "runs": "runs", **results_state.URL}
    archs: list[str] = field(default_factory=lambda: [CURRENT, "vgg16", "d2l"])
    custom: str = ""
    runs: list[str] | None = None  # None: the newest finished runs
    log: bool = False
    exercise: bool = False  # d2l 7.2's exercise 2 (VGG-11 beside AlexNet) was asked from Explore: answer it
    results_sweep: str = ""
    results_states: list[str] = field(default_factory=list)
    results_search: str = ""

    def accepts(self, name: str, value: object) -> bool:
        if name in results_state.URL:
            return results_state.accepts(name, value)
        if name == "archs":
            return all(v in CHOICES for v in value)
        return True
