"""One training run into its run folder: what the ``train`` command does once its input is checked.

It owns what the loop should not know about: the run folder, signals and the STOP file, the
weights, checkpoint and predictions after every epoch, the run's resource record (``resources``),
and turning any failure into a one-line ``failed`` status while keeping the rows already written.
A resumed run (``vgg_core.resume``) goes through the same function, starting from its checkpoint
instead of Xavier and its seed.

With several processes (``vgg_core.ddp``) rank 0 runs ``run_job`` and writes the folder; every other
rank runs ``run_rank``: the same training, writing nothing, its failure left for rank 0 to name.
"""

from __future__ import annotations

import errno
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
from typing import TYPE_CHECKING, Any, Callable

import torch

from .data import DataError, FashionMNIST, load_fashion_mnist
from .device import device_name, pci_bus_id
from .epoch_saver import EpochSaver
from .pipeline import num_batches
from .problems import Problem, problem
from .checkpoint import capture
from .request import TrainRequest, TrainSettings
from .resources import ResourceSampler
from .run_config import DataInfo, RunConfig
from .run_folder import REQUEST, atomic_write
from .run_rows import Row
from .run_writer import RunWriter
from .speed import tune_process
from .train import FitResult, amp_dtype, fit, make_optimizer, prepare_model

if TYPE_CHECKING:
    from .ddp import Group
    from .resume import ResumePlan


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
    run_dir: Path | None  # None on a rank that writes no folder
    device: str
    fit: FitResult | None = None
    error: Problem | None = None


def run_job(
    request: TrainRequest,
    device: torch.device,
    run_dir: Path,
    *,
    on_row: Callable[[Row], None] = lambda row: None,
    on_config: Callable[[RunConfig], None] = lambda config: None,
    stop: StopRequest | None = None,
    group: Group | None = None,
    resume: "ResumePlan | None" = None,
    writer: RunWriter | None = None,
) -> JobResult:
    """Train, write everything to ``run_dir``, never raise for a training failure (rank 0's part
    of the run with a process ``group``).

    ``resume``: continue that run in its folder; ``writer``: the folder already opened (a resume
    opens it before its checks: the writer's lock on metrics.jsonl keeps two resumes apart)."""
    writer = writer or RunWriter(run_dir, resume=resume is not None)
    stop = stop or StopRequest()
    stop.stop_file = writer.stop_file
    previous_handlers = stop.install_signal_handlers()
    saver = EpochSaver(writer, request.spec)
    fit_result = None
    lock = threading.Lock()  # rows come from the loop and from the resource sampler

    def emit(row: Row) -> None:
        with lock:
            writer.row(row)
            on_row(row)

    try:
        config = _start(writer, request, device, group, resume)
        seed = config.seed
        with _sampler(emit, device, group):
            config, data = _load_and_describe(writer, config, device, on_config)
            fit_result = train_run(request, data, device, seed, emit=emit, stop=stop, saver=saver, group=group,
                                   resume=resume)
        state = "stopped" if fit_result.stopped else "completed"
        writer.status(state, **({"reason": stop.reason} if fit_result.stopped else {}), **_summary(fit_result))
        return JobResult(0, state, writer.dir, str(device), fit_result)
    except Exception as e:  # noqa: BLE001 - every failure becomes a status line; nothing escapes as a traceback
        failed_at = time.time()
        saver.close()  # a write in flight finishes (or cleans up) before the failure is recorded
        return _failed(writer, e, request, device, fit_result, _reason(e, request, device, group, failed_at))
    finally:
        saver.close()
        writer.close()
        StopRequest.restore(previous_handlers)


def _start(writer: RunWriter, request: TrainRequest, device: torch.device, group: Group | None,
           resume: "ResumePlan | None") -> RunConfig:
    """The first status and config.json; a resume keeps its seed and start time and says where it resumed."""
    if resume is None:
        config = run_config(request, device, _seed(request.settings, group), writer.dir, group)
        writer.status("running", pid=os.getpid())
    else:
        old = resume.config
        config = run_config(request, device, old.seed, writer.dir, group).replace(
            started_unix=old.started_unix, started_at=old.started_at)
        writer.stop_file.unlink(missing_ok=True)  # the stop asked of the process that ended, not of this one
        writer.status("running", pid=os.getpid(), **resume.marks())
        atomic_write(writer.dir / REQUEST, request.to_json().encode())  # the new total, for progress
    writer.write_config(config)
    return config


def run_rank(request: TrainRequest, group: Group, stop: StopRequest | None = None) -> JobResult:
    """A rank other than 0: the same training, writing nothing; its own failure is left in the group's
    store, where rank 0 reads it to name the rank and the reason."""
    stop = stop or StopRequest()
    previous_handlers = stop.install_signal_handlers()
    device, fit_result = group.device, None
    try:
        seed = _seed(request.settings, group)
        tune_process(device)
        data = _load_data(request.settings, device)
        fit_result = train_run(request, data, device, seed, emit=lambda row: None, stop=stop, group=group)
        return JobResult(0, "stopped" if fit_result.stopped else "completed", None, str(device), fit_result)
    except Exception as e:  # noqa: BLE001 - the failure is told to rank 0, not raised
        failed_at = time.time()
        own = failure_reason(e, request, device)
        rank, reason = group.culprit(own, _is_own(e), failed_at)
        if rank == group.rank:
            group.report(own)
        return JobResult(1, "failed", None, str(device), fit_result, reason)
    finally:
        StopRequest.restore(previous_handlers)


def _seed(settings: TrainSettings, group: Group | None) -> int:
    """The seed asked for, else a random one (recorded); with several processes, rank 0's on every rank."""
    if group is not None:
        return group.shared_seed(settings.seed)
    return settings.seed if settings.seed is not None else random.SystemRandom().randrange(2**31)


def _sampler(emit: Callable[[Row], None], device: torch.device, group: Group | None) -> ResourceSampler:
    """The resource record of the run's processes on this machine and of their GPUs."""
    if group is None:
        gpus = [(device.index or 0, pci_bus_id(device))] if device.type == "cuda" else []
        return ResourceSampler(emit, [(0, os.getpid())], [(i, b) for i, b in gpus if b])
    local = group.local_ranks()
    gpus = [(torch.device(r.device).index or 0, r.pci_bus_id) for r in local if r.device.startswith("cuda")]
    return ResourceSampler(emit, [(r.rank, r.pid) for r in local], [(i, b) for i, b in gpus if b])


def _load_data(settings: TrainSettings, device: torch.device) -> FashionMNIST:
    return load_fashion_mnist(settings.data_dir, device).subset(settings.max_train_examples, settings.max_test_examples)


def _load_and_describe(writer: RunWriter, config: RunConfig, device: torch.device,
                       on_config: Callable[[RunConfig], None]) -> tuple[RunConfig, FashionMNIST]:
    """Process settings and the data, then the config record says what they are."""
    settings = config.settings
    applied = tune_process(device)
    data = _load_data(settings, device)
    steps = num_batches(data.train_images.shape[0], settings.batch_size)
    config = config.replace(
        speed_settings=applied, data=DataInfo(data.source, data.train_images.shape[0], data.test_images.shape[0]),
        steps_per_epoch=steps, total_steps=steps * settings.epochs,
    )
    writer.write_config(config)
    on_config(config)
    return config, data


def train_run(request: TrainRequest, data: FashionMNIST, device: torch.device, seed: int, *,
              emit: Callable[[Row], None], stop: StopRequest, saver: EpochSaver | None = None,
              group: Group | None = None, resume: "ResumePlan | None" = None) -> FitResult:
    """The training itself, alike on every rank: the seeded model (in DDP with a ``group``), ``fit``,
    and the weights and checkpoint through ``saver`` (rank 0's); a ``resume`` starts from its checkpoint."""
    torch.manual_seed(seed)
    model, net = prepare_model(request.spec, request.settings, device, wrap=group.wrap if group is not None else None)
    if group is not None:  # the same initial weights on every rank, each rank its own dropout masks
        torch.manual_seed(seed + group.rank)
    optimizer = make_optimizer(model, request.settings, device, lr=request.learning_rate)
    generator, loop = torch.Generator().manual_seed(seed), None
    if resume is not None:  # after the model and optimizer are made: their making draws from the RNG
        model.load_state_dict(resume.weights.state_dict)
        optimizer.load_state_dict(resume.checkpoint.optimizer)
        generator, loop = resume.checkpoint.restore_rng(device), resume.checkpoint.loop_state()
        if saver is not None:
            saver.saved_epoch = resume.checkpoint.epoch  # a stop before the next epoch ends keeps this pair
    should_stop = group.agree(stop) if group is not None else stop
    if saver is not None:
        saver.watch(model, data.test_labels, lambda at: capture(at, optimizer, generator, seed, request))
    result = fit(net, data, request.spec, request.settings, seed=seed, emit=emit, should_stop=should_stop,
                 on_epoch=saver.epoch_done if saver is not None else lambda loop, result: None,
                 keep_predictions=True, optimizer=optimizer, group=group, generator=generator, loop=loop)
    if group is not None:
        should_stop.finish()
    if saver is not None:
        saver.finish(result)
    return result


def _reason(e: Exception, request: TrainRequest, device: torch.device, group: Group | None,
            failed_at: float) -> Problem:
    """The failure's line; with several processes, naming the rank behind it (maybe another one)."""
    own = failure_reason(e, request, device)
    return own if group is None else group.culprit(own, _is_own(e), failed_at)[1]


def _is_own(e: BaseException) -> bool:
    """A failure that is surely this process's own, whatever the other ranks do."""
    return isinstance(e, DataError) or _is_oom(e) or _is_disk(e)


def _failed(writer: RunWriter, e: Exception, request: TrainRequest, device: torch.device,
            fit_result: FitResult | None, reason: Problem) -> JobResult:
    try:
        if not isinstance(e, DataError) and not _is_oom(e) and not _is_disk(e):
            writer.write_traceback(traceback.format_exc())
        writer.status("failed", problem=reason)
    except OSError:
        pass
    return JobResult(1, "failed", writer.dir, str(device), fit_result, reason)


def failure_reason(e: BaseException, request: TrainRequest, device: torch.device) -> Problem:
    """One line a person can act on."""
    if _is_oom(e):
        return _oom_problem(request, device)
    if isinstance(e, DataError):
        return e.problems[0]
    if _is_disk(e):
        return problem("disk_error", path=str(getattr(e, "filename", "") or "?"), why=os.strerror(e.errno))
    text = " ".join(str(e).split()) or type(e).__name__
    if len(text) > 300:
        text = text[:299] + "…"
    return problem("exception", kind=type(e).__name__, text=text)


def _oom_problem(request: TrainRequest, device: torch.device) -> Problem:
    """What ran out and, from the estimate where it can be made, how much the run needs."""
    spec, settings = request.spec, request.settings
    where = {"cuda": "GPU", "cpu": "CPU"}.get(device.type, str(device))
    args = dict(where=where, batch=settings.batch_size, size=spec.input_size)
    try:
        from .estimate import estimate_training
        from .report import human_bytes

        est = estimate_training(request, device=device, measure_speed=False)
        needs = dict(total=human_bytes(est.total_bytes), weights=human_bytes(est.param_bytes))
        if est.available_bytes is None:
            return problem("out_of_memory_needs", **args, **needs)
        return problem("out_of_memory_free", **args, **needs, free=human_bytes(est.available_bytes))
    except Exception:  # noqa: BLE001 - the message must come out even if the estimate cannot
        return problem("out_of_memory", **args)


def _is_oom(e: BaseException) -> bool:
    if isinstance(e, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(e).lower()
    return isinstance(e, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def _is_disk(e: BaseException) -> bool:
    return isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EIO)


def _summary(r: FitResult) -> dict[str, Any]:
    return {
        "epochs_completed": r.epochs_completed, "steps": r.steps, "examples": r.examples,
        "train_seconds": round(r.train_seconds, 3), "wall_seconds": round(r.wall_seconds, 3),
        "examples_per_sec": round(r.examples_per_sec, 2), "train_loss": r.train_loss, "train_acc": r.train_acc,
        "test_loss": r.test_loss, "test_acc": r.test_acc,
    }


def run_config(request: TrainRequest, device: torch.device, seed: int, run_dir: Path,
               group: Group | None = None) -> RunConfig:
    dtype = amp_dtype(request.settings, device)
    now = time.time()
    world = dict(world_size=group.size, backend=group.backend, ranks=list(group.ranks)) if group is not None else {}
    return RunConfig(
        run_id=run_dir.name, request=request, seed=seed, device=str(device), device_name=device_name(device),
        pci_bus_id=pci_bus_id(device), amp_dtype=str(dtype).removeprefix("torch.") if dtype else None,
        pid=os.getpid(), started_unix=round(now, 3), started_at=time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(now)),
        versions={"python": platform.python_version(), "torch": torch.__version__, "torchvision": _version("torchvision")},
        command=list(sys.argv), **world,
    )


def _version(package: str) -> str:
    """An installed package's version without importing it (importing torchvision costs a run 1-3 s of start-up)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"
