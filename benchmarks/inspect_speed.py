"""Viewing a new image inside d2l's training net (VGG-11 ratio 4, 224): the server-side time.

Ours: ``look_inside`` (forward hooks on every block, softmax, each block's figures, the 16 most
active maps per block shrunk for drawing, the first conv's filters). Beside it, the least any
viewer must do for the same answer: the bare forward pass ``model(x)`` of the same input, no
hooks. Both on the same model, the same images, alternating, median of ``--images`` images, ratio
printed. Also timed: loading a run's model.pt (``network_for``, first call and cached), reading a
test image (first call and cached) and preparing uploads (a 1000x750 PNG, a 4000x3000 JPEG).

    python benchmarks/inspect_speed.py                 # d2l's net on this machine's CPU
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from vgg_core.images import load_image_file, load_test_image  # noqa: E402
from vgg_core.inspect import look_inside, network_for, summary_of  # noqa: E402
from vgg_core.pipeline import to_model_input  # noqa: E402
from vgg_core.spec import preset  # noqa: E402
from vgg_core.weights import cpu_state, save_weights  # noqa: E402


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores, {cpu}, torch {torch.__version__}, {torch.get_num_threads()} threads"


def picture(size: tuple[int, int], fmt: str) -> bytes:
    im = Image.new("RGB", size, (235, 235, 230))
    w, h = size
    ImageDraw.Draw(im).ellipse((w // 4, h // 4, 3 * w // 4, 3 * h // 4), fill=(40, 30, 20))
    buf = io.BytesIO()
    im.save(buf, format=fmt, quality=90) if fmt == "JPEG" else im.save(buf, format=fmt)
    return buf.getvalue()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=20, help="test images to time each side on (default 20)")
    args = p.parse_args()
    spec = preset("d2l")
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    print(f"network: d2l's training net, VGG-11 ratio 4, {spec.input_size}x{spec.input_size}")

    t_summary, _ = timed(summary_of, spec)  # the block labels; a page has usually made this summary already
    print(f"the summary behind the block labels, first in the process: {t_summary * 1e3:.0f} ms")
    with tempfile.TemporaryDirectory() as tmp:
        untrained = network_for(spec, seed=0)
        save_weights(Path(tmp) / "model.pt", cpu_state(untrained.model), spec, epoch=1)
        size = (Path(tmp) / "model.pt").stat().st_size
        t_load, network = timed(network_for, tmp)
        t_cached, _ = timed(network_for, tmp)
        print(f"network_for(run folder): first {t_load * 1e3:.0f} ms (model.pt {size / 2**20:.0f} MiB), "
              f"then {t_cached * 1e3:.2f} ms while model.pt is unchanged")

    t_first_image, image = timed(load_test_image, 0)
    t_cached_image, _ = timed(load_test_image, 1)
    print(f"load_test_image: first {t_first_image * 1e3:.0f} ms (reads the t10k file), then {t_cached_image * 1e3:.2f} ms")
    t_first, _ = timed(look_inside, network.model, spec, image)
    print(f"look_inside, first call in the process (the summary already made): {t_first * 1e3:.0f} ms")

    model = network.model

    def bare(img) -> None:
        with torch.inference_mode():
            model(to_model_input(img.pixels[None], spec.input_size, spec.in_channels))

    ours, plain, whole = [], [], []
    for i in range(1, args.images + 1):
        img = load_test_image(i)
        sides = [(lambda: look_inside(model, spec, img), ours), (lambda: bare(img), plain)]
        for fn, into in sides if i % 2 else sides[::-1]:  # alternate which side goes first
            into.append(timed(fn)[0])
        whole.append(timed(lambda: look_inside(model, spec, load_test_image(i + 100)))[0])
    m_ours, m_bare = statistics.median(ours), statistics.median(plain)
    print(f"new image, median of {args.images}: look_inside {m_ours * 1e3:.0f} ms, bare forward {m_bare * 1e3:.0f} ms, "
          f"ratio {m_ours / m_bare:.2f}x; load_test_image + look_inside {statistics.median(whole) * 1e3:.0f} ms")
    print(f"  fastest: look_inside {min(ours) * 1e3:.0f} ms, bare {min(plain) * 1e3:.0f} ms; "
          f"slowest: {max(ours) * 1e3:.0f} and {max(plain) * 1e3:.0f} ms")

    for size, fmt in (((1000, 750), "PNG"), ((4000, 3000), "JPEG")):
        data = picture(size, fmt)
        times = [timed(load_image_file, data, f"x.{fmt.lower()}")[0] for _ in range(5)]
        print(f"load_image_file, {size[0]}x{size[1]} {fmt} ({len(data) / 1024:.0f} KiB): "
              f"median of 5 {statistics.median(times) * 1e3:.1f} ms")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
