"""The Compare page's state: the chosen architectures and runs, kept across visits and in the URL."""

from __future__ import annotations

from dataclasses import dataclass, field

from vgg_core.spec import NAMED

from .session import PageState

CURRENT = "current"
CHOICES = (CURRENT, *NAMED)  # the VGG presets and AlexNet, on the current input


@dataclass
class ComparePage(PageState):
    PAGE = "compare"
    LABELLED = ("archs", "runs")
    URL = {"archs": "archs", "custom": "custom", "runs": "runs"}
    archs: list[str] = field(default_factory=lambda: [CURRENT, "vgg16", "d2l"])
    custom: str = ""
    runs: list[str] | None = None  # None: the newest finished runs
    log: bool = False
    exercise: bool = False  # d2l 7.2's exercise 2 (VGG-11 beside AlexNet) was asked from Explore: answer it

    def accepts(self, name: str, value: object) -> bool:
        if name == "archs":
            return all(v in CHOICES for v in value)
        return True
