"""The GPU page in a real browser: `streamlit run app.py` on localhost, driven through chromium.

AppTest never runs a fragment's timer, so only here do the figures have to change by themselves.
This machine's own NVML (or its absence) is what the page must show; the test asks the core the
same question to know which.
"""

from __future__ import annotations

import re
import time

import psutil
import pytest

from pages import gpu_views, i18n

from live_run import live_tiny_run
from streamlit_browser import EXCEPTION, IDLE, free_port, open_app, streamlit_server, wait_idle
from vgg_core import gpu
from vgg_core.glossary import note

pytestmark = [pytest.mark.browser]

UPDATED = ".st-key-gpu_updated"
REASON = ".st-key-gpu_reason [data-testid='stAlertContentWarning']"
READINGS = {"en": r"· (\d+) readings? since", "zh": r"起共 (\d+) 个采样"}
TRAINING = ".st-key-gpu_training"
TRAINING_KEYS = ("gpu.training.pid", "gpu.training.rank", "gpu.training.cpu", "gpu.training.rss",
                 "gpu.training.time", "gpu.training.run", "gpu.training.name")


def no_exception(page) -> None:
    assert page.locator(EXCEPTION).count() == 0, page.locator(EXCEPTION).first.inner_text()
    assert "Traceback" not in page.locator("[data-testid='stMain']").inner_text()


def settled_text(page, selector: str, pattern: str, timeout: float = 15_000) -> str:
    """The element's text once it matches: a fragment rerun redraws its elements, so a read in
    the middle of one can see them half drawn."""
    page.wait_for_function(
        "([sel, pattern]) => new RegExp(pattern).test(document.querySelector(sel)?.innerText || '')",
        arg=[selector, pattern], timeout=timeout, polling=100,
    )
    return page.locator(selector).inner_text()


def readings(page, lang: str = "en") -> int:
    text = settled_text(page, UPDATED, READINGS[lang])
    return int(re.search(READINGS[lang], text).group(1))


def wait_readings_above(page, n: int, lang: str = "en", timeout: float = 15_000) -> float:
    """Wait until the live caption counts more than ``n`` readings; returns the seconds it took."""
    start = time.perf_counter()
    page.wait_for_function(
        "([sel, pattern, n]) => {"
        " const m = (document.querySelector(sel)?.innerText || '').match(new RegExp(pattern));"
        " return m && Number(m[1]) > n; }",
        arg=[UPDATED, READINGS[lang], n], timeout=timeout, polling=200,
    )
    return time.perf_counter() - start


def chart_points(page) -> list[int]:
    """How many points each history chart's first line holds, read from plotly in the page."""
    return page.evaluate(
        "() => [...document.querySelectorAll('.js-plotly-plot')].map(p => (p.data?.[0]?.x || []).length)"
    )


def expected_snapshot() -> gpu.Snapshot:
    gpu.shutdown()
    return gpu.snapshot()


@pytest.mark.timeout(180)
def test_gpu_page_shows_the_reason_and_live_host_figures(app_server, page, record_property):
    expected = expected_snapshot()
    open_app(page, f"{app_server}/gpu")
    page.get_by_role("heading", name=i18n.EN["gpu.title"]).wait_for()
    host = page.locator(".st-key-gpu_host")
    host.wait_for()
    no_exception(page)

    if expected.available:  # a machine with an NVIDIA GPU: a card per working GPU instead of the reason
        for g in gpu_views.working(expected):
            page.locator(f".st-key-gpu_card_{g.index}").wait_for()
    else:
        reason = page.locator(f"{REASON} [data-testid='stMarkdownContainer']")
        reason.wait_for()
        assert reason.inner_text().strip() == f"No NVIDIA GPU to show. {expected.reason}"

    # Host figures as psutil sees this machine: a CPU percentage, RAM used of the real total.
    text = settled_text(
        page, ".st-key-gpu_host",
        r"^(?=[\s\S]*CPU\s+\d{1,3}\.\d%)(?=[\s\S]*RAM used\s+\d)(?=[\s\S]*average over)(?=[\s\S]*GiB \()",
    )
    cpu = re.search(r"CPU\s+(\d{1,3}\.\d)%", text)
    ram = re.search(r"RAM used\s+(\d+\.\d) GiB", text)
    assert cpu and 0 <= float(cpu.group(1)) <= 100, text
    total = psutil.virtual_memory().total / 1024**3
    assert ram and 0 < float(ram.group(1)) < total, text
    assert f"of {total:.1f} GiB" in text and f"average over {psutil.cpu_count()} cores" in text

    # Live: the fragment's timer reruns it; new readings arrive and the charts grow, no reload.
    page.wait_for_function(  # plotly draws its charts a moment after the page's script run
        "() => { const p = [...document.querySelectorAll('.js-plotly-plot')];"
        " return p.length >= 2 && p.every(c => (c.data?.[0]?.x || []).length > 0); }",
        timeout=15_000,
    )
    first, stamp = readings(page), page.locator(UPDATED).inner_text()
    points = chart_points(page)
    assert len(points) >= 2 and min(points) >= 1, points
    took = wait_readings_above(page, first + 1)  # two new readings: the timer keeps running
    print(f"\n[gpu page] two more readings after {took:.1f} s")
    record_property("gpu_two_readings_s", round(took, 2))
    assert page.locator(UPDATED).inner_text() != stamp
    page.wait_for_function(
        "(n) => [...document.querySelectorAll('.js-plotly-plot')].every(p => (p.data?.[0]?.x || []).length > n)",
        arg=max(points), timeout=10_000,
    )
    no_exception(page)


@pytest.mark.timeout(180)
def test_pause_stops_the_updates_and_resume_restarts_them(app_server, page):
    open_app(page, f"{app_server}/gpu")
    page.locator(UPDATED).wait_for()
    wait_readings_above(page, readings(page))
    page.locator(".st-key-gpu_refresh").get_by_text(i18n.EN["gpu.refresh.pause"]).click()
    page.wait_for_function(
        "(sel) => (document.querySelector(sel)?.innerText || '').startsWith('Paused at')", arg=UPDATED, timeout=15_000
    )
    wait_idle(page)
    paused = settled_text(page, UPDATED, "^Paused at")
    time.sleep(4)  # four refresh periods: nothing may change while paused
    assert page.locator(UPDATED).inner_text() == paused
    page.locator(".st-key-gpu_refresh").get_by_text(i18n.EN["gpu.refresh.2"]).click()
    wait_readings_above(page, readings(page) + 1)  # history kept through the pause, and growing again
    assert page.locator(UPDATED).inner_text().startswith("Updated")
    no_exception(page)


@pytest.mark.timeout(180)
def test_gpu_page_in_chinese_with_the_glossary(app_server, page):
    expected = expected_snapshot()
    open_app(page, f"{app_server}/gpu?lang=zh")
    page.get_by_role("heading", name=i18n.ZH["gpu.title"]).wait_for()
    host = page.locator(".st-key-gpu_host")
    host.wait_for()
    cpu_label, ram_label = (re.escape(i18n.ZH[k]) for k in ("gpu.host.cpu", "gpu.host.ram"))
    settled_text(page, ".st-key-gpu_host", rf"^(?=[\s\S]*{cpu_label}\s+\d)(?=[\s\S]*{ram_label}\s+\d)")
    if not expected.available:
        reason = page.locator(".st-key-gpu_reason").inner_text()
        assert i18n.ZH["gpu.none"].split("{")[0] in reason and expected.reason.render("zh") in reason
    page.get_by_text(i18n.ZH["gpu.glossary"]).click()
    glossary = page.locator(".st-key-gpu_glossary")
    glossary.get_by_text(note("zh")[:20]).wait_for()
    assert "GPU 使用率" in glossary.inner_text()
    wait_readings_above(page, readings(page, "zh"), "zh")
    no_exception(page)


def count_runs(page, seconds: float) -> int:
    """How many script or fragment runs start in the next ``seconds`` (the app's running state)."""
    return page.evaluate(
        """(ms) => new Promise(done => {
            const app = document.querySelector("[data-testid='stApp']");
            let runs = 0;
            const seen = new MutationObserver(() => {
                if (app.getAttribute('data-test-script-state') === 'running') runs += 1;
            });
            seen.observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
            setTimeout(() => { seen.disconnect(); done(runs); }, ms);
        })""",
        seconds * 1000,
    )


@pytest.mark.timeout(180)
def test_leaving_the_gpu_page_stops_its_timer(app_server, page):
    """The GPU page reruns its fragment every second; once the user moves on, nothing reruns."""
    open_app(page, f"{app_server}/gpu")
    page.locator(UPDATED).wait_for()
    assert count_runs(page, 3.5) >= 2
    page.locator("[data-testid='stSidebarNav']").get_by_text(i18n.EN["nav.explore"], exact=True).click()
    page.get_by_role("heading", name=i18n.EN["explore.title"]).wait_for()
    page.wait_for_selector(IDLE)
    assert count_runs(page, 3.5) == 0
    assert page.locator(UPDATED).count() == 0
    no_exception(page)


# ---- the training processes, with a real run ---------------------------------------------


@pytest.fixture(scope="module")
def gpu_app(tmp_path_factory):
    """The app and the runs folder it reads, for a test that trains into it (app_server keeps its own to itself)."""
    tmp = tmp_path_factory.mktemp("gpu_app")
    runs = tmp / "runs"
    runs.mkdir()
    with streamlit_server(free_port(), runs, tmp / "server.log") as url:
        yield url, runs


def grid(page, selector: str) -> tuple[list[str], list[list[str]]]:
    """A dataframe's headers and rows as the browser's accessibility table holds them."""
    return page.evaluate(
        """(sel) => {
            const table = document.querySelector(sel + " table[role='grid']");
            if (!table) return [[], []];
            const heads = [...table.querySelectorAll("[role='columnheader']")].map(c => c.textContent.trim());
            const rows = [...table.querySelectorAll("tbody tr")].map(
                r => [...r.querySelectorAll("[role='gridcell']")].map(c => c.textContent.trim()));
            return [heads, rows];
        }""",
        selector,
    )


def wait_row(page, pid: int, timeout: float = 30_000) -> float:
    """Wait until the training table has the process's row; returns the seconds it took."""
    start = time.perf_counter()
    page.wait_for_function(
        """([sel, pid]) => [...document.querySelectorAll(sel + " [role='gridcell']")]
              .some(c => c.textContent.trim() === pid)""",
        arg=[TRAINING, str(pid)], timeout=timeout, polling=200,
    )
    return time.perf_counter() - start


def start_hint(page, lang: str = "en") -> str:
    words = (i18n.EN if lang == "en" else i18n.ZH)["gpu.training.none"].split("{")[0][:20]
    return settled_text(page, f"{TRAINING} [data-testid='stAlertContentInfo']", re.escape(words))


@pytest.mark.timeout(300)
def test_a_live_run_s_process_with_its_cpu_and_memory_in_both_languages(gpu_app, page, record_property):
    """Without a GPU (here) the page lists a real training process: its pid, run id, CPU % and RSS."""
    url, runs = gpu_app
    open_app(page, f"{url}/gpu")
    hint = start_hint(page)
    assert f"--run-dir {runs}/my-run" in hint
    link = page.locator(TRAINING).get_by_text(i18n.EN["gpu.training.to_train"])
    link.wait_for(timeout=15_000)  # drawn just after the hint, so wait for it rather than count at once
    assert link.count() == 1

    with live_tiny_run(runs, "browser run", trained=False) as proc:
        took = wait_row(page, proc.pid)  # no reload: the page's live part picks the run up
        print(f"\n[gpu page] a new run's process on the page {took:.1f} s after the core first lists it")
        record_property("gpu_training_row_s", round(took, 2))
        for lang in ("en", "zh"):
            if lang == "zh":
                open_app(page, f"{url}/gpu?lang=zh")
                wait_row(page, proc.pid)
            texts = i18n.EN if lang == "en" else i18n.ZH
            page.wait_for_function(  # CPU % and RSS as figures, the RSS once torch and the data are in (> 50 MiB)
                """([sel, pid]) => [...document.querySelectorAll(sel + " tbody tr")].some(r => {
                      const c = [...r.querySelectorAll("[role='gridcell']")].map(x => x.textContent.trim());
                      return c[0] === pid && /^\\d+\\.\\d%$/.test(c[2]) && /^[\\d,]+ MiB$/.test(c[3])
                          && Number(c[3].replace(/[^\\d]/g, '')) > 50; })""",
                arg=[TRAINING, str(proc.pid)], timeout=60_000, polling=200,
            )
            heads, rows = grid(page, TRAINING)
            assert heads[-len(TRAINING_KEYS):] == [texts[k] for k in TRAINING_KEYS], heads
            row = next(r for r in rows if r and r[0] == str(proc.pid))
            assert row[1] == "—" and row[5] == proc.run_id and row[6] == "browser run", row
            assert 0 <= float(row[2][:-1]) <= 100 * psutil.cpu_count(), row  # % of one core
            assert re.search(r"\d", row[4]), row
            if not gpu.snapshot().available:
                assert page.locator(REASON).count() == 1  # no GPU here: the reason, and the run all the same
            no_exception(page)
    start_hint(page, "zh")  # the run stopped: its row goes, the hint comes back
    no_exception(page)
