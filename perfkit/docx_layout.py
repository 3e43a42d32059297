"""The Chinese government document's layout in Word (after GB/T 9704-2012), for perfkit.document.

A4 portrait; margins 37/35/28/26 mm; 三号 (16 pt) 仿宋_GB2312 body, 方正小标宋简体 title, 黑体 and 楷体_GB2312
headings, each named in the eastAsia font attribute with fallbacks in the font table (仿宋/FangSong,
宋体/SimSun …) so Word, WPS and LibreOffice each find a face; the 发文机关标志 in red with the 文号 line and the red
rule, ruled tables whose header row repeats on every page, the 落款, page numbers "— 1 —". `Writer` holds
the python-docx Document and the few blocks a document's body is made of; what it says is perfkit.document's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from .labels import t
from .markup import MISSING, ZH_NUMERALS, _missing, fmt_number, fmt_share

# Faces: the name Word/WPS look for first (eastAsia), then what the font table offers as alternatives.
FONT_BODY = "仿宋_GB2312"
FONT_TITLE = "方正小标宋简体"
FONT_HEADING = "黑体"
FONT_SUBHEADING = "楷体_GB2312"
FONT_LATIN = "Times New Roman"
FALLBACKS = {
    FONT_BODY: ("仿宋", "FangSong"),
    FONT_TITLE: ("宋体", "SimSun"),
    FONT_HEADING: ("SimHei",),
    FONT_SUBHEADING: ("楷体", "KaiTi"),
    "宋体": ("SimSun",),
}
RED = "C00000"
MARK_FILL = "FFE699"  # shading of a 自评 that differs from the computed grade
HEAD_FILL = "F2F2F2"
BODY_PT = 16  # 三号
TABLE_PT = 10.5  # 五号
LINE_PT = 28.95  # GB/T 9704: 22 lines on the 225 mm type area

PAGE_MM = (210, 297)
MARGINS_MM = {"top": 37, "bottom": 35, "left": 28, "right": 26}
TYPE_WIDTH_MM = PAGE_MM[0] - MARGINS_MM["left"] - MARGINS_MM["right"]  # 156


@dataclass(frozen=True)
class Column:
    """A table column: data column, header text, width in mm, format."""

    name: str
    header: str
    width_mm: float
    fmt: str  # text, centre, right, int, num0-num2, share, mark

    def text(self, value: object) -> str:
        if isinstance(value, str) and value == "":
            return "" if self.fmt in ("mark", "text", "centre") else MISSING
        if _missing(value):
            return MISSING
        if self.fmt == "int":
            return fmt_number(value, 0)
        if self.fmt.startswith("num"):
            return fmt_number(value, int(self.fmt[3:]))
        if self.fmt == "share":
            return fmt_share(value)
        if isinstance(value, list | tuple):
            return "、".join(str(v) for v in value)
        return str(value)

    @property
    def align(self) -> str:
        return "left" if self.fmt == "text" else "centre" if self.fmt in ("centre", "mark") else "right"


class Writer:
    """A python-docx Document with the government-document styles and the few blocks the body uses."""

    def __init__(self, lang: str):
        from docx import Document

        self.lang = lang
        self.doc = Document()
        self.n_heading = 0
        self.n_sub = 0

    # -- set-up: page, styles, fonts, header and footer
    def setup(self, running: str, title: str, author: str, subject: str, sample: bool) -> None:
        """A4 portrait with the GB/T 9704 margins, the styles and fonts, the running header (`running`,
        empty for none), page numbers and the document's properties."""
        from docx.shared import Mm

        section = self.doc.sections[0]
        section.page_width, section.page_height = Mm(PAGE_MM[0]), Mm(PAGE_MM[1])
        section.top_margin, section.bottom_margin = Mm(MARGINS_MM["top"]), Mm(MARGINS_MM["bottom"])
        section.left_margin, section.right_margin = Mm(MARGINS_MM["left"]), Mm(MARGINS_MM["right"])
        section.header_distance, section.footer_distance = Mm(15), Mm(22)
        self._styles()
        self._font_table()
        self._header(section, running)
        self._page_numbers(section)
        props = self.doc.core_properties
        props.title = title
        props.author = author
        props.last_modified_by = "perfkit"
        props.subject = subject
        props.keywords = t("synthetic", self.lang) if sample else ""
        props.comments = t("synthetic_note", self.lang) if sample else ""
        props.created = props.modified = datetime.now()
        props.revision = 1
        props.language = "zh-CN" if self.lang == "zh" else "en-GB"

    def _styles(self) -> None:
        from docx.enum.text import WD_LINE_SPACING
        from docx.shared import Pt, RGBColor

        styles = self.doc.styles
        normal = styles["Normal"]
        _fonts(normal.element, FONT_BODY)
        normal.font.size = Pt(BODY_PT)
        normal.font.color.rgb = RGBColor(0, 0, 0)
        pf = normal.paragraph_format
        pf.line_spacing_rule = WD_LINE_SPACING.EXACTLY
        pf.line_spacing = Pt(LINE_PT)
        pf.space_before = pf.space_after = Pt(0)
        pf.first_line_indent = Pt(2 * BODY_PT)
        pf.widow_control = True
        # the document's defaults too: Word's and LibreOffice's fallbacks for text outside any style
        rpr = self.doc.styles.element.find(_qn("w:docDefaults")).find(_qn("w:rPrDefault")).find(_qn("w:rPr"))
        _rfonts(rpr, FONT_BODY)
        for name, face in (("Heading 1", FONT_HEADING), ("Heading 2", FONT_SUBHEADING)):
            st = styles[name]
            _fonts(st.element, face)
            st.font.size = Pt(BODY_PT)
            st.font.bold = False
            st.font.italic = False
            st.font.color.rgb = RGBColor(0, 0, 0)
            f = st.paragraph_format
            f.space_before = f.space_after = Pt(0)
            f.line_spacing_rule = WD_LINE_SPACING.EXACTLY
            f.line_spacing = Pt(LINE_PT)
            f.first_line_indent = Pt(2 * BODY_PT)
            f.keep_with_next = True
        from docx.enum.style import WD_STYLE_TYPE

        cell = styles.add_style("PK Table Text", WD_STYLE_TYPE.PARAGRAPH)
        cell.base_style = normal
        cell.font.size = Pt(TABLE_PT)
        cf = cell.paragraph_format
        cf.first_line_indent = Pt(0)
        cf.line_spacing_rule = WD_LINE_SPACING.SINGLE
        cf.space_before = cf.space_after = Pt(1)
        for name in ("Header", "Footer"):
            st = styles[name]
            _fonts(st.element, "宋体")
            st.paragraph_format.first_line_indent = Pt(0)
            st.paragraph_format.line_spacing_rule = WD_LINE_SPACING.SINGLE

    def _font_table(self) -> None:
        """Alternatives for each Chinese face, so Word and WPS substitute an installed one of its kind."""
        from lxml import etree

        part = next(p for p in self.doc.part.package.iter_parts() if str(p.partname) == "/word/fontTable.xml")
        root = etree.fromstring(part.blob)
        for name, alternatives in FALLBACKS.items():
            font = etree.SubElement(root, _qn("w:font"), {_qn("w:name"): name})
            etree.SubElement(font, _qn("w:altName"), {_qn("w:val"): ",".join(alternatives)})
            etree.SubElement(font, _qn("w:charset"), {_qn("w:val"): "86"})  # GB2312
            etree.SubElement(
                font, _qn("w:family"), {_qn("w:val"): "modern" if name != FONT_TITLE else "roman"}
            )
            etree.SubElement(font, _qn("w:pitch"), {_qn("w:val"): "fixed"})
        part._blob = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)

    def _header(self, section, running: str) -> None:
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        from docx.shared import Pt, RGBColor

        if not running:
            return
        p = section.header.paragraphs[0]
        p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        run = p.add_run(running)
        run.font.size = Pt(9)
        run.font.color.rgb = RGBColor(0x59, 0x59, 0x59)

    def _page_numbers(self, section) -> None:
        """ "— 1 —" centred in the footer: a PAGE field between em dashes (四号 宋体)."""
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        from docx.oxml import OxmlElement
        from docx.shared import Pt

        p = section.footer.paragraphs[0]
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        p.add_run("— ").font.size = Pt(14)
        for kind, text in (("begin", None), (None, "PAGE"), ("separate", None), (None, "1"), ("end", None)):
            run = p.add_run()
            run.font.size = Pt(14)
            if kind:
                fld = OxmlElement("w:fldChar")
                fld.set(_qn("w:fldCharType"), kind)
                run._r.append(fld)
            elif text == "PAGE":
                instr = OxmlElement("w:instrText")
                instr.set(_qn("xml:space"), "preserve")
                instr.text = " PAGE "
                run._r.append(instr)
            else:
                run.text = text
        p.add_run(" —").font.size = Pt(14)

    # -- blocks
    def masthead(self, issuer: str, number_prefix: str, year: int) -> None:
        """发文机关标志 in red, the 文号 line with its number left blank, and the red rule under it."""
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        from docx.shared import Pt, RGBColor

        p = self._plain(WD_ALIGN_PARAGRAPH.CENTER, line=None)
        p.paragraph_format.space_before = Pt(12)
        run = p.add_run(issuer)
        _run_font(run, FONT_TITLE)
        run.font.size = Pt(36 if self.lang == "zh" else 24)
        run.font.color.rgb = RGBColor.from_string(RED)
        p = self._plain(WD_ALIGN_PARAGRAPH.CENTER)
        p.paragraph_format.space_before = Pt(2 * LINE_PT)
        p.add_run(f"{number_prefix}〔{year}〕　　号")
        _bottom_rule(p, RED)
        self._plain(WD_ALIGN_PARAGRAPH.CENTER)  # the blank line above the title

    def title(self, text: str) -> None:
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        from docx.shared import Pt

        p = self._plain(WD_ALIGN_PARAGRAPH.CENTER, line=None)
        p.paragraph_format.line_spacing = Pt(36)
        run = p.add_run(text)
        _run_font(run, FONT_TITLE)
        run.font.size = Pt(22)  # 二号

    def centred(self, text: str) -> None:
        from docx.enum.text import WD_ALIGN_PARAGRAPH

        self._plain(WD_ALIGN_PARAGRAPH.CENTER).add_run(text)

    def notice(self, text: str) -> None:
        """The synthetic-data notice: bold, boxed, under the title."""
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        from docx.shared import Pt, RGBColor

        p = self._plain(WD_ALIGN_PARAGRAPH.LEFT, line=None)
        p.paragraph_format.space_before = Pt(6)
        run = p.add_run(text)
        run.bold = True
        run.font.size = Pt(12)
        run.font.color.rgb = RGBColor.from_string(RED)
        _box(p)

    def recipients(self, text: str) -> None:
        from docx.enum.text import WD_ALIGN_PARAGRAPH

        self._plain(WD_ALIGN_PARAGRAPH.CENTER)
        if text:
            self._plain(WD_ALIGN_PARAGRAPH.LEFT).add_run(text + ("：" if self.lang == "zh" else ":"))

    def para(self, text: str) -> None:
        self.doc.add_paragraph(text)

    def heading(self, text: str) -> None:
        number = f"{ZH_NUMERALS[self.n_heading]}、" if self.lang == "zh" else f"{self.n_heading + 1}. "
        self.n_heading += 1
        self.n_sub = 0
        self.doc.add_paragraph(number + text, style="Heading 1")

    def subheading(self, text: str) -> None:
        number = f"（{ZH_NUMERALS[self.n_sub]}）" if self.lang == "zh" else f"({self.n_sub + 1}) "
        self.n_sub += 1
        self.doc.add_paragraph(number + text, style="Heading 2")

    def table(
        self,
        df: pd.DataFrame,
        cols: list[Column],
        *,
        bold_last: bool = False,
        mark_rows: str = "",
        whole_rows: bool = True,
    ) -> None:
        """A ruled table with the header row repeated on each page; `whole_rows`: no row split across
        pages. `mark_rows`: a boolean column whose rows get their 'mark' cells shaded and in red."""
        from docx.enum.table import WD_TABLE_ALIGNMENT
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        from docx.shared import Mm, RGBColor

        if df is None or df.empty:
            self.para(t("brief.none", self.lang))
            return
        align = {
            "left": WD_ALIGN_PARAGRAPH.LEFT,
            "centre": WD_ALIGN_PARAGRAPH.CENTER,
            "right": WD_ALIGN_PARAGRAPH.RIGHT,
        }
        scale = TYPE_WIDTH_MM / sum(c.width_mm for c in cols)
        widths = [Mm(c.width_mm * scale) for c in cols]
        records = df.to_dict("records")
        tbl = self.doc.add_table(rows=1 + len(records), cols=len(cols))
        tbl.style = self.doc.styles["Table Grid"]
        tbl.alignment = WD_TABLE_ALIGNMENT.CENTER
        tbl.autofit = False
        for col, width in zip(tbl.columns, widths, strict=True):
            col.width = width
        for i, row in enumerate(tbl.rows):
            tr_pr = row._tr.get_or_add_trPr()
            if whole_rows or i == 0:
                tr_pr.append(_el("w:cantSplit"))
            if i == 0:
                tr_pr.append(_el("w:tblHeader"))  # repeated at the top of each page
            rec = records[i - 1] if i else None
            last = bold_last and i == len(records)
            marked = bool(rec and mark_rows and rec.get(mark_rows))
            for cell, c, width in zip(row.cells, cols, widths, strict=True):
                cell.width = width
                p = cell.paragraphs[0]
                p.style = self.doc.styles["PK Table Text"]
                if rec is None:
                    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
                    run = p.add_run(c.header)
                    run.bold = True
                    _shade(cell, HEAD_FILL)
                    continue
                p.alignment = align[c.align]
                run = p.add_run(c.text(rec.get(c.name)))
                if last:
                    run.bold = True
                if marked and c.fmt == "mark":
                    run.bold = True
                    run.font.color.rgb = RGBColor.from_string(RED)
                    _shade(cell, MARK_FILL)
                elif marked and c.name == "self_grade":
                    _shade(cell, MARK_FILL)
        self._plain(WD_ALIGN_PARAGRAPH.LEFT)  # a blank line after the table

    def signature(self, issuer: str, date: str) -> None:
        """落款: the bureau's name and the date to fill, right-aligned four characters from the margin."""
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        from docx.shared import Pt

        self._plain(WD_ALIGN_PARAGRAPH.LEFT)
        self._plain(WD_ALIGN_PARAGRAPH.LEFT)
        for text in (issuer, date):
            p = self._plain(WD_ALIGN_PARAGRAPH.RIGHT)
            p.paragraph_format.right_indent = Pt(4 * BODY_PT)
            p.add_run(text)

    def _plain(self, alignment, line: float | None = LINE_PT):
        """A paragraph without the body's first-line indent."""
        from docx.shared import Pt

        p = self.doc.add_paragraph()
        p.alignment = alignment
        p.paragraph_format.first_line_indent = Pt(0)
        if line is None:
            from docx.enum.text import WD_LINE_SPACING

            p.paragraph_format.line_spacing_rule = WD_LINE_SPACING.SINGLE
        return p


# ------------------------------------------------------------------------------------ xml helpers


def _qn(tag: str) -> str:
    from docx.oxml.ns import qn

    return qn(tag)


def _el(tag: str, **attrs: str):
    from docx.oxml import OxmlElement

    el = OxmlElement(tag)
    for key, value in attrs.items():
        el.set(_qn(f"w:{key}"), value)
    return el


def _rfonts(rpr, east_asia: str) -> None:
    """ascii/hAnsi in Times New Roman, eastAsia in the Chinese face (what WPS and Word read for CJK)."""
    fonts = rpr.get_or_add_rFonts() if hasattr(rpr, "get_or_add_rFonts") else rpr.find(_qn("w:rFonts"))
    if fonts is None:  # docDefaults' rPr is a plain element
        fonts = _el("w:rFonts")
        rpr.insert(0, fonts)
    for attr in list(fonts.attrib):
        if attr.endswith("Theme"):
            del fonts.attrib[attr]  # a theme font would override the names below
    for key, face in (
        ("ascii", FONT_LATIN),
        ("hAnsi", FONT_LATIN),
        ("eastAsia", east_asia),
        ("cs", FONT_LATIN),
    ):
        fonts.set(_qn(f"w:{key}"), face)


def _fonts(style_element, east_asia: str) -> None:
    _rfonts(style_element.get_or_add_rPr(), east_asia)


def _run_font(run, east_asia: str) -> None:
    _rfonts(run._r.get_or_add_rPr(), east_asia)


def _shade(cell, fill: str) -> None:
    cell._tc.get_or_add_tcPr().append(_el("w:shd", val="clear", color="auto", fill=fill))


def _border(side: str, colour: str, size: int) -> object:
    return _el(f"w:{side}", val="single", sz=str(size), space="1", color=colour)


def _bottom_rule(paragraph, colour: str) -> None:
    """The red rule under the 文号 line (a 2.25 pt paragraph border)."""
    bdr = _el("w:pBdr")
    bdr.append(_border("bottom", colour, 18))
    _insert_ppr(paragraph, bdr)


def _box(paragraph) -> None:
    bdr = _el("w:pBdr")
    for side in ("top", "left", "bottom", "right"):
        bdr.append(_border(side, RED, 6))
    _insert_ppr(paragraph, bdr)


def _insert_ppr(paragraph, element) -> None:
    """pBdr goes before spacing/ind/jc in pPr (the schema's order, which Word enforces)."""
    ppr = paragraph._p.get_or_add_pPr()
    later = [ppr.find(_qn(f"w:{n}")) for n in ("shd", "tabs", "spacing", "ind", "jc", "rPr")]
    later = [e for e in later if e is not None]
    if later:
        later[0].addprevious(element)
    else:
        ppr.append(element)
