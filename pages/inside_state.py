"""The Inside page's state: which network, which image (kept across visits and in the URL), and
the one network the session built itself.

A module of its own, not the page file: Streamlit runs a page file afresh on every run, which would
make a new class each time and lose the state's type.
"""

from __future__ import annotations

from dataclasses import dataclass

from vgg_core.inspect import Network
from vgg_core.request import check_setting
from vgg_core.spec import ArchSpec

from .session import PageState

UNTRAINED = "untrained"  # the run choice that means the current architecture, untrained
TEST, UPLOAD = "test", "upload"
SOURCES = {TEST: "inside.source.test", UPLOAD: "inside.source.upload"}
HELD = "page.inside.network"  # session key of the session's one untrained network


@dataclass
class InsidePage(PageState):
    PAGE = "inside"
    LABELLED = ("run", "source")
    URL = {"run": "run", "index": "image", "seed": "seed"}
    run: str = ""  # a run id, UNTRAINED, or "" (the newest run with weights)
    source: str = TEST
    index: int = 0  # the test image; out of range is refused on the page in one line, not dropped
    seed: int = 0  # the untrained network's init
    before_after: bool = True  # the untrained network beside the trained one
    missing_run: str = ""  # a run named by the link or picked earlier that is gone

    def accepts(self, name: str, value: object) -> bool:
        if name == "run":
            return isinstance(value, str) and len(value) <= 128
        if name == "seed":
            return check_setting("seed", value) is None
        return True


@dataclass
class HeldNetwork:
    """The untrained network this session uses (at most one: a new choice replaces it).

    A run's network comes from the core's own cache (``inspect.network_for``), shared by sessions.
    """

    key: tuple[ArchSpec, int] | None = None
    network: Network | None = None
