"""What watching a run costs it: a CPU run's speed with and without a Train tab open on it.

A real ``streamlit run app.py`` over a runs folder holding ``--finished`` finished runs (each with a
d2l-sized log), and the same CPU run (two blocks at 28x28, the whole training set, 2 epochs) launched
as the Train page launches one, first with no browser, then with one chromium tab on the Train page
watching it live (the page ticks every second), and again in that order (ABBA). Prints the runs'
own examples/sec and the ratio watched / unwatched.

    python benchmarks/watch_cost.py [--finished 3 200] [--epochs 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

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


def watched_run(url: str, root: Path, epochs: int) -> float:
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        open_app(page, f"{url}/train")
        return one_run(root, epochs)  # the open page notices the run and watches it tick by tick


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--finished", type=int, nargs="+", default=[3, 200])
    ap.add_argument("--epochs", type=int, default=2)
    a = ap.parse_args()
    for n in a.finished:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "runs"
            plant_finished(root, n)
            with streamlit_server(free_port(), root, Path(tmp) / "server.log") as url:
                alone, watched = [], []
                for order in ("alone", "watched", "watched", "alone"):  # ABBA: drift cancels out
                    (alone if order == "alone" else watched).append(
                        one_run(root, a.epochs) if order == "alone" else watched_run(url, root, a.epochs))
        a_med, w_med = statistics.median(alone), statistics.median(watched)
        print(json.dumps({"finished_runs": n, "alone_ex_per_s": [round(x) for x in alone],
                          "watched_ex_per_s": [round(x) for x in watched], "ratio_watched_over_alone": round(w_med / a_med, 3)}))


if __name__ == "__main__":
    main()
