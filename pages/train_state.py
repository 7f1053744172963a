"""The Train page's state: its settings (bound to the widgets, kept in the URL) and what it shows.

A module of its own, not the page file: Streamlit runs a page file afresh on every run, which would
make a new class each time and lose the state's type.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

from vgg_core.request import TrainSettings, check_setting

from . import results_state
from .notice import Notice
from .session import PageState

FULL_TRAIN = 60_000
# The settings this page offers, and the words it uses for them in refusals.
FIELDS = {"epochs": "train.epochs", "batch_size": "train.batch_size", "lr": "train.lr", "optimizer": "train.optimizer",
          "momentum": "train.momentum", "max_train_examples": "train.max_train_examples", "device": "train.device",
          "name": "train.name", "note": "train.note", "nproc": "train.gpus"}


def several_gpus() -> int:
    """How many CUDA GPUs this machine shows, if more than one (else 0): the page then offers GPUs 1..N."""
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return count if count > 1 else 0


@dataclass
class TrainPage(PageState):
    PAGE = "train"
    LABELLED = ("optimizer", "run", "overlay", "manage", "sweep_axes", *results_state.LABELLED)
    URL = {"epochs": "epochs", "batch_size": "batch", "lr": "lr", "optimizer": "opt", "momentum": "momentum",
           "max_train_examples": "examples", "device": "device", "nproc": "gpus", "run": "run", **results_state.URL}
    # d2l's train_ch6: lr 0.05, 10 epochs, batch 128, plain SGD; 0 examples means all 60,000.
    epochs: int = 10
    batch_size: int = 128
    lr: float | None = None  # None: the lr d2l trains this network with (VGG 0.05, AlexNet 0.01)
    optimizer: str = "sgd"
    momentum: float = 0.0
    max_train_examples: int = 0
    device: str = "auto"
    nproc: int = 1  # GPUs for one run (DDP through torchrun), offered where several CUDA GPUs are visible
    run: str = ""  # the run shown live
    overlay: list[str] | None = None  # None: the newest finished runs
    manage: str = ""
    message: tuple[str, str] | None = None  # (kind, text) left by the last button press
    confirm_delete: str | None = None  # the run whose Delete button was pressed once
    shown_label: str | None = None  # the live run's label last sent (relabelled when its state changes)
    was_live: dict[str, bool] = field(default_factory=dict)
    name: str = ""  # the next run's name and note, given at launch
    note: str = ""
    follow: str | None = None  # a sweep just queued: the live view moves on to its next run
    queue_message: Notice | None = None
    # The what-if sweep being drafted (not in the URL: a draft).
    sweep_open: bool = False
    sweep_axes: list[str] = field(default_factory=list)
    sweep_values: dict[str, str] = field(default_factory=dict)  # axis -> its values as typed
    sweep_name: str = ""
    sweep_message: Notice | None = None
    # The results table's filters (in the URL).
    results_sweep: str = ""
    results_states: list[str] = field(default_factory=list)
    results_search: str = ""
    # The chosen finished run: resume, extend, rename.
    more_epochs: int = 1
    rename_name: str = ""
    rename_note: str = ""
    renaming: str | None = None  # the run the rename fields were filled from
    manage_message: Notice | None = None

    @classmethod
    def from_url(cls, params: Mapping[str, str]) -> "TrainPage":
        """As every page, and ``lr`` read as a number (its default, None, gives no type to read it as)."""
        made = super().from_url({k: v for k, v in params.items() if k != "lr"})
        try:
            lr = float(str(params["lr"])[:40]) if "lr" in params else None
        except ValueError:
            lr = None
        if lr is not None and math.isfinite(lr) and made.accepts("lr", lr):
            made.lr = lr
        return made

    def accepts(self, name: str, value: object) -> bool:
        if name in results_state.URL:
            return results_state.accepts(name, value)
        if name in ("run", "device"):
            return isinstance(value, str) and len(value) <= 128
        if name == "max_train_examples" and value == 0:
            return True
        return check_setting(name, value) is None

    def settings(self) -> TrainSettings:
        examples = self.max_train_examples or None
        steps = math.ceil((examples or FULL_TRAIN) / max(self.batch_size, 1)) if isinstance(self.batch_size, int) else 1
        return TrainSettings(
            epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, optimizer=self.optimizer,
            momentum=self.momentum if self.optimizer == "sgd" else 0.0, device=self.device,
            max_train_examples=examples, nproc=self.nproc if several_gpus() and self.device in ("auto", "cuda") else 1,
            log_every=max(1, min(10, steps // 25)),  # about 25 chart points per epoch at least; d2l's Animator draws 5
        )
