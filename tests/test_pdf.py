"""PDF: A4 pages from headless Chromium with the network off; without a browser, one line saying how to
install one."""

from __future__ import annotations

import shutil

import pytest

from perfkit import pdf
from perfkit.index import STYLESHEET

CHROMIUM = pdf.find_browser()


def test_without_a_browser_it_says_how_to_install_one(tmp_path, monkeypatch):
    monkeypatch.setenv("PERFKIT_CHROMIUM", str(tmp_path / "no-such-browser"))
    assert pdf.find_browser() is None
    page = tmp_path / "p.html"
    page.write_text("<p>x</p>", encoding="utf-8")
    with pytest.raises(pdf.PdfError, match="apt install chromium"):
        pdf.print_pdfs([page])
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
