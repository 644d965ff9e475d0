"""Support for the browser test: a real `liaison serve` subprocess and Debian's Chromium.

The server runs in its own session (process group) and is killed with that group when
the test ends, passes or fails. On Linux it also asks the kernel to terminate it if
the test process itself dies, so no server outlives a crashed or killed pytest.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEMO_PASSWORD = "demo1234"
TIMEOUT_MS = 20_000
VIEWPORT = {"width": 1400, "height": 900}
SCREENSHOTS = os.environ.get("LIAISON_SCREENSHOTS") == "1"
DOCS = ROOT / "docs"
STARTUP_TIMEOUT = 60.0

# Skipped on a developer machine without Chromium; in CI (.ci/run installs it) a missing
# browser fails the test instead of silently skipping it.
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"),
    reason=f"browser test needs Debian's Chromium at {CHROMIUM} (apt-get install chromium)",
)


@pytest.fixture
def server(tmp_path) -> Iterator[LiveServer]:
    """A live `liaison demo` + `liaison serve` in a temporary instance folder."""
    with live_server(tmp_path / "instance") as running:
        yield running


PR_SET_PDEATHSIG = 1


def liaison_command() -> str:
    """The `liaison` console script of the venv running the tests."""
    for candidate in (ROOT / ".venv" / "bin" / "liaison", Path(sys.executable).parent / "liaison"):
        if candidate.exists():
            return str(candidate)
    raise RuntimeError("the `liaison` command is not installed; run `make test`")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _death_signal_hook():
    """A pre-exec hook that makes the child get SIGTERM when the test process dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here, not in the forked child

    def hook() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)

    return hook


def server_env(instance_dir: Path) -> dict[str, str]:
    # No inherited LIAISON_* settings (LIAISON_NOW, LIAISON_SMTP_URL…): real clock, mail off.
    env = {key: value for key, value in os.environ.items() if not key.startswith("LIAISON_")}
    env.update(
        LIAISON_INSTANCE_DIR=str(instance_dir),
        LIAISON_DATABASE_URL=f"sqlite:///{instance_dir / 'liaison.db'}",
        LIAISON_SECRET_KEY="browser-test-secret-key",
        PYTHONUNBUFFERED="1",
    )
    return env


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait_until_up(server: LiveServer) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"`liaison serve` exited with {server.process.returncode}:\n{server.log()}"
            )
        try:
            with urllib.request.urlopen(f"{server.url}/login", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)  # polling interval while the server boots
    raise RuntimeError(f"`liaison serve` did not answer within {STARTUP_TIMEOUT}s:\n{server.log()}")


@contextmanager
def live_server(instance_dir: Path) -> Iterator[LiveServer]:
    """Load the demo data into a fresh instance folder and serve it on a free port."""
    instance_dir.mkdir(parents=True, exist_ok=True)
    env = server_env(instance_dir)
    liaison = liaison_command()
    demo = subprocess.run(
        [liaison, "demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    if demo.returncode != 0:
        raise RuntimeError(f"`liaison demo` failed:\n{demo.stdout}\n{demo.stderr}")
    log_path = instance_dir / "server.log"
    port = free_port()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [liaison, "serve", "--no-scheduler", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_death_signal_hook(),
        )
    server = LiveServer(f"http://127.0.0.1:{port}", process, log_path)
    try:
        _wait_until_up(server)
        yield server
    finally:
        _stop(process)


@contextmanager
def chromium_page(sync_api) -> Iterator:
    """A zh-CN page in Debian's headless Chromium; Playwright's `expect` waits 20 s."""
    assert CHROMIUM.exists(), f"CI must install Debian's Chromium at {CHROMIUM}"
    sync_api.expect.set_options(timeout=TIMEOUT_MS)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(
                viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai"
            )
            context.set_default_timeout(TIMEOUT_MS)
            yield context.new_page()
        finally:
            browser.close()


class WatchedTab:
    """One browser tab on the live server that remembers script errors and 5xx answers."""

    def __init__(self, page, base_url: str) -> None:
        self.page = page
        self.url = base_url
        self.problems: list[str] = []
        page.on("pageerror", lambda exc: self.problems.append(f"script error: {exc}"))
        page.on("response", self._check_response)

    def _check_response(self, response) -> None:
        if response.status >= 500:
            self.problems.append(f"{response.status} {response.request.method} {response.url}")

    @contextmanager
    def reporting_failures(self, server: LiveServer, tmp_path: Path) -> Iterator[None]:
        """Run a walk; on failure print a screenshot path, browser problems and the server
        log; on success insist the browser saw no script errors and no 5xx answers."""
        try:
            yield
        except BaseException:
            shot = tmp_path / "failure.png"
            self.page.screenshot(path=str(shot), full_page=True)
            print(f"page at failure: {self.page.url} (screenshot: {shot})", file=sys.stderr)
            print(f"browser problems: {self.problems}", file=sys.stderr)
            print(f"--- server log ---\n{server.log()}", file=sys.stderr)
            raise
        assert self.problems == []
