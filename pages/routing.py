"""Every page runs inside app.py's router, even when Streamlit starts a page file on its own.

Until the first ``st.navigation`` call in a process, Streamlit treats a ``pages/`` folder next to
the main script as an old-style multipage app: the first run after the server starts (and every
AppTest run after the first) may execute a page file directly, without app.py, so without the
sidebar and without the architecture and language from the URL. A page that finds itself outside
the router runs app.py, whose router then runs the page.
"""

from __future__ import annotations

import runpy
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

APP = Path(__file__).resolve().parents[1] / "app.py"
_local = threading.local()  # each session's script runs on its own thread


@contextmanager
def routed() -> Iterator[None]:
    """Mark the page run that app.py's router starts."""
    _local.depth = getattr(_local, "depth", 0) + 1
    try:
        yield
    finally:
        _local.depth -= 1


def show(render: Callable[[], None]) -> None:
    """A page file's last line: draw the page, from inside the router."""
    if getattr(_local, "depth", 0):
        render()
    else:
        runpy.run_path(str(APP), run_name="__main__")
