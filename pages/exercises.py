"""d2l 7.2's four exercises, each a button that sets the app up to answer it, and the answers.

Why buttons and not just text: a class asks "what if", and the answer is the app itself in the right
state (the block view, VGG-11 beside AlexNet on Compare, a 96-pixel input, VGG-16). Each button
sets the architecture and the page state through their owners (``state.adopt``, the pages' own
``PageState``), then an answer box says what to look at, with the numbers of the architecture shown.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from vgg_core.report import human, human_bytes, human_macs, shape_text
from vgg_core.spec import ArchSpec, SpecError
from vgg_core.summary import Summary

from . import state
from .compare_state import ComparePage
from .explore_inputs import ExplorePage
from .i18n import t
from .views import PRESET_KEYS, exact, summary_of

COMPARE_PAGE = "pages/compare.py"
EX2_ARCHS = ["vgg11", "alexnet"]
EX3_SIZE, BOOK_SIZE = 96, 224
EX4_NAMES = ("vgg11", "vgg13", "vgg16", "vgg19")


def _adopt_named(name: str, **changes: object) -> None:
    """The named network on the current input (its own defaults if the current input does not fit it)."""
    try:
        spec = state.named_on(state.current_spec(), name).replace(**changes)
    except SpecError:
        spec = state.named_on(ArchSpec(), name).replace(**changes)
    state.adopt(spec)


def _ex1() -> None:
    s = ExplorePage.get()
    if state.preset_of(state.current_spec()) not in ("vgg11", "d2l"):
        _adopt_named("vgg11")
    s.set("table_view", "blocks")
    s.exercise = "ex1"


def _ex2() -> None:
    """VGG-11 beside AlexNet on Compare, at d2l's 224 pixels if the current input is too small for AlexNet."""
    current = state.current_spec()
    try:
        state.named_on(current, "alexnet")
    except SpecError:
        state.adopt(current.replace(input_size=BOOK_SIZE))
    compare = ComparePage.get()
    compare.set("archs", list(EX2_ARCHS))
    compare.exercise = True


def _ex3() -> None:
    try:
        spec = state.current_spec().replace(input_size=EX3_SIZE)
    except SpecError:
        spec = state.named_on(ArchSpec(), "vgg11").replace(input_size=EX3_SIZE)
    state.adopt(spec)
    ExplorePage.get().exercise = "ex3"


def _ex4(name: str) -> None:
    _adopt_named(name)
    ExplorePage.get().exercise = "ex4"


def panel(s: ExplorePage) -> None:
    """The four questions in a compact expander, a button each, then the answer of the one asked."""
    with st.expander(t("exercise.title"), expanded=bool(s.exercise), icon=":material/school:"):
        a, b = st.columns(2)
        a.markdown(t("exercise.q1"))
        a.button(t("exercise.b1"), key="exercise_1", on_click=_ex1)
        b.markdown(t("exercise.q2"))
        if b.button(t("exercise.b2"), key="exercise_2"):
            _ex2()
            st.switch_page(COMPARE_PAGE)
        a, b = st.columns(2)
        a.markdown(t("exercise.q3"))
        a.button(t("exercise.b3"), key="exercise_3", on_click=_ex3)
        b.markdown(t("exercise.q4"))
        left, right = b.columns(2)
        left.button(t("preset.vgg16"), key="exercise_4_vgg16", on_click=_ex4, args=("vgg16",))
        right.button(t("preset.vgg19"), key="exercise_4_vgg19", on_click=_ex4, args=("vgg19",))
    answers = {"ex1": _answer1, "ex3": _answer3, "ex4": _answer4}
    if s.exercise in answers:
        with st.container(key="exercise_answer", border=True):
            answers[s.exercise](summary_of(state.current_spec()))
            st.button(t("exercise.close"), key="exercise_close", on_click=_close, icon=":material/close:")


def _close() -> None:
    ExplorePage.get().exercise = ""


def _answer1(summary: Summary) -> None:
    spec = summary.spec
    convs = [len(stage.convs) for stage in spec.stages]
    linears = sum(r.type == "Linear" for r in summary.layers)
    doubled = [str(i) for i, n in enumerate(convs, start=1) if n > 1]
    st.markdown(t("exercise.a1", blocks=len(convs), linears=linears, printed=len(convs) + linears,
                  convs=sum(convs), layers=sum(convs) + linears, hidden=sum(convs) - len(convs),
                  which=t("exercise.list_separator").join(doubled) or "–"))


def _answer3(summary: Summary) -> None:
    """The current network at its input against the same network at d2l's 224: what changed."""
    spec = summary.spec
    other_size = BOOK_SIZE if spec.input_size != BOOK_SIZE else EX3_SIZE
    try:
        other = summary_of(spec.replace(input_size=other_size))
    except SpecError:
        st.markdown(t("exercise.a3_none", size=other_size))
        return
    pair = sorted(((spec.input_size, summary), (other_size, other)), key=lambda p: -p[0])
    rows = {**{t("block.n", n=i): [shape_text(s.blocks[i - 1].output_shape) for _, s in pair]
               for i in range(1, len(spec.stages) + 1)},
            t("totals.flatten"): [exact(s.flatten_size) for _, s in pair],
            t("totals.params"): [exact(s.total_params) for _, s in pair],
            t("totals.macs"): [exact(s.total_macs) for _, s in pair]}
    big, small = pair[0][1], pair[1][1]
    conv_same = big.conv_params == small.conv_params
    st.markdown(t("exercise.a3", big=pair[0][0], small=pair[1][0], flatten_big=exact(big.flatten_size),
                  flatten_small=exact(small.flatten_size),
                  fc_big=human(big.fc_params), fc_small=human(small.fc_params),
                  macs_big=human_macs(big.total_macs), macs_small=human_macs(small.total_macs),
                  area=f"{(pair[1][0] / pair[0][0]) ** 2:.2f}"))
    if conv_same:
        st.caption(t("exercise.a3_conv_same", conv=exact(big.conv_params)))
    st.table(pd.DataFrame(rows, index=[f"{size}×{size}" for size, _ in pair]).T)


def _answer4(summary: Summary) -> None:
    """VGG-11 to VGG-19 on the current input: the name is the count of layers with weights."""
    spec = summary.spec
    rows = {}
    for name in EX4_NAMES:
        try:
            s = summary_of(state.named_on(spec, name))
        except SpecError:
            continue
        convs = sum(len(stage.convs) for stage in s.spec.stages)
        linears = sum(r.type == "Linear" for r in s.layers)
        rows[t(PRESET_KEYS[name])] = [f"{convs} + {linears} = {convs + linears}", exact(s.total_params),
                                      human_macs(s.total_macs)]
    st.markdown(t("exercise.a4", size=spec.input_size))
    st.table(pd.DataFrame(rows, index=[t("exercise.a4_layers"), t("totals.params"), t("totals.macs")]))


def compare_answer(entries: list[tuple[str, Summary]]) -> None:
    """Exercise 2 on Compare: why VGG-11 is slower than AlexNet and needs more memory."""
    by_family = {s.spec.family: (label, s) for label, s in entries}
    vgg = next(((label, s) for label, s in entries if state.preset_of(s.spec) == "vgg11"), None)
    if vgg is None or "alexnet" not in by_family:
        return
    (v_label, v), (a_label, a) = vgg, by_family["alexnet"]
    first = next(r for r in v.layers if r.type == "Conv2d")
    first_alex = next(r for r in a.layers if r.type == "Conv2d")
    with st.container(key="exercise_answer", border=True):
        st.markdown(t("exercise.a2", vgg=v_label, alex=a_label, macs_vgg=human_macs(v.total_macs),
                      macs_alex=human_macs(a.total_macs), macs_x=f"{v.total_macs / max(a.total_macs, 1):.1f}",
                      act_vgg=human_bytes(v.activation_bytes), act_alex=human_bytes(a.activation_bytes),
                      act_x=f"{v.activation_bytes / max(a.activation_bytes, 1):.1f}",
                      shape_vgg=shape_text(first.output_shape[1:]), shape_alex=shape_text(first_alex.output_shape[1:]),
                      params_vgg=human(v.total_params), params_alex=human(a.total_params)))
