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
import sqlite3
import struct
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import BrokenExecutor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from .catalogue import Catalogue
from .errors import InputError, Problem, StoreError
from .labels import t
from .template import (
    META_SHEET,
    ProgressSheet,
    cell_number,
    cell_text,
    check_progress_records,
    col_index,
    col_letter,
    is_blank,
    measure_index,
    month_text,
    read_progress_book,
)

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


@dataclass(frozen=True)
class IntakeRules:
    """Limits and lists from plan.toml [intake]; the defaults match the bundled plan."""

    max_file_bytes: int = 5 * 1024 * 1024
    max_zip_entries: int = 500
    max_uncompressed_bytes: int = 50 * 1024 * 1024
    statuses: tuple[str, ...] = ("未启动", "推进中", "已完成")
    correction_prefix: str = "更正"
    max_note_chars: int = 2000

    @classmethod
    def from_plan(cls, plan: dict) -> IntakeRules:
        s = plan.get("intake", {})
        d = cls()
        return cls(
            max_file_bytes=int(float(s.get("max_file_mb", d.max_file_bytes / 2**20)) * 2**20),
            max_zip_entries=int(s.get("max_zip_entries", d.max_zip_entries)),
            max_uncompressed_bytes=int(
                float(s.get("max_uncompressed_mb", d.max_uncompressed_bytes / 2**20)) * 2**20
            ),
            statuses=tuple(s.get("statuses", d.statuses)),
            correction_prefix=str(s.get("correction_prefix", d.correction_prefix)),
            max_note_chars=int(s.get("max_note_chars", d.max_note_chars)),
        )


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

    def values(self, sheet: str) -> list[list]:
        """The sheet's cached values as a grid from A1 ('' for empty cells)."""
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
        try:
            blob = zf.read(info)  # bounded by the declared size, CRC-checked
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
            raise InputError(Problem(file, f"truncated or damaged .xlsx ({info.filename}: {exc})")) from exc
        if (b"<!" in blob or b"<\x00!" in blob) and any(marker in blob for marker in _DTD_MARKERS):
            raise InputError(
                Problem(file, f"{info.filename} declares a DTD or entities (refused: XML bomb risk)")
            )
        parts[info.filename] = blob
        crcs[info.filename] = info.CRC
    sheets, states, sheet_part = _sheet_index(parts, file)
    return Book(file=file, sheets=sheets, states=states, parts=parts, sheet_part=sheet_part, crcs=crcs)


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


def _scan_cells(xml: bytes, percent: set[int], file: str, sheet: str) -> dict[str, str]:
    from defusedxml.ElementTree import iterparse

    flags: dict[str, str] = {}
    row, col = 0, 0
    for event, el in iterparse(io.BytesIO(xml), events=("start", "end")):
        tag = el.tag.rsplit("}", 1)[-1]
        if tag == "row":
            if event == "start":  # rows and cells may omit their references: they follow the previous one
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
        el.clear()
    return flags


# -------------------------------------------------------------------------------- turnover tables


def turnover_frame(grid: list[list], file: str, sheet: str, flags: dict[str, str]) -> pd.DataFrame | None:
    """A sheet grid as a turnover table (header in row 1), or None when its headers are not a turnover
    table's. Number cells must hold numbers; month cells may be dates."""
    from .turnover import canonical_columns

    if not grid or not any(not is_blank(v) for v in grid[0]):
        return None
    while len(grid) > 1 and all(is_blank(v) for v in grid[-1]):
        grid = grid[:-1]
    header = [cell_text(v) for v in grid[0]]
    frame = pd.DataFrame([list(r) + [""] * (len(header) - len(r)) for r in grid[1:]], columns=header)
    try:
        canon = canonical_columns(frame, file, sheet)
    except InputError:
        return None
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


def read_turnover_csv(data: bytes, file: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """A CSV turnover table: UTF-8 (with or without BOM) or GB18030 as saved by Chinese Excel."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InputError(Problem(file, "not text in UTF-8 or GB18030"))
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

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        added = sum(r.status == "added" for r in self.results)
        total = len(self.results) + len(self.rejected)
        return f"{total} files: {added} added, {len(self.results) - added} already ingested, {len(self.rejected)} rejected"


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
        frame, letters = read_turnover_csv(data, file)
        return "turnover", (frame, letters, "")
    book = open_book(path, data, rules)
    from .forms import form_kind, parse_form

    if form_kind(book):  # a 分月计划 or 考评结果 workbook (perfkit.forms)
        return "form", parse_form(book, path.name)
    if t("intake.sheet") in book.sheets or META_SHEET in book.sheets:
        return "progress", read_progress_book(book, path.name)
    for sheet in book.sheets:
        if book.states.get(sheet, "visible") != "visible":
            continue
        frame = turnover_frame(book.values(sheet), file, sheet, book.cell_flags(sheet))
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
    staged: Future | None = None  # ingest_files: the archive copy, written and fsynced under a temporary name


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
    data = path.read_bytes()  # read once: what is checked, hashed and archived are the same bytes
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
    archived: bool = False  # a new archive name awaits the directory fsync
    shown_dir: str = ""  # the archive folder as recorded (resolved once, not once per file)
    staging: Iterator[int] = field(default_factory=itertools.count)
    latest_ids: dict[str, dict[str, int]] = field(default_factory=dict)  # see _latest_submissions
    seen_max_id: int | None = None

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
    return _ingest_loaded(conn, _load(path, rules), ctx, today or date.today(), before_commit)


def _ingest_loaded(
    conn: sqlite3.Connection,
    loaded: _Loaded,
    ctx: _Context,
    today: date,
    before_commit: Callable[[], None] | None = None,
) -> IngestResult:
    """The store part of an ingest: one transaction. An accepted file is archived (its copy fsynced and
    renamed into place, see `_archive`) before its rows are inserted and COMMIT."""
    from .store import add_submission, insert_turnover, transaction

    path, sha, kind, parsed = loaded.path, loaded.sha, loaded.kind, loaded.parsed
    file = str(path)
    catalogue, rules = ctx.catalogue, ctx.rules

    with transaction(conn):
        dup = conn.execute(
            "SELECT id, kind FROM submissions WHERE sha256 = ? ORDER BY id LIMIT 1", (sha,)
        ).fetchone()
        if dup:
            return IngestResult(file, "duplicate", dup[1], int(dup[0]), sha)
        if kind == "progress":
            sheet: ProgressSheet = parsed
            month = sheet.meta.get("month", "")
            latest = _latest_submissions(conn, ctx, sheet.meta.get("unit", ""))
            last = _last_accepted_map(conn, latest, month)
            rows, problems = check_progress_records(
                sheet, catalogue, last, rules, file, today, measures=ctx.measures
            )
            if problems:
                raise InputError(problems)
            unit = sheet.meta["unit"]
            prior = latest.get(month)  # the latest earlier submission for this unit and month
            shown = _archive(ctx, loaded, path.suffix or ".xlsx")
            sid = add_submission(
                conn,
                kind="progress",
                file_name=path.name,
                sha256=sha,
                unit=unit,
                month=month,
                archive_path=shown,
                rows=len(rows),
            )
            _insert_progress(conn, sid, rows)
            given = {r["measure_id"] for r in rows}
            blank = [mid for mid in ctx.unit_measures.get(unit, []) if mid not in given]
            result = IngestResult(
                file, "added", "progress", sid, sha, unit, month, len(rows), blank, prior, shown
            )
        elif kind == "form":
            result = _ingest_form(conn, loaded, ctx, today)
        else:
            frame, letters, sheet_name = parsed
            rows = check_turnover(frame, file, sheet_name, letters, today)
            month = str(rows["month"].max())
            shown = _archive(ctx, loaded, path.suffix or ".csv")
            sid = add_submission(
                conn,
                kind="turnover",
                file_name=path.name,
                sha256=sha,
                month=month,
                archive_path=shown,
                rows=len(rows),
            )
            insert_turnover(conn, sid, rows)
            result = IngestResult(file, "added", "turnover", sid, sha, "", month, len(rows), [], None, shown)
        if before_commit is not None:
            before_commit()
    if kind == "progress":  # committed: the cache follows (MAX(id) was checked inside the transaction)
        latest[month] = sid
        ctx.seen_max_id = sid
    return result


def _ingest_form(conn: sqlite3.Connection, loaded: _Loaded, ctx: _Context, today: date) -> IngestResult:
    """A form workbook (perfkit.forms) inside the file's transaction: checked against the catalogue and the
    store, archived, recorded with its provenance and stored, or InputError and nothing changed."""
    from .forms import check_form, store_form
    from .store import add_submission

    sheet, file = loaded.parsed, str(loaded.path)
    checked = check_form(conn, sheet, ctx.catalogue, file, today)
    shown = _archive(ctx, loaded, loaded.path.suffix or ".xlsx")
    sid = add_submission(
        conn,
        kind=sheet.kind,
        file_name=loaded.path.name,
        sha256=loaded.sha,
        unit=checked.unit,
        month=checked.month,
        archive_path=shown,
        rows=len(checked.rows),
    )
    store_form(conn, sid, sheet.kind, checked)
    return IngestResult(
        file, "added", sheet.kind, sid, loaded.sha, checked.unit, checked.month, len(checked.rows),
        [], checked.supersedes, shown,
    )  # fmt: skip


def _latest_submissions(conn: sqlite3.Connection, ctx: _Context, unit: str) -> dict[str, int]:
    """month → id of the unit's latest progress submission for it, as committed (call inside the file's
    transaction). Read once per unit per call, not per file (a scan of all submissions each time made
    intake slower as the store grew); submissions are append-only, so the cache is valid while
    MAX(id) is what this call last saw, and it is dropped when anyone else added a submission."""
    top = conn.execute("SELECT MAX(id) FROM submissions").fetchone()[0]
    if top != ctx.seen_max_id:
        ctx.latest_ids.clear()
        ctx.seen_max_id = top
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
    """Archive an accepted file (before its COMMIT) and return the path recorded for it. In ingest_files the
    copy was staged ahead (written and fsynced under a temporary name): it only needs its rename here."""
    data, sha = loaded.data, loaded.sha
    if ctx.pool is None:
        return _shown(archive_raw(data, sha, suffix, ctx.archive_dir))
    if not ctx.shown_dir:
        ctx.shown_dir = _shown(ctx.archive_dir)
    ctx.archived = True
    tmp = loaded.staged.result() if loaded.staged is not None else None  # a failed copy fails the file
    loaded.staged = None
    dest = ctx.archive_dir / f"{sha}{suffix.lower()}"
    if tmp is not None and not dest.exists():
        os.replace(tmp, dest)  # appears whole or not at all; the directory is fsynced before the report
    else:
        _discard(tmp)
        archive_raw(data, sha, suffix, ctx.archive_dir, sync_dir=False)  # kept as is, or checked
    return os.path.join(ctx.shown_dir, dest.name)


def _stage(data: bytes, sha: str, suffix: str, archive_dir: Path, n: int) -> Path | None:
    """Write and fsync a file's archive copy under a temporary name (None when the copy already exists)."""
    name = f"{sha}{suffix.lower()}"
    if (archive_dir / name).exists():
        return None
    tmp = archive_dir / f".{name}.{os.getpid()}.{n}.tmp"
    try:
        try:
            _write_synced(tmp, data)
        except FileNotFoundError:  # the first copy: make the folder (not per file: it is a syscall more)
            archive_dir.mkdir(parents=True, exist_ok=True)
            _write_synced(tmp, data)
    except BaseException:
        _discard(tmp)
        raise
    return tmp


def _discard(tmp: Path | None) -> None:
    if tmp is not None:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass


def _insert_progress(conn: sqlite3.Connection, submission_id: int, rows: list[dict]) -> None:
    """store.insert_progress for check_progress_records' plain records (no DataFrame round trip)."""
    from .store import _num

    conn.executemany(
        "INSERT INTO progress (submission_id, measure_id, month, cumulative, status, note) VALUES (?,?,?,?,?,?)",
        [
            (
                submission_id,
                r["measure_id"],
                str(r["month"]),
                _num(r["cumulative"]),
                r["status"] or "",
                r["note"] or "",
            )
            for r in rows
        ],
    )


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
    conn: sqlite3.Connection, latest: dict[str, int], month: str
) -> dict[str, tuple[str, float]]:
    """`last_accepted` as measure_id → (month, cumulative), from the unit's latest submission per month
    (`_latest_submissions`) up to `month`: the same rows, without a scan of all submissions or a DataFrame."""
    ids = [sid for m, sid in latest.items() if m <= month]
    if not ids:
        return {}
    sql = f"""
        SELECT measure_id, month, cumulative FROM (
            SELECT p.measure_id, p.month, p.cumulative,
                   ROW_NUMBER() OVER (PARTITION BY p.measure_id ORDER BY p.month DESC) AS k
            FROM progress p WHERE p.submission_id IN ({",".join("?" * len(ids))}) AND p.cumulative IS NOT NULL
        ) WHERE k = 1
    """
    return {mid: (m, v) for mid, m, v in conn.execute(sql, ids)}


def _shown(path: Path) -> str:
    """Archive paths inside the repository are recorded relative to it."""
    from .config import ROOT

    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path.resolve())


STAGE_AHEAD = 8  # files whose archive copies are being written while earlier files are checked and stored
STAGE_THREADS = 4  # the fsyncs overlap (4 did better than 1 on the 2-core development machine)
PARALLEL_MIN_FILES = 16  # fewer files are parsed in the main process: forking costs more than it saves
MAX_PARSERS = 8


def _parse_job(path: Path, data: bytes, rules: IntakeRules):
    """parse_file in a parser process: (kind, parsed), or the InputError to report at the file's turn."""
    try:
        return parse_file(path, data, rules)
    except InputError as exc:
        return exc


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
    pool = ProcessPoolExecutor(
        max_workers=min(cores - 1, MAX_PARSERS), mp_context=multiprocessing.get_context("fork")
    )
    pool.submit(int)  # forks now (synchronously, for the fork method), before any thread of ours starts
    return pool


def ingest_files(
    conn: sqlite3.Connection,
    paths: Iterable[str | os.PathLike],
    *,
    archive_dir: str | os.PathLike,
    today: date | None = None,
) -> IngestReport:
    """Each file on its own: a rejected file adds its problems and does not stop the others.

    Still one transaction per file, and each accepted file is archived (written, fsynced, renamed) before
    its COMMIT. To keep the fsyncs off the critical path, helper threads write the copies of the next few
    files under temporary names while earlier files are checked and stored; at its turn an accepted
    file's copy is only renamed into place, and a copy not needed (file rejected, or already stored) is
    deleted. The archive directory is fsynced once, at the end, before the report says anything was added.
    """
    from .store import read_catalogue, read_plan

    plan = read_plan(conn)
    rules = IntakeRules.from_plan(plan)
    today = today or date.today()
    report = IngestReport()
    paths = list(paths)
    # entry j: [(path, bytes, sha) or the error reading it, archive copy future, parse future]
    raw: dict[int, list] = {}
    read_upto = staged_upto = 0
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
                raw[j] = [exc, None, None]
                continue
            path, data, _sha = got
            parsing = None
            if parsers is not None:
                try:
                    parsing = parsers.submit(_parse_job, path, data, rules)
                except BrokenExecutor:  # a parser process died: the rest is parsed here
                    pass
            raw[j] = [got, None, parsing]

    def read_ahead(upto: int) -> None:
        """Prefetch, and start writing the archive copies of the files read."""
        nonlocal staged_upto
        prefetch(upto)
        while staged_upto < read_upto:
            entry = raw.get(staged_upto)
            staged_upto += 1
            if entry is None or not isinstance(entry[0], tuple):
                continue
            path, data, sha = entry[0]
            if path.suffix:  # the archive name needs it; without one the copy is made at acceptance
                entry[1] = pool.submit(_stage, data, sha, path.suffix, ctx.archive_dir, next(ctx.staging))

    def load(i: int) -> tuple[_Loaded | None, InputError | None]:
        read_ahead(i + 1 + STAGE_AHEAD)
        got, staged, parsing = raw.pop(i)
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
            _drop(staged)
            return None, result
        kind, parsed = result
        return _Loaded(path, data, sha, kind, parsed, staged), None

    ctx: _Context | None = None
    pool: ThreadPoolExecutor | None = None
    try:
        prefetch(1 + STAGE_AHEAD)  # the parsers start on the first files while the catalogue is read
        ctx = _Context.make(read_catalogue(conn, plan), rules, archive_dir)
        had_dir = ctx.archive_dir.is_dir()
        with ThreadPoolExecutor(max_workers=STAGE_THREADS, thread_name_prefix="perfkit-archive") as pool:
            ctx.pool = pool
            try:
                for i, path in enumerate(paths):
                    loaded, error = load(i)
                    if error is None:
                        try:
                            report.results.append(_ingest_loaded(conn, loaded, ctx, today))
                        except InputError as exc:
                            error = exc
                        finally:
                            _drop(loaded.staged)  # not renamed into the archive: rejected, or already stored
                    if error is not None:
                        report.problems.extend(error.problems)
                        report.rejected.append(str(path))
            finally:
                for _got, staged, _parsing in raw.values():
                    _drop(staged)
                pool.shutdown(wait=True)
                if ctx.archived:
                    fsync_dir(ctx.archive_dir)
                elif not had_dir:
                    try:
                        ctx.archive_dir.rmdir()  # made only for copies that were not needed
                    except OSError:
                        pass
    finally:
        if parsers is not None:
            parsers.shutdown(wait=True, cancel_futures=True)
    return report


def _drop(staged: Future | None) -> None:
    """Delete a staged archive copy that is not needed, once it is written (without waiting for it)."""

    def discard(done: Future) -> None:
        if not done.cancelled() and done.exception() is None:
            try:
                _discard(done.result())
            except OSError:
                pass

    if staged is not None:
        staged.add_done_callback(discard)


# ---------------------------------------------------------------------------------------- history


def history(conn: sqlite3.Connection, measure_id: str) -> pd.DataFrame:
    """Every stored value of a measure, superseded ones included, oldest first.

    Columns: measure_id, month (Period[M]), reporting_unit, cumulative, status, note, submission_id,
    file_name, sha256, received_at, source, superseded (a later submission for that unit and month exists).
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
