"""The Inside page's server time to show a new image, for d2l's training net (VGG-11 ratio 4, 224).

A real d2l run is trained first (one epoch on 64 training images, evaluated on 256 test images: real
weights and a real predictions.npz, in seconds on a CPU). Then a real ``streamlit run app.py`` serves
the page to Debian's chromium, which types test-image numbers into the page. The server is started
through this file (``--serve``), which times every script run in the server process itself (Streamlit's
``ScriptRunner._run_script``: the widgets' values in, the core's calls, the figures and every element
sent out), so the figure is the server's work for that image, apart from the browser's drawing.
Also printed: the browser's time from pressing Enter to the page idle with the image in the viewer.

    python benchmarks/inside_page_speed.py                 # 5 new images, the same 5 again, both ways
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
LOG_ENV = "VGG_BENCH_SCRIPT_LOG"


def serve(argv: list[str]) -> None:
    """``streamlit run`` with every script run's wall time appended to $VGG_BENCH_SCRIPT_LOG."""
    from streamlit.runtime.scriptrunner import script_runner
    from streamlit.web import cli

    original = script_runner.ScriptRunner._run_script
    log = os.environ[LOG_ENV]

    def timed(self, rerun_data) -> None:
        start = time.perf_counter()
        try:
            original(self, rerun_data)
        finally:
            with open(log, "a") as f:
                f.write(json.dumps({"s": time.perf_counter() - start}) + "\n")

    script_runner.ScriptRunner._run_script = timed
    sys.argv = ["streamlit", "run", "app.py", *argv]
    cli.main()


@contextmanager
def serving(port: int, runs: Path, log_path: Path) -> Iterator[str]:
    """The app as tests/streamlit_browser.py serves it, started through ``--serve`` (timed script runs)."""
    from streamlit_browser import _stop, _wait_healthy

    env = {**os.environ, "VGG_RUNS_DIR": str(runs), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, __file__, "--serve", "--server.headless", "true", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, proc, 120, log_path)
            yield url
        finally:
            _stop(proc)


def train_d2l(run_dir: Path) -> None:
    cmd = [sys.executable, "-m", "vgg_core", "train", "--preset", "d2l", "--epochs", "1", "--max-train-examples", "64",
           "--max-test-examples", "256", "--batch-size", "32", "--device", "cpu", "--seed", "0", "--run-dir", str(run_dir)]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    if out.returncode:
        raise SystemExit(out.stderr)


def script_runs(log: Path) -> list[float]:
    return [json.loads(line)["s"] for line in log.read_text().splitlines()] if log.exists() else []


def show(page, log: Path, index: int) -> tuple[float, float]:
    """(server seconds, browser seconds) to show test image ``index``."""
    from streamlit_browser import IDLE

    before = len(script_runs(log))
    box = page.locator(".st-key-inside_index input")
    box.fill(str(index))
    start = time.perf_counter()
    box.press("Enter")
    page.wait_for_function(
        "([idle, n]) => !!document.querySelector(idle)"
        " && (document.querySelector('.st-key-inside_viewer')?.innerText || '').includes('Test image ' + n)",
        arg=[IDLE, index], timeout=300_000, polling=20)
    browser = time.perf_counter() - start
    deadline = time.monotonic() + 10
    while len(script_runs(log)) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    return sum(script_runs(log)[before:]), browser


def summary(label: str, pairs: list[tuple[float, float]]) -> str:
    server, browser = [p[0] for p in pairs], [p[1] for p in pairs]
    return (f"{label}: server median {statistics.median(server) * 1e3:.0f} ms (min {min(server) * 1e3:.0f}, "
            f"max {max(server) * 1e3:.0f}); browser median {statistics.median(browser) * 1e3:.0f} ms")


def measure(url: str, log: Path, images: list[int]) -> None:
    from streamlit_browser import IDLE, chromium

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(300_000)
        start = time.perf_counter()
        page.goto(f"{url}/inside?ratio=4&run=d2l&image=0")
        page.wait_for_selector(IDLE)
        page.wait_for_selector(".st-key-inside_viewer")
        runs = script_runs(log)
        print(f"first page load (model.pt 164 MiB loaded, two networks' first passes): server "
              f"{sum(runs) * 1e3:.0f} ms over {len(runs)} script runs, browser {(time.perf_counter() - start) * 1e3:.0f} ms")
        for compare in (True, False):
            if not compare:
                page.locator(".st-key-inside_before_after label").click()
                page.wait_for_selector(IDLE)
            label = "with" if compare else "without"
            offset = 0 if compare else 100
            new = [show(page, log, i + offset) for i in images]
            again = [show(page, log, i + offset) for i in images]
            print(summary(f"new image, {label} the untrained network beside it ({len(images)} images)", new))
            print(summary(f"same image again, {label} it (cached view)", again))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=5)
    p.add_argument("--serve", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve is not None:
        return serve(args.serve)
    from inspect_speed import machine
    from streamlit_browser import free_port

    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        runs, log = Path(tmp) / "runs", Path(tmp) / "script_runs.jsonl"
        runs.mkdir()
        t0 = time.perf_counter()
        train_d2l(runs / "d2l")
        print(f"d2l run trained in {time.perf_counter() - t0:.0f} s")
        os.environ[LOG_ENV] = str(log)
        with serving(free_port(), runs, Path(tmp) / "server.log") as url:
            measure(url, log, list(range(11, 11 + args.images)))
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
