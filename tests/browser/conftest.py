"""The browser tier's harness: one haven, one ``carehaven serve`` and one Chromium for the
session; each test a fresh browser context (its own cookies). Every page a test visits through
``Visit`` is checked with axe-core (no serious or critical violation) and saved as a full-page
screenshot under test-artifacts/browser/."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.haven import BuiltHaven, build

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
#: axe impacts that fail a page.
FAILING = ("serious", "critical")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuiltHaven:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is required in CI (.ci/run installs it with apt)")
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium to run the browser tests")
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run 'make env' (npm ci installs axe-core)")
    folder = tmp_path_factory.mktemp("browser")
    return build(folder / "haven", folder / "returns")


@pytest.fixture(scope="session")
def server(built: BuiltHaven) -> Iterator[str]:
    """``carehaven serve`` (uvicorn and the worker) on a free port; its base URL."""
    port = _free_port()
    script = Path(sys.executable).with_name("carehaven")
    log = (built.root.parent / "serve.log").open("wb")
    proc = subprocess.Popen(
        [str(script), "--haven", str(built.root), "serve", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, proc, built.root.parent / "serve.log")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        # serve promises to stop its worker with it; its group must now be empty.
        time.sleep(0.5)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        else:
            raise AssertionError("the job worker outlived carehaven serve")


def _wait_until_up(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"carehaven serve exited {proc.returncode}: "
                                 + log.read_text(errors="replace"))
        try:
            with urllib.request.urlopen(base + "/", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("carehaven serve did not answer within 60 s")


@pytest.fixture(scope="session")
def browser(server: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Visit:
    """One test's browser tab. ``check(name)`` runs axe-core on the page as it is and saves
    its screenshot; ``goto`` and ``click`` do so after each navigation."""

    def __init__(self, page: Any, test: str) -> None:
        self.page, self.test, self.seen = page, test, 0
        self.csp_errors: list[str] = []
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        # The page's own scripts under the real CSP: a refusal is a bug in the page.
        if message.type == "error" and "Content Security Policy" in message.text:
            self.csp_errors.append(message.text)

    def goto(self, path: str, name: str, status: int = 200) -> Any:
        answer = self.page.goto(path)
        assert answer is not None and answer.status == status, (
            f"{path}: {answer.status if answer else None}, expected {status}")
        self.check(name)
        return answer

    def check(self, name: str) -> None:
        self.page.wait_for_load_state("load")
        self.seen += 1
        stem = re.sub(r"[^a-z0-9]+", "-", f"{self.test}-{self.seen:02d}-{name}".lower())
        self.page.screenshot(path=str(ARTIFACTS / f"{stem}.png"), full_page=True)
        assert not self.csp_errors, f"{name}: the page broke its CSP: {self.csp_errors}"
        # Evaluated through the DevTools protocol, which the page's CSP does not govern (no
        # inline script is added to the page, and the CSP under test stays the real one).
        if not self.page.evaluate("() => typeof window.axe !== 'undefined'"):
            self.page.evaluate(AXE.read_text())
        found = self.page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
            " targets: v.nodes.map(n => n.target.join(' '))}))")
        bad = [v for v in found if v["impact"] in FAILING]
        assert not bad, f"{name} ({self.page.url}): axe found " + "; ".join(
            f"{v['id']} ({v['impact']}: {v['help']}) at {', '.join(v['targets'][:5])}"
            for v in bad)

    def sign_in(self, username: str) -> None:
        from tests.portal import PASSWORD

        self.goto("/sign-in", "sign-in")
        self.page.fill("#username", username)
        self.page.fill("#password", PASSWORD)
        with self.page.expect_navigation():
            self.page.click("button:has-text('Sign in')")
        assert "/sign-in" not in self.page.url, (
            f"signing in as {username} failed: " + self.page.locator("main").inner_text())
        self.check("signed-in")


@pytest.fixture
def tabs(browser: Any, server: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A factory of tabs, each in its own browser context (its own sign-in): ``tabs("dt2")``."""
    contexts: list[Any] = []

    def open_tab(label: str = "") -> Visit:
        context = browser.new_context(base_url=server, accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return Visit(page, request.node.name + (f"-{label}" if label else ""))

    try:
        yield open_tab
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def visit(tabs: Any) -> Visit:
    return tabs()  # type: ignore[no-any-return]
