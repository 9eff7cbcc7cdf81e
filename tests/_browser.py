"""Open a local HTML file in headless Chromium: the DOM after its scripts ran, its console, its network requests, a screenshot.

Console messages: with ``--enable-logging=stderr --v=0`` Chromium writes every console
message of the page to stderr as ``[pid:tid:time:INFO:CONSOLE:line] "text", source: url (line)``
— ``console.log``, ``console.error``, uncaught exceptions (``"Uncaught ReferenceError: …"``)
and Content-Security-Policy violations alike, all at level INFO. The level does not tell
an error from a log, so a page under test must print nothing: every console line counts.

Network: ``--log-net-log`` records every URL request; those the page made carry the page's
``file://`` network isolation key (the browser's own background requests do not), so
:attr:`Page.requests` lists what the page asked for. ``--host-resolver-rules`` makes
every host name unresolvable, so nothing leaves the machine even if a page asks.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

NAMES = ("chromium", "chromium-browser")
# Quiet and fast: no first-run UI, no extensions, no background fetches, no GPU, no /dev/shm
# (small in containers); --no-sandbox because Chromium refuses to run as root with its sandbox.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--hide-scrollbars",
    "--mute-audio",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--enable-logging=stderr",
    "--v=0",
]
CONSOLE = re.compile(r":CONSOLE[:(]\d+\)?\] (.*)$")


@dataclass(frozen=True)
class Page:
    dom: str  # the serialised DOM after the page's scripts ran (--dump-dom)
    console: list[str]  # every console message and uncaught error, as Chromium printed it
    requests: list[str]  # every non-file, non-data URL the page requested
    screenshot: Path | None
    seconds: float  # wall time of the browser run


def chromium() -> str:
    """The Chromium executable; fails (never skips) with the fix when it is missing."""
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("chromium not found on PATH: install it (apt-get install chromium) to run the browser tests")


def page_requests(net_log: Path) -> list[str]:
    """URLs the page itself requested (its network isolation key is file://), other than file: and data: ones."""
    log = json.loads(net_log.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    out = []
    for e in log["events"]:
        p = e.get("params", {})
        if e["type"] == start and "file://" in p.get("network_isolation_key", "") and not p["url"].startswith(("file:", "data:")):
            out.append(p["url"])
    return out


def open_page(path: Path, work: Path, *, screenshot: bool = True, size: tuple[int, int] = (1280, 2000), timeout: float = 90) -> Page:
    """Load ``path`` (a local HTML file) in headless Chromium once; ``work`` holds the profile, net log and screenshot."""
    exe = chromium()
    work.mkdir(parents=True, exist_ok=True)
    net = work / "net.json"
    shot = work / "screenshot.png"
    args = [exe, *FLAGS, f"--user-data-dir={work / 'profile'}", f"--log-net-log={net}", f"--window-size={size[0]},{size[1]}"]
    if screenshot:
        args.append(f"--screenshot={shot}")
    args += ["--dump-dom", path.resolve().as_uri()]
    t0 = time.perf_counter()
    res = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - t0
    assert res.returncode == 0, f"chromium exited {res.returncode}: {res.stderr[-2000:]}"
    console = [m.group(1) for line in res.stderr.splitlines() if (m := CONSOLE.search(line))]
    return Page(res.stdout, console, page_requests(net), shot if screenshot else None, seconds)
