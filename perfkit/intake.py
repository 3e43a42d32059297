"""Monthly intake: validate the units' 工作台账 workbooks and the turnover tables, store them, keep the raw files.

A file is accepted whole or not at all: every problem is reported (file, sheet, cell, reason) and a rejected
file leaves the store untouched. Each accepted file is one transaction, keeps its provenance (file name,
sha256, unit, month, time received) and is copied into a content-addressed archive. The same file twice
changes nothing; a later file for the same unit and month supersedes the earlier one in calculations.

Reading is defensive. The file is read once into memory (size-capped); the zip's entry count and
uncompressed size are capped; every XML part is refused if it declares a DTD (XML bombs, external entities);
the parts perfkit parses itself go through defusedxml; values come from calamine reading a rebuilt zip that
holds only those checked bytes, so nothing it parses escaped the limits. Cached values are read, formulas
are never evaluated; a formula without a cached value, an error value or a percent-formatted number in a
fill-in cell is a problem, found by a quick scan of the sheet XML.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import re
import signal
import sqlite3
import stat
import struct
import sys
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import BrokenExecutor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from .catalogue import Catalogue
from .errors import MAX_PROBLEMS_PER_FILE, InputError, Problem, StoreError
from .forms import (
    META_SHEET,
    IntakeRules,
    cell_number,
    cell_text,
    col_index,
    col_letter,
    is_blank,
    last_filled_row,
    month_text,
)
from .labels import t
from .template import ProgressSheet, check_progress_records, measure_index, read_progress_book

XLSX_MAGIC = b"PK\x03\x04"
CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE2: encrypted .xlsx or a legacy .xls
_NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_NS_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_FORMULA = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s/>]")
_ERROR_TYPE = re.compile(rb"""\st=["']e["']""")
# every marker contains b'<!' (UTF-8) or b'<\x00!' (UTF-16): two quick scans rule them all out
_DTD_MARKERS = [
    s.encode(enc) for s in ("<!DOCTYPE", "<!ENTITY") for enc in ("utf-8", "utf-16-le", "utf-16-be")
]


# ------------------------------------------------------------------------------- safe xlsx reading


@dataclass
class Book:
    """A workbook read safely: sheet names (in order), their states, values on demand, cell flags."""

    file: str
    sheets: list[str]
    states: dict[str, str]
    parts: dict[str, bytes]  # checked XML parts
    sheet_part: dict[str, str]
    _calamine: object = None
    crcs: dict[str, int] = field(default_factory=dict)  # the parts' CRC-32s, checked when they were read
    max_cells: int = IntakeRules.max_sheet_cells

    def values(self, sheet: str) -> list[list]:
        """The sheet's cached values as a grid from A1 ('' for empty cells)."""
        part = self.sheet_part.get(sheet, "")
        if part not in self.parts:
            raise InputError(Problem(self.file, f"the sheet's part {part or '(none)'} is missing", sheet))
        rows, cols = _value_extent(self.parts[part], self.file, sheet)
        if rows * cols > self.max_cells:  # calamine allocates the whole grid: one far cell is a bomb
            raise InputError(
                Problem(
                    self.file,
                    f"values reach {col_letter(cols)}{rows}: {rows:,} rows × {cols:,} columns is over the limit"
                    f" of {self.max_cells:,} cells ([intake] max_sheet_cells)",
                    sheet,
                )
            )
        if self._calamine is None:
            from python_calamine import CalamineWorkbook

            buf = io.BytesIO(_stored_zip(self.parts, self.crcs))
            try:
                self._calamine = CalamineWorkbook.from_filelike(buf)
            except Exception as exc:  # calamine's errors: the workbook XML is not what Excel writes
                raise InputError(Problem(self.file, f"not a readable .xlsx workbook ({exc})")) from exc
        try:
            return self._calamine.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
        except Exception as exc:
            raise InputError(Problem(self.file, f"sheet cannot be read ({exc})", sheet)) from exc

    def cell_flags(self, sheet: str) -> dict[str, str]:
        """Cell reference → what is wrong with it as a value: formula without cached value, error
        value, percent number format. Empty (and cheap) for the usual file with none of them."""
        xml = self.parts.get(self.sheet_part.get(sheet, ""), b"")
        percent = _percent_styles(self.parts.get("xl/styles.xml", b""), self.file)
        if not _FORMULA.search(xml) and not _ERROR_TYPE.search(xml) and not percent:
            return {}
        return _scan_cells(xml, percent, self.file, sheet)

    def properties(self, prefix: str) -> dict[str, str]:
        """Custom document properties named `prefix`…, without the prefix."""
        blob = self.parts.get("docProps/custom.xml")
        out = {}
        for prop in _xml(blob, self.file, "docProps/custom.xml") if blob else []:
            name = prop.get("name", "")
            if name.startswith(prefix) and len(prop):
                out[name[len(prefix) :]] = (prop[0].text or "").strip()
        return out


def open_book(path: Path, data: bytes, rules: IntakeRules) -> Book:
    """Check the bytes are a safe, complete .xlsx and index its sheets; problems name the file."""
    file = str(path)
    if data.startswith(CFB_MAGIC):
        if "EncryptionInfo".encode("utf-16-le") in data:
            reason = "the workbook is password-protected (encrypted): save it again without a password"
        else:
            reason = "an old .xls (Excel 97–2003) workbook, not .xlsx: save it as .xlsx"
        raise InputError(Problem(file, reason))
    if not data.startswith(XLSX_MAGIC):
        raise InputError(
            Problem(file, "not an .xlsx workbook (not a zip file: renamed, or saved in another format?)")
        )
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError) as exc:
        raise InputError(Problem(file, f"truncated or damaged .xlsx (zip: {exc})")) from exc
    if len(infos) > rules.max_zip_entries:
        raise InputError(
            Problem(file, f"{len(infos)} zip entries, over the limit of {rules.max_zip_entries}")
        )
    total = sum(i.file_size for i in infos)
    if total > rules.max_uncompressed_bytes:
        raise InputError(
            Problem(file, f"unpacks to {total:,} bytes, over the limit of {rules.max_uncompressed_bytes:,}")
        )
    names = {i.filename for i in infos}
    if "xl/workbook.xml" not in names:
        raise InputError(
            Problem(file, "not an Excel workbook (no xl/workbook.xml): renamed from another format?")
        )
    parts: dict[str, bytes] = {}
    crcs: dict[str, int] = {}
    for info in infos:
        if not info.filename.endswith((".xml", ".rels")):
            continue  # images, printer settings, macros: never read
        blob = _inflate(data, info, rules, file)  # at most the declared size, whatever it unpacks to
        if (b"<!" in blob or b"<\x00!" in blob) and any(marker in blob for marker in _DTD_MARKERS):
            raise InputError(
                Problem(file, f"{info.filename} declares a DTD or entities (refused: XML bomb risk)")
            )
        parts[info.filename] = blob
        crcs[info.filename] = info.CRC
    sheets, states, sheet_part = _sheet_index(parts, file)
    return Book(
        file=file,
        sheets=sheets,
        states=states,
        parts=parts,
        sheet_part=sheet_part,
        crcs=crcs,
        max_cells=rules.max_sheet_cells,
    )


def _inflate(data: bytes, info: zipfile.ZipInfo, rules: IntakeRules, file: str) -> bytes:
    """One zip entry's bytes, decompressed as a stream that stops one byte past the size the central
    directory declares (whose total is capped): a header that lies about the size costs that much memory
    and no more (zipfile's own read inflates each compressed chunk whole first: 1 GiB of spaces from a
    1 MB entry). The compression ratio is capped too, and the CRC-32 checked."""
    name = info.filename

    def damaged(reason: str) -> InputError:
        return InputError(Problem(file, f"truncated or damaged .xlsx ({name}: {reason})"))

    declared = info.file_size
    if declared > 2**20 and declared > rules.max_compression_ratio * max(info.compress_size, 1):
        raise InputError(
            Problem(
                file,
                f"{name} unpacks {declared // max(info.compress_size, 1):,} times its packed size, over the"
                f" limit of {rules.max_compression_ratio:,} (a zip bomb?)",
            )
        )
    if info.flag_bits & 0x1:
        raise damaged("encrypted entry")
    off = info.header_offset
    head = data[off : off + 30]
    if len(head) < 30 or head[:4] != XLSX_MAGIC:
        raise damaged("no local header")
    start = off + 30 + int.from_bytes(head[26:28], "little") + int.from_bytes(head[28:30], "little")
    packed = memoryview(data)[start : start + info.compress_size]
    if len(packed) < info.compress_size:
        raise damaged("cut short")
    if info.compress_type == zipfile.ZIP_STORED:
        out = bytes(packed)
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        buf = bytearray()
        try:
            while True:  # max_length: zlib produces at most that much and keeps the rest of the input
                buf += inflater.decompress(packed, declared + 1 - len(buf))
                if len(buf) > declared:
                    raise InputError(
                        Problem(
                            file,
                            f"{name} unpacks to more than the {declared:,} bytes its zip headers declare"
                            " (a forged or damaged zip): refused",
                        )
                    )
                packed = inflater.unconsumed_tail
                if inflater.eof or not packed:
                    break
        except zlib.error as exc:
            raise damaged(str(exc)) from exc
        if not inflater.eof:
            raise damaged("compressed data cut short")
        out = bytes(buf)
    else:
        raise damaged(f"compression method {info.compress_type} is not one Excel uses")
    if len(out) != declared:
        raise damaged(f"{len(out):,} bytes, its zip headers declare {declared:,}")
    if zlib.crc32(out) != info.CRC:
        raise damaged("Bad CRC-32")
    return out


# a cell's opening tag, and its closing tag when nothing stands between them (`<c r="A9" s="1"></c>`: the
# empty cell as lxml-backed writers, openpyxl among them, write it)
_CELL_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?c(\s[^>]*)?>(\s*</(?:[A-Za-z_][\w.-]*:)?c\s*>)?")
_CELL_REF = re.compile(rb"""\sr\s*=\s*["']([A-Za-z]{1,3})([0-9]{1,7})["']""")


def _value_extent(xml: bytes, file: str, sheet: str) -> tuple[int, int]:
    """(last row, last column) of the cells that may hold a value (not the empty `<c …/>` Excel keeps for
    formatting), from a regex pass over the sheet XML: cheap, and memory-flat whatever the sheet's size."""
    rows = 0
    widest = ""
    for m in _CELL_TAG.finditer(xml):
        attrs = m.group(1) or b""
        if attrs.endswith(b"/") or m.group(2):
            continue  # <c r="A9" s="1"/> or <c r="A9" s="1"></c>: formatting only
        ref = _CELL_REF.search(attrs)
        if ref is None:  # cells placed by position: the element walk knows where they are
            return _value_extent_walk(xml, file, sheet)
        letters = ref.group(1).decode().upper()
        if (len(letters), letters) > (len(widest), widest):
            widest = letters
        rows = max(rows, int(ref.group(2)))
    return rows, col_index(widest) if widest else 0


def _value_extent_walk(xml: bytes, file: str, sheet: str) -> tuple[int, int]:
    """`_value_extent` for sheets whose rows or cells omit their references (they follow the previous one)."""
    from defusedxml.ElementTree import ParseError

    rows = cols = 0
    try:
        for row, col, el in _cells(xml):
            if len(el):
                rows, cols = max(rows, row), max(cols, col)
    except (ParseError, ValueError) as exc:
        raise InputError(Problem(file, f"damaged sheet XML ({exc})", sheet)) from exc
    return rows, cols


def _stored_zip(parts: dict[str, bytes], crcs: dict[str, int]) -> bytes:
    """An uncompressed zip of `parts`, written directly: zipfile.writestr costs more than calamine's read of
    a whole workbook. The CRCs are the ones the reads checked (computed for a part without one)."""
    if len(parts) >= 0xFFFF or sum(len(d) for d in parts.values()) >= 0xFFFFFFFF // 2:
        buf = io.BytesIO()  # beyond the plain zip format: let zipfile write zip64
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
            for name, data in parts.items():
                z.writestr(name, data)
        return buf.getvalue()
    out, central = bytearray(), bytearray()
    for name, data in parts.items():
        raw = name.encode("utf-8")
        flags = 0 if raw.isascii() else 0x800  # UTF-8 names
        crc = crcs.get(name)
        crc = zlib.crc32(data) if crc is None else crc
        offset = len(out)
        # version 2.0, no compression, DOS date 1980-01-01 00:00
        out += struct.pack(
            "<4s5H3L2H", b"PK\x03\x04", 20, flags, 0, 0, 0x21, crc, len(data), len(data), len(raw), 0
        )
        out += raw
        out += data
        central += struct.pack(
            "<4s6H3L5H2L", b"PK\x01\x02", 20, 20, flags, 0, 0, 0x21, crc, len(data), len(data), len(raw),
            0, 0, 0, 0, 0, offset,
        )  # fmt: skip
        central += raw
    start = len(out)
    out += central
    out += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(parts), len(parts), len(central), start, 0)
    return bytes(out)


def _xml(blob: bytes, file: str, part: str):
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    try:
        return fromstring(blob)
    except (ParseError, DefusedXmlException) as exc:
        raise InputError(Problem(file, f"damaged workbook part {part} ({exc})")) from exc


def _sheet_index(parts: dict[str, bytes], file: str) -> tuple[list[str], dict[str, str], dict[str, str]]:
    wb = _xml(parts["xl/workbook.xml"], file, "xl/workbook.xml")
    rels_blob = parts.get("xl/_rels/workbook.xml.rels", b"")
    targets = {}
    if rels_blob:
        for rel in _xml(rels_blob, file, "xl/_rels/workbook.xml.rels").iter(f"{_NS_PKG_REL}Relationship"):
            target = rel.get("Target", "")
            target = target.lstrip("/") if target.startswith("/") else "xl/" + target
            targets[rel.get("Id")] = os.path.normpath(target).replace(os.sep, "/")
    sheets, states, sheet_part = [], {}, {}
    for s in wb.iter(f"{_NS_MAIN}sheet"):
        name = s.get("name", "")
        sheets.append(name)
        states[name] = s.get("state", "visible")
        sheet_part[name] = targets.get(s.get(f"{_NS_REL}id"), "")
    return sheets, states, sheet_part


def _percent_styles(styles: bytes, file: str) -> set[int]:
    """Indices of cell formats that show numbers as percentages (built-in 9/10 or a custom code with %)."""
    if not styles or (
        b"%" not in styles and b'numFmtId="9"' not in styles and b'numFmtId="10"' not in styles
    ):
        return set()
    root = _xml(styles, file, "xl/styles.xml")
    custom = {int(n.get("numFmtId", -1)): n.get("formatCode", "") for n in root.iter(f"{_NS_MAIN}numFmt")}
    xfs = root.find(f"{_NS_MAIN}cellXfs")
    out = set()
    for i, xf in enumerate(xfs if xfs is not None else []):
        fid = int(xf.get("numFmtId", 0))
        code = re.sub(r'"[^"]*"|\\.', "", custom.get(fid, ""))  # a quoted or escaped % is text
        if fid in (9, 10) or "%" in code:
            out.add(i)
    return out


def _cells(xml: bytes) -> Iterator[tuple[int, int, object]]:
    """(row, column, element) of each cell of a sheet's XML, streamed (each element cleared after its turn).
    Rows and cells may omit their references: they follow the previous one."""
    from defusedxml.ElementTree import iterparse

    row, col = 0, 0
    for event, el in iterparse(io.BytesIO(xml), events=("start", "end")):
        tag = el.tag.rsplit("}", 1)[-1]
        if tag == "row":
            if event == "start":
                row, col = int(el.get("r") or row + 1), 0
            else:
                el.clear()
            continue
        if tag != "c" or event != "end":
            continue
        ref = el.get("r")
        if ref:
            letters = ref.rstrip("0123456789")
            row, col = int(ref[len(letters) :]), col_index(letters)
        else:
            col += 1
        yield row, col, el
        el.clear()


def _scan_cells(xml: bytes, percent: set[int], file: str, sheet: str) -> dict[str, str]:
    flags: dict[str, str] = {}
    for row, col, el in _cells(xml):
        ref = f"{col_letter(col)}{row}"
        f = v = None
        for child in el:
            name = child.tag.rsplit("}", 1)[-1]
            f = child if name == "f" else f
            v = child if name in ("v", "is") else v
        if el.get("t") == "e":
            flags[ref] = f"error value {v.text if v is not None else ''} (fix the formula or type the value)"
        elif f is not None and (v is None or (v.text in (None, "") and el.get("t") not in ("str", "s"))):
            flags[ref] = "formula without a cached value: open and save it in Excel, or type the value"
        elif percent and int(el.get("s", 0)) in percent:
            flags[ref] = "formatted as a percentage: type 60 for 60%, in a cell without the % format"
    return flags


# -------------------------------------------------------------------------------- turnover tables


def _too_many_rows(n: int, limit: int, file: str, sheet: str = "") -> None:
    if n > limit:  # a turnover table is a few hundred rows; a bigger one would only cost memory
        raise InputError(
            Problem(file, f"{n:,} data rows, over the limit of {limit:,} ([intake] max_table_rows)", sheet)
        )


def turnover_frame(
    grid: list[list], file: str, sheet: str, flags: dict[str, str], max_rows: int = 10_000
) -> pd.DataFrame | None:
    """A sheet grid as a turnover table (header in row 1), or None when its headers are not a turnover
    table's. Number cells must hold numbers; month cells may be dates."""
    from .turnover import canonical_columns

    if not grid or not any(not is_blank(v) for v in grid[0]):
        return None
    grid = grid[: last_filled_row(grid) + 1]  # the empty rows Excel leaves below a table are not data
    header = [cell_text(v) for v in grid[0]]
    try:
        canonical_columns(pd.DataFrame(columns=header), file, sheet)
    except InputError:
        return None
    _too_many_rows(len(grid) - 1, max_rows, file, sheet)
    frame = pd.DataFrame([list(r) + [""] * (len(header) - len(r)) for r in grid[1:]], columns=header)
    canon = canonical_columns(frame, file, sheet)
    problems = []
    letters = {c: col_letter(i + 1) for i, c in enumerate(canon.columns)}
    for i, rec in enumerate(canon.to_dict("records"), start=2):
        for key in ("month", "passenger_km", "ton_km", "official_yoy_pct"):
            if key not in letters:
                continue
            ref = f"{letters[key]}{i}"
            if ref in flags and (key == "official_yoy_pct" or not flags[ref].startswith("formatted")):
                problems.append(Problem(file, flags[ref], sheet, ref))
            elif key != "month" and not is_blank(rec[key]):
                _, reason = cell_number(rec[key])
                if reason:
                    problems.append(Problem(file, reason, sheet, ref))
    if problems:
        raise InputError(problems)
    canon["month"] = canon["month"].map(month_text)
    return canon


def check_turnover(
    frame: pd.DataFrame, file: str, sheet: str, letters: dict[str, str], today: date
) -> pd.DataFrame:
    """Normalise to monthly values (perfkit.turnover) and refuse months after the current one."""
    from .turnover import normalise_turnover, parse_period

    problems = []
    now = pd.Period(today, freq="M")
    for i, v in enumerate(frame["month"], start=2):
        try:
            month, _ = parse_period(v)
        except ValueError:
            continue  # reported by normalise_turnover
        if month > now:
            problems.append(
                Problem(file, f"month {month} is in the future", sheet, f"{letters.get('month', 'A')}{i}")
            )
    if problems:
        raise InputError(problems)
    return normalise_turnover(frame, file, sheet, letters)


def read_turnover_csv(data: bytes, file: str, max_rows: int = 10_000) -> tuple[pd.DataFrame, dict[str, str]]:
    """A CSV turnover table: UTF-8 (with or without BOM) or GB18030 as saved by Chinese Excel. Trailing
    lines of nothing but commas are not data; more than `max_rows` data rows are refused before pandas
    reads them (a 5 MB table of 250,000 rows would cost 250 MB)."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InputError(Problem(file, "not text in UTF-8 or GB18030"))
    lines = text.splitlines()
    while lines and not lines[-1].strip(", \t"):
        lines.pop()
    _too_many_rows(len(lines) - 1, max_rows, file)
    text = "\n".join(lines) + "\n"
    del lines
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(Problem(file, f"not a readable CSV table ({exc})")) from exc
    from .turnover import canonical_columns

    frame = canonical_columns(frame, file)
    return frame, {c: col_letter(i + 1) for i, c in enumerate(frame.columns)}


# ----------------------------------------------------------------------------------------- ingest


@dataclass
class IngestResult:
    file: str
    status: str  # 'added' or 'duplicate'
    kind: str
    submission_id: int
    sha256: str
    unit: str = ""
    month: str = ""
    rows: int = 0
    blank: list[str] = field(default_factory=list)  # the unit's measures left out
    supersedes: int | None = None
    archive_path: str = ""

    def describe(self) -> str:
        if self.status == "duplicate":
            return f"{self.file}: already ingested as submission {self.submission_id}; nothing changed"
        what = f"turnover up to {self.month}, " if self.kind == "turnover" else f"{self.unit} {self.month}, "
        what = what.lstrip()
        text = f"{self.file}: added submission {self.submission_id} ({self.kind}: {what}{self.rows} rows"
        if self.blank:
            text += f"; not reported: {', '.join(self.blank)}"
        if self.supersedes:
            text += f"; supersedes submission {self.supersedes}"
        return text + ")"


@dataclass
class IngestReport:
    results: list[IngestResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # files refused whole
    max_problems_per_file: int = MAX_PROBLEMS_PER_FILE  # lines printed per file ([intake])
    stopped: str = ""  # the signal that stopped the batch early ('SIGINT', 'SIGTERM')
    failed: Problem | None = None  # the file the store or the archive could not take, and why
    not_stored: list[str] = field(default_factory=list)  # that file and the ones after it, not tried

    @property
    def ok(self) -> bool:
        return not self.problems and not self.failed and not self.stopped

    def summary(self) -> str:
        added = sum(r.status == "added" for r in self.results)
        total = len(self.results) + len(self.rejected) + len(self.not_stored)
        text = f"{total} files: {added} added, {len(self.results) - added} already ingested, {len(self.rejected)} rejected"
        if self.not_stored:
            why = f"stopped by {self.stopped}" if self.stopped else "the store or archive failed"
            shown = ", ".join(self.not_stored[:20])
            more = f" … and {len(self.not_stored) - 20} more" if len(self.not_stored) > 20 else ""
            text += f", {len(self.not_stored)} not stored ({why}): {shown}{more}"
        return text


def default_archive(db: str | os.PathLike | None = None) -> Path:
    """Next to the store: data/archive for the default data/perfkit.sqlite."""
    from .config import db_path

    return db_path(db).parent / "archive"


def archive_raw(data: bytes, sha: str, suffix: str, archive_dir: Path, *, sync_dir: bool = True) -> Path:
    """Copy the raw bytes to archive_dir/<sha256><suffix>, read-only; an existing copy is kept as is.

    The copy is fsynced before it is renamed into place; with `sync_dir` the directory is fsynced too, so
    the new name is durable when this returns (`ingest_files` passes False and fsyncs the directory itself).
    """
    archive_dir.mkdir(parents=True, exist_ok=True)
    dest = archive_dir / f"{sha}{suffix.lower()}"
    if dest.exists():
        if hashlib.sha256(dest.read_bytes()).hexdigest() != sha:
            raise StoreError(f"archive file {dest} does not match its name: refusing to overwrite it")
        return dest
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        _write_synced(tmp, data)
        os.replace(tmp, dest)  # appears whole or not at all
    finally:
        if tmp.exists():
            tmp.unlink()
    if sync_dir:
        fsync_dir(archive_dir)
    return dest


def _write_synced(path: Path, data: bytes) -> None:
    """Write `data` to `path`, fsync it and make it read-only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        os.fchmod(fd, 0o444)
    finally:
        os.close(fd)


def fsync_dir(directory: Path) -> None:
    """Make renames and new names in `directory` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # e.g. Windows: directory entries are written through
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def parse_file(path: Path, data: bytes, rules: IntakeRules) -> tuple[str, object]:
    """('progress', ProgressSheet) or ('turnover', (frame, letters, sheet)); file-only checks."""
    file = str(path)
    if path.suffix.lower() == ".csv" and not data.startswith((XLSX_MAGIC, CFB_MAGIC)):
        frame, letters = read_turnover_csv(data, file, rules.max_table_rows)
        return "turnover", (frame, letters, "")
    book = open_book(path, data, rules)
    from .form_kinds import form_kind, parse_form

    if form_kind(book):  # a 分月计划 or 考评结果 workbook (perfkit.forms)
        return "form", parse_form(book, path.name)
    if t("intake.sheet") in book.sheets or META_SHEET in book.sheets:
        return "progress", read_progress_book(book, path.name)
    for sheet in book.sheets:
        if book.states.get(sheet, "visible") != "visible":
            continue
        frame = turnover_frame(book.values(sheet), file, sheet, book.cell_flags(sheet), rules.max_table_rows)
        if frame is not None:
            return "turnover", (frame, {c: col_letter(i + 1) for i, c in enumerate(frame.columns)}, sheet)
    raise InputError(
        Problem(
            file,
            f"missing sheet {t('intake.sheet')} (sheets: {', '.join(book.sheets)}), and no sheet has a turnover"
            " table's headers in row 1 (月份, 运输方式, 旅客周转量, 货物周转量)",
        )
    )


@dataclass
class _Loaded:
    """A file read and checked on its own (no store involved): its bytes, sha256 and parsed content."""

    path: Path
    data: bytes
    sha: str
    kind: str
    parsed: object


def _read(path: str | os.PathLike, rules: IntakeRules) -> tuple[Path, bytes, str]:
    """A file's bytes (after the size checks) and their sha256."""
    path = Path(path)
    file = str(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(Problem(file, f"cannot read the file ({exc.strerror or exc})")) from exc
    if size == 0:
        raise InputError(Problem(file, "empty file (0 bytes)"))
    if size > rules.max_file_bytes:
        raise InputError(
            Problem(
                file,
                f"file is {size:,} bytes, over the limit of {rules.max_file_bytes:,} ([intake] max_file_mb)",
            )
        )
    try:  # read once: what is checked, hashed and archived are the same bytes (and no more than the limit,
        # should the file grow after its size was checked)
        with open(path, "rb") as fh:
            data = fh.read(rules.max_file_bytes + 1)
    except OSError as exc:
        raise InputError(Problem(file, f"cannot read the file ({exc.strerror or exc})")) from exc
    if len(data) > rules.max_file_bytes:
        raise InputError(Problem(file, f"file grew past the limit of {rules.max_file_bytes:,} while read"))
    return path, data, hashlib.sha256(data).hexdigest()


def _load(path: str | os.PathLike, rules: IntakeRules) -> _Loaded:
    path, data, sha = _read(path, rules)
    kind, parsed = parse_file(path, data, rules)
    return _Loaded(path, data, sha, kind, parsed)


@dataclass
class _Context:
    """What every file of one call shares: the catalogue and what is derived from it once, the archive."""

    catalogue: Catalogue
    rules: IntakeRules
    archive_dir: Path
    measures: dict[str, dict]
    unit_measures: dict[str, list[str]]  # reporting unit → its monthly measures, catalogue order
    pool: ThreadPoolExecutor | None = None  # archive copies are written (and fsynced) here when set
    # the group's new archive copies, written, being fsynced, not yet in place (see _archive)
    pending: list[_Copy] = field(default_factory=list)
    shown_dir: str = ""  # the archive folder as recorded (resolved once, not once per file)
    staging: Iterator[int] = field(default_factory=itertools.count)
    # What this call knows of the store, valid while MAX(submissions.id) is what it last saw (see _sync):
    latest_ids: dict[str, dict[str, int]] = field(default_factory=dict)  # see _latest_submissions
    accepted: dict[str, dict[str, list[tuple[str, str, float]]]] = field(
        default_factory=dict
    )  # _last_accepted_map
    seen_max_id: int | None = None
    catalogue_version: str | None = None  # the store's, recorded with each submission

    @classmethod
    def make(cls, catalogue: Catalogue, rules: IntakeRules, archive_dir: str | os.PathLike) -> _Context:
        measures = measure_index(catalogue)
        by_unit: dict[str, list[str]] = {}
        for mid, m in measures.items():
            if m["schedule"] != "statistic":
                by_unit.setdefault(m["reporting_unit"], []).append(mid)
        return cls(catalogue, rules, Path(archive_dir), measures, by_unit)


def ingest_file(
    conn: sqlite3.Connection,
    path: str | os.PathLike,
    *,
    archive_dir: str | os.PathLike,
    today: date | None = None,
    catalogue: Catalogue | None = None,
    rules: IntakeRules | None = None,
    before_commit: Callable[[], None] | None = None,
) -> IngestResult:
    """Validate one file and store it in one transaction, or raise InputError and change nothing.

    `today` decides what a future month is (the current calendar month is the latest allowed).
    `before_commit` runs inside the transaction just before COMMIT (crash-safety tests use it).
    """
    from .store import read_catalogue

    catalogue = catalogue or read_catalogue(conn)
    rules = rules or IntakeRules.from_plan(catalogue.plan)
    ctx = _Context.make(catalogue, rules, archive_dir)
    try:
        [outcome] = _store_group(conn, [_load(path, rules)], ctx, today or date.today(), before_commit)
    except _WriteFailed as exc:
        raise exc.error from exc
    if isinstance(outcome, InputError):
        raise outcome
    return outcome


class _WriteFailed(Exception):
    """The store or the archive could not take a write (disk full, a file-size limit, an I/O error): the
    group's transaction was rolled back. `at`: the group's file in hand, or None (the commit itself)."""

    def __init__(self, at: int | None, error: BaseException):
        super().__init__(str(error))
        self.at, self.error = at, error


_WRITE_ERRORS = (sqlite3.Error, OSError, StoreError)


def _store_group(
    conn: sqlite3.Connection,
    group: list[_Loaded],
    ctx: _Context,
    today: date,
    before_commit: Callable[[], None] | None = None,
) -> list[IngestResult | InputError]:
    """Store files in one transaction, each under its own savepoint: a file refused against the store
    (InputError) is rolled back to its savepoint alone and the others go on; its outcome is the error.

    Every accepted file's archive copy is in place and fsynced, and the archive folder fsynced once,
    before the COMMIT: a committed submission always has its raw file. When the store or the archive
    cannot take a write, the whole transaction is rolled back and _WriteFailed raised (nothing of the
    group stored; the caller tries its files one at a time to name the one that does not fit). A kill at
    any point leaves the store as it was before the group (SQLite's journal), at worst an archive copy
    with no submission (content-addressed: reused when the file comes again).
    """
    outcomes: list[IngestResult | InputError] = []
    try:
        try:
            conn.execute("BEGIN IMMEDIATE")
            _sync(conn, ctx)
        except _WRITE_ERRORS as exc:
            raise _WriteFailed(0, exc) from exc
        for k, loaded in enumerate(group):
            try:
                outcomes.append(_store_one(conn, loaded, ctx, today))
            except InputError as exc:
                outcomes.append(exc)
            except _WRITE_ERRORS as exc:
                raise _WriteFailed(k, exc) from exc
        try:
            _settle_archive(ctx)  # the raw files are durable, in place, before the rows that point to them
            if before_commit is not None:
                before_commit()
            conn.execute("COMMIT")
        except _WRITE_ERRORS as exc:
            raise _WriteFailed(None, exc) from exc
    except BaseException:
        _abandon(conn, ctx)
        raise
    return outcomes


def _abandon(conn: sqlite3.Connection, ctx: _Context) -> None:
    """Roll the group back (unless SQLite already did, on a full disk or an I/O error: then the ROLLBACK
    is skipped, so the error reported is the real one) and forget what it taught this call's caches."""
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the journal undoes whatever was written when the store is next opened
    _drop_pending(ctx.pending)
    ctx.pending.clear()
    ctx.latest_ids.clear()
    ctx.accepted.clear()
    ctx.seen_max_id = None


def _store_one(conn: sqlite3.Connection, loaded: _Loaded, ctx: _Context, today: date) -> IngestResult:
    """One file inside the group's transaction, under its own savepoint."""
    conn.execute("SAVEPOINT perfkit_file")
    archived = len(ctx.pending)
    try:
        result = _store_loaded(conn, loaded, ctx, today)
    except BaseException:
        _drop_pending(ctx.pending[archived:])  # this file's archive copy, if it got one
        del ctx.pending[archived:]
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK TO perfkit_file")
                conn.execute("RELEASE perfkit_file")
            except sqlite3.Error:
                pass  # SQLite rolled the whole transaction back itself; the group is abandoned
        raise
    conn.execute("RELEASE perfkit_file")
    if result.status == "added":  # our own submission: the caches stay valid (see _sync)
        ctx.seen_max_id = result.submission_id
    return result


def _sync(conn: sqlite3.Connection, ctx: _Context) -> None:
    """At the start of a group's transaction: drop the caches when anyone else added a submission since
    this call last looked (submissions are append-only, so MAX(id) tells), and read the catalogue version
    once. Inside the transaction nobody else can write, so this is checked once per group, not per file."""
    top = conn.execute("SELECT MAX(id) FROM submissions").fetchone()[0]
    if top != ctx.seen_max_id:
        ctx.latest_ids.clear()
        ctx.accepted.clear()
        ctx.seen_max_id = top
    if ctx.catalogue_version is None:
        ctx.catalogue_version = conn.execute(
            "SELECT value FROM meta WHERE key = 'catalogue_version'"
        ).fetchone()[0]


def _store_loaded(conn: sqlite3.Connection, loaded: _Loaded, ctx: _Context, today: date) -> IngestResult:
    """The store part of an ingest, inside the caller's transaction: the checks against the store, the
    archive copy (see `_archive`), the submission and its rows; InputError before anything is written."""
    from .store import insert_turnover

    path, sha, kind, parsed = loaded.path, loaded.sha, loaded.kind, loaded.parsed
    file = str(path)
    catalogue, rules = ctx.catalogue, ctx.rules

    dup = conn.execute(
        "SELECT id, kind FROM submissions WHERE sha256 = ? ORDER BY id LIMIT 1", (sha,)
    ).fetchone()
    if dup:
        return IngestResult(file, "duplicate", dup[1], int(dup[0]), sha)
    if kind == "progress":
        sheet: ProgressSheet = parsed
        month = sheet.meta.get("month", "")
        unit = sheet.meta.get("unit", "")
        latest = _latest_submissions(conn, ctx, unit)
        last = _last_accepted_map(conn, ctx, unit, latest, month)
        rows, problems = check_progress_records(
            sheet, catalogue, last, rules, file, today, measures=ctx.measures
        )
        if problems:
            raise InputError(problems)
        prior = latest.get(month)  # the latest earlier submission for this unit and month
        sid, shown = _submit(
            conn,
            ctx,
            loaded,
            "progress",
            ".xlsx",
            unit=unit,
            month=month,
            rows=len(rows),
            sign_off=sheet.sign_off,
        )
        stored = _insert_progress(conn, sid, rows)
        # this call's view of the unit follows its own submission (rolled back with the group, if it is)
        latest[month] = sid
        if unit in ctx.accepted:
            ctx.accepted[unit][month] = [(r[1], r[2], r[3]) for r in stored if r[3] is not None]
        given = {r["measure_id"] for r in rows}
        blank = [mid for mid in ctx.unit_measures.get(unit, []) if mid not in given]
        return IngestResult(file, "added", "progress", sid, sha, unit, month, len(rows), blank, prior, shown)
    if kind == "form":
        return _ingest_form(conn, loaded, ctx, today)
    frame, letters, sheet_name = parsed
    rows = check_turnover(frame, file, sheet_name, letters, today)
    month = str(rows["month"].max())
    sid, shown = _submit(conn, ctx, loaded, "turnover", ".csv", month=month, rows=len(rows))
    insert_turnover(conn, sid, rows)
    return IngestResult(file, "added", "turnover", sid, sha, "", month, len(rows), [], None, shown)


def _ingest_form(conn: sqlite3.Connection, loaded: _Loaded, ctx: _Context, today: date) -> IngestResult:
    """A form workbook (perfkit.forms) inside the file's transaction: checked against the catalogue and the
    store, archived, recorded with its provenance and stored, or InputError and nothing changed."""
    from .form_kinds import check_form, store_form

    sheet, file = loaded.parsed, str(loaded.path)
    checked = check_form(conn, sheet, ctx.catalogue, file, today)
    sid, shown = _submit(
        conn,
        ctx,
        loaded,
        sheet.kind,
        ".xlsx",
        unit=checked.unit,
        month=checked.month,
        rows=len(checked.rows),
        sign_off=sheet.sign_off,
    )
    store_form(conn, sid, sheet.kind, checked)
    return IngestResult(
        file, "added", sheet.kind, sid, loaded.sha, checked.unit, checked.month, len(checked.rows),
        [], checked.supersedes, shown,
    )  # fmt: skip


def _submit(
    conn: sqlite3.Connection,
    ctx: _Context,
    loaded: _Loaded,
    kind: str,
    default_suffix: str,
    *,
    rows: int,
    unit: str = "",
    month: str = "",
    sign_off: dict | None = None,
) -> tuple[int, str]:
    """An accepted file's archive copy and its submission row (its provenance, the workbook's 填报人/审核人/
    填报日期 `sign_off` included): (submission id, the archive path recorded)."""
    from .store import add_submission

    shown = _archive(ctx, loaded, loaded.path.suffix or default_suffix)
    sid = add_submission(
        conn,
        kind=kind,
        file_name=loaded.path.name,
        sha256=loaded.sha,
        unit=unit,
        month=month,
        archive_path=shown,
        rows=rows,
        catalogue_version=ctx.catalogue_version,
        **(sign_off or {}),
    )
    return sid, shown


def _latest_submissions(conn: sqlite3.Connection, ctx: _Context, unit: str) -> dict[str, int]:
    """month → id of the unit's latest progress submission for it (call inside a group's transaction,
    after `_sync`). Read once per unit per call, not per file (a scan of all submissions each time made
    intake slower as the store grew), and kept up to date with this call's own submissions."""
    got = ctx.latest_ids.get(unit)
    if got is None:
        got = dict(
            conn.execute(
                "SELECT month, MAX(id) FROM submissions WHERE kind = 'progress' AND unit = ? GROUP BY month",
                (unit,),
            ).fetchall()
        )
        ctx.latest_ids[unit] = got
    return got


def _archive(ctx: _Context, loaded: _Loaded, suffix: str) -> str:
    """Archive an accepted file (inside its transaction) and return the path recorded for it.

    Alone (`ingest_file`), the copy is written, fsynced and renamed into place at once. In a group
    (`ingest_files`) it is written under a temporary name now and its fsync started on a helper thread
    (the waits overlap each other and the next files' work); `_settle_archive` waits for them, renames
    the copies into place and fsyncs the folder once, before the group's COMMIT."""
    data, sha = loaded.data, loaded.sha
    if ctx.pool is None:
        return _shown(archive_raw(data, sha, suffix, ctx.archive_dir))
    if not ctx.shown_dir:
        ctx.shown_dir = _shown(ctx.archive_dir)
    dest = ctx.archive_dir / f"{sha}{suffix.lower()}"
    if os.path.exists(dest):
        archive_raw(data, sha, suffix, ctx.archive_dir, sync_dir=False)  # kept as is, or refused
    else:
        tmp = ctx.archive_dir / f".{dest.name}.{os.getpid()}.{next(ctx.staging)}.tmp"
        fd = _write_unsynced(tmp, data, ctx.archive_dir)
        ctx.pending.append(_Copy(fd, tmp, dest, ctx.pool.submit(os.fsync, fd)))
    return os.path.join(ctx.shown_dir, dest.name)


@dataclass
class _Copy:
    """An archive copy on its way: written under `tmp`, being fsynced (`synced`), to be renamed to `dest`."""

    fd: int
    tmp: Path
    dest: Path
    synced: Future


def _write_unsynced(path: Path, data: bytes, folder: Path) -> int:
    """Create `path` read-only with `data`, and return its open descriptor for the fsync to come."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o444)  # the mode applies to the new file; this descriptor may write
    except FileNotFoundError:  # the first copy: make the folder (not per file: it is a syscall more)
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, flags, 0o444)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except BaseException:
        os.close(fd)
        _discard(path)
        raise
    return fd


def _settle_archive(ctx: _Context) -> None:
    """The group's new archive copies made durable and put in place: each one's fsync done, then renamed
    to its content address; then the folder fsynced once."""
    if not ctx.pending:
        return
    pending, ctx.pending = ctx.pending, []
    try:
        for copy in pending:
            copy.synced.result()  # a failed fsync (an I/O error) fails the group
    except BaseException:
        _drop_pending(pending)
        raise
    for copy in pending:
        os.close(copy.fd)
        if os.path.exists(copy.dest):  # another process archived the same bytes meanwhile: keep theirs
            _discard(copy.tmp)
        else:
            os.replace(copy.tmp, copy.dest)  # appears whole or not at all
    fsync_dir(ctx.archive_dir)


def _drop_pending(pending: list[_Copy]) -> None:
    """Close and delete archive copies that will not be renamed into place (their file was rolled back)."""
    for copy in pending:
        try:
            copy.synced.result()  # not closed under a running fsync
        except Exception:
            pass
        try:
            os.close(copy.fd)
        except OSError:
            pass
        _discard(copy.tmp)


def _discard(tmp: Path | None) -> None:
    if tmp is not None:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass


def _insert_progress(conn: sqlite3.Connection, submission_id: int, rows: list[dict]) -> list[tuple]:
    """store.insert_progress for check_progress_records' plain records (no DataFrame round trip); returns
    the rows as stored (submission_id, measure_id, month, cumulative, status, note)."""
    from .store import _num

    stored = [
        (
            submission_id,
            r["measure_id"],
            str(r["month"]),
            _num(r["cumulative"]),
            r["status"] or "",
            r["note"] or "",
        )
        for r in rows
    ]
    conn.executemany(
        "INSERT INTO progress (submission_id, measure_id, month, cumulative, status, note) VALUES (?,?,?,?,?,?)",
        stored,
    )
    return stored


_LAST_ACCEPTED_SQL = """
    WITH latest AS (
        SELECT month, MAX(id) AS id FROM submissions
        WHERE kind = 'progress' AND unit = ? AND month <= ? GROUP BY month
    ), values_ AS (
        SELECT p.measure_id, p.month, p.cumulative,
               ROW_NUMBER() OVER (PARTITION BY p.measure_id ORDER BY p.month DESC) AS k
        FROM progress p JOIN latest l ON p.submission_id = l.id
        WHERE p.cumulative IS NOT NULL
    )
    SELECT measure_id, month, cumulative FROM values_ WHERE k = 1
"""


def last_accepted(conn: sqlite3.Connection, unit: str, month: str) -> pd.DataFrame:
    """The last accepted number for each of `unit`'s measures up to `month` (latest submission per unit
    and month, as in `store.read_progress`; status-only rows skipped), read for this unit only so intake
    stays fast as the store grows. Columns: measure_id, month, cumulative."""
    rows = conn.execute(_LAST_ACCEPTED_SQL, (unit, month)).fetchall()
    return pd.DataFrame(rows, columns=["measure_id", "month", "cumulative"])


def _last_accepted_map(
    conn: sqlite3.Connection, ctx: _Context, unit: str, latest: dict[str, int], month: str
) -> dict[str, tuple[str, float]]:
    """`last_accepted` as measure_id → (month, cumulative): the same rows, from the unit's latest
    submission per month (`_latest_submissions`) up to `month`. Their numbers are read once per unit per
    call and kept up to date with this call's own submissions (see `_store_loaded`), not queried per file."""
    by_month = ctx.accepted.get(unit)
    if by_month is None:
        by_month = {}
        ids = list(latest.values())
        if ids:
            sql = f"""
                SELECT s.month, p.measure_id, p.month, p.cumulative
                FROM progress p JOIN submissions s ON s.id = p.submission_id
                WHERE p.submission_id IN ({",".join("?" * len(ids))}) AND p.cumulative IS NOT NULL
            """
            for sub_month, mid, m, v in conn.execute(sql, ids):
                by_month.setdefault(sub_month, []).append((mid, m, v))
        ctx.accepted[unit] = by_month
    out: dict[str, tuple[str, float]] = {}
    for sub_month in sorted(by_month):
        if sub_month > month:
            break
        for mid, m, v in by_month[sub_month]:
            seen = out.get(mid)
            if seen is None or m >= seen[0]:  # the latest month's number (the query's ROW_NUMBER)
                out[mid] = (m, v)
    return out


def _shown(path: Path) -> str:
    """Archive paths inside the repository are recorded relative to it."""
    from .config import ROOT

    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path.resolve())


READ_AHEAD = 8  # files read (and handed to the parser processes) ahead of the one being stored
SYNC_THREADS = 8  # a group's archive copies are fsynced on this many threads (the waits overlap)
GROUP_FILES = 64  # files stored in one transaction at most (one savepoint each)
GROUP_BYTES = 32 * 2**20  # raw bytes a group holds at most (kept in memory until its COMMIT)
GROUP_SECONDS = 0.5  # a group closes after this long: lines appear, other writers wait, no longer
PARALLEL_MIN_FILES = 16  # fewer files are parsed in the main process: forking costs more than it saves
MAX_PARSERS = 8


def _parse_job(path: Path, data: bytes, rules: IntakeRules):
    """parse_file in a parser process: (kind, parsed), or the InputError to report at the file's turn."""
    try:
        return parse_file(path, data, rules)
    except InputError as exc:
        return exc


def _parser_init(parent: int, watch: int, keep_open: int) -> None:
    """A parser process's first act: die with the process that started it, whatever kills that one.

    Ctrl-C reaches the whole process group: the parent decides what it means, so parsers ignore it.
    On Linux the kernel sends SIGKILL when the parent dies (PR_SET_PDEATHSIG); everywhere, a thread waits
    for EOF on a pipe only the parent holds open. The caller's stdin/stdout/stderr and the store's files
    are closed here: a parser writes nothing, and holding `$(perfkit ingest …)`'s pipe open would keep
    the shell waiting after the parent is gone.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.close(keep_open)  # the write end of the parent's pipe: only the parent may hold it
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass  # the pipe watch below still works
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    _close_inherited_files(keep={watch})

    def watch_parent() -> None:
        while True:
            try:
                if not os.read(watch, 1):
                    break
            except InterruptedError:
                continue
            except OSError:
                break
        os._exit(1)  # EOF: the parent is gone

    threading.Thread(target=watch_parent, name="perfkit-parent-watch", daemon=True).start()


def _close_inherited_files(keep: set[int]) -> None:
    """Close regular files the fork copied (the store, its WAL and shared memory): a parser reads only
    what it is sent, and must not keep the store open after the parent is gone."""
    fd_dir = "/proc/self/fd"
    if not os.path.isdir(fd_dir):
        return
    for name in os.listdir(fd_dir):
        fd = int(name)
        if fd <= 2 or fd in keep:
            continue
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
        except OSError:
            pass


def _parser_pool(n_files: int) -> ProcessPoolExecutor | None:
    """Processes that parse the next files while the main process checks earlier ones against the store
    and writes them (all cores but one), or None when it does not pay or is not safe.

    Forked, so they start in milliseconds with everything imported; only from a process with no other
    threads (a CLI run, not a Jupyter kernel), as forking a threaded process can deadlock the child.
    """
    import multiprocessing

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if (
        n_files < PARALLEL_MIN_FILES
        or cores < 2
        or threading.active_count() > 1
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        return None
    watch, keep_open = os.pipe()  # the parsers see EOF on `watch` once this process is gone
    try:
        pool = ProcessPoolExecutor(
            max_workers=min(cores - 1, MAX_PARSERS),
            mp_context=multiprocessing.get_context("fork"),
            initializer=_parser_init,
            initargs=(os.getpid(), watch, keep_open),
        )
        pool.submit(int)  # forks now (synchronously, for the fork method), before any thread of ours starts
    finally:
        os.close(watch)
    pool._perfkit_watch = keep_open  # closed when the pool is shut down (see ingest_files)
    return pool


def ingest_files(
    conn: sqlite3.Connection,
    paths: Iterable[str | os.PathLike],
    *,
    archive_dir: str | os.PathLike,
    today: date | None = None,
    on_result: Callable[[IngestResult], None] | None = None,
    on_rejected: Callable[[str, list[Problem]], None] | None = None,
    stop: Callable[[], str] | None = None,
) -> IngestReport:
    """Each file on its own: a rejected file adds its problems and does not stop the others.

    `on_result` hears of each file as it is committed (or found already stored), `on_rejected` of each
    file refused, with its problems. `stop()` is asked before each file: a non-empty answer (the signal's
    name) ends the batch there, the files read so far being stored and the rest not tried. When the store
    or the archive cannot be written (disk full, a file-size limit, an I/O error) the file in hand is
    rolled back and the batch ends: `report.failed` says which file and why. A store or archive folder
    that cannot be written at all is a StoreError before any file is read.

    Group commit: files are stored in groups (up to GROUP_FILES files, GROUP_BYTES of them, or as many as
    are read in GROUP_SECONDS), one transaction a group and a savepoint a file (`_store_group`), so each
    file is still all or nothing and a refused file costs only itself; the callbacks hear of a group's
    files once it is committed. Should the store or the archive fail on a group, it is rolled back and
    its files stored again one transaction each: those before the failing file are kept, that file is
    named. Each accepted file is archived (written, fsynced, renamed) before its group's COMMIT, and the
    archive folder fsynced once a group. To keep the fsyncs off the critical path, helper threads write
    the copies of the next files under temporary names while earlier files are parsed and stored; at its
    turn an accepted file's copy is only renamed into place, and a copy not needed (file rejected, or
    already stored) is deleted.
    """
    from .store import read_catalogue, read_plan

    plan = read_plan(conn)
    rules = IntakeRules.from_plan(plan)
    today = today or date.today()
    report = IngestReport(max_problems_per_file=rules.max_problems_per_file)
    paths = list(paths)
    # entry j: [(path, bytes, sha) or the error reading it, parse future]
    raw: dict[int, list] = {}
    read_upto = 0
    parsers = _parser_pool(len(paths))  # forked before any thread of this call starts

    def prefetch(upto: int) -> None:
        """Read the next files and hand them to the parser processes (if any)."""
        nonlocal read_upto
        while read_upto < min(upto, len(paths)):
            j = read_upto
            read_upto += 1
            try:
                got = _read(paths[j], rules)
            except (InputError, OSError) as exc:  # reported (or raised) at the file's turn, as before
                raw[j] = [exc, None]
                continue
            path, data, _sha = got
            parsing = None
            if parsers is not None:
                try:
                    parsing = parsers.submit(_parse_job, path, data, rules)
                except BrokenExecutor:  # a parser process died: the rest is parsed here
                    pass
            raw[j] = [got, parsing]

    def load(i: int) -> tuple[_Loaded | None, InputError | None]:
        prefetch(i + 1 + READ_AHEAD)
        got, parsing = raw.pop(i)
        if isinstance(got, InputError):
            return None, got
        if isinstance(got, Exception):
            raise got
        path, data, sha = got
        try:
            result = parsing.result() if parsing is not None else _parse_job(path, data, rules)
        except BrokenExecutor:  # its parser process died (killed, out of memory): parse it here
            result = _parse_job(path, data, rules)
        if isinstance(result, InputError):
            return None, result
        kind, parsed = result
        return _Loaded(path, data, sha, kind, parsed), None

    ctx: _Context | None = None
    pool: ThreadPoolExecutor | None = None
    try:
        had_dir = Path(archive_dir).is_dir()
        _check_writable(conn, Path(archive_dir))
        prefetch(1 + READ_AHEAD)  # the parsers start on the first files while the catalogue is read
        ctx = _Context.make(read_catalogue(conn, plan), rules, archive_dir)
        with ThreadPoolExecutor(max_workers=SYNC_THREADS, thread_name_prefix="perfkit-archive") as pool:
            ctx.pool = pool

            def settle(group: list[tuple[str, _Loaded | None, InputError | None]]) -> int | None:
                """Store a group and report its files in order; the index of the file the store or the
                archive could not take (report.failed says why), else None."""
                stored = [loaded for _, loaded, _ in group if loaded is not None]
                try:
                    outcomes = iter(_store_group(conn, stored, ctx, today) if stored else ())
                except _WriteFailed as exc:
                    if len(stored) > 1:  # one transaction a file: what fits is kept, the failing file named
                        for k, entry in enumerate(group):
                            if settle([entry]) is not None:
                                return k
                        return None
                    k = next(k for k, (_, loaded, _) in enumerate(group) if loaded is not None)
                    report.failed = Problem(
                        group[k][0], f"not stored, rolled back: {_write_failure(exc.error)}"
                    )
                    return k
                for file, loaded, error in group:
                    if loaded is not None:
                        outcome = next(outcomes)
                        if isinstance(outcome, InputError):
                            error = outcome
                        else:
                            report.results.append(outcome)
                            if on_result is not None:
                                on_result(outcome)
                    if error is not None:
                        report.problems.extend(error.problems)
                        report.rejected.append(file)
                        if on_rejected is not None:
                            on_rejected(file, error.problems)
                return None

            try:
                i = 0
                while i < len(paths):
                    group: list[tuple[str, _Loaded | None, InputError | None]] = []
                    held, began = 0, time.monotonic()
                    while (
                        i < len(paths)
                        and len(group) < GROUP_FILES
                        and held < GROUP_BYTES
                        and time.monotonic() - began < GROUP_SECONDS
                    ):
                        report.stopped = stop() if stop is not None else ""
                        if report.stopped:
                            break
                        loaded, error = load(i)
                        group.append((str(paths[i]), loaded, error))
                        held += len(loaded.data) if loaded is not None else 0
                        i += 1
                    failed = settle(group)
                    if failed is not None:
                        report.not_stored = [file for file, _, _ in group[failed:]] + [
                            str(p) for p in paths[i:]
                        ]
                        break
                    if report.stopped:
                        report.not_stored = [str(p) for p in paths[i:]]
                        break
            finally:
                pool.shutdown(wait=True)
                if not had_dir:
                    try:
                        ctx.archive_dir.rmdir()  # made only for copies that were not needed
                    except OSError:
                        pass
    finally:
        if parsers is not None:
            parsers.shutdown(wait=True, cancel_futures=True)
            os.close(parsers._perfkit_watch)
    return report


def _check_writable(conn: sqlite3.Connection, archive_dir: Path) -> None:
    """Refuse at once, naming the path, a store or an archive folder that cannot be written (read-only
    file or folder, read-only disk), before any file is read or copied."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:  # a write that changes nothing: a read-only file is found only when a page is written
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            conn.execute(f"PRAGMA user_version = {int(version)}")
        finally:
            conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        row = conn.execute("PRAGMA database_list").fetchone()
        raise StoreError(f"{row[2] if row else 'the store'}: cannot write to the store ({exc})") from exc
    probe = archive_dir / f".perfkit-write-check.{os.getpid()}"
    for attempt in range(3):
        made = not archive_dir.exists()
        try:
            archive_dir.mkdir(parents=True, exist_ok=True)
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            probe.unlink()
            break
        except FileNotFoundError as exc:
            # another process's check removed the empty folder it had made, between our mkdir and open
            if attempt == 2:
                raise StoreError(
                    f"{archive_dir}: cannot write to the archive folder ({exc.strerror or exc})"
                ) from exc
        except OSError as exc:
            raise StoreError(
                f"{archive_dir}: cannot write to the archive folder ({exc.strerror or exc})"
            ) from exc
        finally:
            if made:
                try:
                    archive_dir.rmdir()  # made again when a file is archived
                except OSError:
                    pass


def _write_failure(exc: BaseException) -> str:
    """Why the store or the archive refused a write, in one line (disk full, file too large, I/O)."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}" + (f" ({exc.filename})" if exc.filename else "")
    return f"the store: {exc}" if isinstance(exc, sqlite3.Error) else str(exc)


# ---------------------------------------------------------------------------------------- history


def history(conn: sqlite3.Connection, measure_id: str) -> pd.DataFrame:
    """Every stored value of a measure, superseded ones included, oldest first.

    Columns: measure_id, month (Period[M]), reporting_unit, cumulative, status, note, submission_id,
    file_name, sha256, received_at, source, preparer, reviewer, prepared_on (the workbook's sign-off, '' when
    it had none), superseded (a later submission for that unit and month exists).
    """
    known = conn.execute("SELECT schedule FROM measures WHERE measure_id = ?", (measure_id,)).fetchone()
    if known is None:
        raise InputError(Problem(measure_id, "unknown measure id"))
    if known[0] == "statistic":
        raise InputError(Problem(measure_id, "comes from the turnover table: see `perfkit growth`"))
    df = pd.read_sql_query(
        """
        SELECT p.measure_id, p.month, s.unit AS reporting_unit, p.cumulative, p.status, p.note,
               s.id AS submission_id, s.file_name, s.sha256, s.received_at, s.source,
               s.preparer, s.reviewer, s.prepared_on,
               s.id < (SELECT MAX(id) FROM submissions l
                       WHERE l.kind = 'progress' AND l.unit = s.unit AND l.month = s.month) AS superseded
        FROM progress p JOIN submissions s ON s.id = p.submission_id
        WHERE p.measure_id = ?
        ORDER BY p.month, s.id
        """,
        conn,
        params=(measure_id,),
    )
    df["superseded"] = df["superseded"].astype(bool)
    df["month"] = pd.PeriodIndex(df["month"], freq="M") if len(df) else pd.PeriodIndex([], freq="M")
    return df
