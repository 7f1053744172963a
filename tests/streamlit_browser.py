"""A real ``streamlit run app.py`` and Debian's chromium driven by Playwright, for browser tests.

Used by the fixtures in conftest.py; also runnable by hand to look at the app:
``python tests/streamlit_browser.py 8601`` prints the URL and serves until Ctrl-C.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("VGG_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
RUNNING = "[data-testid='stApp'][data-test-script-state='running']"
EXCEPTION = "[data-testid='stException']"


def free_port(first: int = 8601, last: int = 8620) -> int:
    """A free port in the range this project's browser tests use."""
    for port in range(first, last + 1):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port from {first} to {last}")


@contextmanager
def streamlit_server(port: int, runs_dir: Path, log_path: Path, timeout: float = 60) -> Iterator[str]:
    """Start the app as a user would, on localhost; yield its base URL; stop it and its children."""
    env = {**os.environ, "VGG_RUNS_DIR": str(runs_dir), "PYTHONUNBUFFERED": "1"}
    cmd = [
        sys.executable, "-m", "streamlit", "run", "app.py",
        "--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, proc, timeout, log_path)
            yield url
        finally:
            _stop(proc)


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"streamlit not healthy after {timeout} s:\n{log_path.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's own process group (it was started in a new session), then SIGKILL."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@contextmanager
def chromium() -> Iterator["object"]:
    """Playwright's chromium API on Debian's chromium binary (``playwright install`` is not needed)."""
    from playwright.sync_api import sync_playwright

    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        raise RuntimeError(f"chromium not found at {CHROMIUM}; install Debian's chromium or set VGG_CHROMIUM")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def wait_idle(page, timeout: float = 30_000) -> None:
    """Wait until the script run an interaction started is over (and the page drew its result)."""
    # A rerun may not have begun yet right after an input event; give it a moment to start.
    try:
        page.wait_for_selector(RUNNING, timeout=300)
    except Exception:  # noqa: BLE001 - the run may have been too quick to see, which is fine
        pass
    page.wait_for_selector(IDLE, timeout=timeout)


def open_app(page, url: str, timeout: float = 60_000) -> None:
    page.goto(url)
    page.wait_for_selector(IDLE, timeout=timeout)


if __name__ == "__main__":
    import tempfile

    port = int(sys.argv[1]) if len(sys.argv) > 1 else free_port()
    with tempfile.TemporaryDirectory() as tmp:
        with streamlit_server(port, Path(tmp), Path(tmp) / "server.log") as base:
            print(base, flush=True)
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
