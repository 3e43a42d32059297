"""Print the brief's HTML pages to A4 PDF with headless Chromium, the network off.

One browser for all pages (a start costs about a second; a page prints in a fraction of that), driven
over the DevTools protocol: each page is opened from its file, its fonts awaited, and printed with the
page's own CSS size (`@page { size: A4 }` in the brief's stylesheet), backgrounds included. Name
resolution is disabled for the browser (every host maps to nothing), so a page cannot fetch anything; the
brief's pages load nothing anyway (perfkit.brief.external_references).

The browser: $PERFKIT_CHROMIUM, else `chromium`, `chromium-browser`, `google-chrome` on the PATH. Without
one, `PdfError` says how to install it; the caller still has its HTML.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from .exports import write_whole

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = (
    "no headless Chromium found: install one (Debian/Ubuntu: `apt install chromium fonts-noto-cjk`) "
    "or set PERFKIT_CHROMIUM to its path"
)
START_TIMEOUT_S = 60
PAGE_TIMEOUT_S = 120


class PdfError(Exception):
    """No browser, or the browser could not print a page: one line saying which."""


def find_browser() -> str | None:
    """The headless browser to print with, or None."""
    env = os.environ.get("PERFKIT_CHROMIUM")
    if env:
        return env if Path(env).is_file() and os.access(env, os.X_OK) else shutil.which(env)
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def browser_args(browser: str, profile: Path, extra: Iterable[str] = ()) -> list[str]:
    """Headless, no sandbox (root in containers), no background traffic, no name resolution, DevTools on
    a free local port (`devtools_endpoint`); `extra` options before the blank start page."""
    return [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-extensions",
        f"--user-data-dir={profile}",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--remote-debugging-port=0",
        "--remote-allow-origins=*",
        *extra,
        "about:blank",
    ]


def print_pdfs(pages: Iterable[str | os.PathLike]) -> list[Path]:
    """Print each HTML page to `<page>.pdf` beside it (written whole: a temporary file, then renamed)."""
    pages = [Path(p).resolve() for p in pages]
    if not pages:
        return []
    browser = find_browser()
    if browser is None:
        named = os.environ.get("PERFKIT_CHROMIUM")
        if named:  # the hint 'set PERFKIT_CHROMIUM to its path' to one who did is no help
            raise PdfError(
                f"PERFKIT_CHROMIUM={named} is neither an executable file nor a command on the PATH"
            )
        raise PdfError(INSTALL_HINT)
    with tempfile.TemporaryDirectory(prefix="perfkit-pdf-") as tmp:
        profile = Path(tmp) / "profile"
        try:
            proc = subprocess.Popen(
                browser_args(browser, profile),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=_die_with(os.getpid()),
            )
        except OSError as exc:
            raise PdfError(f"cannot start {browser}: {exc.strerror or exc}") from None
        try:
            port, path = devtools_endpoint(proc, profile)
            written = _print_all(page_websocket(port), pages)
            close_browser(f"ws://127.0.0.1:{port}{path}")
            proc.wait(timeout=20)
            return written
        except PdfError:
            raise
        except Exception as exc:  # noqa: BLE001 - any protocol failure becomes one line
            raise PdfError(f"{browser} could not print: {type(exc).__name__}: {exc}") from None
        finally:
            stop(proc)


def _die_with(parent: int):
    """The browser's first act on Linux: die when the process printing with it dies (PR_SET_PDEATHSIG), so a
    `perfkit brief --pdf` killed with kill -9 leaves no headless Chromium running for good (it did, with its
    zygotes and DevTools port). prctl is looked up here, in the parent, so the child only makes the call."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def first() -> None:
        prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before the line above
            os._exit(1)

    return first


def stop(proc: subprocess.Popen) -> None:
    """End a browser that is still running: terminated, killed after 10 s."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def devtools_endpoint(proc: subprocess.Popen, profile: Path) -> tuple[str, str]:
    """The started browser's DevTools port and browser path (PdfError when it exits or hangs)."""
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + START_TIMEOUT_S
    while not (port_file.exists() and len(port_file.read_text().split()) >= 2):
        if proc.poll() is not None:
            raise PdfError(f"the browser exited at start (code {proc.returncode})")
        if time.monotonic() > deadline:
            raise PdfError(f"the browser did not start in {START_TIMEOUT_S} s")
        time.sleep(0.05)
    port, path = port_file.read_text().split()[:2]
    return port, path


def page_websocket(port: str) -> str:
    """The DevTools address of the browser's open page."""
    targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
    return next(x["webSocketDebuggerUrl"] for x in targets if x["type"] == "page")


class DevToolsPage:
    """One page of a running browser driven over its DevTools socket: `call` sends a command and returns its
    result, keeping the events that arrive meanwhile (`events`) and the URLs the page requested (`requests`,
    once Network is enabled). A command the browser refuses raises PdfError naming it."""

    def __init__(self, ws_url: str, timeout: float = PAGE_TIMEOUT_S):
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=timeout, suppress_origin=True)
        self._ids = iter(range(1, 1_000_000))
        self.events: list[str] = []
        self.requests: list[str] = []

    def call(self, method: str, **params):
        mid = next(self._ids)
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("method") == "Network.requestWillBeSent":
                self.requests.append(msg["params"]["request"]["url"])
            elif "method" in msg:
                self.events.append(msg["method"])
            elif msg.get("id") == mid:
                if "error" in msg:
                    raise PdfError(f"{method}: {msg['error'].get('message', msg['error'])}")
                return msg["result"]

    def wait_for(self, event: str, timeout: float, what: str = "the page") -> None:
        """Until `event` has arrived (the socket is polled with a no-op: events come with answers)."""
        deadline = time.monotonic() + timeout
        while event not in self.events:
            if time.monotonic() > deadline:
                raise PdfError(f"{what}: no {event} in {timeout:g} s")
            self.call("Runtime.evaluate", expression="1")
            time.sleep(0.02)

    def close(self) -> None:
        self.ws.close()


def _print_all(ws_url: str, pages: list[Path]) -> list[Path]:
    tab = DevToolsPage(ws_url)
    written = []
    try:
        tab.call("Page.enable")
        for page in pages:
            tab.events.clear()
            tab.call("Page.navigate", url=page.as_uri())
            tab.wait_for("Page.loadEventFired", PAGE_TIMEOUT_S, str(page))
            tab.call(
                "Runtime.evaluate", expression="document.fonts.ready.then(() => true)", awaitPromise=True
            )
            data = tab.call("Page.printToPDF", printBackground=True, preferCSSPageSize=True)["data"]
            pdf = base64.b64decode(data)
            written.append(write_whole(page.with_suffix(".pdf"), lambda fh, pdf=pdf: fh.write(pdf)))
    finally:
        tab.close()
    return written


def close_browser(ws_url: str) -> None:
    """Browser.close: a clean exit (its profile is then removed whole, a net log written out in full)."""
    import websocket

    ws = websocket.create_connection(ws_url, timeout=20, suppress_origin=True)
    try:
        ws.send(json.dumps({"id": 1, "method": "Browser.close"}))
        ws.recv()
    except Exception:  # noqa: BLE001 - the browser may close the socket before answering
        pass
    finally:
        ws.close()


def page_sizes(pdf: bytes) -> list[tuple[float, float]]:
    """Width and height in points of each page's MediaBox (A4 is about 595 × 842)."""
    import re

    boxes = re.findall(rb"/MediaBox\s*\[\s*([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s*\]", pdf)
    return [(float(x1) - float(x0), float(y1) - float(y0)) for x0, y0, x1, y1 in boxes]
