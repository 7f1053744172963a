"""The training-setting flags, made from ``vgg_core.request.SETTINGS``: one table, every command.

A flag's default is None, so a command knows which settings were given and can lay them over a
base (d2l's defaults, or a request read from a file).
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Iterable

from ..request import SETTINGS, TrainSettings

_DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainSettings)}
_TYPES = {"int": int, "float": float}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_settings_arguments(group: argparse._ArgumentGroup, names: Iterable[str]) -> None:
    for name in names:
        s, default = SETTINGS[name], _DEFAULTS[name]
        shown = f" (default {default})" if default is not None and s.kind != "bool" else ""
        if s.kind == "bool":  # on by default: the flag turns it off
            group.add_argument(f"--no-{name.replace('_', '-')}", dest=name, action="store_false", default=None,
                               help=f"turn off: {s.help}")
        elif name == "compile":
            group.add_argument(flag(name), nargs="?", const="default", choices=s.choices, metavar="MODE", default=None,
                               help=f"{s.help}, optionally naming a mode: {', '.join(s.choices)}")
        elif s.kind == "choice":
            group.add_argument(flag(name), choices=s.choices, default=None, help=s.help + shown)
        else:
            group.add_argument(flag(name), type=_TYPES.get(s.kind, str), default=None, help=s.help + shown,
                               metavar=name.upper())


def settings_from_args(args: argparse.Namespace, base: TrainSettings | None = None) -> TrainSettings:
    """``base`` with every setting flag that was given laid over it (unchecked: the request checks)."""
    given = {name: getattr(args, name) for name in SETTINGS if getattr(args, name, None) is not None}
    return (base or TrainSettings()).replace(**given)
