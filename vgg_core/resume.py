"""Continuing a run: whether it may be resumed, and the request it continues with.

A stopped, lost, failed or completed run goes on from its last finished epoch, in the same folder:
the same seed, the weights of ``model.pt``, the optimizer, RNG states and counts of
``checkpoint.pt``; its rows go on in the same ``metrics.jsonl`` after a ``running`` status that
marks where it resumed (``resumed_epoch``, ``resumed_step``, ...). A reader drops the rows of the
unfinished epoch the stop cut short (``run_rows.Metrics``), so the run reads as if it had never
stopped. Only ``epochs`` (the new total) and the settings of how a run is carried out
(``request.RUN_SETTINGS``: device, amp, ...) may change; every refusal leaves the folder as it was.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .checkpoint import Checkpoint, load_checkpoint
from .problems import ProblemsError, problem
from .request import RUN_SETTINGS, ConfigError, TrainRequest
from .run_config import RunConfig
from .run_folder import is_run_dir
from .runs import RunRecord, read_run
from .weights import Weights, load_run_weights


class ResumeError(ProblemsError):
    """A run that cannot be resumed as asked."""


@dataclass(frozen=True)
class ResumePlan:
    run_dir: Path
    request: TrainRequest  # the run's request, with the new epoch total and any run settings given
    config: RunConfig  # as the run wrote it: the seed, when it started
    checkpoint: Checkpoint
    weights: Weights

    def marks(self) -> dict[str, Any]:
        """The figures of the status row that says where the run resumed."""
        loop = self.checkpoint.loop
        return {"resumed_epoch": self.checkpoint.epoch, "resumed_step": loop["step"],
                "resumed_examples": loop["examples"], "resumed_elapsed_s": round(loop["elapsed_s"], 3)}


def plan_resume(run_dir: str | os.PathLike, epochs: int | None = None,
                run_settings: Mapping[str, Any] | None = None) -> ResumePlan:
    """Everything checked before a resume writes anything; raises ResumeError (or CheckpointError,
    WeightsError, ConfigError) with one line.

    ``epochs`` is the new total (default: what the run asked for); ``run_settings`` may change
    only the settings in ``RUN_SETTINGS``."""
    run_dir = Path(os.path.abspath(run_dir))
    record = resumable_record(run_dir)
    state = record.state
    if state.live and state.pid != os.getpid():  # a resume the launcher started is this process
        raise ResumeError(problem("resume_live", run=run_dir.name, state=state.state))
    request = record.request or record.config.request
    checkpoint, weights = load_checkpoint(run_dir), load_run_weights(run_dir)
    check_match(run_dir.name, request, record.config, checkpoint, weights)
    total = epochs if epochs is not None else request.settings.epochs
    done = checkpoint.epoch
    if isinstance(total, int) and total <= done:
        raise ResumeError(problem("resume_nothing", run=run_dir.name, done=done, total=total))
    changes = {k: v for k, v in (run_settings or {}).items() if k in RUN_SETTINGS}
    continued = request.replace(settings=request.settings.replace(epochs=total, **changes))
    if problems := continued.problems():
        raise ConfigError(problems)
    return ResumePlan(run_dir, continued, record.config, checkpoint, weights)


def resumable_record(run_dir: Path) -> RunRecord:
    """The record of a folder that holds a run which trained (config.json); a queued one is refused as such."""
    if run_dir.is_dir() and is_run_dir(run_dir):
        record = read_run(run_dir)
        if record.state.state == "queued":
            raise ResumeError(problem("resume_queued", run=run_dir.name))
        if record.config is not None:
            return record
    raise ResumeError(problem("resume_not_run", path=str(run_dir)))


def check_match(run: str, request: TrainRequest, config: RunConfig, checkpoint: Checkpoint, weights: Weights) -> None:
    """The checkpoint, the weights, the request and the config all describe the same training."""
    weights_epoch = weights.extra.get("epoch")
    if weights_epoch != checkpoint.epoch:
        raise ResumeError(problem("resume_epoch_mismatch", run=run, checkpoint=checkpoint.epoch, weights=weights_epoch))
    if checkpoint.seed != config.seed:
        raise ResumeError(problem("resume_seed_mismatch", run=run, checkpoint=checkpoint.seed, config=config.seed))
    differ = differences(checkpoint.request, request)
    if weights.spec != request.spec and not any(d.startswith("spec.") for d in differ):
        differ.append("model.pt spec")
    if differ:
        raise ResumeError(problem("resume_request_mismatch", run=run, names=", ".join(differ)))


def differences(trained: TrainRequest, asked: TrainRequest) -> list[str]:
    """Names of what differs between two requests, leaving out the total epochs and how a run is carried out."""
    names = [f"spec.{f.name}" for f in dataclasses.fields(trained.spec)
             if getattr(trained.spec, f.name) != getattr(asked.spec, f.name)]
    ignored = {"epochs", *RUN_SETTINGS}
    return names + [f.name for f in dataclasses.fields(trained.settings)
                    if f.name not in ignored and getattr(trained.settings, f.name) != getattr(asked.settings, f.name)]


__all__ = ["ResumePlan", "ResumeError", "plan_resume", "resumable_record", "check_match", "differences"]
