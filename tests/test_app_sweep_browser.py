"""A what-if sweep from the browser: a real `streamlit run`, the real scheduler, two real runs on the CPU.

Queued from the Train page's sweep section, run one after the other by the scheduler, then read
back in the results table and the accuracy-vs-parameters chart; and the section in Chinese.
"""

from __future__ import annotations

import re
import time

import pytest

from streamlit_browser import EXCEPTION, free_port, open_app, streamlit_server, wait_idle

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    """The app with a runs folder of its own: the sweep's runs must not become another module's newest runs."""
    tmp = tmp_path_factory.mktemp("sweep_server")
    (tmp / "runs").mkdir()
    with streamlit_server(free_port(), tmp / "runs", tmp / "server.log") as url:
        yield url

SMALL = "arch=1x16+1x32&size=28&fc=256"
MAIN = "[data-testid='stMain']"
# The chart's first trace holds one point per run; read it from plotly's own data.
POINTS_JS = """() => {
  const plot = document.querySelector('.st-key-train_chart_params .js-plotly-plot');
  return plot && plot.data && plot.data.length ? (plot.data[0].x || []).length : -1;
}"""
COMPLETED_JS = """() => [...document.querySelectorAll(".st-key-train_history [role='gridcell']")]
  .filter(c => c.textContent.trim() === 'completed').length"""


def no_exception(page) -> None:
    assert page.locator(EXCEPTION).count() == 0, page.locator(EXCEPTION).first.inner_text()
    assert "Traceback" not in page.locator(MAIN).inner_text()


def set_text(page, key: str, value: str) -> None:
    box = page.locator(f".st-key-{key} input")
    box.fill(value)
    box.press("Enter")
    wait_idle(page)


def choose(page, key: str, option: str, tries: int = 5) -> None:
    """Pick a multiselect option by typing it and pressing Enter on the match, as a keyboard user would
    (the list only draws what it shows); typed again if a rerun landed mid-typing and ate a key."""
    box = page.locator(f".st-key-{key}")
    field = box.get_by_role("combobox")
    for _ in range(tries):
        wait_idle(page)
        field.click()
        field.press_sequentially(option, delay=20)
        first = page.get_by_role("option").first
        try:
            first.wait_for(timeout=5_000)
            if first.inner_text().strip() == option:
                field.press("Enter")
                wait_idle(page)
                if option in box.inner_text():
                    break
        except Exception:  # noqa: BLE001 - the list was redrawn under us; type it again
            pass
        field.fill("")
        page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    wait_idle(page)
    assert option in box.inner_text(), box.inner_text()


def open_sweep(page, title: str) -> None:
    page.locator(".st-key-train_sweep_open summary").filter(has_text=title).click()
    wait_idle(page)
    page.locator(".st-key-train_sweep_axes").wait_for()


@pytest.mark.timeout(600)
def test_queue_a_two_run_sweep_and_read_its_results(app_server, page, record_property):
    open_app(page, f"{app_server}/train?{SMALL}&device=cpu&epochs=1&examples=1500")
    no_exception(page)
    open_sweep(page, "What if")
    choose(page, "train_sweep_axes", "lr · learning rate")
    set_text(page, "train_sweep_v_lr", "0.05, 0.1")
    set_text(page, "train_sweep_name", "lr demo")
    plan = page.locator(".st-key-train_sweep_plan").inner_text()
    assert "2 runs" in plan and "in all on cpu" in plan, plan
    page.locator(".st-key-train_sweep_queue button").click()
    start = time.perf_counter()
    wait_idle(page)
    assert "Queued 2 runs as sweep" in page.locator(MAIN).inner_text()

    # The scheduler runs them one after the other; the table (filtered to the new sweep) shows both finish.
    try:
        page.wait_for_function(f"({COMPLETED_JS})() === 2", timeout=420_000, polling=500)
    except Exception:  # noqa: BLE001 - say what the table showed instead
        cells = page.locator(".st-key-train_history [role='gridcell']").all_inner_texts()
        errors = page.locator(EXCEPTION).all_inner_texts()
        raise AssertionError(f"not both completed; the table shows {cells[:40]}; errors {errors}") from None
    both_s = time.perf_counter() - start
    print(f"\n[sweep] two tiny runs queued, run and read back in {both_s:.1f} s")
    record_property("two_run_sweep_s", round(both_s, 1))
    page.wait_for_function(f"({POINTS_JS})() === 2", timeout=60_000, polling=500)
    no_exception(page)
    cells = page.locator(".st-key-train_history [role='gridcell']").all_inner_texts()
    assert "lr demo: lr=0.05" in cells and "lr demo: lr=0.1" in cells
    assert re.search(r"[?&]sweep=sweep-", page.url), page.url  # the chosen sweep is in the link


@pytest.mark.timeout(300)
def test_the_sweep_section_in_chinese(app_server, page):
    open_app(page, f"{app_server}/train?{SMALL}&lang=zh")
    no_exception(page)
    open_sweep(page, "如果")
    choose(page, "train_sweep_axes", "lr · 学习率")
    set_text(page, "train_sweep_v_lr", "0.05, 0.05")
    text = page.locator(".st-key-train_sweep_open").inner_text()
    assert "未排队：lr 把 0.05 列了两次" in text
    set_text(page, "train_sweep_v_lr", "0.05, 0.1")
    text = page.locator(".st-key-train_sweep_open").inner_text()
    assert "2 次运行" in text and "排队 2 次运行" in text
    # No English sentence: three English words in a row would be one (code names stand alone).
    english = re.findall(r"\b[A-Za-z]{2,}(?:[ ,]+[A-Za-z]{2,}){2,}\b", text)
    assert english == [], english
    no_exception(page)
