"""Headless Chromium (Debian's ``chromium`` package) for checking HTML as a browser lays it out.

The page is loaded in an iframe of the given width inside a host page whose script
(``tests/browser/layout_check.js``) measures it and writes the result into the host's DOM;
``chromium --dump-dom`` prints that DOM. No driver, no extra Python package. The flags are the
ones this machine's closed network needs (no background connections).
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

CHECK_JS = Path(__file__).parent / "browser" / "layout_check.js"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--allow-file-access-from-files", "--hide-scrollbars"]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _host(page: Path, width: int, height: int) -> Path:
    host = page.parent / f".layout_check_{width}.html"
    host.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'></head><body style='margin:0'>"
        f"<iframe id='page' src='{html.escape(page.name)}' style='width:{width}px;height:{height}px;border:0'></iframe>"
        f"<script>{CHECK_JS.read_text()}</script></body></html>",
        encoding="utf-8",
    )
    return host


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        return subprocess.run([chromium() or "chromium", *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout)


def layout(page: Path, width: int, height: int = 900, timeout: float = 120) -> dict[str, Any]:
    """What ``layout_check.js`` measured of ``page`` laid out ``width`` CSS pixels wide."""
    host = _host(page, width, height)
    try:
        proc = _run(["--virtual-time-budget=15000", f"--window-size={max(width, 500) + 20},{height}",
                     "--dump-dom", host.as_uri()], timeout)
    finally:
        host.unlink(missing_ok=True)
    found = re.search(r'data-check="([^"]*)"', proc.stdout)
    if not found:
        raise AssertionError(f"chromium measured nothing (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(html.unescape(found.group(1)))


def screenshot(page: Path, out: Path, width: int, height: int = 1400, timeout: float = 120) -> Path:
    """A PNG of ``page`` as a browser ``width`` pixels wide shows its top."""
    host = _host(page, width, height)
    try:
        _run(["--virtual-time-budget=15000", f"--window-size={width},{height}", f"--screenshot={out}",
              host.as_uri()], timeout)
    finally:
        host.unlink(missing_ok=True)
    return out
