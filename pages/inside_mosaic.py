"""Many small maps as one image: tiles in a grid with blank (NaN) gaps, for one plotly heatmap.

Why one heatmap and not a subplot per map: 16 subplots per block, seven grids on the page, made the
browser lay out over a hundred pairs of axes on every new image (1.8 s to redraw a cached view on
this machine) and the server check every one of them. One trace per grid draws in a fraction of that.
Each tile may be scaled to [0, 1] on its own (``normalize``), so a weak channel's pattern is as
visible as a strong one's; the tile's real largest value goes in its label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Mosaic:
    z: np.ndarray  # float32 [rows * h + gaps, cols * w + gaps], NaN between tiles
    tile_px: float  # screen pixels per cell at the width it was laid out for
    origins: tuple[tuple[int, int], ...]  # each tile's top-left cell (row, column)
    tile: tuple[int, int]  # a tile's (h, w) in cells
    height_px: int  # the grid's height on screen, labels included


def layout(maps: np.ndarray, cols: int, width_px: int, *, label_px: int = 0, gap_px: int = 4,
           normalize: bool = False) -> Mosaic:
    """``maps`` [n, h, w] as one array ``width_px`` wide on screen, ``cols`` tiles to a row, with
    ``label_px`` of blank space above each row of tiles for a label."""
    n, h, w = maps.shape
    cols = max(1, min(cols, n))
    rows = max(1, math.ceil(n / cols))
    gap = max(1, round(gap_px * cols * w / width_px))  # cells, so that a gap is about gap_px wide
    cell_px = width_px / (cols * w + (cols - 1) * gap)
    label = math.ceil(label_px / cell_px) if label_px else 0
    z = np.full((rows * (h + label) + (rows - 1) * gap, cols * w + (cols - 1) * gap), np.nan, np.float32)
    origins = []
    for i, m in enumerate(maps.astype(np.float32)):
        r, c = divmod(i, cols)
        y, x = r * (h + label + gap) + label, c * (w + gap)
        z[y:y + h, x:x + w] = scaled(m) if normalize else m
        origins.append((y, x))
    return Mosaic(z, cell_px, tuple(origins), (h, w), math.ceil(z.shape[0] * cell_px))


def scaled(m: np.ndarray) -> np.ndarray:
    """One map to [0, 1], zero kept at 0 (a dead channel stays dark instead of turning mid-scale)."""
    low = min(0.0, float(m.min()))
    high = max(float(m.max()), low + 1e-12)
    return (m - low) / (high - low)
