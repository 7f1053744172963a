"""The app in a real browser: `streamlit run app.py` served on localhost, driven through chromium.

The edit-to-update times are printed (run pytest with -s to see them) and recorded as test
properties; they are measured, never asserted.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from pages import i18n
from streamlit_browser import EXCEPTION, IDLE, free_port, open_app, streamlit_server, wait_idle
from vgg_core.spec import ArchSpec
from vgg_core.summary import summarize

pytestmark = [pytest.mark.browser]

TOTALS = ".st-key-totals"


def totals_text(page) -> str:
    return page.locator(TOTALS).inner_text()


def wait_totals(page, text: str, timeout: float = 30_000) -> None:
    page.wait_for_function(
        "([sel, text]) => (document.querySelector(sel)?.innerText || '').includes(text)",
        arg=[TOTALS, text], timeout=timeout, polling="raf",
    )


def grid_cells(page, container: str) -> list[str]:
    """The data grid draws on a canvas; its accessible table holds the cell texts."""
    return page.locator(f"{container} [role='gridcell']").all_text_contents()


def timed_edit(page, selector: str, value: str, expect_total: str, record, label: str) -> float:
    """Type into an input, press Enter, and time until the new total is on screen."""
    box = page.locator(f"{selector} input")
    box.fill(value)
    start = time.perf_counter()
    box.press("Enter")
    wait_totals(page, expect_total)
    shown = time.perf_counter() - start
    page.wait_for_selector(IDLE)
    done = time.perf_counter() - start
    print(f"\n[edit-to-update] {label}: new total on screen after {shown * 1000:.0f} ms, "
          f"script run finished after {done * 1000:.0f} ms")
    record(f"edit_to_update_ms[{label}]", round(shown * 1000))
    return shown


def no_exception(page) -> None:
    assert page.locator(EXCEPTION).count() == 0, page.locator(EXCEPTION).first.inner_text()
    assert "Traceback" not in page.locator("[data-testid='stMain']").inner_text()


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


@pytest.mark.timeout(300)
def test_explore_edit_reload_error_language_and_every_page(app_server, page, record_property):
    # The first screen is the book's VGG-11 (d2l 7.2): totals and the Flatten width.
    open_app(page, app_server)
    wait_totals(page, "128,806,154")
    wait_totals(page, "25,088")  # the Flatten width; elements draw lazily, so wait for each
    page.wait_for_selector(".st-key-layer_table [role='gridcell']", state="attached")
    cells = grid_cells(page, ".st-key-layer_table")
    assert "1×25088" in cells and "Flatten" in cells
    assert {"102,764,544", "102764544"} & set(cells)  # the first Linear layer's parameters
    no_exception(page)

    # ratio 4: d2l's training model.
    timed_edit(page, ".st-key-explore_ratio", "4", "43,093,322", record_property, "ratio 1 -> 4")
    assert query(page)["ratio"] == ["4"]
    no_exception(page)

    # Reloading the URL reproduces the view.
    page.reload()
    page.wait_for_selector(IDLE)
    wait_totals(page, "43,093,322")
    assert page.locator(".st-key-explore_ratio input").input_value() == "4"
    no_exception(page)

    # A malformed conv_arch: the core's one-line message beside the input, the last table kept.
    box = page.locator(".st-key-explore_conv_arch input")
    box.fill("((1, 64), (1, 128)")
    box.press("Enter")
    error = page.locator(".st-key-error_conv_arch [data-testid='stAlertContentError']")
    error.wait_for()
    wait_idle(page)
    assert "is not a list of (num_convs, out_channels) pairs" in error.inner_text()
    assert "43,093,322" in totals_text(page)
    no_exception(page)

    # A valid edit: new totals, computed here by the core for comparison.
    arch = ((1, 64), (1, 128), (2, 256), (2, 512))
    expected = summarize(ArchSpec(conv_arch=arch, ratio=4))
    timed_edit(page, ".st-key-explore_conv_arch", str(arch), f"{expected.total_params:,}", record_property,
               "conv_arch: drop the last block")
    wait_totals(page, f"{expected.flatten_size:,}")
    assert page.locator(".st-key-error_conv_arch").count() == 0
    assert query(page)["arch"] == ["1x64 1x128 2x256 2x512"]
    no_exception(page)

    # Switch the language: every label follows, the numbers stay.
    page.locator(".st-key-lang").get_by_text("中文").click()
    page.get_by_role("heading", name=i18n.ZH["explore.title"]).wait_for()
    wait_idle(page)
    wait_totals(page, i18n.ZH["totals.params"])
    wait_totals(page, f"{expected.total_params:,}")
    assert query(page)["lang"] == ["zh"]
    # A select shows its chosen option under the new language's label too, not the one first sent.
    assert i18n.EN["preset.custom"] != i18n.ZH["preset.custom"]
    assert page.locator(".st-key-explore_preset input").input_value() == i18n.ZH["preset.custom"]
    no_exception(page)

    # Every page opens from the sidebar, keeps the architecture and language, and shows no exception.
    for key, url_path in [("compare", "compare"), ("train", "train"), ("gpu", "gpu"), ("explore", "")]:
        page.locator("[data-testid='stSidebarNav']").get_by_text(i18n.ZH[f"nav.{key}"], exact=True).click()
        page.get_by_role("heading", name=i18n.ZH[f"{key}.title"]).wait_for()
        page.wait_for_selector(IDLE)
        assert urlparse(page.url).path.strip("/") == url_path
        assert query(page).get("lang") == ["zh"] and query(page).get("ratio") == ["4"], page.url
        no_exception(page)
        if key == "compare":
            page.locator(".st-key-compare_totals").get_by_text(f"{expected.total_params:,}").first.wait_for()
    wait_totals(page, f"{expected.total_params:,}")


def type_in_first_num_convs(page, text: str) -> None:
    """Select the first block's num_convs cell on the grid's canvas and type ``text`` (Enter not pressed).

    The canvas has no cell elements: aim at the cell from the grid's box (a 35 px header and rows,
    then the row-marker column and the num_convs column)."""
    grid = page.locator(".st-key-blocks [data-testid='stDataFrame']")
    grid.wait_for()
    for _ in range(10):  # the grid may still be drawing: try until its cell editor holds the text
        box = grid.bounding_box()
        page.mouse.click(box["x"] + 70, box["y"] + 35 + 17)
        page.keyboard.type(text)
        try:
            page.wait_for_function("t => document.querySelector('#portal .gdg-input')?.value === t", arg=text,
                                   timeout=1000)
            return
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    pytest.fail("the block table's cell editor never opened")


@pytest.mark.timeout(180)
def test_block_table_edit_updates_text_and_totals(app_server, page, record_property):
    open_app(page, app_server)
    wait_totals(page, "128,806,154")
    type_in_first_num_convs(page, "2")
    expected = summarize(ArchSpec(conv_arch=((2, 64), (1, 128), (2, 256), (2, 512), (2, 512))))
    start = time.perf_counter()
    page.keyboard.press("Enter")
    wait_totals(page, f"{expected.total_params:,}")
    shown = time.perf_counter() - start
    print(f"\n[edit-to-update] block table cell: new total on screen after {shown * 1000:.0f} ms")
    record_property("edit_to_update_ms[block table cell]", round(shown * 1000))
    wait_idle(page)
    assert page.locator(".st-key-explore_conv_arch input").input_value() == "((2, 64), (1, 128), (2, 256), (2, 512), (2, 512))"
    assert query(page)["arch"] == ["2x64 1x128 2x256 2x512 2x512"]
    no_exception(page)


@pytest.mark.timeout(120)
def test_bad_shared_link_warns_and_shows_the_default(app_server, page):
    open_app(page, f"{app_server}/compare?arch=((1,64)&ratio=4&lang=zh")
    page.get_by_role("heading", name=i18n.ZH["compare.title"]).wait_for()
    warning = page.locator("[data-testid='stAlertContentWarning']")
    warning.wait_for()
    assert "conv_arch ((1,64) 不是由 (num_convs, out_channels) 对组成的列表" in warning.inner_text()
    page.locator(".st-key-compare_totals").get_by_text("128,806,154").first.wait_for()
    no_exception(page)


@pytest.mark.timeout(180)
def test_a_shared_link_is_the_first_request_after_the_server_starts(page, tmp_path):
    """Streamlit's old pages/ mode runs the first request's page file without app.py; the router
    must still come first (sidebar, our four pages, the link's architecture and language)."""
    with streamlit_server(free_port(), tmp_path, tmp_path / "server.log") as url:
        open_app(page, f"{url}/compare?ratio=4&lang=zh")
        page.get_by_role("heading", name=i18n.ZH["compare.title"]).wait_for()
        page.locator(".st-key-compare_totals").get_by_text("43,093,322").first.wait_for()
        nav = page.locator("[data-testid='stSidebarNav']").inner_text()
        for key in ("explore", "compare", "train", "gpu"):
            assert i18n.ZH[f"nav.{key}"] in nav
        assert "i18n" not in nav and "state" not in nav
        page.locator(".st-key-sidebar_arch").get_by_text("43,093,322", exact=False).wait_for()
        no_exception(page)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_link_to_explore_by_its_page_name_keeps_the_architecture(app_server, page, lang):
    """A teacher's link may name the page (/explore?ratio=4): Explore is the app's home, so the
    link lands there with its ratio, its language, and the address rewritten to the home page."""
    open_app(page, f"{app_server}/explore?ratio=4&lang={lang}")
    texts = i18n.EN if lang == "en" else i18n.ZH
    page.get_by_role("heading", name=texts["explore.title"]).wait_for()
    wait_totals(page, "43,093,322")
    wait_idle(page)
    assert page.locator(".st-key-explore_ratio input").input_value() == "4"
    assert query(page)["ratio"] == ["4"]
    assert "43,093,322" in page.locator(".st-key-sidebar_arch").inner_text()
    no_exception(page)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_zero_typed_in_the_block_table_is_refused_by_name_and_the_totals_stay(app_server, page, lang):
    """0 convolutions in a block used to be dropped silently, the old value kept: now the core's
    refusal is shown under the blocks, naming block 1 and what is allowed, and the totals stay."""
    open_app(page, f"{app_server}/?lang={lang}")
    wait_totals(page, "128,806,154")
    type_in_first_num_convs(page, "0")
    page.keyboard.press("Enter")
    error = page.locator(".st-key-error_blocks [data-testid='stAlertContentError']")
    error.wait_for()
    wait_idle(page)
    words = {"en": "block 1: num_convs must be from 1 to 64, got 0",
             "zh": "第 1 块：num_convs 必须在 1 到 64 之间，当前为 0"}[lang]
    assert words in error.inner_text(), error.inner_text()
    assert "128,806,154" in totals_text(page)  # the last valid network stays on screen
    # The text shows what the table now holds, so the two inputs never disagree; it is not applied.
    assert page.locator(".st-key-explore_conv_arch input").input_value().startswith("((0, 64), (1, 128)")
    no_exception(page)
