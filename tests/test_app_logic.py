"""Page logic through Streamlit's AppTest: the real app.py, pages and core, without a browser."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pages import explore_inputs, i18n, state
from vgg_core.spec import NAMED, PRESETS, ArchSpec, SpecError, format_conv_arch
from vgg_core.summary import summarize

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(300)


def app(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    if query:
        at.query_params.update(query)
    return at.run()


def opened_on(page: str, query: dict[str, str]) -> AppTest:
    """A session whose first request is ``page`` with ``query``: a reload, or a shared link."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params.update(query)
    at.switch_page(page)
    return at.run()


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def layer_table(at: AppTest):
    headers = {texts["col.output_shape"] for texts in i18n.CATALOG.texts.values()}
    tables = [d.value for d in at.dataframe if headers & set(d.value.columns)]
    assert len(tables) == 1
    return tables[0]


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def test_default_is_the_books_vgg11():
    at = app()
    no_exception(at)
    m = metrics(at)
    assert m["Parameters"] == "128,806,154"
    assert m["Flatten width"] == "25,088"
    ref = summarize(ArchSpec())
    assert m["MACs"] == f"{ref.total_macs:,}"
    table = layer_table(at)
    assert "1×25088" in set(table["output shape"])
    assert table["params"].sum() == 128_806_154
    assert table["MACs"].sum() == ref.total_macs
    assert at.text_input(key="explore_conv_arch").value == "((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))"
    assert at.selectbox(key="explore_preset").value == "vgg11"
    assert at.number_input(key="explore_ratio").value == 1
    # The default view keeps a clean URL; the exact totals also show in the sidebar.
    assert dict(at.query_params) == {}
    assert any("128,806,154" in md.value for md in at.sidebar.markdown)


def test_ratio_4_is_d2ls_training_model_and_goes_into_the_url():
    at = app()
    at.number_input(key="explore_ratio").set_value(4).run()
    no_exception(at)
    assert metrics(at)["Parameters"] == "43,093,322"
    assert at.selectbox(key="explore_preset").value == "d2l"
    assert at.query_params["ratio"] == ["4"] or at.query_params["ratio"] == "4"


@pytest.mark.parametrize(
    "key, value, fragment",
    [
        ("conv_arch", "((1, 64), (1, 128)", "is not a list of (num_convs, out_channels) pairs"),
        ("conv_arch", "__import__('os').system('true')", "is not a list of (num_convs, out_channels) pairs"),
        ("conv_arch", "((0, 64),)", "block 1: num_convs must be from 1 to"),
        ("input_size", 16, "input_size 16 is too small for 5 blocks"),
        # Out of range: the widget has no min/max of its own, so the limit is named, not silently dropped.
        ("ratio", 65, "ratio must be from 1 to 64, got 65"),
        ("ratio", 0, "ratio must be from 1 to 64, got 0"),
        ("input_size", 5000, "input_size must be from 1 to 4096, got 5000"),
        ("in_channels", -3, "in_channels must be from 1 to 1024, got -3"),
        ("fc_width", 0, "fc_width must be from 1 to 65536, got 0"),
    ],
)
def test_bad_input_shows_the_core_message_and_keeps_the_last_table(key, value, fragment):
    at = app()
    widget = at.text_input(key=f"explore_{key}") if key == "conv_arch" else at.number_input(key=f"explore_{key}")
    (widget.input(value) if key == "conv_arch" else widget.set_value(value)).run()
    no_exception(at)
    errors = [e.value.replace("\\", "") for e in at.error]
    assert len(errors) == 1 and fragment in errors[0], errors
    assert errors[0].startswith("Not applied: ")
    assert metrics(at)["Parameters"] == "128,806,154"
    assert layer_table(at)["params"].sum() == 128_806_154
    assert dict(at.query_params) == {}
    assert any("last valid" in i.value for i in at.info)


def test_ratio_that_leaves_no_channels_is_refused():
    at = app()
    at.text_input(key="explore_conv_arch").input("1x32 1x64").run()
    assert metrics(at)["Parameters"] == f"{summarize(ArchSpec(conv_arch=((1, 32), (1, 64)))).total_params:,}"
    at.number_input(key="explore_ratio").set_value(64).run()
    no_exception(at)
    errors = [e.value.replace("\\", "") for e in at.error]
    assert any("ratio 64 leaves 32 // 64 = 0 channels" in e for e in errors), errors
    # The last valid model (ratio 1) stays on screen and in the URL.
    assert metrics(at)["Parameters"] == f"{summarize(ArchSpec(conv_arch=((1, 32), (1, 64)))).total_params:,}"
    assert at.query_params.get("ratio") in (None, [], "")


def test_valid_edit_after_an_error_clears_it_and_updates_everything():
    at = app()
    at.text_input(key="explore_conv_arch").input("((1, 64), (1, 128)").run()
    assert at.error
    at.text_input(key="explore_conv_arch").input("1x64 1x128 2x256 2x512").run()
    no_exception(at)
    assert not at.error
    expected = summarize(ArchSpec(conv_arch=((1, 64), (1, 128), (2, 256), (2, 512))))
    assert metrics(at)["Parameters"] == f"{expected.total_params:,}"
    assert metrics(at)["Flatten width"] == f"{expected.flatten_size:,}"
    # The text is shown back in d2l's spelling; the block table follows it.
    assert at.text_input(key="explore_conv_arch").value == "((1, 64), (1, 128), (2, 256), (2, 512))"
    editor = [d.value for d in at.dataframe if "num_convs" in d.value.columns][0]
    assert list(editor["out_channels"]) == [64, 128, 256, 512]
    assert layer_table(at)["params"].sum() == expected.total_params


@pytest.mark.parametrize("name", ["vgg13", "vgg16", "vgg19", "d2l"])
def test_presets_set_blocks_and_ratio(name):
    at = app()
    at.number_input(key="explore_num_classes").set_value(1000).run()
    at.selectbox(key="explore_preset").select(name).run()
    no_exception(at)
    spec = ArchSpec(conv_arch=PRESETS[name].conv_arch, ratio=PRESETS[name].ratio, num_classes=1000)
    assert metrics(at)["Parameters"] == f"{summarize(spec).total_params:,}"
    assert at.text_input(key="explore_conv_arch").value == format_conv_arch(spec.conv_arch)
    assert at.number_input(key="explore_ratio").value == spec.ratio
    assert at.number_input(key="explore_num_classes").value == 1000


def test_torchvision_vgg16_counts_with_3_channels_and_1000_classes():
    at = app()
    at.selectbox(key="explore_preset").select("vgg16").run()
    at.number_input(key="explore_in_channels").set_value(3).run()
    at.number_input(key="explore_num_classes").set_value(1000).run()
    no_exception(at)
    assert metrics(at)["Parameters"] == "138,357,544"


def test_batch_norm_adds_layers():
    at = app()
    at.checkbox(key="explore_batch_norm").check().run()
    no_exception(at)
    assert "BatchNorm2d" in set(layer_table(at)["type"])
    assert at.query_params["bn"] in ("1", ["1"])


def test_query_params_reproduce_the_view():
    query = {"arch": "2x64 2x128 3x256", "ratio": "2", "size": "96", "in": "3", "classes": "100", "fc": "512",
             "bn": "1", "lang": "zh"}
    at = app(query)
    no_exception(at)
    spec = ArchSpec(conv_arch=((2, 64), (2, 128), (3, 256)), ratio=2, input_size=96, in_channels=3,
                    num_classes=100, fc_width=512, batch_norm=True)
    assert state.spec_from_query(query) == spec
    assert metrics(at)["参数量"] == f"{summarize(spec).total_params:,}"
    assert at.text_input(key="explore_conv_arch").value == "((2, 64), (2, 128), (3, 256))"
    assert at.number_input(key="explore_input_size").value == 96
    assert at.checkbox(key="explore_batch_norm").value is True
    assert at.radio(key="lang").value == "zh"
    # The URL the app writes back is the one it was given (same meaning, canonical spelling).
    assert state.spec_from_query({k: v if isinstance(v, str) else v[-1] for k, v in at.query_params.items()}) == spec


def test_each_page_keeps_its_own_url_parameters():
    """The Train page's settings survive a reload; another page's parameters do not leak into this one's URL."""
    at = app({"run": "abc", "ratio": "4", "epochs": "3"})
    at.number_input(key="explore_ratio").set_value(2).run()
    assert "run" not in at.query_params and "epochs" not in at.query_params
    assert at.query_params["ratio"] in ("2", ["2"])
    train = opened_on("pages/train.py", {"epochs": "3", "batch": "64", "lr": "0.1", "opt": "adam", "ratio": "4"})
    no_exception(train)
    assert train.number_input(key="train_epochs").value == 3 and train.number_input(key="train_batch_size").value == 64
    assert train.selectbox(key="train_optimizer").value == "adam"
    assert {k: train.query_params[k] for k in ("epochs", "batch", "opt")} in (
        {"epochs": "3", "batch": "64", "opt": "adam"}, {"epochs": ["3"], "batch": ["64"], "opt": ["adam"]})
    bad = opened_on("pages/train.py", {"epochs": "99999999999999999999", "batch": "-1", "opt": "rmsprop"})
    no_exception(bad)
    assert bad.number_input(key="train_epochs").value == 10 and bad.selectbox(key="train_optimizer").value == "sgd"


@pytest.mark.parametrize(
    "query",
    [{"arch": "((1, 64)"}, {"ratio": "0"}, {"ratio": "four"}, {"size": "8"}, {"ratio": "65"}, {"bn": "yes"}],
)
def test_a_bad_shared_link_warns_and_shows_the_default(query):
    at = app(query)
    no_exception(at)
    assert len(at.warning) == 1 and "default" in at.warning[0].value
    assert metrics(at)["Parameters"] == "128,806,154"


def test_language_switch_changes_the_text():
    at = app()
    assert at.title[0].value == "VGG architecture explorer"
    at.sidebar.radio(key="lang").set_value("zh").run()
    no_exception(at)
    assert at.title[0].value == i18n.CATALOG.texts["zh"]["explore.title"]
    assert metrics(at)["参数量"] == "128,806,154"
    assert "块" in layer_table(at).columns
    assert at.query_params["lang"] in ("zh", ["zh"])
    at.switch_page("pages/compare.py").run()
    assert at.title[0].value == i18n.CATALOG.texts["zh"]["compare.title"]


def test_every_page_opens_in_both_languages():
    for lang in ("en", "zh"):
        at = app({"lang": lang} if lang != "en" else None)
        for path, key in [("pages/compare.py", "compare.title"), ("pages/train.py", "train.title"),
                          ("pages/gpu.py", "gpu.title"), ("pages/explore.py", "explore.title")]:
            at.switch_page(path).run()
            no_exception(at)
            assert at.title[0].value == i18n.CATALOG.texts[lang][key]


def test_the_architecture_survives_a_visit_to_another_page():
    at = app()
    at.number_input(key="explore_ratio").set_value(4).run()
    at.switch_page("pages/compare.py").run()
    assert at.query_params["ratio"] in ("4", ["4"])
    at.switch_page("pages/explore.py").run()
    assert at.number_input(key="explore_ratio").value == 4
    assert metrics(at)["Parameters"] == "43,093,322"


def test_an_error_does_not_outlive_the_text_it_was_about():
    """Leaving the page drops the typed text (the inputs reseed from the valid spec): its error goes too."""
    at = app()
    at.text_input(key="explore_conv_arch").input("1x64 zz").run()
    assert at.error and any("last valid" in i.value for i in at.info)
    at.switch_page("pages/gpu.py").run()
    at.switch_page("pages/explore.py").run()
    no_exception(at)
    assert at.text_input(key="explore_conv_arch").value == format_conv_arch(ArchSpec().conv_arch)
    assert not at.error and not any("last valid" in i.value for i in at.info)


def test_compare_page_tables_and_custom_lines():
    at = app()
    at.switch_page("pages/compare.py").run()
    at.multiselect(key="compare_archs").set_value(["current", "vgg19"]).run()
    at.text_area(key="compare_custom").input("1x32 1x64\n((1, 64), (1, 128)\n").run()
    no_exception(at)
    totals = at.table[0].value
    assert list(totals.columns) == ["current (from Explore)", "VGG-19 (E)", "custom 1"]
    params = totals.loc["parameters"]
    assert params["current (from Explore)"] == "128,806,154"
    vgg19 = ArchSpec(conv_arch=PRESETS["vgg19"].conv_arch)
    assert params["VGG-19 (E)"] == f"{summarize(vgg19).total_params:,}"
    assert params["custom 1"] == f"{summarize(ArchSpec(conv_arch=((1, 32), (1, 64)))).total_params:,}"
    shapes = at.table[1].value
    assert shapes.loc["block 5", "VGG-19 (E)"] == "1×512×7×7"
    assert shapes.loc["block 5", "custom 1"] == "—"
    assert shapes.loc["Flatten", "current (from Explore)"] == "25,088"
    errors = [e.value.replace("\\", "") for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("Line 2:")
    assert len(at.get("plotly_chart")) == 2


def test_compare_presets_follow_the_current_input():
    at = app({"size": "32", "arch": "1x64 1x128 2x256"})
    at.switch_page("pages/compare.py").run()
    no_exception(at)
    # VGG-16 has 5 blocks: a 32x32 input reaches 1x1, still valid; the d2l preset too.
    totals = at.table[0].value
    assert totals.loc["Flatten width", "VGG-16 (D)"] == "512"
    at2 = app({"size": "16", "arch": "1x64 1x128"})
    at2.switch_page("pages/compare.py").run()
    no_exception(at2)
    errors = [e.value.replace("\\", "") for e in at2.error]
    assert any("does not fit the current input" in e and "input_size 16 is too small" in e for e in errors)
    # Only the current architecture fits: the page asks for another one that fits, not "choose two".
    assert any("at least two architectures that fit the current input" in i.value for i in at2.info)


def test_compare_with_no_architecture_still_compares_runs():
    at = app()
    at.switch_page("pages/compare.py").run()
    at.multiselect(key="compare_archs").set_value([]).run()
    no_exception(at)
    assert not at.table
    assert i18n.CATALOG.texts["en"]["compare.runs"] in [h.value for h in at.subheader]


def test_reset_button_returns_to_the_book():
    at = app({"ratio": "4"})
    at.sidebar.button(key="reset_arch").click().run()
    no_exception(at)
    assert metrics(at)["Parameters"] == "128,806,154"
    assert at.number_input(key="explore_ratio").value == 1
    assert dict(at.query_params) == {}


# --- pure helpers ------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(NAMED))  # the VGG presets and AlexNet (family=alexnet in the link)
def test_query_round_trip(name):
    spec = NAMED[name].replace(input_size=96, batch_norm=True)
    assert state.spec_from_query(state.spec_to_query(spec)) == spec
    assert state.preset_of(spec) == name


def test_query_of_the_default_is_empty():
    assert state.spec_to_query(ArchSpec()) == {}
    assert state.spec_from_query({}) == ArchSpec()


def test_query_errors_name_the_parameter():
    with pytest.raises(SpecError) as err:
        state.spec_from_query({"ratio": "x", "size": "-3"})
    assert [str(p) for p in err.value.problems] == [
        "URL parameter ratio='x' is not a whole number",
        "URL parameter size='-3' is not a whole number",
    ]


def test_blocks_after_edit_applies_edits_additions_and_deletions():
    base = [(1, 64), (1, 128), (2, 256)]
    delta = {
        "edited_rows": {"0": {"num_convs": 2.0}, 2: {"out_channels": 512}},
        "added_rows": [{"num_convs": 3, "out_channels": 512}, {"num_convs": 1}],
        "deleted_rows": [1],
    }
    assert explore_inputs.blocks_after_edit(base, delta) == [(2, 64), (2, 512), (3, 512), (1, None)]
    assert explore_inputs.blocks_after_edit(base, {}) == base
