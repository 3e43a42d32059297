"""The bad-file battery every fill-in workbook faces: the file-level attacks and accidents (empty, renamed,
truncated, encrypted, oversize, zip and XML bombs) made from a good filled file's bytes, and the cell-level
ones (text, formulas without cached values, TRUE/FALSE and dates in number cells; missing sheet, header
or template info) made by editing a good file. test_intake runs the ledger through its own table built
from these builders; test_forms runs the 分月计划, 考评结果 and 自评 workbooks through `form_cases`.
"""

from __future__ import annotations

import io
import random
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.packaging.custom import CustomPropertyList

MEDIA = "xl/media/"
BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>\n'
)


def rezip(src: Path, out: Path, change=None, extra: dict[str, bytes] | None = None) -> Path:
    """Copy an .xlsx part by part, changing parts with change(name, bytes) and adding `extra` entries."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info.filename, change(info.filename, data) if change else data)
        for name, data in (extra or {}).items():
            zout.writestr(name, data)
    return out


def docx_like() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<document/>")
    return buf.getvalue()


def with_dtd(name: str, data: bytes) -> bytes:
    if name != "xl/workbook.xml":
        return data
    return BILLION_LAUGHS + re.sub(rb"^<\?xml[^>]*\?>", b"", data)


def encrypt(good: Path, out: Path) -> Path:
    crypto = pytest.importorskip(
        "msoffcrypto.format.ooxml", reason="msoffcrypto-tool makes a real encrypted workbook"
    )
    with open(good, "rb") as src, open(out, "wb") as dst:
        crypto.OOXMLFile(src).encrypt("secret", dst)
    return out


# file-level cases: id, make(good file, out path) → bad file, reason (no sheet or cell: the file is refused whole)
# fmt: off
FILE_CASES: list[tuple[str, Callable[[Path, Path], Path], str]] = [
    ("empty", lambda g, o: _bytes(o, b""), "empty file (0 bytes)"),
    ("renamed-csv", lambda g, o: _bytes(o, "措施编号,数值\n1-8-1.1,22\n".encode()), "not an .xlsx workbook (not a zip file"),
    ("renamed-docx", lambda g, o: _bytes(o, docx_like()), "no xl/workbook.xml"),
    ("truncated", lambda g, o: _bytes(o, g.read_bytes()[: g.stat().st_size // 2]), "truncated or damaged .xlsx"),
    ("password", encrypt, "password-protected (encrypted)"),
    ("oversize", lambda g, o: rezip(g, o, extra={MEDIA + "scan.bin": random.Random(3).randbytes(6 * 2**20)}), "over the limit of 5,242,880"),
    ("zip-bomb", lambda g, o: rezip(g, o, extra={MEDIA + "zeros.bin": bytes(51 * 2**20)}), "over the limit of 20,971,520"),
    ("zip-entries", lambda g, o: rezip(g, o, extra={f"{MEDIA}{i}.bin": b"x" for i in range(600)}), "zip entries, over the limit of 500"),
    ("xml-bomb", lambda g, o: rezip(g, o, change=with_dtd), "xl/workbook.xml declares a DTD"),
]
# fmt: on


def _bytes(out: Path, data: bytes) -> Path:
    out.write_bytes(data)
    return out


@dataclass
class Form:
    """What the battery needs to know about a workbook kind."""

    name: str
    sheet: str
    fill: Callable[[Path, Path], Path]  # template, out → a good filled copy
    number_cell: (
        Callable[[Path], str] | None
    )  # template → a fill-in number cell the good copy fills (None: none)
    header_cell: str  # a required header's cell, and its text
    header: str
    # case id → (edit(ws, rows by id), cell (or template → cell), reason): duplicate rows, unknown and
    # foreign ids, in the form's own terms
    own: dict[str, tuple[Callable, Callable[[Path], str] | str, str]]


def form_cases(form: Form) -> list[tuple[str, Callable[[Path, Path], Path], str, Callable | str, str]]:
    """(id, build(template, tmp) → bad file, sheet, cell, reason) for every case of the battery."""

    def edited(edit):
        """A case made by `edit(workbook, template)` on a good filled copy."""

        def build(template: Path, tmp: Path) -> Path:
            good = form.fill(template, tmp / "good" / template.name)
            wb = load_workbook(good)
            edit(wb, template)
            out = tmp / template.name
            wb.save(out)
            return out

        return build

    def set_number(value, number_format=None):
        def edit(wb, template):
            cell = wb[form.sheet][form.number_cell(template)]
            cell.value = value
            if number_format:
                cell.number_format = number_format

        return edit

    def no_info(wb, template):
        del wb["_perfkit"]
        wb.custom_doc_props = CustomPropertyList()

    def own(edit):
        def do(wb, template):
            ws = wb[form.sheet]
            edit(ws, {ws[f"A{r}"].value: r for r in range(3, ws.max_row + 1) if ws[f"A{r}"].value})

        return do

    def from_good(make):
        def build(template: Path, tmp: Path) -> Path:
            return make(form.fill(template, tmp / "good" / template.name), tmp / template.name)

        return build

    num = form.number_cell
    out = [(case_id, from_good(make), "", "", reason) for case_id, make, reason in FILE_CASES]
    out += [
        ("missing-sheet", edited(lambda wb, t: setattr(wb[form.sheet], "title", "Sheet1")), "", "", f"missing sheet {form.sheet}"),
        ("missing-header", edited(lambda wb, t: wb[form.sheet].__setitem__(form.header_cell, "其他")), form.sheet,
         f"row {form.header_cell[1:]}", f"missing header {form.header}"),
        ("no-template-info", edited(no_info), "", "", "no template info"),
    ]  # fmt: skip
    if num is not None:  # a form without number cells (自评) skips the number cases
        out += [
        ("text-number", edited(set_number("22")), form.sheet, num, "text '22' in a number cell"),
        ("text-with-unit", edited(set_number("2300万元")), form.sheet, num, "text '2300万元'"),
        ("formula-no-cache", edited(set_number("=1+1")), form.sheet, num, "formula without a cached value"),
        ("boolean", edited(set_number(True)), form.sheet, num, "TRUE/FALSE in a number cell"),
        ("date", edited(set_number(datetime(2019, 10, 1))), form.sheet, num, "a date (2019-10-01)"),
        ("percent-format", edited(set_number(0.85, "0%")), form.sheet, num, "formatted as a percentage"),
        ]  # fmt: skip
    out += [
        (case_id, edited(own(edit)), form.sheet, cell, reason)
        for case_id, (edit, cell, reason) in form.own.items()
    ]
    return [(f"{form.name}-{c[0]}", *c[1:]) for c in out]
