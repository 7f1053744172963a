"""A classroom on one server: N browser sessions open Explore and edit at the same moment.

A real ``streamlit run app.py`` and N chromium processes (one per student, each its own session),
started together: each opens Explore (page load = until the book's total, 128,806,154, is on
screen), then changes ``ratio`` ``--edits`` times (edit = from Enter until the new total is on
screen). The server's resident memory is sampled throughout. Prints percentiles of both, the
server's peak RSS, and where the time goes: the server's CPU seconds for all of it and each
session's chromium CPU seconds (on one machine the browsers share the server's cores, which a
classroom's own laptops would not).

    python benchmarks/classroom_load.py [--sessions 10] [--edits 6]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from processes import cpu_seconds, server_process  # noqa: E402
from streamlit_browser import chromium, free_port, streamlit_server  # noqa: E402
from vgg_core.spec import ArchSpec  # noqa: E402
from vgg_core.summary import summarize  # noqa: E402

RATIOS = (4, 2, 8, 1)
TOTALS = ".st-key-totals"


def totals_show(page, text: str, timeout: float = 120_000) -> None:
    page.wait_for_function("([sel, t]) => (document.querySelector(sel)?.innerText || '').includes(t)",
                           arg=[TOTALS, text], timeout=timeout, polling=50)


def student(url: str, edits: int, expected: dict[int, str], start: float, out: mp.Queue) -> None:
    """One session: open, then edit; every latency measured in this process's own clock."""
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1024, "height": 768}).new_page()
        while time.time() < start:  # everyone begins at the same moment
            time.sleep(0.01)
        t0 = time.perf_counter()
        page.goto(url)
        totals_show(page, expected[1])
        load = time.perf_counter() - t0
        box = page.locator(".st-key-explore_ratio input")
        latencies = []
        for i in range(edits):
            ratio = RATIOS[i % len(RATIOS)]
            box.fill(str(ratio))
            t0 = time.perf_counter()
            box.press("Enter")
            totals_show(page, expected[ratio])
            latencies.append(time.perf_counter() - t0)
        browser_cpu = cpu_seconds(psutil.Process().children(recursive=True))
        out.put({"load": load, "edits": latencies, "browser_cpu_s": browser_cpu})


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--edits", type=int, default=6)
    a = ap.parse_args()
    expected = {r: f"{summarize(ArchSpec(ratio=r)).total_params:,}" for r in RATIOS}
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        with streamlit_server(port, Path(tmp) / "runs", Path(tmp) / "server.log") as url:
            server, peak, done = server_process(port), [0], threading.Event()

            def sample() -> None:
                while not done.is_set():
                    peak[0] = max(peak[0], server.memory_info().rss)
                    time.sleep(0.1)

            threading.Thread(target=sample, daemon=True).start()
            rss_idle = server.memory_info().rss
            cpu0 = cpu_seconds([server])
            out: mp.Queue = mp.Queue()
            start = time.time() + 5  # time for every chromium to start before the bell
            procs = [mp.Process(target=student, args=(url, a.edits, expected, start, out)) for _ in range(a.sessions)]
            for p in procs:
                p.start()
            results = [out.get(timeout=900) for _ in procs]
            server_cpu = cpu_seconds([server]) - cpu0
            for p in procs:
                p.join()
            done.set()
    loads = [r["load"] for r in results]
    edits = [e for r in results for e in r["edits"]]
    report = {
        "sessions": a.sessions, "edits_each": a.edits,
        "page_load_s": {"p50": round(statistics.median(loads), 2), "p90": round(pct(loads, 0.9), 2), "max": round(max(loads), 2)},
        "edit_s": {"p50": round(statistics.median(edits), 2), "p90": round(pct(edits, 0.9), 2), "max": round(max(edits), 2)},
        "server_rss_mib": {"idle": round(rss_idle / 2**20), "peak": round(peak[0] / 2**20)},
        # Where the time goes: the server's CPU for all loads and edits, and each session's browser.
        "server_cpu_s": round(server_cpu, 1),
        "browser_cpu_s_per_session": round(statistics.median(r["browser_cpu_s"] for r in results), 1),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
