"""The architecture diagram on a page: the core's SVG inline (so each box's tooltip works), its
legend, downloads, and several diagrams on one scale for Compare.

Why inline SVG through ``st.html`` rather than an image: a ``<title>`` inside an SVG shown as an
``<img>`` never reaches the browser's tooltip; inline, every box hovers with its parameters, MACs
and activation memory in the page's language. The SVG keeps its own size inside a box that scrolls
sideways, so a wide network is never shrunk to unreadable text or cut off at 1024 pixels.
"""

from __future__ import annotations

from html import escape
from typing import Sequence

import streamlit as st

from vgg_core.diagram import PALETTE, Diagram, DiagramError, DiagramText, common_scale, layout, to_png, to_svg
from vgg_core.summary import Summary

from .i18n import t
from .views import md_escape

# DiagramText field -> text key, written out in full.
_WORDS = {
    "input": "diagram.input", "conv": "diagram.conv", "pool": "diagram.pool", "fc": "diagram.fc",
    "block": "diagram.block", "classifier": "diagram.classifier", "output": "diagram.output",
    "kernel": "diagram.kernel", "parameters": "diagram.parameters", "macs": "diagram.macs",
    "activation_memory": "diagram.activation_memory",
}
# Each box grows a little under the pointer, so it is plain which one the tooltip is about.
CSS = (
    "<style>.vgg-diagram { overflow-x: auto; overflow-y: hidden; padding-bottom: 4px; }"
    " .vgg-diagram svg { display: block; max-width: none; }"
    " .vgg-diagram g[data-block]:hover polygon { stroke-width: 2.2; filter: brightness(1.08); }"
    " .vgg-legend { font-size: 0.85rem; margin: 0 0 0.3rem 0; }"
    " .vgg-legend span.swatch { display: inline-block; width: 0.9em; height: 0.9em; margin: 0 0.3em 0 0.9em;"
    " vertical-align: -0.1em; border: 1px solid #2D3748; }</style>"
)


def diagram_text() -> DiagramText:
    """The hover words in the session's language (the picture itself has none)."""
    return DiagramText(**{name: t(key) for name, key in _WORDS.items()})


def legend() -> str:
    """One line of colour swatches: input, convolution, pooling, fully connected."""
    words = {"input": t("diagram.input"), "conv": t("diagram.conv"), "pool": t("diagram.pool"), "fc": t("diagram.fc")}
    items = "".join(f'<span class="swatch" style="background:{PALETTE[k]}"></span>{escape(w)}' for k, w in words.items())
    return f'<div class="vgg-legend">{items} · {escape(t("diagram.hover"))}</div>'


def inline(svg: str, diagram: Diagram) -> str:
    """The SVG inside a box that scrolls sideways when the network is wider than the page."""
    return f'<div class="vgg-diagram" data-width="{diagram.width}">{svg}</div>'


def show(summary: Summary, key: str, file_stem: str, log: bool) -> None:
    """One diagram in a container keyed ``key``, with its legend and SVG/PNG downloads; what cannot be
    drawn is one line saying why, never an exception."""
    with st.container(key=key):
        try:
            drawn = layout(summary, log=log)
            svg = to_svg(drawn, diagram_text())  # the download is the same picture, hover words included
        except DiagramError as e:
            st.warning(t("diagram.error", reason=md_escape(str(e))))
            return
        st.html(CSS + legend() + inline(svg, drawn))
        a, b, _ = st.columns([1, 1, 2])
        a.download_button(t("diagram.svg"), svg, file_name=f"{file_stem}.svg", mime="image/svg+xml",
                          key=f"{key}_svg", on_click="ignore", icon=":material/download:")
        b.download_button(t("diagram.png"), lambda: to_png(drawn), file_name=f"{file_stem}.png", mime="image/png",
                          key=f"{key}_png", on_click="ignore", icon=":material/download:")


def stack(entries: Sequence[tuple[str, Summary]], key: str, log: bool) -> None:
    """Several diagrams one above the other on one scale, so a taller box is a larger map in both."""
    with st.container(key=key):
        try:
            scale = common_scale([s for _, s in entries], log)
            drawn = [(label, layout(s, scale)) for label, s in entries]
            parts = [CSS, legend()]
            for label, d in drawn:
                svg = to_svg(d, diagram_text())
                parts.append(f'<div class="vgg-diagram-title"><b>{escape(label)}</b></div>{inline(svg, d)}')
        except DiagramError as e:
            st.warning(t("diagram.error", reason=md_escape(str(e))))
            return
        st.html("".join(parts))
