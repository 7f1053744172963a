"""Weights, checkpoint and predictions after every finished epoch, written beside the training, not in its way.

At the end of an epoch the weights (and, where a ``capture`` is given, what a resume needs: the
optimizer's state, the RNG states, the loop's counts) are copied to the CPU (training then changes
them) and a background thread writes ``model.pt``, ``checkpoint.pt`` and ``predictions.npz``, each
atomically, while the next epoch trains. One write at a time; a failed write (a full disk) is
raised at the next epoch or at the end, so the run fails naming the disk instead of losing its
weights quietly.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

import torch
from torch import nn

from .checkpoint import save_checkpoint
from .run_folder import CHECKPOINT
from .run_writer import RunWriter
from .spec import ArchSpec
from .train import EvalResult, FitResult, LoopState
from .weights import cpu_state


class EpochSaver:
    def __init__(self, writer: RunWriter, spec: ArchSpec):
        self.writer, self.spec = writer, spec
        self.model: nn.Module | None = None
        self.labels: torch.Tensor | None = None
        self.capture: Callable[[LoopState], dict[str, Any]] | None = None
        self.saved_epoch: int | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def watch(self, model: nn.Module, test_labels: torch.Tensor,
              capture: Callable[[LoopState], dict[str, Any]] | None = None) -> None:
        """The model whose weights to save, the true labels the predictions belong to, and how to
        take a checkpoint (``checkpoint.capture`` bound to the run's optimizer and generators)."""
        self.model, self.labels, self.capture = model, test_labels.cpu(), capture

    def epoch_done(self, loop: LoopState, result: EvalResult) -> None:
        """``fit``'s ``on_epoch``: take the copies now, write them in the background."""
        assert self.model is not None
        state = cpu_state(self.model)
        probs = result.probabilities.cpu() if result.probabilities is not None else None
        extra = dict(epoch=loop.epochs_done, epochs_completed=loop.epochs_done, steps=loop.step,
                     examples=loop.examples, test_acc=result.acc, test_loss=result.loss)
        checkpoint = self.capture(loop) if self.capture is not None else None
        self._wait()
        self._thread = threading.Thread(target=self._write, args=(state, probs, extra, checkpoint),
                                        name="epoch-saver", daemon=True)
        self._thread.start()

    def finish(self, result: FitResult) -> None:
        """Wait for the last write; a run stopped before any epoch ended saves what it has (epoch 0)."""
        self._wait()
        if self.saved_epoch is None and self.model is not None:
            self.writer.save_weights(cpu_state(self.model), self.spec, epoch=0, epochs_completed=0,
                                     steps=result.steps, examples=result.examples)

    def close(self) -> None:
        """Let a write in flight end (its temporary file is removed on failure); errors are not raised here."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _wait(self) -> None:
        self.close()
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _write(self, state: dict[str, torch.Tensor], probs: torch.Tensor | None, extra: dict[str, Any],
               checkpoint: dict[str, Any] | None) -> None:
        try:
            self.writer.save_weights(state, self.spec, **extra)
            if checkpoint is not None:
                save_checkpoint(self.writer.dir / CHECKPOINT, checkpoint)
            if probs is not None and self.labels is not None:
                self.writer.save_predictions(extra["epoch"], self.labels, probs)
            self.saved_epoch = extra["epoch"]
        except BaseException as e:  # noqa: BLE001 - raised in the training thread by _wait
            self._error = e
