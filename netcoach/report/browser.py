"""Open a report in headless Chromium: take a screenshot and collect console messages.

Used by the tests (the report must render without console errors) and to make the
screenshot in ``docs/``. Chromium is an optional system dependency (Debian:
``apt-get install chromium``); ``find_chromium`` returns None when it is absent.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Flags that keep a headless run offline, quiet and isolated from any user profile.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--enable-logging=stderr", "--v=0")
# With --enable-logging, every console message of the page is logged as
# ``[...:INFO:CONSOLE:<line>] "<message>", source: <url> (<line>)``.
CONSOLE = re.compile(r":CONSOLE[:(]\d*\)?\]\s*(.*)")


@dataclass
class BrowserResult:
    screenshot: Path
    console: list[str]  # every console message the page produced (a report should produce none)
    returncode: int
    log: str


def find_chromium() -> Optional[str]:
    """The path of a Chromium/Chrome executable, or None."""
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def screenshot(page: str | Path, out: str | Path, width: int = 1280, height: int = 2400,
               executable: Optional[str] = None, timeout: float = 120.0) -> BrowserResult:
    """Render ``page`` (an HTML file) headless and write a PNG screenshot to ``out``.

    Raises:
        FileNotFoundError: no Chromium executable was found.
    """
    exe = executable or find_chromium()
    if exe is None:
        raise FileNotFoundError(f"no Chromium found (looked for {', '.join(CANDIDATES)}); "
                                "install it, e.g. apt-get install chromium")
    out = Path(out).resolve()
    with tempfile.TemporaryDirectory(prefix="netcoach-chromium-") as profile:
        cmd = [exe, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
               f"--screenshot={out}", Path(page).resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    log = proc.stdout + proc.stderr
    console = [m.group(1) for m in map(CONSOLE.search, log.splitlines()) if m]
    return BrowserResult(out, console, proc.returncode, log)
