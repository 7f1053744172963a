"""Explore's first numbers on a freshly started server: with the server's warm-up and without it.

The first visitor of a new ``streamlit run app.py`` used to wait for the pages' modules to be
imported and for PyTorch's first summary (its lazy imports and first meta-device pass), about
3 s of server time before the first number. ``app.py`` now does that in a thread as the server
starts (``VGG_WARM_UP=0`` turns it off, the competitor here). Each round starts a real server,
waits until it answers plus ``--settle`` seconds (the same for both sides), then Debian's chromium
opens Explore at 1024x768 and times, from the request, the book's total (128,806,154) on screen
and the page idle; it also reports the CPU the server and chromium spent on the load. Rounds
alternate (ABBA) and medians are printed with the ratio.

    python benchmarks/first_numbers.py [--rounds 2] [--settle 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from processes import chromium_processes, cpu_seconds, server_process  # noqa: E402
from streamlit_browser import IDLE, chromium, free_port, streamlit_server  # noqa: E402

TOTAL = "128,806,154"


def one_load(warm: bool, settle: float) -> dict[str, float]:
    """A new server (warm-up on or off), then one visitor's first Explore page."""
    os.environ["VGG_WARM_UP"] = "1" if warm else "0"
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        with streamlit_server(port, Path(tmp) / "runs", Path(tmp) / "server.log") as url:
            server = server_process(port)
            time.sleep(settle)
            with chromium() as browser:
                page = browser.new_context(viewport={"width": 1024, "height": 768}).new_page()
                procs = chromium_processes()
                server0, browser0, t0 = cpu_seconds([server]), cpu_seconds(procs), time.perf_counter()
                page.goto(url)
                page.wait_for_function("t => (document.querySelector('.st-key-totals')?.innerText || '').includes(t)",
                                       arg=TOTAL, timeout=120_000, polling=50)
                numbers = time.perf_counter() - t0
                page.wait_for_selector(IDLE, timeout=120_000)
                idle = time.perf_counter() - t0
                return {"numbers_s": numbers, "idle_s": idle, "server_cpu_s": cpu_seconds([server]) - server0,
                        "browser_cpu_s": cpu_seconds(procs) - browser0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2, help="ABBA pairs")
    ap.add_argument("--settle", type=float, default=10.0, help="seconds between the server answering and the visit")
    a = ap.parse_args()
    sides: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}
    for _ in range(a.rounds):
        for warm in (False, True, True, False):
            sides["warm" if warm else "cold"].append(one_load(warm, a.settle))
    med = {side: {k: round(statistics.median(r[k] for r in rows), 2) for k in rows[0]} for side, rows in sides.items()}
    print(json.dumps({"without_warm_up": med["cold"], "with_warm_up": med["warm"],
                      "numbers_ratio_warm_over_cold": round(med["warm"]["numbers_s"] / med["cold"]["numbers_s"], 3)}))


if __name__ == "__main__":
    main()
