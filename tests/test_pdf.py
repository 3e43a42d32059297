"""PDF: A4 pages from headless Chromium with the network off; without a browser, one line saying how to
install one."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from perfkit import pdf
from perfkit.index import STYLESHEET

CHROMIUM = pdf.find_browser()


def test_without_a_browser_it_says_how_to_install_one(tmp_path, monkeypatch):
    """No browser on the PATH: how to install one. PERFKIT_CHROMIUM naming nothing runnable: that variable
    and its value (it said 'set PERFKIT_CHROMIUM to its path' to one who had)."""
    page = tmp_path / "p.html"
    page.write_text("<p>x</p>", encoding="utf-8")
    monkeypatch.delenv("PERFKIT_CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert pdf.find_browser() is None
    with pytest.raises(pdf.PdfError, match="apt install chromium"):
        pdf.print_pdfs([page])
    wrong = tmp_path / "no-such-browser"
    monkeypatch.setenv("PERFKIT_CHROMIUM", str(wrong))
    with pytest.raises(pdf.PdfError) as err:
        pdf.print_pdfs([page])
    assert (
        str(err.value) == f"PERFKIT_CHROMIUM={wrong} is neither an executable file nor a command on the PATH"
    )
    assert not (tmp_path / "p.pdf").exists()


def test_page_sizes_reads_the_media_boxes():
    data = b"<< /Type /Page /MediaBox [0 0 595.91998 842.88] >> << /Type /Page /MediaBox [ 0 0 612 792 ] >>"
    assert pdf.page_sizes(data) == [(595.91998, 842.88), (612.0, 792.0)]


@pytest.mark.skipif(not CHROMIUM, reason="headless Chromium is not installed: apt-get install chromium")
def test_a_page_with_the_briefs_stylesheet_prints_on_a4(tmp_path):
    css = STYLESHEET.read_text(encoding="utf-8")
    body = "".join(f'<h2 class="pk-section">第{i}节</h2><p>{"内容" * 400}</p>' for i in range(3))
    page = tmp_path / "页面.html"
    page.write_text(
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><style>{css}</style></head>"
        f'<body class="pk-brief">{body}</body></html>',
        encoding="utf-8",
    )
    (written,) = pdf.print_pdfs([page])
    assert written == tmp_path / "页面.pdf"
    data = written.read_bytes()
    assert data.startswith(b"%PDF")
    sizes = pdf.page_sizes(data)
    assert len(sizes) >= 3  # a page per section
    for w, h in sizes:
        assert abs(w - 595.3) < 2 and abs(h - 841.9) < 2, sizes  # A4 in points
    assert sorted(p.name for p in tmp_path.iterdir()) == ["页面.html", "页面.pdf"]
    assert shutil.which(CHROMIUM) or CHROMIUM


LISTEN = (
    "import os, socket, sys, time; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen();"
    " os.makedirs(sys.argv[1], exist_ok=True);"
    " open(sys.argv[1] + '/DevToolsActivePort', 'w').write(f'{s.getsockname()[1]}\\n/devtools/browser/x\\n');"
    " time.sleep(600)"
)


@pytest.mark.parametrize("behaviour", ["never starts", "starts but never answers", "exits at once"])
def test_a_browser_that_hangs_or_dies_is_one_line_and_no_pdf(tmp_path, monkeypatch, behaviour):
    """A Chromium that hangs at start, opens DevTools and then answers nothing, or dies: PdfError in one
    line within the timeouts (shortened here), no PDF or temporary file beside the page, and no browser
    process left behind. The stand-in browser is a real process doing what a broken one does."""
    import os
    import stat
    import time

    page = tmp_path / "brief.html"
    page.write_text("<html><body>x</body></html>", encoding="utf-8")
    pidfile = tmp_path / "browser.pid"
    body = {
        "never starts": "exec sleep 600",
        # listens on the port it gives in DevToolsActivePort and never answers
        "starts but never answers": 'for a in "$@"; do case "$a" in --user-data-dir=*) d="${a#*=}";; esac; done\n'
        f'exec {sys.executable} -c "{LISTEN}" "$d"',
        "exits at once": "exit 3",
    }[behaviour]
    browser = tmp_path / "chromium"
    browser.write_text(f"#!/bin/sh\necho $$ > {pidfile}\n{body}\n")
    browser.chmod(browser.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PERFKIT_CHROMIUM", str(browser))
    monkeypatch.setattr(pdf, "START_TIMEOUT_S", 2)
    t0 = time.monotonic()
    with pytest.raises(pdf.PdfError) as caught:
        pdf.print_pdfs([page])
    assert "\n" not in str(caught.value) and time.monotonic() - t0 < 60
    assert sorted(p.name for p in tmp_path.iterdir()) == ["brief.html", "browser.pid", "chromium"]
    pid = int(pidfile.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # stopped and reaped


def _processes_naming(text: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and text.encode() in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except OSError:
            pass
    return found


@pytest.mark.skipif(not CHROMIUM or not sys.platform.startswith("linux"), reason="headless Chromium on Linux")
def test_a_printer_killed_with_kill_9_leaves_no_browser_running(tmp_path):
    """`perfkit brief --pdf` killed with kill -9 while printing left its headless Chromium (and zygotes)
    running for good, parented to init. The browser now dies with the process that started it."""
    import signal
    import subprocess
    import tempfile
    import time

    pages = []
    for i in range(20):
        page = tmp_path / f"p{i}.html"
        page.write_text(f"<p>{'页' * 20000}</p>", encoding="utf-8")
        pages.append(str(page))
    # the browser's profile under a short path: Chromium does not start with a socket path past 107 bytes
    scratch = Path(tempfile.mkdtemp(prefix="pk-pdf-"))
    code = "import sys; from perfkit import pdf; pdf.print_pdfs(sys.argv[1:])"
    printer = subprocess.Popen(
        [sys.executable, "-c", code, *pages], env={**os.environ, "TMPDIR": str(scratch)}
    )
    try:
        deadline = time.monotonic() + 60
        while not _processes_naming(str(scratch)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _processes_naming(str(scratch)), "the browser never started"
        printer.send_signal(signal.SIGKILL)
        printer.wait(timeout=10)
        deadline = time.monotonic() + 15
        while _processes_naming(str(scratch)) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = _processes_naming(str(scratch))
    finally:
        for pid in _processes_naming(str(scratch)):  # ours only (their command lines name our folder)
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(scratch, ignore_errors=True)
    assert left == []
