"""Shared fixtures: a real ``streamlit run app.py`` and a chromium page for browser tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
for path in (TESTS.parent, TESTS):  # the repo root (vgg_core, pages) and the browser helper
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from streamlit_browser import chromium, free_port, streamlit_server  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives the real app in Debian's chromium (slow)")


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory):
    """Base URL of the app served as a user would, on localhost, with its own empty runs folder."""
    tmp = tmp_path_factory.mktemp("app_server")
    runs = tmp / "runs"
    runs.mkdir()
    with streamlit_server(free_port(), runs, tmp / "server.log") as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser):
    """A fresh browser context (own cookies, own Streamlit session) per test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    context.close()


@pytest.fixture
def runs(tmp_path, monkeypatch):
    """An empty runs folder that the app and the core use for this test (``$VGG_RUNS_DIR``)."""
    root = tmp_path / "runs"
    root.mkdir()
    monkeypatch.setenv("VGG_RUNS_DIR", str(root))
    return root
