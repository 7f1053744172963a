"""``python -m vgg_core``: one entry point, a module per subcommand.

Each subcommand module offers ``add_parser(subparsers)`` and ``run(args) -> int``. Bad input
ends with exit status 2 and one line on stderr; no traceback reaches a user.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from ..spec import SpecError

# Subcommand name -> module under vgg_core.cli.
COMMANDS = ("summary", "estimate", "train", "gpu")


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (what is wrong, where to look) and status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see --help)")


class UsageError(Exception):
    pass


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="python -m vgg_core", description="VGG Explorer's core: summaries, training, GPU stats.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return int(args.run(args) or 0)
    except (UsageError, SpecError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
