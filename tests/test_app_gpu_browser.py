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

from streamlit_browser import EXCEPTION, IDLE, open_app, wait_idle
from vgg_core import gpu
from vgg_core.glossary import note

pytestmark = [pytest.mark.browser]

UPDATED = ".st-key-gpu_updated"
REASON = ".st-key-gpu_reason [data-testid='stAlertContentWarning']"
READINGS = {"en": r"· (\d+) readings? since", "zh": r"起共 (\d+) 个采样"}


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
