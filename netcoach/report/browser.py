"""Open a page in headless Chromium through the DevTools protocol: full-page screenshots,
console messages, and measurements taken inside the rendered page.

Used by the tests (a report must render without console errors, and its text must not
overlap as a person sees it) and to make the screenshots in ``docs/``. Chromium is an
optional system dependency (Debian: ``apt-get install chromium``); ``find_chromium``
returns None when it is absent.

We talk to Chromium over ``--remote-debugging-pipe`` (NUL-separated JSON on file
descriptors 3 and 4) with the standard library only, rather than adding a browser
driver (playwright, selenium) or a websocket client as a dependency for a handful of
protocol calls.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Flags that keep a headless run offline, quiet and isolated from any user profile.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--force-device-scale-factor=1", "--remote-debugging-pipe")


class BrowserError(RuntimeError):
    """Chromium exited, answered with a protocol error, or did not answer in time."""


@dataclass
class BrowserResult:
    screenshot: Path
    console: list[str]  # every console message and uncaught error (a report should produce none)
    returncode: int
    log: str
    size: tuple[int, int] = (0, 0)  # the screenshot's (width, height) in CSS pixels


def find_chromium() -> Optional[str]:
    """The path of a Chromium/Chrome executable, or None."""
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """One headless Chromium with one page, driven over the DevTools pipe.

    Use as a context manager: ``with Browser() as b: b.open(path, 1280, 900); b.evaluate(js)``.
    ``console`` collects the page's console messages, uncaught exceptions and log errors.
    """

    def __init__(self, executable: Optional[str] = None, timeout: float = 60.0):
        self.exe = executable or find_chromium()
        if self.exe is None:
            raise FileNotFoundError(f"no Chromium found (looked for {', '.join(CANDIDATES)}); "
                                    "install it, e.g. apt-get install chromium")
        self.timeout = timeout
        self.console: list[str] = []
        self._events: list[dict] = []
        self._buffer = b""
        self._next_id = 0
        self._session: Optional[str] = None

    def __enter__(self) -> "Browser":
        self._profile = tempfile.TemporaryDirectory(prefix="netcoach-chromium-")
        self._stderr = tempfile.TemporaryFile()  # a file, not a pipe: a chatty browser never blocks
        to_chrome, self._write = os.pipe()
        self._read, from_chrome = os.pipe()

        def wire_pipes() -> None:  # in the child: Chromium reads fd 3 and writes fd 4
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_chrome, from_chrome)]
            os.dup2(high[0], 3)  # via fds >= 10, so neither dup2 overwrites the other pipe
            os.dup2(high[1], 4)

        # close_fds=False keeps the dup2'ed fds 3 and 4 open across exec; every other fd of
        # this process is non-inheritable (PEP 446), so nothing else leaks into Chromium
        self._proc = subprocess.Popen([self.exe, *FLAGS, f"--user-data-dir={self._profile.name}", "about:blank"],
                                      close_fds=False, preexec_fn=wire_pipes,
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=self._stderr)
        os.close(to_chrome)
        os.close(from_chrome)
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.call("Browser.close", session=False)
        except (BrowserError, OSError):
            pass  # already gone or not answering: the wait below, then kill, ends it either way
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        os.close(self._write)
        os.close(self._read)
        self._stderr.seek(0)
        self.log = self._stderr.read().decode(errors="replace")
        self._stderr.close()
        self.returncode = self._proc.returncode
        self._profile.cleanup()

    # ------------------------------------------------------------------ protocol
    def call(self, method: str, params: Optional[dict] = None, session: bool = True) -> dict:
        """Send one DevTools command and return its result (events seen meanwhile are kept)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self._session:
            message["sessionId"] = self._session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        reply = self._wait(lambda m: m.get("id") == message["id"], method)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    def _wait(self, done, what: str) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if done(message):
                    return message
                self._event(message)
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"Chromium did not answer {what} within {self.timeout:g} s")
            ready, _, _ = select.select([self._read], [], [], left)
            chunk = os.read(self._read, 1 << 20) if ready else b""
            if ready and not chunk:
                raise BrowserError(f"Chromium exited while waiting for {what}")
            self._buffer += chunk

    def _event(self, message: dict) -> None:
        method, params = message.get("method"), message.get("params") or {}
        self._events.append(message)
        if method == "Runtime.consoleAPICalled":
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            self.console.append(f"console.{params.get('type')}: {args}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails") or {}
            text = (details.get("exception") or {}).get("description") or details.get("text", "")
            self.console.append(f"uncaught: {text}")
        elif method == "Log.entryAdded":
            entry = params.get("entry") or {}
            if entry.get("level") in ("error", "warning"):
                self.console.append(f"{entry.get('source')} {entry.get('level')}: {entry.get('text')}")

    # ------------------------------------------------------------------ page
    def open(self, page: str | Path, width: int = 1280, height: int = 900) -> None:
        """Load ``page`` (an HTML file) in a ``width`` x ``height`` viewport and wait for its load event."""
        self.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                                                          "deviceScaleFactor": 1, "mobile": False})
        seen = len(self._events)
        self.call("Page.navigate", {"url": Path(page).resolve().as_uri()})
        if not any(e.get("method") == "Page.loadEventFired" for e in self._events[seen:]):
            self._wait(lambda m: m.get("method") == "Page.loadEventFired", f"loading {page}")

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression evaluated in the page."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"evaluating in the page failed: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def screenshot(self, out: str | Path, full_page: bool = True) -> tuple[int, int]:
        """Write a PNG of the page (the whole scrollable page by default); returns its size."""
        width, height = self.evaluate("[document.documentElement.clientWidth, " + (
            "document.documentElement.scrollHeight]" if full_page else "window.innerHeight]"))
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1})
        data = self.call("Page.captureScreenshot", params)["data"]
        Path(out).write_bytes(base64.b64decode(data))
        return int(width), int(height)


def screenshot(page: str | Path, out: str | Path, width: int = 1280, height: int = 2400,
               executable: Optional[str] = None, timeout: float = 120.0,
               full_page: bool = False) -> BrowserResult:
    """Render ``page`` (an HTML file) headless and write a PNG screenshot to ``out``: the
    ``width`` x ``height`` viewport, or the whole page with ``full_page``.

    Raises:
        FileNotFoundError: no Chromium executable was found.
    """
    out = Path(out).resolve()
    browser = Browser(executable, timeout)
    with browser:
        browser.open(page, width, height)
        size = browser.screenshot(out, full_page=full_page)
    return BrowserResult(out, browser.console, browser.returncode or 0, browser.log, size)
