"""The results table's filters as page state: the field names, their URL parameters, their checks.

Train and Compare each keep their own filters (three fields of their own state dataclass, named
here once), so a link to either page keeps the chosen sweep, states and search.
"""

from __future__ import annotations

from vgg_core.runs import STATES

URL = {"results_sweep": "sweep", "results_states": "states", "results_search": "q"}
LABELLED = ("results_sweep", "results_states")


def accepts(name: str, value: object) -> bool:
    """A filter value read from a link: a plain sweep id, known states, a short search."""
    if name == "results_sweep":
        return isinstance(value, str) and len(value) <= 128
    if name == "results_states":
        return isinstance(value, list) and all(v in STATES for v in value)
    return isinstance(value, str) and len(value) <= 200
