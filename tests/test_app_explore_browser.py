"""Explore's teaching parts in a real browser (issue #13): the diagram in the DOM, hover, a kernel typed
into the block grid, VGG-11 beside AlexNet on Compare, each exercise's answer, and nothing cut off at
1024x768, in English and Chinese.

`streamlit run app.py` on localhost, driven through Debian's chromium; every expected figure comes from
the core. The edit-to-diagram time is printed (pytest -s) and recorded, never asserted.
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from pages import i18n, views
from streamlit_browser import EXCEPTION, open_app, wait_idle
from vgg_core.diagram import layout
from vgg_core.report import human_bytes
from vgg_core.spec import ArchSpec
from vgg_core.summary import summarize

pytestmark = [pytest.mark.browser]

DIAGRAM = ".st-key-arch_diagram"
BOXES = f"{DIAGRAM} svg g[data-block]"
TEXTS = {"en": i18n.EN, "zh": i18n.ZH}
ROW_MARKER_PX = 32  # the grid's selection column, left of the first data column


def lang_url(base: str, lang: str, path: str = "", query: str = "") -> str:
    params = "&".join(p for p in (query, "lang=zh" if lang == "zh" else "") if p)
    return f"{base}/{path}" + (f"?{params}" if params else "")


def no_exception(page) -> None:
    assert page.locator(EXCEPTION).count() == 0, page.locator(EXCEPTION).first.inner_text()


def box_count(page) -> int:
    return page.locator(BOXES).count()


def wait_boxes(page, n: int, timeout: float = 30_000) -> None:
    page.wait_for_function("([sel, n]) => document.querySelectorAll(sel).length === n", arg=[BOXES, n],
                           timeout=timeout, polling="raf")


def open_exercises(page, texts) -> None:
    page.locator("[data-testid='stExpander'] summary").filter(has_text=texts["exercise.title"]).click()
    page.locator(".st-key-exercise_1 button").wait_for()


@pytest.mark.timeout(300)
def test_the_diagram_hovers_and_grows_with_a_block_a_row_explains_itself_and_a_kernel_goes_in_the_grid(
        app_server, page, record_property):
    open_app(page, app_server)
    page.wait_for_selector(BOXES, state="attached")
    vgg11 = layout(summarize(ArchSpec()))
    assert box_count(page) == len(vgg11.items) == 14
    assert page.locator(f"{BOXES} > title").count() == 14  # one tooltip per box, in the DOM
    # Hover: the browser's own tooltip (the <title>) and the box the pointer is on, drawn heavier.
    first_conv = page.locator(f"{BOXES}.conv").first
    first_conv.scroll_into_view_if_needed()
    polygon = first_conv.locator("polygon").first
    assert polygon.evaluate("p => getComputedStyle(p).strokeWidth") == "0.8px"
    first_conv.hover()
    page.wait_for_function("p => getComputedStyle(p).strokeWidth === '2.2px'", arg=polygon.element_handle())
    title = first_conv.locator("title").text_content()
    conv = vgg11.items[1].data  # the conv box folds its ReLU: both outputs count as its activations
    assert f"parameters: {conv.params:,}" in title and f"MACs: {conv.macs:,}" in title
    assert f"activation memory: {human_bytes(conv.activation_bytes)}" in title and conv.params == 640

    # A row clicked in the layer table: its formulas, with its own numbers, under the table.
    grid = page.locator(".st-key-layer_table [data-testid='stDataFrame']")
    grid.scroll_into_view_if_needed()
    for _ in range(10):  # the canvas grid may still be drawing: click until the row is taken
        rect = grid.bounding_box()
        page.mouse.click(rect["x"] + ROW_MARKER_PX / 2, rect["y"] + 35 + 6 * 35 + 17)  # row 7: conv3_1
        try:
            page.wait_for_function("() => (document.querySelector('.st-key-layer_explain')?.innerText || '')"
                                   ".includes('3·3·128·256 + 256 = 295,168')", timeout=3000)
            break
        except PlaywrightTimeout:
            wait_idle(page)
    else:
        pytest.fail("clicking conv3_1's row never explained it")
    wait_idle(page)

    # A block more through the conv_arch text: one conv box and one pool box more.
    box = page.locator(".st-key-explore_conv_arch input")
    box.fill("1x64 1x128 2x256 2x512 2x512 2x512")
    start = time.perf_counter()
    box.press("Enter")
    wait_boxes(page, 16)
    shown = time.perf_counter() - start
    print(f"\n[edit-to-diagram] a sixth block: new diagram in the DOM after {shown * 1000:.0f} ms")
    record_property("edit_to_diagram_ms[sixth block]", round(shown * 1000))
    wait_idle(page)
    no_exception(page)

    # The kernel column of the block grid: block 2's kernel to 5, typed into the canvas grid.
    grid = page.locator(".st-key-blocks [data-testid='stDataFrame']")
    grid.scroll_into_view_if_needed()
    for _ in range(10):  # the grid may still be drawing: try until its cell editor holds the 5
        rect = grid.bounding_box()
        page.mouse.click(rect["x"] + ROW_MARKER_PX + 30, rect["y"] + 35 + 35 + 17)  # row 2, num_convs
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        page.keyboard.type("5")
        try:
            page.wait_for_function("() => document.querySelector('#portal .gdg-input')?.value === '5'", timeout=1000)
            break
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    else:
        pytest.fail("the block grid's kernel cell editor never opened")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('.st-key-explore_conv_arch input').value"
                           ".includes('(1, 128, 5)')")
    wait_idle(page)
    assert page.locator(f"{BOXES}[data-kernel='5×5']").count() == 1
    spec = ArchSpec(conv_arch=((1, 64), (1, 128, 5), (2, 256), (2, 512), (2, 512), (2, 512)))
    page.locator(".st-key-totals").get_by_text(f"{summarize(spec).total_params:,}").wait_for()
    no_exception(page)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_compare_shows_vgg11_beside_alexnet(app_server, page, lang):
    texts = TEXTS[lang]
    if lang == "zh":  # from Explore's exercise 2, as a class would get there
        open_app(page, lang_url(app_server, lang))
        open_exercises(page, texts)
        page.locator(".st-key-exercise_2 button").click()
    else:
        open_app(page, lang_url(app_server, lang, "compare", "archs=vgg11,alexnet"))
    page.get_by_role("heading", name=texts["compare.title"]).wait_for()
    wait_idle(page)
    totals = page.locator(".st-key-compare_totals")
    totals.get_by_text("46,764,746").wait_for()
    header = totals.locator("thead").inner_text()
    assert texts["preset.vgg11"] in header and texts["preset.alexnet"] in header
    assert "128,806,154" in totals.inner_text()
    assert "1×256×5×5" in page.locator(".st-key-compare_shapes").inner_text()  # AlexNet's last block (d2l 7.1)
    diagrams = page.locator(".st-key-compare_diagrams svg")
    diagrams.first.wait_for(state="attached")
    assert diagrams.count() == 2
    alexnet = layout(summarize(ArchSpec(family="alexnet")))
    assert diagrams.nth(1).locator("g[data-block]").count() == len(alexnet.items)
    assert texts["diagram.parameters"] in diagrams.nth(1).locator("title").first.text_content()
    if lang == "zh":
        assert page.locator(".st-key-exercise_answer").inner_text().startswith("练习 2")
        assert "lang=zh" in page.url
    no_exception(page)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_each_exercise_button_leads_to_its_answer(app_server, page, lang):
    texts = TEXTS[lang]
    open_app(page, lang_url(app_server, lang))
    open_exercises(page, texts)
    answer = page.locator(".st-key-exercise_answer")

    page.locator(".st-key-exercise_1 button").click()
    answer.wait_for()
    wait_idle(page)
    text = answer.inner_text()
    assert text.startswith(texts["exercise.a1"].split("**")[1]) and "8" in text and "11" in text
    page.wait_for_function(  # the table's block view: a row per block and the classifier, no layer names
        "t => { const c = [...document.querySelectorAll(\".st-key-layer_table [role='gridcell']\")]"
        ".map(e => e.textContent); return c.includes(t) && !c.includes('conv1_1'); }", arg=texts["block.classifier"])

    page.locator(".st-key-exercise_3 button").click()
    page.wait_for_function("() => document.querySelector('.st-key-explore_input_size input').value === '96'")
    wait_idle(page)
    text = answer.inner_text()
    assert "96×96" in text and "4,608" in text and "25,088" in text

    page.locator(".st-key-exercise_4_vgg16 button").click()
    page.wait_for_function("t => document.querySelector('.st-key-exercise_answer')?.innerText.includes(t)",
                           arg="13 + 3 = 16")
    wait_idle(page)
    assert page.locator(".st-key-explore_preset input").input_value() == texts["preset.vgg16"]
    no_exception(page)


def _measure(page, strings: list[str], font: str) -> list[float]:
    """Text widths as chromium draws them in ``font`` (the grid draws on a canvas)."""
    return page.evaluate(
        "([texts, font]) => { const c = document.createElement('canvas').getContext('2d'); c.font = font;"
        " return texts.map(s => c.measureText(s).width); }", [strings, font])


@pytest.mark.timeout(300)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_at_1024x768_the_diagram_and_the_layer_tables_numbers_are_not_cut_off(app_server, browser, lang,
                                                                               monkeypatch):
    texts = TEXTS[lang]
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        open_app(page, lang_url(app_server, lang))
        page.wait_for_selector(BOXES, state="attached")
        page.wait_for_selector(".st-key-layer_table [role='gridcell']", state="attached")
        wait_idle(page)

        # The diagram keeps its size (1118 px: no shrunk text) and scrolls inside its box to the last bar.
        drawn = layout(summarize(ArchSpec()))
        box = page.locator(f"{DIAGRAM} .vgg-diagram")
        sizes = box.evaluate("b => [b.scrollWidth, b.clientWidth, getComputedStyle(b).overflowX,"
                             " b.querySelector('svg').getBoundingClientRect().width]")
        assert sizes[0] == sizes[3] == drawn.width and sizes[1] < drawn.width and sizes[2] == "auto", sizes
        assert texts["diagram.scroll"].split("{")[0].strip() in page.locator(f"{DIAGRAM} .vgg-legend").inner_text()
        box.evaluate("b => { b.scrollLeft = b.scrollWidth; }")
        last = page.locator(f"{BOXES}").last.bounding_box()
        frame = box.bounding_box()
        assert frame["x"] <= last["x"] and last["x"] + last["width"] <= frame["x"] + frame["width"] + 1

        # Every cell of the layer table fits its column: widths from every cell, checked against
        # chromium's own text metrics in the grid's font, and the grid really uses them.
        monkeypatch.setattr(i18n, "lang", lambda: lang)  # the page's table, built as the page builds it
        table = views.layers_table(summarize(ArchSpec()))
        config = views.fit_columns(table, views.count_columns(table))
        for name in table.columns:
            cells = [f"{v:,}" if isinstance(v, int) else str(v) for v in table[name]]
            width = config[name]["width"]
            assert max(_measure(page, cells, "14px 'Source Sans'")) + 16 <= width, (name, width)
            header = _measure(page, [str(name)], "700 14px 'Source Sans'")[0] + 16
            assert header + (18 if config[name].get("help") else 0) <= width, (name, width)
        scroller = page.locator(".st-key-layer_table .dvn-scroller")
        total = scroller.evaluate("s => s.scrollWidth")
        assert total == sum(c["width"] for c in config.values()) + ROW_MARKER_PX
        # What does not fit beside the sidebar is reachable: scrolled sideways, fc1's parameters are in the grid.
        scroller.evaluate("s => { s.scrollLeft = s.scrollWidth; }")
        page.wait_for_function("() => [...document.querySelectorAll(\".st-key-layer_table [role='gridcell']\")]"
                               ".some(c => ['102,764,544', '102764544'].includes(c.textContent))")

        # The exact totals above the table are whole too (no ellipsis at 1024 pixels).
        values = page.locator(".st-key-totals [data-testid='stMetricValue']")
        for i in range(values.count()):
            cut = values.nth(i).evaluate("v => { const e = v.querySelector('div') || v;"
                                         " return e.scrollWidth > e.clientWidth + 1; }")
            assert not cut, values.nth(i).inner_text()
        no_exception(page)
    finally:
        context.close()
