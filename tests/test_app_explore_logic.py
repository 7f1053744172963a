"""Explore's teaching parts through AppTest (issue #13): kernels, AlexNet, receptive fields, FLOPs,
each layer's arithmetic, a training step's memory, the diagram and d2l 7.2's exercises.

The real app.py, pages and core run here; every expected figure comes from the core or the book.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.errors import AppTestError

from pages import explore_inputs, i18n, state
from vgg_core.diagram import layout
from vgg_core.estimate import estimate_training
from vgg_core.model import model_code
from vgg_core.request import TrainRequest, TrainSettings
from vgg_core.spec import PRESETS, REFERENCES, ArchSpec, format_conv_arch
from vgg_core.summary import summarize

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(300)
EN, ZH = i18n.EN, i18n.ZH
ALEXNET = REFERENCES["alexnet"]


def app(query: dict[str, str] | None = None, page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params.update(query or {})
    if page:
        at.switch_page(page)
    at.run()
    no_exception(at)
    return at


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def frame(at: AppTest, column: str):
    """The one dataframe on the page that has ``column``."""
    found = [d for d in at.dataframe if column in d.value.columns]
    assert len(found) == 1, [list(d.value.columns) for d in at.dataframe]
    return found[0]


def layer_table(at: AppTest, lang: str = "en"):
    texts = i18n.CATALOG.texts[lang]
    return frame(at, texts["col.receptive_field"]).value


def errors(at: AppTest) -> list[str]:
    return [e.value.replace("\\", "") for e in at.error]


def diagrams(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if "<svg" in m.value]


def query(at: AppTest) -> dict[str, str]:
    return {k: v if isinstance(v, str) else v[-1] for k, v in at.query_params.items()}


# --- kernels ------------------------------------------------------------------------------------


def test_the_block_table_has_a_kernel_column_that_follows_the_text():
    at = app()
    editor = frame(at, "kernel").value
    assert list(editor["kernel"]) == [3, 3, 3, 3, 3]
    at.text_input(key="explore_conv_arch").input("1x64 1x128k5 2x256k7").run()
    no_exception(at)
    spec = ArchSpec(conv_arch=((1, 64), (1, 128, 5), (2, 256, 7)))
    assert metrics(at)["Parameters"] == f"{summarize(spec).total_params:,}"
    assert at.text_input(key="explore_conv_arch").value == "((1, 64), (1, 128, 5), (2, 256, 7))"
    editor = frame(at, "kernel").value
    assert list(editor["kernel"]) == [3, 5, 7] and list(editor["out_channels"]) == [64, 128, 256]
    assert query(at)["arch"] == "1x64 1x128k5 2x256k7"
    # Everywhere a block is shown: the sidebar and the Train page's header name the kernels.
    assert any("1x128k5" in m.value for m in at.sidebar.markdown)
    at.switch_page("pages/train.py").run()
    no_exception(at)
    assert any("1x128k5 2x256k7" in m.value for m in at.markdown)
    at.switch_page("pages/compare.py").run()
    no_exception(at)
    assert at.table[0].value.loc["kernel per block", "current (from Explore)"] == "3 · 5 · 7"


def test_an_edit_of_the_kernel_column_becomes_a_triple_and_3_stays_a_pair():
    base = [(1, 64), (1, 128, 5), (2, 256)]
    delta = {"edited_rows": {"0": {"kernel": 5.0}, "1": {"kernel": 3}, "2": {"kernel": 4}},
             "added_rows": [{"num_convs": 1, "out_channels": 512},
                            {"num_convs": 1, "out_channels": 512, "kernel": 2.5}]}
    assert explore_inputs.blocks_after_edit(base, delta) == [(1, 64, 5), (1, 128), (2, 256, 4), (1, 512), (1, 512, 2.5)]
    # The text the edit writes is d2l's spelling, which the core then checks.
    assert format_conv_arch(explore_inputs.blocks_after_edit(base, {})) == "((1, 64), (1, 128, 5), (2, 256))"


@pytest.mark.parametrize("text, fragment", [
    ("1x64 1x128k4", "block 2: kernel_size 4 is even: padding k // 2 keeps the side only for an odd kernel; "
                     "use one of 1, 3, 5, 7, 9, 11"),
    ("1x64k0 1x128", "block 1: kernel_size must be from 1 to 11 and odd (1, 3, 5, 7, 9, 11), got 0"),
    ("1x64 1x128k13", "block 2: kernel_size must be from 1 to 11 and odd (1, 3, 5, 7, 9, 11), got 13"),
    ("((1, 64), (1, 128, 2.5))", "block 2: kernel_size must be an odd whole number (1, 3, 5, 7, 9, 11), got 2.5"),
    ("1x64 1x64 1x64 1x64 1x64 1x64 1x64k11", "block 7: a 11x11 kernel is too large for the 3x3 map this block sees"),
])
def test_bad_kernels_are_refused_on_the_page_by_block(text, fragment):
    at = app()
    at.text_input(key="explore_conv_arch").input(text).run()
    no_exception(at)
    found = errors(at)
    assert len(found) == 1 and fragment in found[0], found
    assert found[0].startswith("Not applied: ") and found[0].count("\n") == 0  # one line
    assert metrics(at)["Parameters"] == "128,806,154"  # the last valid network stays


# --- AlexNet ------------------------------------------------------------------------------------


def test_the_alexnet_preset_locks_the_blocks_and_keeps_the_rest_editable():
    at = app()
    at.selectbox(key="explore_preset").select("alexnet").run()
    no_exception(at)
    assert metrics(at)["Parameters"] == "46,764,746"  # d2l 7.1
    assert metrics(at)["Flatten width"] == "6,400"
    assert at.text_input(key="explore_conv_arch").disabled and at.text_input(key="explore_conv_arch").value == "AlexNet"
    assert at.number_input(key="explore_ratio").disabled
    blocks = frame(at, "stride")
    assert blocks.proto.disabled
    assert list(blocks.value["kernel"]) == [11, 5, 3, 3, 3] and list(blocks.value["stride"]) == [4, 1, 1, 1, 1]
    assert any("AlexNet's layers are fixed (d2l 7.1)" in c.value for c in at.caption)
    assert query(at) == {"family": "alexnet"}
    assert any("`AlexNet`" in m.value for m in at.sidebar.markdown)
    # Input size, classes and FC width stay editable.
    at.number_input(key="explore_num_classes").set_value(100).run()
    at.number_input(key="explore_fc_width").set_value(1024).run()
    no_exception(at)
    spec = ALEXNET.replace(num_classes=100, fc_width=1024)
    assert metrics(at)["Parameters"] == f"{summarize(spec).total_params:,}"
    assert state.spec_from_query(query(at)) == spec
    # Too small an input for AlexNet is named with the smallest that works.
    at.number_input(key="explore_input_size").set_value(64).run()
    assert any("64" in e and "65" in e for e in errors(at)), errors(at)
    with pytest.raises(AppTestError, match="disabled"):  # a browser user cannot type into its blocks
        at.text_input(key="explore_conv_arch").input("1x64")
    # Back to a VGG preset: the blocks are editable again, on the inputs as typed (64 suits VGG-11).
    at.selectbox(key="explore_preset").select("vgg11").run()
    no_exception(at)
    assert not at.text_input(key="explore_conv_arch").disabled and not errors(at)
    vgg = ArchSpec(num_classes=100, fc_width=1024, input_size=64)
    assert metrics(at)["Parameters"] == f"{summarize(vgg).total_params:,}"


def test_blocks_typed_while_alexnet_is_chosen_are_refused_in_one_line():
    """AlexNet chosen on a 28-pixel input is refused (too small), so the blocks stay editable; blocks typed
    then are still meant for AlexNet, whose blocks cannot be given."""
    at = app({"arch": "1x64 2x64 2x64", "size": "28", "fc": "256"})
    at.selectbox(key="explore_preset").select("alexnet").run()
    assert any("input_size 28 is too small for AlexNet" in e and "65" in e for e in errors(at)), errors(at)
    at.text_input(key="explore_conv_arch").input("1x64 1x128").run()
    no_exception(at)
    found = errors(at)
    assert any(e == "Not applied: AlexNet's blocks are fixed (d2l's own layers), so conv_arch cannot be given; change "
                    "input_size, in_channels, num_classes, fc_width or dropout instead" for e in found), found
    assert metrics(at)["Parameters"] == f"{summarize(PRESETS['pair_3x3']).total_params:,}"


def test_an_alexnet_link_reloads_as_alexnet_and_blocks_in_it_are_named():
    at = app({"family": "alexnet", "size": "96", "lang": "zh"})
    assert at.selectbox(key="explore_preset").value == "alexnet"
    assert metrics(at)["参数量"] == f"{summarize(ALEXNET.replace(input_size=96)).total_params:,}"
    bad = app({"family": "alexnet", "arch": "1x64"})
    assert len(bad.warning) == 1 and "AlexNet" in bad.warning[0].value and "conv\\_arch" in bad.warning[0].value
    assert metrics(bad)["Parameters"] == "128,806,154"


def test_alexnet_trains_at_d2ls_own_learning_rate():
    at = app({"family": "alexnet"}, "pages/train.py")
    lr = at.number_input(key="train_lr")
    assert lr.value is None and lr.proto.placeholder == "0.01"
    assert any("Learning rate: 0.01, the rate d2l trains AlexNet with" in c.value for c in at.caption)
    assert any("`AlexNet`" in m.value for m in at.markdown)
    assert TrainRequest(ALEXNET, TrainSettings()).learning_rate == 0.01
    vgg = app(None, "pages/train.py")
    assert vgg.number_input(key="train_lr").proto.placeholder == "0.05"


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("query_", [{"family": "alexnet"}, {"arch": "1x64k5 1x128 2x256k7", "size": "64"}])
@pytest.mark.parametrize("path", ["pages/explore.py", "pages/compare.py", "pages/train.py"])
def test_kernels_and_alexnet_break_no_page(lang, query_, path):
    app({**query_, "lang": lang}, path)


# --- the layer table: receptive field, FLOPs, each layer's arithmetic ---------------------------


def test_receptive_fields_of_vgg11_as_the_book_walks_them():
    at = app()
    table = layer_table(at)
    windows = table[table["type"].isin(["Conv2d", "MaxPool2d"])]
    assert [int(v) for v in windows["RF"]] == [3, 4, 8, 10, 18, 26, 30, 46, 62, 70, 102, 134, 150]
    core = [r.receptive_field for r in summarize(ArchSpec()).layers]
    assert [None if v == "–" else int(v) for v in table["RF"]] == core
    convs = table[table["type"] == "Conv2d"]
    assert set(convs["k"]) == {"3"} and set(convs["s"]) == {"1"} and set(convs["p"]) == {"1"}
    assert set(table[table["type"] == "Linear"]["k"]) == {"–"}


def test_flops_are_twice_the_macs_in_both_views():
    at = app()
    assert "FLOPs" not in layer_table(at).columns
    at.toggle(key="explore_flops").set_value(True).run()
    no_exception(at)
    table = layer_table(at)
    assert list(table["FLOPs"]) == [2 * m for m in table["MACs"]]
    assert table["FLOPs"].sum() == summarize(ArchSpec()).total_flops
    at.radio(key="explore_table_view").set_value("blocks").run()
    blocks = frame(at, "FLOPs").value
    assert list(blocks["FLOPs"]) == [2 * m for m in blocks["MACs"]]
    assert any("= 15.094 G FLOPs" in c.value for c in at.caption)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_layers_arithmetic_is_worded_with_its_own_numbers(lang):
    at = app({"lang": lang} if lang != "en" else None)
    at.selectbox(key="explore_explain").select("2.0").run()  # conv3_1: 128 -> 256 channels on 56x56
    no_exception(at)
    text = "\n".join(m.value for m in at.markdown)
    assert "⌊(56 + 2·1 − 3) / 1⌋ + 1 = **56**" in text
    assert "3·3·128·256 + 256 = **295,168**" in text
    assert "3·3·128·256·56·56 = **924,844,032**" in text and "1,849,688,064" in text
    row = next(r for r in summarize(ArchSpec()).layers if r.name == "2.0")
    assert (row.params, row.macs, row.receptive_field) == (295_168, 924_844_032, 18)
    assert ("18×18" in text) and (("感受野" in text) if lang == "zh" else ("Receptive field" in text))
    at.selectbox(key="explore_explain").select("6").run()  # fc1: 25088 -> 4096
    text = "\n".join(m.value for m in at.markdown)
    assert "25,088·4,096 + 4,096 = **102,764,544**" in text
    at.selectbox(key="explore_explain").select("0.2").run()  # pool1
    text = "\n".join(m.value for m in at.markdown)
    assert "⌊(224 + 2·0 − 2) / 2⌋ + 1 = **112**" in text


# --- a training step's memory --------------------------------------------------------------------


@pytest.mark.parametrize("query_", [None, {"arch": "1x16 1x32", "size": "28", "fc": "256"}])
def test_memory_per_layer_sums_to_the_train_pages_estimate(query_):
    at = app(query_)
    parts = frame(at, "part").value.set_index("part")["bytes"]
    spec = state.spec_from_query(query_ or {})
    est = estimate_training(TrainRequest(spec, TrainSettings(device="cpu")), device=torch.device("cpu"),
                            measure_speed=False)
    assert parts["weights"] == est.param_bytes and parts["gradients"] == est.grad_bytes
    assert parts["optimizer state"] == est.optimizer_bytes == 0  # d2l's plain SGD
    assert parts["bf16 weight copies"] == est.amp_weight_bytes == 0  # float32, as on the CPU
    assert parts["saved for backward"] == est.activation_bytes
    assert parts["backward working memory (no layer's)"] == est.workspace_bytes
    assert parts["dataset on the device (no layer's)"] == est.dataset_bytes
    assert parts["total: the Train page's memory needed"] == est.total_bytes
    assert sum(parts.iloc[:-1]) == est.total_bytes
    per_layer = frame(at, "kept in the step").value
    assert "conv1_1" in set(per_layer["layer"])
    # bf16 autocast as on CUDA: bf16 copies appear, saved tensors shrink, the sums still close.
    at.toggle(key="explore_memory_amp").set_value(True).run()
    no_exception(at)
    amp = frame(at, "part").value.set_index("part")["bytes"]
    assert amp["bf16 weight copies"] == est.param_bytes // 2
    assert amp["saved for backward"] < est.activation_bytes
    assert sum(amp.iloc[:-1]) == amp.iloc[-1]


# --- the diagram ---------------------------------------------------------------------------------


def test_the_diagram_follows_every_edit_and_hovers_in_the_pages_language():
    at = app()
    [svg] = diagrams(at)
    boxes = len(re.findall(r"<g class=", svg))
    expected = layout(summarize(ArchSpec()))
    assert boxes == len(expected.items) == 14  # input, 5 conv boxes (×1 or ×2), 5 pools, 3 FC bars
    assert svg.count("<title>") == boxes and "parameters: 102,764,544" in svg
    at.text_input(key="explore_conv_arch").input("1x64 1x128 2x256 2x512 2x512 2x512").run()
    at.number_input(key="explore_input_size").set_value(256).run()
    [svg] = diagrams(at)
    assert len(re.findall(r"<g class=", svg)) == boxes + 2  # a block more: one conv box, one pool
    at.sidebar.radio(key="lang").set_value("zh").run()
    [svg] = diagrams(at)
    assert "参数量: 102,764,544" not in svg and "参数量:" in svg and "激活内存" in svg
    at.toggle(key="explore_diagram_log").set_value(True).run()
    no_exception(at)
    assert diagrams(at)[0] != svg  # log sizes draw other boxes


def test_the_extreme_spec_still_draws_within_the_pages_time():
    arch = " ".join(["1x16384"] * 12)
    start = time.perf_counter()
    at = app({"arch": arch, "size": "4096"})
    took = time.perf_counter() - start
    assert not at.warning, [w.value for w in at.warning]  # a valid spec, drawn
    [svg] = diagrams(at)
    assert len(re.findall(r"<g class=", svg)) == 1 + 12 * 2 + 3
    assert took < 60, took  # the page's normal time on a loaded 2-core machine is 5-15 s


# --- presets that make a point, and the exercises ------------------------------------------------


def test_the_pair_presets_set_their_input_and_show_the_same_receptive_field():
    at = app()
    at.selectbox(key="explore_preset").select("pair_5x5").run()
    no_exception(at)
    assert at.number_input(key="explore_input_size").value == 28
    assert at.number_input(key="explore_fc_width").value == 256
    assert metrics(at)["Parameters"] == f"{summarize(PRESETS['pair_5x5']).total_params:,}"
    note = next(m.value for m in at.markdown if "Simonyan" in m.value)
    assert "input to 28×28 and the FC width to 256" in note
    pair = at.table[0].value
    assert list(pair.loc["receptive field after each pool"]) == ["4 · 14 · 34", "4 · 14 · 34"]
    p3, p5 = summarize(PRESETS["pair_3x3"]), summarize(PRESETS["pair_5x5"])
    assert list(pair.loc["parameters in the convolutions"]) == [f"{p3.conv_params:,}", f"{p5.conv_params:,}"]
    assert p3.conv_params < p5.conv_params


def test_exercise_1_shows_the_block_view_and_counts_the_rows():
    at = app({"ratio": "4"})
    at.button(key="exercise_1").click().run()
    no_exception(at)
    assert at.radio(key="explore_table_view").value == "blocks"
    answer = next(m.value for m in at.markdown if "Exercise 1" in m.value)
    assert "5 block lines + 3 Linear lines = **8**" in answer and "8 convolutions + 3 Linear layers = **11**" in answer
    assert "blocks 3, 4, 5" in answer
    at.button(key="exercise_close").click().run()
    assert not any("Exercise 1" in m.value for m in at.markdown)


def test_exercise_2_opens_compare_with_vgg11_beside_alexnet():
    at = app({"lang": "zh"})
    at.button(key="exercise_2").click().run()
    no_exception(at)
    assert at.title[0].value == ZH["compare.title"]
    assert at.multiselect(key="compare_archs").value == ["vgg11", "alexnet"]
    totals = at.table[0].value
    assert list(totals.columns) == [ZH["preset.vgg11"], ZH["preset.alexnet"]]
    assert list(totals.loc[ZH["row.params"]]) == ["128,806,154", "46,764,746"]
    answer = next(m.value for m in at.markdown if ZH["exercise.a2"][:8] in m.value)
    assert "7.547 G" in answer and "938.1 M" in answer
    [both] = diagrams(at)
    assert both.count("<svg") == 2


def test_exercise_3_sets_the_input_to_96_and_shows_what_changed():
    at = app()
    at.button(key="exercise_3").click().run()
    no_exception(at)
    assert at.number_input(key="explore_input_size").value == 96
    small, big = summarize(ArchSpec(input_size=96)), summarize(ArchSpec())
    assert metrics(at)["Parameters"] == f"{small.total_params:,}"
    changed = next(t.value for t in at.table if "224×224" in t.value.columns)
    assert list(changed.loc["Flatten width"]) == ["25,088", "4,608"]
    assert list(changed.loc["block 5"]) == ["1×512×7×7", "1×512×3×3"]
    assert list(changed.loc["MACs"]) == [f"{big.total_macs:,}", f"{small.total_macs:,}"]
    assert any(f"keep their {big.conv_params:,} parameters" in c.value for c in at.caption)


def test_exercise_4_builds_vgg16_and_lists_the_configurations():
    at = app()
    at.button(key="exercise_4_vgg16").click().run()
    no_exception(at)
    assert at.selectbox(key="explore_preset").value == "vgg16"
    assert metrics(at)["Parameters"] == f"{summarize(PRESETS['vgg16']).total_params:,}"
    table = next(t.value for t in at.table if "VGG-19 (E)" in t.value.columns)
    assert list(table.loc["conv + FC layers"]) == ["8 + 3 = 11", "10 + 3 = 13", "13 + 3 = 16", "16 + 3 = 19"]


def test_the_model_code_is_drawn_only_when_asked_and_follows_the_architecture():
    """The code is highlighted in the browser even inside a closed expander, so a toggle asks for it."""
    at = app({"arch": "1x64k5 1x128"})
    assert not at.code  # not sent until asked
    at.toggle(key=explore_inputs.ExplorePage().key("show_code")).set_value(True).run()
    no_exception(at)
    spec = ArchSpec(conv_arch=((1, 64, 5), (1, 128)))
    assert [c.value for c in at.code] == [model_code(spec).strip()]
    assert "kernel_size" in at.code[0].value
