"""``python -m vgg_core summary``: the layer-by-layer table of an architecture."""

from __future__ import annotations

import argparse

from .. import report
from ..summary import summarize
from .arch_args import add_arch_arguments, spec_from_args

_RENDER = {"table": report.to_table, "json": report.to_json, "csv": report.to_csv}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("summary", help="layer-by-layer shapes, parameters, MACs and memory")
    add_arch_arguments(p)
    p.add_argument("--format", choices=sorted(_RENDER), default="table", help="output format (default table)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    text = _RENDER[args.format](summarize(spec_from_args(args)))
    print(text, end="" if text.endswith("\n") else "\n")
    return 0
