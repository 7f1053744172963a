"""``model.pt``: a run's weights in d2l's layout, saved after every epoch, loaded without trust.

The file is a dict: ``format`` (1), ``state_dict`` keyed exactly as d2l's ``nn.Sequential``
(``0.0.weight`` ...), ``spec`` (the ``ArchSpec``) and figures of the epoch it belongs to. Loading
uses ``weights_only=True`` (no code runs from a file) and refuses anything but this format and a
state dict that fits the spec, each with one line saying why.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .model import build_model
from .problems import ProblemsError, problem
from .run_folder import MODEL, atomic_write, run_file
from .spec import ArchSpec, SpecError

FORMAT = 1


class WeightsError(ProblemsError):
    """A model.pt that cannot be used."""


@dataclass(frozen=True)
class Weights:
    spec: ArchSpec
    state_dict: dict[str, torch.Tensor]
    extra: dict[str, Any]  # epoch, epochs_completed, test_acc ...

    def model(self) -> nn.Sequential:
        """The network in eval mode on the CPU, with these weights."""
        net = build_model(self.spec)
        net.load_state_dict(self.state_dict)
        return net.eval()


def cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the weights on the CPU, taken now (training may go on changing the model)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def save_weights(path: Path, state: dict[str, torch.Tensor], spec: ArchSpec, **extra: Any) -> Path:
    """Atomically: a crash or a full disk leaves the previous file as it was."""
    payload = {"format": FORMAT, "state_dict": state, "spec": spec.to_dict(), **extra}
    atomic_write(path, lambda f: torch.save(payload, f))
    return path


def load_weights(path: str | os.PathLike) -> Weights:
    """Read and check a model.pt; raises WeightsError with one line."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(problem("weights_missing", path=str(path)))
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file (not a zip, pickled code, truncated) is one refusal
        raise WeightsError(problem("weights_unreadable", path=str(path), why=_why(e))) from None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT or not isinstance(saved.get("state_dict"), dict):
        raise WeightsError(problem("weights_foreign", path=str(path), want=FORMAT))
    try:
        spec = ArchSpec.from_dict(saved.get("spec") if isinstance(saved.get("spec"), dict) else {"conv_arch": None})
    except SpecError as e:
        raise WeightsError(problem("weights_bad_spec", path=str(path), why=str(e))) from None
    weights = Weights(spec, saved["state_dict"], {k: v for k, v in saved.items() if k not in ("state_dict", "spec")})
    _check_fits(path, weights)
    return weights


def _check_fits(path: Path, weights: Weights) -> None:
    with torch.device("meta"):
        expected = build_model(weights.spec).state_dict()
    got = weights.state_dict
    if set(got) != set(expected) or any(
        not isinstance(got[k], torch.Tensor) or tuple(got[k].shape) != tuple(v.shape) for k, v in expected.items()
    ):
        raise WeightsError(problem("weights_mismatch", path=str(path)))


def _why(e: Exception) -> str:
    text = " ".join(str(e).split())
    return (text[:200] + "…") if len(text) > 200 else text or type(e).__name__


def load_run_weights(run_dir: str | os.PathLike) -> Weights:
    """A run's model.pt, only if it is a regular file inside the run folder (no link out)."""
    path = run_file(Path(run_dir), MODEL)
    if path is None:
        raise WeightsError(problem("weights_missing", path=str(Path(run_dir) / MODEL)))
    return load_weights(path)
