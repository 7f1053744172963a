"""``checkpoint.pt``: what resuming a run needs beyond its weights, saved after every finished epoch.

``model.pt`` stays the weights alone, in the format every reader knows (``vgg_core.weights``);
this file holds the rest: the optimizer's state, the RNG states (torch's CPU generator, which
drives dropout on the CPU, CUDA's, and the shuffling generator, seeded once per run and drawing
one permutation per epoch), the loop's counts and elapsed time, the seed and the request that was
trained. Both files carry the epoch, so a pair that was not written together (a crash between the
two atomic writes) is detected, not trained on. Loading uses ``weights_only=True``: plain
containers and tensors, no code runs from a file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .problems import ProblemsError, problem
from .request import TrainRequest
from .run_folder import CHECKPOINT, atomic_write, run_file
from .train import LoopState

FORMAT = 1
LOOP_KEYS = ("epochs_done", "step", "examples", "elapsed_s", "eval_seconds")


class CheckpointError(ProblemsError):
    """A checkpoint.pt that is missing or cannot be used."""


@dataclass(frozen=True)
class Checkpoint:
    epoch: int
    seed: int
    request: TrainRequest  # what was trained up to here
    optimizer: dict[str, Any]  # the optimizer's state_dict, on the CPU
    loop: dict[str, Any]  # LoopState.snapshot()
    rng: dict[str, Any]  # torch (CPU), cuda (one state per GPU, or none), shuffle

    def loop_state(self) -> LoopState:
        return LoopState.resumed(self.loop)

    def restore_rng(self, device: torch.device) -> torch.Generator:
        """Put torch's generators back as they were after the epoch; returns the shuffling generator."""
        torch.set_rng_state(self.rng["torch"])
        cuda = self.rng["cuda"]
        if device.type == "cuda" and cuda and len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
        generator = torch.Generator()
        generator.set_state(self.rng["shuffle"])
        return generator


def capture(loop: LoopState, optimizer: torch.optim.Optimizer, generator: torch.Generator, seed: int,
            request: TrainRequest) -> dict[str, Any]:
    """Copies taken now, on the CPU (training goes on changing the originals), ready for ``save_checkpoint``."""
    cuda = [s.clone() for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_initialized() else []
    return {
        "format": FORMAT, "epoch": loop.epochs_done, "seed": seed, "request": request.to_dict(),
        "optimizer": _to_cpu(optimizer.state_dict()), "loop": loop.snapshot(),
        "rng": {"torch": torch.get_rng_state(), "cuda": cuda, "shuffle": generator.get_state()},
    }


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value


def save_checkpoint(path: Path, payload: dict[str, Any]) -> Path:
    """Atomically: a crash or a full disk leaves the previous checkpoint as it was."""
    atomic_write(path, lambda f: torch.save(payload, f))
    return path


def load_checkpoint(run_dir: str | os.PathLike) -> Checkpoint:
    """A run's checkpoint.pt, checked; raises CheckpointError with one line."""
    run_dir = Path(run_dir)
    path = run_file(run_dir, CHECKPOINT)
    if path is None:
        raise CheckpointError(problem("resume_no_checkpoint", run=run_dir.name))
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file (truncated, pickled code) is one refusal
        text = " ".join(str(e).split())[:200] or type(e).__name__
        raise CheckpointError(problem("checkpoint_unreadable", path=str(path), why=text)) from None
    checked = _checked(saved)
    if checked is None:
        raise CheckpointError(problem("checkpoint_foreign", path=str(path), want=FORMAT))
    return checked


def _checked(saved: Any) -> Checkpoint | None:
    """The checkpoint, or None if anything in it is not what ``capture`` writes."""
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        return None
    epoch, seed, loop, rng, opt = (saved.get(k) for k in ("epoch", "seed", "loop", "rng", "optimizer"))
    if not (_whole(epoch) and epoch >= 1 and _whole(seed) and isinstance(opt, dict) and isinstance(loop, dict)):
        return None
    if not ({"state", "param_groups"} <= set(opt) and all(isinstance(loop.get(k), (int, float)) for k in LOOP_KEYS)):
        return None
    if loop["epochs_done"] != epoch or not isinstance(rng, dict):
        return None
    cuda = rng.get("cuda")
    tensors_ok = all(isinstance(rng.get(k), torch.Tensor) and rng[k].dtype == torch.uint8 for k in ("torch", "shuffle"))
    if not (tensors_ok and isinstance(cuda, list) and all(isinstance(t, torch.Tensor) for t in cuda)):
        return None
    try:
        request = TrainRequest.from_dict(saved.get("request"))
    except ProblemsError:
        return None
    return Checkpoint(epoch, seed, request, opt, loop, rng)


def _whole(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


__all__ = ["Checkpoint", "CheckpointError", "capture", "save_checkpoint", "load_checkpoint"]
