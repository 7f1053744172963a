"""The Explore page's state: its inputs, bound to one typed object, and what an edit does.

Every input's change builds a candidate spec from all inputs at once; it becomes the current spec
(``state.set_spec``) or the core's problems are kept for the input just edited, the last valid spec
staying in place. When the spec is set elsewhere (reset, the Train page's d2l button) or the page
was left, the inputs reseed from the current spec.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import streamlit as st

from vgg_core.problems import Problem, problem
from vgg_core.spec import DEFAULT_KERNEL, NAMED, ArchSpec, SpecError, arch_text, format_conv_arch, parse_conv_arch
from vgg_core.stages import unpack_block

from . import state
from .session import PageState

PRESET_CHOICES = (*NAMED, state.CUSTOM)  # the VGG presets, then AlexNet (fixed blocks), then custom
NUMBER_INPUTS = ("ratio", "input_size", "in_channels", "num_classes", "fc_width")
INPUTS = ("preset", "conv_arch", *NUMBER_INPUTS, "batch_norm")
# Presets that make their point at their own input and classifier: choosing one sets those too.
WITH_INPUT = ("pair_3x3", "pair_5x5")
_BOOK = ArchSpec()  # the inputs start from the core's own default, d2l's VGG-11


@dataclass
class ExplorePage(PageState):
    PAGE = "explore"
    LABELLED = ("preset", "table_view")
    preset: str = "vgg11"
    conv_arch: str = format_conv_arch(_BOOK.conv_arch)
    # Numbers as floats in the widgets, so 2.5 reaches the core's check instead of being cut to 2.
    ratio: Any = float(_BOOK.ratio)
    input_size: Any = float(_BOOK.input_size)
    in_channels: Any = float(_BOOK.in_channels)
    num_classes: Any = float(_BOOK.num_classes)
    fc_width: Any = float(_BOOK.fc_width)
    batch_norm: bool = _BOOK.batch_norm
    errors: dict[str, list[Problem]] = field(default_factory=dict)  # input -> what the last edit got wrong there
    editor_version: int = 0  # the block table's key changes with it, so it redraws from the spec
    seen_version: int = -1  # the app state's version the inputs were last seeded from
    table_view: str = "layers"
    charts_log: bool = False
    diagram_log: bool = False  # the diagram's sizes: linear (False) or log
    flops: bool = False  # the layer table shows FLOPs beside MACs
    memory_amp: bool = False  # training memory per layer as a CUDA bf16-autocast run keeps it (else float32)
    explain: str = ""  # the layer whose arithmetic is worded under the table (its PyTorch name)
    exercise: str = ""  # the d2l 7.2 exercise whose answer is shown ("" for none)
    show_code: bool = False  # the model as d2l-style code: highlighted only when asked for (it is slow to draw)

    def seed(self, spec: ArchSpec) -> None:
        """The inputs show ``spec``; errors about earlier text are stale then."""
        for name, value in input_values(spec).items():
            self.set(name, value)
        self.errors = {}
        self.editor_version += 1

    def errors_for(self, name: str) -> list[Problem]:
        return list(self.errors.get(name, ()))

    def editor_key(self) -> str:
        return self.key(f"blocks_{self.editor_version}")


def page() -> ExplorePage:
    """This session's Explore state, its inputs seeded from the current spec when they need to be."""
    s = ExplorePage.get()
    app = state.app()
    if s.seen_version != app.version or s.key("conv_arch") not in st.session_state:
        s.seed(app.spec)  # set elsewhere, or the page was left (Streamlit dropped the widgets)
        s.seen_version = app.version
    return s


def fixed(spec: ArchSpec) -> bool:
    """A network whose blocks cannot be edited (AlexNet): the block inputs are disabled."""
    return spec.family_info.stages is not None


def input_values(spec: ArchSpec) -> dict[str, Any]:
    return {
        "preset": state.preset_of(spec),
        "conv_arch": arch_text(spec) if fixed(spec) else format_conv_arch(spec.conv_arch),
        **{key: float(getattr(spec, key)) for key in NUMBER_INPUTS},
        "batch_norm": spec.batch_norm,
    }


def on_input(name: str) -> None:
    """After any input changed: all inputs together make the candidate spec.

    Each problem is shown under the input it is about, whichever input was edited: a bad
    conv_arch text stays under conv_arch while the input size is changed, and a too small
    input size is named under its own field.
    """
    s = ExplorePage.get()
    found: dict[str, list[Problem]] = {}
    current = state.current_spec()
    family = NAMED[s.preset].family if s.preset in NAMED else "vgg"
    numbers = {k: _whole(getattr(s, k)) for k in NUMBER_INPUTS}
    if family != "vgg":  # AlexNet: no blocks or ratio to give; an edit of them is refused by name
        arch, numbers["ratio"] = (), 1
        if name in ("conv_arch", "blocks"):
            found[name] = [problem("family_fixed", network=NAMED[s.preset].family_info.title, name="conv_arch")]
    else:
        try:
            arch = parse_conv_arch(s.conv_arch)
        except SpecError as err:
            arch = current.conv_arch if not fixed(current) else ()  # the other inputs are still checked
            found.setdefault("blocks" if name == "blocks" else "conv_arch", []).extend(err.problems)
    for p in state.ratio_problems(numbers["ratio"]):
        found.setdefault("ratio", []).append(p)
    try:
        spec = current.replace(family=family, conv_arch=arch, batch_norm=bool(s.batch_norm), **numbers)
    except SpecError as err:
        for p in err.problems:
            found.setdefault(_input_of(p, name), []).append(p)
    if found:
        s.errors = found
        return
    _accept(s, spec)


def _accept(s: ExplorePage, spec: ArchSpec) -> None:
    """Make ``spec`` current; show it in d2l's spelling, name its preset, redraw the block table."""
    state.set_spec(spec)
    s.set("conv_arch", input_values(spec)["conv_arch"])
    s.set("preset", state.preset_of(spec))
    s.errors = {}
    s.editor_version += 1


def _input_of(p: Problem, edited: str) -> str:
    """The input a problem is about: its field, the blocks, or (when unclear) the one just edited."""
    field_name = p.args.get("name")
    if field_name in NUMBER_INPUTS and "block" not in p.args:
        return field_name
    if p.code.startswith("input_too_small"):
        return "input_size"
    if p.code == "ratio_zero_channels":
        return "ratio"
    if "block" in p.args or p.code.startswith(("conv_arch", "block", "no_blocks", "too_many_blocks")):
        return "blocks" if edited == "blocks" else "conv_arch"
    return edited


def on_preset() -> None:
    """A preset sets the blocks and ratio (AlexNet: its fixed layers); input size, channels, classes and
    FC width stay, except for the presets in ``WITH_INPUT``, which set their own (the page says so)."""
    s = ExplorePage.get()
    if s.preset == state.CUSTOM:
        if fixed(state.current_spec()):
            s.set("preset", state.preset_of(state.current_spec()))  # AlexNet has no blocks to customise
        return
    p = NAMED[s.preset]
    s.set("conv_arch", arch_text(p) if fixed(p) else format_conv_arch(p.conv_arch))
    s.set("ratio", float(p.ratio))
    if s.preset in WITH_INPUT:
        s.set("input_size", float(p.input_size))
        s.set("fc_width", float(p.fc_width))
    on_input("preset")


def on_blocks(key: str) -> None:
    """The block table's edit: its rows become the conv_arch text, then the usual check."""
    s = ExplorePage.get()
    rows = blocks_after_edit(list(state.current_spec().conv_arch), st.session_state.get(key) or {})
    s.set("conv_arch", format_conv_arch(rows))
    on_input("blocks")


def blocks_after_edit(base: list[tuple[int, ...]], delta: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """Apply ``st.data_editor``'s edit record (edited/added/deleted rows) to the blocks it was shown.

    A row is ``(num_convs, out_channels)``, or a triple where its kernel is not 3; whatever a cell
    holds goes on to the core's check (an even kernel, 0, 13 or 2.5 are refused there, by block).
    """
    edited = {int(i): row for i, row in (delta.get("edited_rows") or {}).items()}
    deleted = {int(i) for i in delta.get("deleted_rows") or ()}
    rows = []
    for i, block in enumerate(base):
        if i in deleted:
            continue
        n, c, k = unpack_block(block)
        rows.append(_block({"num_convs": n, "out_channels": c, "kernel": k, **edited.get(i, {})}))
    for row in delta.get("added_rows") or ():
        rows.append(_block(row))
    return rows


def on_layer_row(key: str, names: list[str]) -> None:
    """A row clicked in the layer table: its arithmetic is the one worded under the table (``names``:
    each row's PyTorch name, "" for a row without formulas, such as a ReLU)."""
    selection = (st.session_state.get(key) or {}).get("selection") or {}
    rows = selection.get("rows") or []
    if rows and 0 <= rows[0] < len(names) and names[rows[0]]:
        ExplorePage.get().set("explain", names[rows[0]])


def _block(row: Mapping[str, Any]) -> tuple[Any, ...]:
    n, c, k = (_whole(row.get(name, DEFAULT_KERNEL if name == "kernel" else None))
               for name in ("num_convs", "out_channels", "kernel"))
    return (n, c) if k == DEFAULT_KERNEL else (n, c, k)


def _whole(value: Any) -> Any:
    # The grid sends JSON numbers; 2.0 means 2. Anything else goes on to the spec's own check.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
