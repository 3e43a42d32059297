"""The government-document layout (perfkit.docx_layout) as the quarterly 通报 has it, read back by python-docx:
A4 portrait, GB/T 9704 margins and fonts with their fallbacks, the red masthead, tables on the type area
with the header row repeated, page numbers and the synthetic-data header."""

from __future__ import annotations

from pathlib import Path

import pytest
from docx import Document
from docx.shared import Mm

from perfkit import document, docx_layout


@pytest.fixture()
def quarterly(sample_conn, tmp_path) -> Path:
    return document.write_document(sample_conn, "2019-09", "quarterly", "zh", tmp_path / "quarterly.docx")


def test_quarterly_layout_is_a4_with_gbt9704_margins_fonts_and_repeated_headers(quarterly):
    doc = Document(str(quarterly))
    section = doc.sections[0]
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)
    assert section.page_width < section.page_height  # portrait
    margins = [section.top_margin, section.bottom_margin, section.left_margin, section.right_margin]
    assert [round(m.mm) for m in margins] == [37, 35, 28, 26]
    normal = doc.styles["Normal"].element.rPr
    assert normal.rFonts.get(_w("eastAsia")) == "仿宋_GB2312" and normal.sz.val.pt == 16
    first = doc.paragraphs[0].runs[0]
    assert first.text == "泉州市交通运输局" and str(first.font.color.rgb) == docx_layout.RED
    assert first._r.rPr.rFonts.get(_w("eastAsia")) == "方正小标宋简体"
    assert doc.tables and all(t.rows[0]._tr.trPr.find(_w("tblHeader")) is not None for t in doc.tables)
    assert all(round(sum(c.width for c in t.columns) / Mm(1)) == 156 for t in doc.tables)  # the type area
    fonts = next(p for p in doc.part.package.iter_parts() if str(p.partname) == "/word/fontTable.xml").blob
    assert "仿宋_GB2312".encode() in fonts and b"FangSong" in fonts and b"SimSun" in fonts
    footer = section.footer.paragraphs[0]._p.xml
    assert "PAGE" in footer and "— " in section.footer.paragraphs[0].text  # "— 1 —"
    assert "合成示例数据" in section.header.paragraphs[0].text


def _w(tag: str) -> str:
    from docx.oxml.ns import qn

    return qn(f"w:{tag}")
