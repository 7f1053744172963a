"""The architecture diagram on a page: the core's SVG inline (so each box's tooltip works), its
legend, downloads, and several diagrams on one scale for Compare.

Why inline SVG, and through ``st.markdown``: a ``<title>`` inside an SVG shown as an ``<img>`` never
reaches the browser's tooltip, and ``st.html`` sanitises with DOMPurify's HTML-only profile, which
drops every SVG element. Markdown's raw HTML keeps the SVG; the whole picture is one HTML block (it
starts with a ``<div>`` and has no blank line), so Markdown never reads inside it. Every label in it
is escaped by the core. The SVG keeps its own size inside a box that scrolls sideways, so a wide
network is never shrunk to unreadable text or cut off at 1024 pixels.
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
    "<style>.vgg-diagram { overflow-x: auto; overflow-y: hidden; padding-bottom: 4px;"
    " scrollbar-width: auto; scrollbar-color: #A0AEC0 #EDF2F7;"
    # Scroll shadows: a soft shade at an edge where more of the picture lies (the white covers move
    # with the content and hide it at the ends), so a cut-off picture never looks complete.
    " background: linear-gradient(to right, #fff 30%, rgba(255,255,255,0)) left center / 40px 100% no-repeat local,"
    " linear-gradient(to left, #fff 30%, rgba(255,255,255,0)) right center / 40px 100% no-repeat local,"
    " radial-gradient(farthest-side at 0 50%, rgba(0,0,0,.28), rgba(0,0,0,0)) left center / 16px 100% no-repeat scroll,"
    " radial-gradient(farthest-side at 100% 50%, rgba(0,0,0,.28), rgba(0,0,0,0)) right center / 16px 100% no-repeat"
    " scroll; }"
    " .vgg-diagram svg > rect:first-of-type { fill-opacity: 0; }"
    " .vgg-diagram svg { display: block; max-width: none; }"
    " .vgg-diagram g[data-block]:hover polygon { stroke-width: 2.2; filter: brightness(1.08); }"
    " .vgg-legend { font-size: 0.85rem; margin: 0 0 0.3rem 0; }"
    " .vgg-legend span.swatch { display: inline-block; width: 0.9em; height: 0.9em; margin: 0 0.3em 0 0.9em;"
    " vertical-align: -0.1em; border: 1px solid #2D3748; }</style>"
)


def diagram_text() -> DiagramText:
    """The hover words in the session's language (the picture itself has none)."""
    return DiagramText(**{name: t(key) for name, key in _WORDS.items()})


WIDE_PX = 700  # wider than the page's main column at 1024 pixels: say that the picture scrolls


def legend(widest: int = 0) -> str:
    """One line of colour swatches (input, convolution, pooling, fully connected) and how to read it."""
    words = {"input": t("diagram.input"), "conv": t("diagram.conv"), "pool": t("diagram.pool"), "fc": t("diagram.fc")}
    items = "".join(f'<span class="swatch" style="background:{PALETTE[k]}"></span>{escape(w)}'
                    for k, w in words.items())
    scroll = f" · {escape(t('diagram.scroll', width=widest))}" if widest > WIDE_PX else ""
    return f'<div class="vgg-legend">{items} · {escape(t("diagram.hover"))}{scroll}</div>'


def inline(svg: str, diagram: Diagram) -> str:
    """The SVG inside a box that scrolls sideways when the network is wider than the page (no blank
    line in it, so Markdown keeps it one HTML block)."""
    body = "\n".join(line for line in svg.splitlines() if line.strip())
    return f'<div class="vgg-diagram" data-width="{diagram.width}">{body}</div>'


def _draw(body: str) -> None:
    st.html(CSS)  # style only: Streamlit puts it out of the page's flow
    st.markdown(body, unsafe_allow_html=True)


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
        _draw(legend(drawn.width) + inline(svg, drawn))
        with st.container(horizontal=True, gap="small"):
            st.download_button(t("diagram.svg"), svg, file_name=f"{file_stem}.svg", mime="image/svg+xml",
                               key=f"{key}_svg", on_click="ignore", icon=":material/download:")
            st.download_button(t("diagram.png"), lambda: to_png(drawn), file_name=f"{file_stem}.png",
                               mime="image/png", key=f"{key}_png", on_click="ignore", icon=":material/download:")


def stack(entries: Sequence[tuple[str, Summary]], key: str, log: bool) -> None:
    """Several diagrams one above the other on one scale, so a taller box is a larger map in both."""
    with st.container(key=key):
        try:
            scale = common_scale([s for _, s in entries], log)
            drawn = [(label, layout(s, scale)) for label, s in entries]
            parts = [legend(max(d.width for _, d in drawn))]
            for label, d in drawn:
                svg = to_svg(d, diagram_text())
                parts.append(f'<div class="vgg-diagram-title"><b>{escape(label)}</b></div>{inline(svg, d)}')
        except DiagramError as e:
            st.warning(t("diagram.error", reason=md_escape(str(e))))
            return
        _draw("".join(parts))
