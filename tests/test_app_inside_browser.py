"""The Inside page in Debian's chromium: a real `streamlit run` over a run trained here on the CPU.

The page shows feature maps, the softmax and the confusion matrix for a chosen test image, in
English and Chinese, without an exception; clicking one of the most confident mistakes shows it in
the viewer. The time to show a new image, and the same image again (cached), is printed (pytest -s)
and recorded as a test property; it is measured, never asserted.
"""

from __future__ import annotations

import time

import pytest

from streamlit_browser import EXCEPTION, IDLE, free_port, open_app, streamlit_server, wait_idle
from test_app_inside_logic import train_tiny
from test_engine_train import pytestmark as needs_data
from vgg_core.inspect import run_errors

pytestmark = [pytest.mark.browser, needs_data]

SMALL = "arch=1x16+1x32&size=28&fc=256"
CHART_JS = """(sel) => [...document.querySelectorAll(sel + ' .js-plotly-plot')].map(p => ({
  title: (p.layout?.title?.text || '').replace(/<[^>]+>/g, ''), x: Array.from(p.data?.[0]?.x || []), y: Array.from(p.data?.[0]?.y || []),
  text: (p.data?.[0]?.text || []).map(row => Array.from(row)), labels: (p.layout?.annotations || []).length }))"""
TITLES = {"en": ["Block 1: 16 × 14 × 14", "Block 2: 32 × 7 × 7"], "zh": ["块 1：16 × 14 × 14", "块 2：32 × 7 × 7"]}
BOOT = {"en": "Ankle boot", "zh": "短靴"}
SHOWN_JS = """([idle, n]) => !!document.querySelector(idle)
  && (document.querySelector('.st-key-inside_viewer')?.innerText || '').includes('Test image ' + n)"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    """(base URL, run folder): the app over a runs folder holding one real trained run."""
    tmp = tmp_path_factory.mktemp("inside_browser")
    runs = tmp / "runs"
    runs.mkdir()
    run = train_tiny(runs / "tiny")
    with streamlit_server(free_port(), runs, tmp / "server.log") as url:
        yield url, run


def charts(page, container: str, n: int = 1) -> list[dict]:
    """The plotly charts in a container, once ``n`` of them are drawn."""
    page.wait_for_function(
        "([sel, n]) => [...document.querySelectorAll(sel + ' .js-plotly-plot')].filter(p => p.data).length >= n",
        arg=[f".st-key-{container}", n], polling=100)
    return page.evaluate(CHART_JS, f".st-key-{container}")


def no_exception(page) -> None:
    assert page.locator(EXCEPTION).count() == 0, page.locator(EXCEPTION).first.inner_text()
    assert "Traceback" not in page.locator("[data-testid='stMain']").inner_text()


def show_index(page, index: int) -> float:
    """Type a test image's number; seconds until the page is idle with that image in the viewer."""
    box = page.locator(".st-key-inside_index input")
    box.fill(str(index))
    start = time.perf_counter()
    box.press("Enter")
    page.wait_for_function(SHOWN_JS, arg=[IDLE, index], timeout=120_000, polling=20)
    return time.perf_counter() - start


@pytest.mark.timeout(600)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_maps_softmax_and_confusion_for_a_chosen_image(served, browser, lang: str) -> None:
    url, run = served
    for width, height in ((1024, 768), (1400, 1000)):
        context = browser.new_context(viewport={"width": width, "height": height}, locale="en-US")
        page = context.new_page()
        page.set_default_timeout(60_000)
        open_app(page, f"{url}/inside?{SMALL}&run=tiny&image=0&lang={lang}", timeout=120_000)
        no_exception(page)
        maps = charts(page, "inside_maps", 2)  # one grid per block, each titled with its C x H x W
        assert [m["title"] for m in maps] == TITLES[lang]
        assert [m["labels"] for m in maps] == [16, 16]  # the 16 most active channels of each, labelled
        (softmax,) = charts(page, "inside_softmax")
        assert sum(softmax["x"]) == pytest.approx(1.0, abs=1e-6) and len(softmax["x"]) == 10
        assert softmax["y"][9] == BOOT[lang]  # class names in the page's language
        (confusion,) = charts(page, "inside_confusion")
        assert sum(int(v) for row in confusion["text"] for v in row) == 10_000
        no_exception(page)
        context.close()


@pytest.mark.timeout(600)
def test_clicking_a_mistake_shows_it_and_a_new_image_is_timed(served, page, record_property) -> None:
    url, run = served
    open_app(page, f"{url}/inside?{SMALL}&run=tiny&image=0", timeout=120_000)
    no_exception(page)
    worst = run_errors(run).most_confident_wrong[0]  # the first tile of the gallery of mistakes
    # A button with help is drawn twice, one copy hidden: the accessible one is the one a person sees.
    button = page.locator(f".st-key-inside_wrong_{worst.index}").get_by_role("button", name=str(worst.index))
    button.scroll_into_view_if_needed()
    button.click()
    wait_idle(page)
    page.wait_for_function(SHOWN_JS, arg=[IDLE, worst.index], timeout=60_000)
    viewer = page.locator(".st-key-inside_viewer").inner_text()
    names = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
    assert f"Test image {worst.index}: {names[worst.label]}" in viewer
    assert f"predicted {names[worst.predicted]}" in page.locator(".st-key-inside_verdict").inner_text()
    assert f"image={worst.index}" in page.url
    no_exception(page)

    # A new test image, then the same image again (its view cached by weights and pixels).
    first = [show_index(page, i) for i in (101, 102, 103)]
    again = [show_index(page, i) for i in (101, 102, 103)]
    no_exception(page)
    print(f"\n[inside] tiny net, new image {[f'{s:.2f}' for s in first]} s, same again {[f'{s:.2f}' for s in again]} s")
    record_property("new_image_s", [round(s, 2) for s in first])
    record_property("same_image_again_s", [round(s, 2) for s in again])
