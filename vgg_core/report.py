"""Summaries as text, JSON, CSV and pandas: the same numbers for the terminal and the app."""

from __future__ import annotations

import json

import pandas as pd

from .spec import arch_text
from .summary import Summary

_UNITS = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K"))


def human(n: float, digits: int = 1) -> str:
    """128806154 -> '128.8 M' (SI units, as papers quote parameters and MACs)."""
    for scale, unit in _UNITS:
        if abs(n) >= scale:
            return f"{n / scale:.{digits}f} {unit}"
    return f"{n:g}"


def human_macs(n: float) -> str:
    """MACs to three digits from G up (7.547 G), where the book's figures differ in the third."""
    return human(n, 3 if n >= 1e9 else 1)


def human_bytes(n: float) -> str:
    """Binary units, as memory is allocated: 515.2 MiB."""
    for scale, unit in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


def shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(s) for s in shape)


def layers_frame(summary: Summary) -> pd.DataFrame:
    """One row per layer; the integer columns stay integers so they sort and sum exactly."""
    return pd.DataFrame(
        {
            "block": [r.block for r in summary.layers],
            "layer": [r.name for r in summary.layers],
            "type": [r.type for r in summary.layers],
            "output_shape": [shape_text(r.output_shape) for r in summary.layers],
            "params": [r.params for r in summary.layers],
            "macs": [r.macs for r in summary.layers],
            "activation_bytes": [r.activation_bytes for r in summary.layers],
            # Nullable integers: a window and a receptive field only where the layer has them.
            **{key: pd.array([getattr(r, key) for r in summary.layers], dtype="Int64")
               for key in ("kernel_size", "stride", "padding", "receptive_field")},
            "flops": [r.flops for r in summary.layers],
        }
    )


def blocks_frame(summary: Summary) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "block": [b.block for b in summary.blocks],
            "output_shape": [shape_text(b.output_shape) for b in summary.blocks],
            "params": [b.params for b in summary.blocks],
            "macs": [b.macs for b in summary.blocks],
            "activation_bytes": [b.activation_bytes for b in summary.blocks],
            "flops": [b.flops for b in summary.blocks],
        }
    )


def to_json(summary: Summary) -> str:
    return json.dumps(summary.to_dict(), indent=2)


def to_csv(summary: Summary, bom: bool = False) -> str:
    """``bom=True`` for a download: Excel needs the UTF-8 mark to read the "×" in shapes; stdout does not."""
    return ("\ufeff" if bom else "") + layers_frame(summary).to_csv(index=False)


def to_table(summary: Summary) -> str:
    """A torchinfo-like printout: one line per layer, block subtotals, then totals.

    ``k/s/p`` is a window's kernel, stride and padding; ``RF`` the receptive field (see
    ``vgg_core.arithmetic``); both are blank where a layer has none.
    """
    s = summary
    head = f"{'Layer (type)':<24}{'Output Shape':>22}{'k/s/p':>10}{'RF':>6}{'Param #':>15}{'MACs':>17}{'Act. mem':>12}"
    rule = "=" * len(head)
    lines = [_title(s), rule, head, rule]
    for block in s.blocks:
        for r in (r for r in s.layers if r.block == block.block):
            window = f"{r.kernel_size}/{r.stride}/{r.padding}" if r.kernel_size is not None else ""
            field = "" if r.receptive_field is None else r.receptive_field
            lines.append(
                f"{(r.name + ' ' + r.type):<24}{str(list(r.output_shape)):>22}{window:>10}{field:>6}{r.params:>15,}"
                f"{r.macs:>17,}{human_bytes(r.activation_bytes):>12}"
            )
        lines.append(
            f"{'  ' + block.block + ' total':<24}{str(list(block.output_shape)):>22}{'':>16}{block.params:>15,}"
            f"{block.macs:>17,}{'':>12}"
        )
        lines.append("-" * len(head))
    pct = 100 * s.fc_params / s.total_params
    lines += [
        f"Flatten width:             {s.flatten_size:,}",
        f"Total params:              {s.total_params:,} ({human(s.total_params)})",
        f"Trainable params:          {s.trainable_params:,}",
        f"Conv / FC params:          {s.conv_params:,} / {s.fc_params:,} ({pct:.1f}% in FC)",
        f"Total MACs:                {s.total_macs:,} ({human(s.total_macs, 3)}MACs)",
        f"Total FLOPs:               {s.total_flops:,} ({human(s.total_flops, 3)}FLOPs = 2 x MACs)",
        f"Conv / FC MACs:            {s.conv_macs:,} / {s.fc_macs:,} "
        f"({100 * s.conv_macs / max(s.total_macs, 1):.1f}% in conv)",
        f"Params size:               {human_bytes(s.param_bytes)} (float32)",
        f"Activations per example:   {human_bytes(s.activation_bytes)} (forward outputs, float32)",
        rule,
    ]
    return "\n".join(lines)


def _title(s: Summary) -> str:
    spec = s.spec
    if spec.family_info.stages is not None:  # a fixed network: its name says what its blocks are
        return f"{arch_text(spec)} summary: input {shape_text(s.input_shape)}"
    return f"VGG summary: input {shape_text(s.input_shape)}, conv_arch {list(spec.blocks)}"
