"""Training throughput: d2l's own loop against our engine, same config, same machine, one run.

d2l's side is a faithful re-implementation of ``load_data_fashion_mnist`` (torchvision
FashionMNIST, Resize + ToTensor, DataLoader with 4 workers, shuffled) and ``train_ch6`` (Xavier
init, SGD, a timer around each training step, an Accumulator that reads the loss and accuracy
back with float() every step). Our side is ``vgg_core``'s real loop (``fit``), as the train
command runs it. Each side runs in its own fresh process, one after the other.

Both are counted the way d2l counts (examples / time inside training steps), skipping the first
``--warmup`` steps of each; ours has no data loading outside its steps, so its batch preparation
(indexing and resizing) is inside the count. Whole-loop wall-clock rates are printed too.

    python benchmarks/train_throughput.py                      # d2l's settings: ratio 4, 224, batch 128
    python benchmarks/train_throughput.py --device cuda --batches 200
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps (default auto)")
    p.add_argument("--batches", type=int, default=12, help="training steps per epoch for each side; 0 = whole epoch (default 12)")
    p.add_argument("--epochs", type=int, default=1, help="epochs for each side (default 1)")
    p.add_argument("--warmup", type=int, default=1, help="first steps left out of each side's count (default 1)")
    p.add_argument("--ratio", type=int, default=4, help="d2l's channel divisor (default 4)")
    p.add_argument("--input-size", type=int, default=224, help="resize to this side (default 224)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--workers", type=int, default=4, help="d2l's DataLoader workers (default 4, d2l's)")
    p.add_argument("--log-every", type=int, default=1, help="our loop's log interval; 1 reads the metrics back every step, as d2l does")
    p.add_argument("--no-amp", dest="amp", action="store_false", help="our side in float32 on CUDA too")
    p.add_argument("--compile", nargs="?", const="default", metavar="MODE", help="our side with torch.compile (a mode optional)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", help="Fashion-MNIST folder (default: as the train command finds it)")
    p.add_argument("--only", choices=("d2l", "ours"), help=argparse.SUPPRESS)  # one side, in a child process
    p.add_argument("--skip-d2l", action="store_true", help="time our side only")
    return p.parse_args(argv)


# --- d2l's side ------------------------------------------------------------------------------------

def d2l_vgg(conv_arch, input_size: int):
    """d2l's ``vgg_block`` and ``vgg`` (its 7*7 is input_size // 32 squared, i.e. 7*7 at 224)."""
    from torch import nn

    def vgg_block(num_convs, in_channels, out_channels):
        layers = []
        for _ in range(num_convs):
            layers.append(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1))
            layers.append(nn.ReLU())
            in_channels = out_channels
        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        return nn.Sequential(*layers)

    conv_blks = []
    in_channels = 1
    for (num_convs, out_channels) in conv_arch:
        conv_blks.append(vgg_block(num_convs, in_channels, out_channels))
        in_channels = out_channels
    side = input_size >> len(conv_arch)
    return nn.Sequential(
        *conv_blks, nn.Flatten(),
        nn.Linear(out_channels * side * side, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, 10))


def d2l_raw_root(data_dir: str | None) -> Path:
    """torchvision's FashionMNIST wants root/FashionMNIST/raw/<unzipped files>: make one from ours."""
    from vgg_core.data import locate

    files, _ = locate(data_dir)
    root = Path(tempfile.mkdtemp(prefix="d2l-fmnist-"))
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name, path in files.items():
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as src, open(raw / name, "wb") as dst:
            shutil.copyfileobj(src, dst)
    return root


def run_d2l(args: argparse.Namespace) -> dict:
    import torch
    import torchvision
    from torch import nn
    from torch.utils import data
    from torchvision import transforms

    from vgg_core.device import resolve_device

    device = resolve_device(args.device)
    torch.manual_seed(args.seed)
    root = d2l_raw_root(args.data_dir)
    try:
        # d2l.load_data_fashion_mnist(batch_size, resize=224)
        trans = [transforms.ToTensor()]
        if args.input_size != 28:
            trans.insert(0, transforms.Resize(args.input_size))
        trans = transforms.Compose(trans)
        mnist_train = torchvision.datasets.FashionMNIST(root=str(root), train=True, transform=trans, download=False)
        train_iter = data.DataLoader(mnist_train, args.batch_size, shuffle=True, num_workers=args.workers)

        conv_arch = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))
        net = d2l_vgg([(pair[0], pair[1] // args.ratio) for pair in conv_arch], args.input_size)

        # d2l.train_ch6(net, train_iter, test_iter, num_epochs, lr, d2l.try_gpu())
        def init_weights(m):
            if type(m) == nn.Linear or type(m) == nn.Conv2d:
                nn.init.xavier_uniform_(m.weight)
        net.apply(init_weights)
        net.to(device)
        optimizer = torch.optim.SGD(net.parameters(), lr=args.lr)
        loss = nn.CrossEntropyLoss()
        step_times: list[float] = []
        examples: list[int] = []
        wall_start = None
        for epoch in range(args.epochs):
            metric = [0.0, 0.0, 0.0]  # d2l.Accumulator(3)
            net.train()
            for i, (X, y) in enumerate(train_iter):
                if args.batches and i == args.batches:
                    break
                if wall_start is None and len(step_times) == args.warmup:
                    wall_start = time.perf_counter()
                t0 = time.perf_counter()  # timer.start()
                optimizer.zero_grad()
                X, y = X.to(device), y.to(device)
                y_hat = net(X)
                l = loss(y_hat, y)
                l.backward()
                optimizer.step()
                with torch.no_grad():
                    acc = float((y_hat.argmax(axis=1).type(y.dtype) == y).type(y.dtype).sum())  # d2l.accuracy
                    metric = [a + float(b) for a, b in zip(metric, (l * X.shape[0], acc, X.shape[0]))]
                step_times.append(time.perf_counter() - t0)  # timer.stop()
                examples.append(X.shape[0])
        wall = time.perf_counter() - wall_start if wall_start else None
    finally:
        shutil.rmtree(root, ignore_errors=True)
    counted = sum(examples[args.warmup:])
    return {
        "side": "d2l", "device": str(device), "steps": len(step_times), "examples_counted": counted,
        "step_seconds": sum(step_times[args.warmup:]),
        "examples_per_sec": counted / sum(step_times[args.warmup:]),
        "wall_examples_per_sec": counted / wall if wall else None,
        "train_loss": metric[0] / metric[2], "train_acc": metric[1] / metric[2],
    }


# --- our side --------------------------------------------------------------------------------------

def run_ours(args: argparse.Namespace) -> dict:
    import torch

    from vgg_core.data import load_fashion_mnist
    from vgg_core.spec import preset
    from vgg_core.speed import tune_process
    from vgg_core.train import TrainConfig, check_setup, fit, make_optimizer, prepare_model

    spec = preset("d2l").replace(ratio=args.ratio, input_size=args.input_size)
    config = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, device=args.device, amp=args.amp,
        compile=args.compile, log_every=args.log_every, seed=args.seed,
        max_train_examples=args.batches * args.batch_size if args.batches else None,
    )
    device = check_setup(spec, config)
    tune_process(device)
    data = load_fashion_mnist(args.data_dir, device).subset(config.max_train_examples)
    torch.manual_seed(args.seed)
    model, net = prepare_model(spec, config, device)
    rows: list[dict] = []
    result = fit(net, data, spec, config, seed=args.seed, emit=rows.append, optimizer=make_optimizer(model, config, device),
                 evaluate_each_epoch=False)
    first = next(r for r in rows if r["step"] >= args.warmup)
    last = rows[-1]
    counted = last["examples"] - first["examples"]
    seconds = last["elapsed_s"] - first["elapsed_s"]
    return {
        "side": "ours", "device": str(device), "steps": result.steps, "examples_counted": counted, "step_seconds": seconds,
        "examples_per_sec": counted / seconds, "wall_examples_per_sec": result.examples_per_sec,
        "train_loss": result.train_loss, "train_acc": result.train_acc, "first_counted_step": first["step"],
    }


# --- the comparison --------------------------------------------------------------------------------

def child(side: str, argv: list[str]) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), *argv, "--only", side]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"the {side} side failed (exit {out.returncode}); see its error above")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.only:
        print(json.dumps(run_d2l(args) if args.only == "d2l" else run_ours(args)))
        return 0
    import torch

    from vgg_core.device import device_name, resolve_device

    device = resolve_device(args.device)
    setting = (f"VGG-11 ratio {args.ratio}, {args.input_size}x{args.input_size}, batch {args.batch_size}, lr {args.lr}, "
               f"{args.batches or 'all'} steps x {args.epochs} epoch(s), first {args.warmup} step(s) not counted")
    print(f"device: {device} ({device_name(device)}), torch {torch.__version__}, {os.cpu_count()} CPUs, "
          f"python {platform.python_version()}", flush=True)
    print(f"setting: {setting}", flush=True)
    d2l = None if args.skip_d2l else child("d2l", argv)
    if d2l:
        print(f"d2l  (DataLoader {args.workers} workers, PIL resize): {d2l['examples_per_sec']:9.1f} examples/sec "
              f"in steps, {d2l['wall_examples_per_sec'] or 0:9.1f} wall", flush=True)
    ours = child("ours", argv)
    print(f"ours (vgg_core fit{', amp' if args.amp and device.type == 'cuda' else ''}"
          f"{', compile ' + args.compile if args.compile else ''}):             {ours['examples_per_sec']:9.1f} examples/sec "
          f"in steps, {ours['wall_examples_per_sec']:9.1f} wall incl. warm-up", flush=True)
    ratio = ours["examples_per_sec"] / d2l["examples_per_sec"] if d2l else None
    if ratio:
        print(f"ratio (ours / d2l, counted as d2l counts): {ratio:.2f}x")
    print(json.dumps({
        "benchmark": "train_throughput", "device": str(device), "device_name": device_name(device),
        "torch": torch.__version__, "cpus": os.cpu_count(), "setting": setting, "d2l": d2l, "ours": ours, "ratio": ratio,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
