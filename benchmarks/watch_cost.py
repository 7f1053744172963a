"""What watching a run costs it: a CPU run's speed with and without a Train tab open on it.

A real ``streamlit run app.py`` over a runs folder holding ``--finished`` finished runs (each with a
d2l-sized log), and the same CPU run (two blocks at 28x28, the whole training set, 2 epochs) launched
as the Train page launches one, first with no browser, then with one chromium tab on the Train page
watching it live (the page ticks every second), and again in that order (ABBA). Prints the runs'
own examples/sec and the ratio watched / unwatched, and while watched the CPU the server and
chromium used (% of one core), which is where the difference goes on a machine without spare cores.

    python benchmarks/watch_cost.py [--finished 3 200] [--epochs 2]
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

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from processes import chromium_processes, cpu_seconds, server_process  # noqa: E402
from streamlit_browser import chromium, free_port, open_app, streamlit_server  # noqa: E402
from vgg_core.launch import start_run  # noqa: E402
from vgg_core.request import TrainRequest, TrainSettings  # noqa: E402
from vgg_core.run_rows import read_metrics  # noqa: E402
from vgg_core.runs import read_run  # noqa: E402
from vgg_core.spec import ArchSpec  # noqa: E402

SPEC = ArchSpec(conv_arch=((1, 16), (1, 32)), input_size=28, fc_width=256)


def plant_finished(root: Path, n: int) -> None:
    rows = ['{"kind": "status", "state": "running", "pid": 1, "time": 1000.0}']
    rows += [json.dumps({"kind": "train", "epoch": i / 47, "step": 10 * i, "examples": 1280 * i, "elapsed_s": 0.1 * i,
                         "train_loss": 1.0, "train_acc": 0.5, "examples_per_sec": 1e3}) for i in range(470)]
    rows.append('{"kind": "status", "state": "completed", "time": 2000.0}')
    for i in range(n):
        d = root / f"20250101-000000-{i:06d}"
        d.mkdir(parents=True)
        (d / "metrics.jsonl").write_text("\n".join(rows) + "\n")
        (d / "request.json").write_text(TrainRequest(SPEC).to_json())


def one_run(root: Path, epochs: int) -> float:
    run = start_run(TrainRequest(SPEC, TrainSettings(epochs=epochs, device="cpu", seed=0)), root)
    while read_run(run).state.live:
        time.sleep(0.5)
    final = read_metrics(run).last_status
    assert final is not None and final.state == "completed", final
    return float(final.summary["examples_per_sec"])


def timed(server: psutil.Process, run) -> tuple[float, float, float]:
    """The run's examples/sec, and the server's CPU % of one core while it ran, with its wall time."""
    cpu0, t0 = cpu_seconds([server]), time.perf_counter()
    ex = run()
    return ex, 100 * (cpu_seconds([server]) - cpu0) / (time.perf_counter() - t0), time.perf_counter() - t0


def watched_run(url: str, root: Path, epochs: int) -> tuple[float, float]:
    """The run with a Train tab open on it; also the browser's CPU % of one core over the run."""
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        open_app(page, f"{url}/train")
        procs = chromium_processes()
        cpu0, t0 = cpu_seconds(procs), time.perf_counter()
        ex = one_run(root, epochs)  # the open page notices the run and watches it tick by tick
        return ex, 100 * (cpu_seconds(procs) - cpu0) / (time.perf_counter() - t0)


def measure(url: str, root: Path, server: psutil.Process, epochs: int, spins: list[str | None]) -> dict:
    """ABBA rounds, each spin count's runs interleaved with the others' so drift hits all alike."""
    out = {spin: {"alone": [], "watched": [], "server": [], "browser": []} for spin in spins}
    for order in ("alone", "watched", "watched", "alone"):
        for spin in spins:
            os.environ.pop("GOMP_SPINCOUNT", None)  # None: unset, as the app launches its runs
            if spin is not None:
                os.environ["GOMP_SPINCOUNT"] = spin
            r = out[spin]
            if order == "alone":
                r["alone"].append(timed(server, lambda: one_run(root, epochs))[0])
                continue
            (ex, browser), cpu, _ = timed(server, lambda: watched_run(url, root, epochs))
            r["watched"].append(ex), r["server"].append(cpu), r["browser"].append(browser)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--finished", type=int, nargs="+", default=[3, 200])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--spin", nargs="*", default=[], help="GOMP_SPINCOUNT values to compare (libgomp's default: 300000)")
    a = ap.parse_args()
    for n in a.finished:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "runs"
            plant_finished(root, n)
            port = free_port()
            with streamlit_server(port, root, Path(tmp) / "server.log") as url:
                results = measure(url, root, server_process(port), a.epochs, a.spin or [None])
        for spin, r in results.items():
            a_med, w_med = statistics.median(r["alone"]), statistics.median(r["watched"])
            print(json.dumps({"finished_runs": n, "GOMP_SPINCOUNT": spin or "unset (libgomp's default)",
                              "alone_ex_per_s": [round(x) for x in r["alone"]],
                              "watched_ex_per_s": [round(x) for x in r["watched"]],
                              "ratio_watched_over_alone": round(w_med / a_med, 3),
                              "server_cpu_pct_of_a_core_watched": [round(x, 1) for x in r["server"]],
                              "browser_cpu_pct_of_a_core_watched": [round(x, 1) for x in r["browser"]]}))


if __name__ == "__main__":
    main()
