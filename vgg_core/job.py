"""One training run into its run folder: what the ``train`` command does once its input is checked.

It owns what the loop should not know about: the run folder, signals and the STOP file, the
weights, and turning any failure into a one-line ``failed`` status while keeping the rows
already written.
"""

from __future__ import annotations

import os
import platform
import random
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from .data import DataError, load_fashion_mnist
from .device import device_name, pci_bus_id
from .pipeline import num_batches
from .runs import RunWriter
from .spec import ArchSpec
from .speed import tune_process
from .train import FitResult, TrainConfig, amp_dtype, fit, make_optimizer, prepare_model


class StopRequest:
    """True once SIGTERM/SIGINT arrived or the STOP file exists; cheap enough to ask every step."""

    def __init__(self, stop_file: Path | None = None):
        self.stop_file = stop_file
        self.reason: str | None = None

    def __call__(self) -> bool:
        if self.reason is None and self.stop_file is not None and self.stop_file.exists():
            self.reason = "STOP file"
        return self.reason is not None

    def install_signal_handlers(self) -> dict[int, Any]:
        """Returns the handlers replaced, for ``restore``; a no-op outside the main thread."""
        if threading.current_thread() is not threading.main_thread():
            return {}
        return {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}

    @staticmethod
    def restore(previous: dict[int, Any]) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self.reason = self.reason or signal.Signals(signum).name


@dataclass(frozen=True)
class JobResult:
    exit_code: int  # 0 completed or stopped, 1 failed
    state: str
    run_dir: Path
    device: str
    fit: FitResult | None = None
    error: str | None = None


def run_job(
    spec: ArchSpec,
    config: TrainConfig,
    device: torch.device,
    run_dir: Path,
    *,
    on_row: Callable[[dict[str, Any]], None] = lambda row: None,
    on_config: Callable[[dict[str, Any]], None] = lambda config: None,
    stop: StopRequest | None = None,
) -> JobResult:
    """Train, write everything to ``run_dir``, never raise for a training failure."""
    writer = RunWriter(run_dir)
    stop = stop or StopRequest()
    stop.stop_file = writer.stop_file
    previous_handlers = stop.install_signal_handlers()
    seed = config.seed if config.seed is not None else random.SystemRandom().randrange(2**31)
    record = _config_record(spec, config, device, seed, run_dir)
    writer.status("running", pid=os.getpid())
    writer.write_config(record)

    def emit(row: dict[str, Any]) -> None:
        writer.append(row)
        on_row(row)

    fit_result = None
    try:
        record["speed_settings"] = tune_process(device)
        data = load_fashion_mnist(config.data_dir, device).subset(config.max_train_examples, config.max_test_examples)
        steps = num_batches(data.train_images.shape[0], config.batch_size)
        record["data"] = {
            "source": data.source, "train_examples": data.train_images.shape[0], "test_examples": data.test_images.shape[0],
        }
        record.update(steps_per_epoch=steps, total_steps=steps * config.epochs)
        writer.write_config(record)
        on_config(record)
        torch.manual_seed(seed)
        model, net = prepare_model(spec, config, device)
        optimizer = make_optimizer(model, config, device)
        fit_result = fit(net, data, spec, config, seed=seed, emit=emit, should_stop=stop, optimizer=optimizer)
        summary = _summary(fit_result)
        writer.save_model(model, spec, **summary)
        state = "stopped" if fit_result.stopped else "completed"
        extra = {"reason": stop.reason} if fit_result.stopped else {}
        writer.status(state, **extra, **summary)
        return JobResult(0, state, writer.dir, str(device), fit_result)
    except Exception as e:  # noqa: BLE001 - every failure becomes a status line; nothing escapes as a traceback
        reason = failure_reason(e, spec, config, device)
        try:
            if not isinstance(e, DataError) and not _is_oom(e):
                writer.write_traceback(traceback.format_exc())
            writer.status("failed", error=reason)
        except OSError:
            pass
        return JobResult(1, "failed", writer.dir, str(device), fit_result, reason)
    finally:
        writer.close()
        StopRequest.restore(previous_handlers)


def failure_reason(e: BaseException, spec: ArchSpec, config: TrainConfig, device: torch.device) -> str:
    """One line a person can act on."""
    if _is_oom(e):
        where = {"cuda": "GPU", "cpu": "CPU"}.get(device.type, str(device))
        return (
            f"{where} out of memory at batch {config.batch_size}, input {spec.input_size}x{spec.input_size}"
            f"{_needs(spec, config, device)}; try a smaller --batch-size, a larger --ratio, a smaller --input-size "
            "or --fc-width"
        )
    if isinstance(e, DataError):
        return str(e)
    text = " ".join(str(e).split()) or type(e).__name__
    if len(text) > 300:
        text = text[:299] + "…"
    return f"{type(e).__name__}: {text}"


def _needs(spec: ArchSpec, config: TrainConfig, device: torch.device) -> str:
    """': it needs about 1.2 GiB (weights 164.4 MiB), 900.0 MiB free' from the estimate, or ''."""
    try:
        from .estimate import estimate_training
        from .report import human_bytes

        est = estimate_training(
            spec, config.batch_size, optimizer=config.optimizer, momentum=config.momentum,
            weight_decay=config.weight_decay, device=device, amp=config.amp, measure_speed=False,
        )
        free = f", {human_bytes(est.available_bytes)} free" if est.available_bytes is not None else ""
        return f": it needs about {human_bytes(est.total_bytes)} (weights {human_bytes(est.param_bytes)}){free}"
    except Exception:  # noqa: BLE001 - the message must come out even if the estimate cannot
        return ""


def _is_oom(e: BaseException) -> bool:
    if isinstance(e, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(e).lower()
    return isinstance(e, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def _summary(r: FitResult) -> dict[str, Any]:
    return {
        "epochs_completed": r.epochs_completed, "steps": r.steps, "examples": r.examples,
        "train_seconds": round(r.train_seconds, 3), "wall_seconds": round(r.wall_seconds, 3),
        "examples_per_sec": round(r.examples_per_sec, 2), "train_loss": r.train_loss, "train_acc": r.train_acc,
        "test_loss": r.test_loss, "test_acc": r.test_acc,
    }


def _config_record(spec: ArchSpec, config: TrainConfig, device: torch.device, seed: int, run_dir: Path) -> dict[str, Any]:
    import torchvision

    dtype = amp_dtype(config, device)
    now = time.time()
    return {
        "format": 1,
        "run_id": run_dir.name,
        "spec": spec.to_dict(),
        "hyperparameters": {**config.to_dict(), "seed": seed},
        "device": str(device),
        "device_name": device_name(device),
        "pci_bus_id": pci_bus_id(device),
        "amp_dtype": str(dtype).removeprefix("torch.") if dtype else None,
        "versions": {
            "python": platform.python_version(), "torch": torch.__version__, "torchvision": torchvision.__version__,
        },
        "pid": os.getpid(),
        "started_unix": round(now, 3),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(now)),
        "command": sys.argv,
    }
