"""What each of two gloo ranks does in tests/test_engine_ddp.py, spawned by ``torch.multiprocessing``.

A module of its own (not the test file), so the spawned children import it without pytest. Each rank
joins a real process group through ``vgg_core.ddp.Group``, then runs the library's own step and
``fit`` on its share of the real Fashion-MNIST, and saves what it saw for the test to compare.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from vgg_core.data import load_fashion_mnist
from vgg_core.ddp import Group, World
from vgg_core.pipeline import epoch_batches
from vgg_core.request import TrainSettings
from vgg_core.spec import ArchSpec
from vgg_core.train import fit, make_optimizer, prepare_model, step_context, train_step

SPEC = ArchSpec(conv_arch=((1, 8), (1, 16)), input_size=28, fc_width=64, dropout=0.0)
STEP_BATCH = 65  # odd: the ranks' shares differ (33 and 32)
FIT = TrainSettings(epochs=1, batch_size=64, seed=5, max_train_examples=300, max_test_examples=101, log_every=2,
                    device="cpu")  # 300 = 4 x 64 + 44; the 101 test examples split 51 / 50
SEED = 5


def flat(model: torch.nn.Module) -> torch.Tensor:
    """Every parameter in one vector (channels_last weights cannot be viewed flat)."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def data():
    return load_fashion_mnist().subset(FIT.max_train_examples, FIT.max_test_examples)


def one_step(group: Group | None):
    """One SGD step on the first global batch of the seeded permutation: (parameters, loss sum, correct)."""
    d, settings = data(), FIT.replace(batch_size=STEP_BATCH)
    torch.manual_seed(SEED)
    model, net = prepare_model(SPEC, settings, torch.device("cpu"), wrap=group.wrap if group else None)
    ctx = step_context(net, SPEC, settings, torch.device("cpu"), make_optimizer(model, settings, torch.device("cpu")), group)
    rank, world = (group.rank, group.size) if group else (0, 1)
    images, labels = next(epoch_batches(d.train_images, d.train_labels, STEP_BATCH, torch.Generator().manual_seed(SEED),
                                        rank=rank, world=world))
    loss_sum, correct = train_step(ctx, images, labels, STEP_BATCH)
    return flat(model), float(loss_sum), int(correct), len(labels)


def one_fit(group: Group | None):
    """The library's fit for one epoch: (parameters, rows, result, test probabilities)."""
    d = data()
    torch.manual_seed(SEED)
    model, net = prepare_model(SPEC, FIT, torch.device("cpu"), wrap=group.wrap if group else None)
    rows, kept = [], []
    result = fit(net, d, SPEC, FIT, seed=SEED, emit=rows.append, keep_predictions=True,
                 on_epoch=lambda loop, r: kept.append(r.probabilities), group=group)
    return flat(model), rows, result, kept[0]


def rank_main(rank: int, port: int, out: str) -> None:
    """torch.multiprocessing's entry: join, step, fit, save; every rank alike."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    group = Group.setup(World(rank, 2, rank, 2), torch.device("cpu"), 60, init_method=f"tcp://127.0.0.1:{port}")
    try:
        step = one_step(group)
        fitted = one_fit(group)
        torch.save({"step": step, "fit": fitted, "ranks": group.ranks, "backend": group.backend},
                   Path(out) / f"rank{rank}.pt")
    finally:
        group.close()
