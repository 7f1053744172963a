"""One run on several processes (DDP): this rank's place, its process group, and what the ranks agree on.

torchrun starts the processes (``train --nproc N`` starts torchrun itself, see ``torchrun.py``) and
tells each its place in the environment (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE). ``Group.setup``
joins the process group: NCCL on CUDA with one GPU each (``cuda:LOCAL_RANK``), gloo on the CPU, under
the run's timeout, so a rank that hangs fails the run instead of holding it forever. Besides the
training's own collectives (DDP's gradient all-reduce, the ``Accumulator``'s sums, the test
predictions) the ranks:

- agree on stopping (``StopAgreement``): at every step each rank offers its reason to stop (the STOP
  file on rank 0, SIGTERM or Ctrl-C on any) to a one-number all-reduce on a gloo group of their own.
  It is started without waiting and read at the next step, so the loop never waits for it, and every
  rank gets the same answer at the same step;
- check in: a thread writes each rank's time and step count into torchrun's key-value store every
  second, and a rank that fails writes its reason there. When something goes wrong ``culprit`` names
  the rank behind it: the one that wrote a reason, else one whose process ended or that stopped
  checking in, else the rank asking (its own failure).
"""

from __future__ import annotations

import json
import os
import random
import socket
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Mapping

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .device import device_name, pci_bus_id
from .problems import Problem, problem
from .run_config import RankRecord

BEAT_S = 1.0  # how often each rank checks in
STALE_S = 3.5  # a rank silent this long has ended or hangs
ROLL_CALL_S = 5.0  # how long a failing rank looks for the rank behind its failure
NCCL_GRACE_S = 60  # NCCL's own watchdog ends a process on its timeout: let the gloo checks come first
STOP_CODES = {"STOP file": 1, "SIGTERM": 2, "SIGINT": 3}  # what a stop flag carries; the largest wins
HOST = socket.gethostname()


@dataclass(frozen=True)
class World:
    """This process's place, as torchrun's environment gives it."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "World | None":
        """None outside torchrun (no RANK and WORLD_SIZE)."""
        env = os.environ if env is None else env
        try:
            rank, size = int(env["RANK"]), int(env["WORLD_SIZE"])
            local_rank = int(env.get("LOCAL_RANK", rank))
            local_size = int(env.get("LOCAL_WORLD_SIZE", size))
        except (KeyError, ValueError):
            return None
        return cls(rank, size, local_rank, local_size)


def rank_device(device: torch.device, local_rank: int) -> torch.device:
    """Each rank's own GPU on CUDA (counting from cuda:0 on every machine); the CPU is shared."""
    return torch.device("cuda", local_rank) if device.type == "cuda" else device


class Group:
    """This rank's live process group: the collectives the loop needs, the stop agreement, the check-ins."""

    def __init__(self, world: World, device: torch.device, backend: str, timeout_s: float, store: Any,
                 control: Any) -> None:
        self.world, self.rank, self.size = world, world.rank, world.size
        self.device, self.backend, self.timeout_s = device, backend, timeout_s
        self.ranks: list[RankRecord] = []
        self.progress = 0  # stop checks so far: the step count each rank reports when it checks in
        self._store, self._control = store, control
        self._store_lock = threading.Lock()
        self._quit = threading.Event()
        self._beat_thread: threading.Thread | None = None

    @classmethod
    def setup(cls, world: World, device: torch.device, timeout_s: float, init_method: str = "env://") -> "Group":
        """Join the group (a collective: every rank calls it), record every rank, start checking in."""
        device = rank_device(device, world.local_rank)
        backend = "nccl" if device.type == "cuda" else "gloo"
        extra: dict[str, Any] = {}
        if device.type == "cuda":
            torch.cuda.set_device(device)
            extra["device_id"] = device
        grace = NCCL_GRACE_S if backend == "nccl" else 0
        dist.init_process_group(backend, init_method=init_method, rank=world.rank, world_size=world.size,
                                timeout=timedelta(seconds=timeout_s + grace), **extra)
        control = dist.new_group(backend="gloo", timeout=timedelta(seconds=timeout_s))
        group = cls(world, device, backend, timeout_s, dist.distributed_c10d._get_default_store(), control)
        group.ranks = group._describe()
        group._beat_thread = threading.Thread(target=group._beat, name="ddp-check-in", daemon=True)
        group._beat_thread.start()
        return group

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def local_ranks(self) -> list[RankRecord]:
        """The ranks on this machine (rank 0's: the processes its resource record covers)."""
        return [r for r in self.ranks if r.host == HOST]

    # --- what the loop calls (``train.Group``) --------------------------------------------------

    def all_reduce(self, tensor: torch.Tensor) -> torch.Tensor:
        out = tensor.clone()
        dist.all_reduce(out)
        return out

    def gather(self, tensor: torch.Tensor) -> torch.Tensor:
        """Every rank's rows in rank order (on every rank): shapes may differ by rank, so padded."""
        n = torch.tensor([tensor.shape[0]], device=tensor.device)
        sizes = [torch.zeros_like(n) for _ in range(self.size)]
        dist.all_gather(sizes, n)
        counts = [int(s) for s in torch.cat(sizes).tolist()]
        padded = tensor.new_zeros((max(counts), *tensor.shape[1:]))
        padded[: tensor.shape[0]] = tensor
        parts = [torch.empty_like(padded) for _ in range(self.size)]
        dist.all_gather(parts, padded)
        return torch.cat([p[:c] for p, c in zip(parts, counts)])

    def wrap(self, model: nn.Module) -> nn.Module:
        """DDP around the model; on CUDA BatchNorm becomes SyncBatchNorm (statistics of the global
        batch, as one process has them). gloo has no SyncBatchNorm: on the CPU each rank normalises
        its own share."""
        if self.device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def shared_seed(self, seed: int | None) -> int:
        """Rank 0's seed (the one asked for, else a random one) on every rank."""
        box = [seed if seed is not None else random.SystemRandom().randrange(2**31)]
        dist.broadcast_object_list(box, src=0, group=self._control)
        return int(box[0])

    def agree(self, stop: Any) -> "StopAgreement":
        return StopAgreement(stop, self)

    # --- failures -------------------------------------------------------------------------------

    def report(self, reason: Problem) -> None:
        """Leave this rank's reason where rank 0 will look, before this process ends."""
        self._put(f"vgg/failed/{self.rank}", {"time": time.time(), "problem": reason.to_dict()})

    def culprit(self, own: Problem, local: bool, failed_at: float) -> tuple[int, Problem]:
        """(rank, why) the run cannot go on: a rank that reported a reason (the earliest), else one
        that ended or stopped checking in, else this rank with ``own``. ``local``: the failure is
        surely this rank's own (out of memory, data, disk), so no waiting for the others' check-in."""
        deadline = time.monotonic() + (0.0 if local else ROLL_CALL_S)
        while True:
            found, settled = self._look(failed_at)
            if found is not None:
                return found
            if settled or time.monotonic() >= deadline:
                return self.rank, problem("ddp_rank_failed", rank=self.rank, reason=own)
            time.sleep(0.2)

    def _look(self, failed_at: float) -> tuple[tuple[int, Problem] | None, bool]:
        """(a culprit, or None; whether every other rank has checked in since the failure)."""
        from .runs import process_alive

        others = [r for r in self.ranks if r.rank != self.rank]
        reports = {r.rank: d for r in others if isinstance(d := self._get(f"vgg/failed/{r.rank}"), dict)}
        if reports:
            rank = min(reports, key=lambda k: reports[k].get("time", 0.0))
            reason = Problem.from_dict(reports[rank].get("problem")) or problem("run_no_status")
            return (rank, problem("ddp_rank_failed", rank=rank, reason=reason)), True
        settled = True
        for r in others:
            if r.host == HOST and not process_alive(r.pid, None):
                return (r.rank, problem("ddp_rank_died", rank=r.rank, pid=r.pid)), True
            beat = self._get(f"vgg/beat/{r.rank}")
            seen = beat.get("time") if isinstance(beat, dict) else None
            age = time.time() - seen if isinstance(seen, (int, float)) else float("inf")
            if age > STALE_S:
                return (r.rank, problem("ddp_rank_silent", rank=r.rank, seconds=round(min(age, 1e6)))), True
            settled = settled and seen is not None and seen >= failed_at
        return None, settled

    # --- the store ------------------------------------------------------------------------------

    def _put(self, key: str, value: dict) -> None:
        try:
            with self._store_lock:
                self._store.set(key, json.dumps(value))
        except Exception:  # noqa: BLE001 - the store gone (torchrun ending): nothing more to tell
            pass

    def _get(self, key: str) -> Any:
        try:
            with self._store_lock:
                if not self._store.check([key]):
                    return None
                return json.loads(self._store.get(key))
        except Exception:  # noqa: BLE001 - unreadable or gone: as if never written
            return None

    def _beat(self) -> None:
        while True:
            self._put(f"vgg/beat/{self.rank}", {"time": time.time(), "steps": self.progress})
            if self._quit.wait(BEAT_S):
                return

    def _describe(self) -> list[RankRecord]:
        mine = RankRecord(self.rank, HOST, os.getpid(), str(self.device), device_name(self.device),
                          pci_bus_id(self.device))
        everyone: list[Any] = [None] * self.size
        dist.all_gather_object(everyone, mine, group=self._control)
        return sorted(everyone, key=lambda r: r.rank)

    def close(self) -> None:
        """Stop checking in and leave the group (each rank, once its part of the run is over)."""
        self._quit.set()
        if self._beat_thread is not None:
            self._beat_thread.join(timeout=2 * BEAT_S)
        if dist.is_initialized():
            try:
                dist.destroy_process_group()
            except Exception:  # noqa: BLE001 - a group broken by a failed rank: the process ends anyway
                pass


class StopAgreement:
    """``should_stop`` for every rank: the same answer at the same call, one call after any rank asked.

    Each call reads the all-reduce started by the previous one (a stop code, the largest wins) and
    starts the next with this rank's own wish, so the loop never waits on the network for it. The
    agreed reason is written into ``stop.reason`` where the rank had none of its own.
    """

    def __init__(self, stop: Any, group: Group) -> None:
        self.stop, self.group = stop, group
        self._flag: torch.Tensor | None = None
        self._work: Any = None
        self.agreed = False

    def __call__(self) -> bool:
        if self.agreed:
            return True
        if self._settle():
            return True
        code = STOP_CODES.get(self.stop.reason, 1) if self.stop() else 0
        self._flag = torch.tensor([code], dtype=torch.int32)
        self._work = dist.all_reduce(self._flag, op=dist.ReduceOp.MAX, group=self.group._control, async_op=True)
        self.group.progress += 1
        return False

    def _settle(self) -> bool:
        if self._work is None:
            return False
        self._work.wait()
        self._work = None
        code = int(self._flag.item())
        if code:
            self.agreed = True
            names = {v: k for k, v in STOP_CODES.items()}
            self.stop.reason = self.stop.reason or names.get(code, "STOP file")
        return self.agreed

    def finish(self) -> None:
        """Wait for the last check (every rank, at the same point), so none is left in flight."""
        self._settle()


__all__ = ["World", "Group", "StopAgreement", "RankRecord", "rank_device", "STOP_CODES", "HOST"]
