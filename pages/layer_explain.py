"""One layer's figures explained: the chapter's formulas with that layer's own numbers, in words.

Why a panel and not a tooltip per cell: a dataframe's ``help`` is per column, so the row's own
numbers (``⌊(56 + 2·1 − 3) / 1⌋ + 1 = 56``) go in a panel under the table, chosen by clicking a row
or from a list. The numbers come from the core's ``Arithmetic`` record of the row (its formulas
written out); the summary measured the same counts, and the page shows both side by side.
"""

from __future__ import annotations

from vgg_core.arithmetic import Arithmetic
from vgg_core.summary import LayerRow, Summary

from .i18n import t
from .views import exact, layer_names


def explained(summary: Summary) -> dict[str, tuple[str, LayerRow]]:
    """The rows that have formulas (Conv2d, MaxPool2d, Linear), by PyTorch name: (readable name, row)."""
    return {r.name: (name, r) for name, r in zip(layer_names(summary), summary.layers) if r.arithmetic is not None}


def lines(row: LayerRow) -> list[str]:
    """The row's formulas with its numbers, one Markdown line each, in the session's language."""
    a = row.arithmetic
    if a is None:
        return []
    found = [t("explain.shapes", c_in=a.in_channels, c_out=a.out_channels,
               n=a.in_size if a.in_size is not None else "–")] if a.kind != "linear" else []
    if a.kind in ("conv", "pool"):
        found.append(t("explain.out_size", n=a.in_size, k=a.kernel, s=a.stride, p=a.padding, out=a.out_size))
    found += _counts(a)
    if row.receptive_field is not None:
        found.append(t("explain.receptive_field", rf=row.receptive_field))
    return found


def _counts(a: Arithmetic) -> list[str]:
    macs = dict(macs=exact(a.macs), flops=exact(2 * a.macs))
    if a.kind == "conv":
        return [
            t("explain.conv_params", k=a.kernel, c_in=a.in_channels, c_out=a.out_channels, params=exact(a.params)),
            t("explain.conv_macs", k=a.kernel, c_in=a.in_channels, c_out=a.out_channels, h=a.out_size, **macs),
        ]
    if a.kind == "linear":
        return [
            t("explain.linear_params", c_in=exact(a.in_channels), c_out=exact(a.out_channels), params=exact(a.params)),
            t("explain.linear_macs", c_in=exact(a.in_channels), c_out=exact(a.out_channels), **macs),
        ]
    return [t("explain.pool_counts")]
