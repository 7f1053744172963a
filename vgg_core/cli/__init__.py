"""``python -m vgg_core``: one entry point, a module per subcommand.

Each subcommand module offers ``add_parser(subparsers)`` and ``run(args) -> int``. Bad input
ends with exit status 2 and one line on stderr; an output that cannot be written (a full disk, a
closed pipe) ends with status 1 and one line; no traceback reaches a user.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

from ..problems import ProblemsError

# Subcommand name -> module under vgg_core.cli.
COMMANDS = ("summary", "estimate", "train", "sweep", "queue", "runs", "inspect", "gpu")


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (what is wrong, where to look) and status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see --help)")


class UsageError(Exception):
    pass


def build_parser(only: str | None = None) -> OneLineParser:
    """Every subcommand, or ``only`` the one named: a run started by the queue then imports just what
    training needs (not pandas for the results table, say) before its first row."""
    parser = OneLineParser(prog="python -m vgg_core", description="VGG Explorer's core: summaries, training, "
                           "sweeps and the queue, looking inside, GPU stats.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for name in (only,) if only in COMMANDS else COMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser(argv[0] if argv else None).parse_args(argv)
        code = int(args.run(args) or 0)
        if sys.stdout is not None:
            sys.stdout.flush()  # a full disk or a closed pipe shows here, not at exit
        return code
    except (UsageError, ProblemsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except OSError as e:
        if getattr(e, "filename", None) is not None:
            print(f"error: {e.filename}: {e.strerror or e}", file=sys.stderr)
            return 1
        return _output_failed(e)


def _output_failed(e: OSError) -> int:
    """stdout refused our output: say so once on stderr and silence the flush Python does at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, AttributeError, ValueError):
        pass
    try:
        why = os.strerror(e.errno) if e.errno else str(e) or type(e).__name__
        print(f"error: cannot write the output: {why}", file=sys.stderr)
    except OSError:
        pass
    return 1
