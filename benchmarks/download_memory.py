"""What "Download weights" costs the server: its resident memory while one session clicks it N times.

A real ``streamlit run app.py`` with a runs folder holding one finished run whose ``model.pt`` is
d2l's full VGG-11 (515 MB), driven by Debian's chromium: the Train page's weights button is clicked
``--clicks`` times, each download saved and checked for its size, and the server process's RSS
(psutil) is sampled every 50 ms throughout. Prints the RSS before, the peak, and after.

    python benchmarks/download_memory.py [--clicks 10]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from processes import server_process  # noqa: E402
from streamlit_browser import chromium, free_port, open_app, streamlit_server  # noqa: E402
from vgg_core.model import build_model  # noqa: E402
from vgg_core.request import TrainRequest  # noqa: E402
from vgg_core.spec import ArchSpec  # noqa: E402
from vgg_core.weights import cpu_state, save_weights  # noqa: E402

MIB = 1 << 20


def plant_run(root: Path, ratio: int) -> Path:
    run = root / "20260101-000000-big000"
    run.mkdir(parents=True)
    spec = ArchSpec(ratio=ratio)
    (run / "request.json").write_text(TrainRequest(spec).to_json())
    (run / "metrics.jsonl").write_text(
        '{"kind": "status", "state": "running", "pid": 1, "time": 1000.0}\n'
        '{"kind": "status", "state": "completed", "time": 1001.0}\n')
    save_weights(run / "model.pt", cpu_state(build_model(spec)), spec, epoch=1)
    return run


class Sampler(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.proc, self.peak, self.done = psutil.Process(pid), 0, False

    def rss(self) -> int:
        return self.proc.memory_info().rss

    def run(self) -> None:
        while not self.done:
            self.peak = max(self.peak, self.rss())
            time.sleep(0.05)


def click(page, out: Path, i: int) -> int:
    t0 = time.perf_counter()
    with page.expect_download(timeout=300_000) as d:
        page.locator(".st-key-train_dl_weights a").click()
    print(f"click {i}: download started after {time.perf_counter() - t0:.1f} s", flush=True)
    target = out / f"{i}.pt"
    d.value.save_as(target)
    size = target.stat().st_size
    target.unlink()
    return size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clicks", type=int, default=10)
    ap.add_argument("--ratio", type=int, default=1, help="1: d2l's full VGG-11 (515 MB); 4: its training net (172 MB)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run = plant_run(tmp / "runs", a.ratio)
        size = (run / "model.pt").stat().st_size
        port = free_port()
        with streamlit_server(port, tmp / "runs", tmp / "server.log") as url, chromium() as browser:
            sampler = Sampler(server_process(port).pid)
            page = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 1000}).new_page()
            open_app(page, f"{url}/train")
            page.locator(".st-key-train_dl_weights a").wait_for(timeout=120_000)
            time.sleep(2)
            before = sampler.rss()
            sampler.start()
            sizes = [click(page, tmp, i) for i in range(a.clicks)]
            time.sleep(5)
            after = sampler.rss()
            sampler.done = True
    assert all(s == size for s in sizes), (sizes, size)
    print(json.dumps({"model_pt_mib": round(size / MIB), "clicks": a.clicks, "rss_before_mib": round(before / MIB),
                      "rss_peak_mib": round(sampler.peak / MIB), "rss_after_mib": round(after / MIB),
                      "peak_over_before_mib": round((sampler.peak - before) / MIB),
                      "after_over_before_mib": round((after - before) / MIB)}))


if __name__ == "__main__":
    main()
