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
import os
import re
import sqlite3
import zipfile
from collections.abc import Callable, Iterable
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
    check_progress,
    col_index,
    col_letter,
    is_blank,
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

    def values(self, sheet: str) -> list[list]:
        """The sheet's cached values as a grid from A1 ('' for empty cells)."""
        if self._calamine is None:
            from python_calamine import CalamineWorkbook

            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
                for name, data in self.parts.items():
                    z.writestr(name, data)
            buf.seek(0)
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
    for info in infos:
        if not info.filename.endswith((".xml", ".rels")):
            continue  # images, printer settings, macros: never read
        try:
            blob = zf.read(info)  # bounded by the declared size, CRC-checked
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
            raise InputError(Problem(file, f"truncated or damaged .xlsx ({info.filename}: {exc})")) from exc
        if any(marker in blob for marker in _DTD_MARKERS):
            raise InputError(
                Problem(file, f"{info.filename} declares a DTD or entities (refused: XML bomb risk)")
            )
        parts[info.filename] = blob
    sheets, states, sheet_part = _sheet_index(parts, file)
    return Book(file=file, sheets=sheets, states=states, parts=parts, sheet_part=sheet_part)


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
        what = f"{self.unit} {self.month}, " if self.kind == "progress" else f"turnover up to {self.month}, "
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


def archive_raw(data: bytes, sha: str, suffix: str, archive_dir: Path) -> Path:
    """Copy the raw bytes to archive_dir/<sha256><suffix>, read-only; an existing copy is kept as is."""
    archive_dir.mkdir(parents=True, exist_ok=True)
    dest = archive_dir / f"{sha}{suffix.lower()}"
    if dest.exists():
        if hashlib.sha256(dest.read_bytes()).hexdigest() != sha:
            raise StoreError(f"archive file {dest} does not match its name: refusing to overwrite it")
        return dest
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o444)
        os.replace(tmp, dest)  # appears whole or not at all
    finally:
        if tmp.exists():
            tmp.unlink()
    return dest


def parse_file(path: Path, data: bytes, rules: IntakeRules) -> tuple[str, object]:
    """('progress', ProgressSheet) or ('turnover', (frame, letters, sheet)); file-only checks."""
    file = str(path)
    if path.suffix.lower() == ".csv" and not data.startswith((XLSX_MAGIC, CFB_MAGIC)):
        frame, letters = read_turnover_csv(data, file)
        return "turnover", (frame, letters, "")
    book = open_book(path, data, rules)
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
    from .store import add_submission, insert_progress, insert_turnover, read_catalogue, transaction

    path = Path(path)
    file = str(path)
    today = today or date.today()
    catalogue = catalogue or read_catalogue(conn)
    rules = rules or IntakeRules.from_plan(catalogue.plan)
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
    sha = hashlib.sha256(data).hexdigest()
    kind, parsed = parse_file(path, data, rules)

    with transaction(conn):
        dup = conn.execute(
            "SELECT id, kind FROM submissions WHERE sha256 = ? ORDER BY id LIMIT 1", (sha,)
        ).fetchone()
        if dup:
            return IngestResult(file, "duplicate", dup[1], int(dup[0]), sha)
        if kind == "progress":
            sheet: ProgressSheet = parsed
            month = sheet.meta.get("month", "")
            last = last_accepted(conn, sheet.meta.get("unit", ""), month)
            rows, problems = check_progress(sheet, catalogue, last, rules, file, today)
            if problems:
                raise InputError(problems)
            unit = sheet.meta["unit"]
            prior = conn.execute(
                "SELECT MAX(id) FROM submissions WHERE kind = 'progress' AND unit = ? AND month = ?",
                (unit, month),
            ).fetchone()[0]
            stored = archive_raw(data, sha, path.suffix or ".xlsx", Path(archive_dir))
            sid = add_submission(
                conn,
                kind="progress",
                file_name=path.name,
                sha256=sha,
                unit=unit,
                month=month,
                archive_path=_shown(stored),
                rows=len(rows),
            )
            insert_progress(conn, sid, rows)
            ms = catalogue.measures
            given = set(rows["measure_id"])
            blank = [
                mid
                for mid, who, schedule in zip(
                    ms["measure_id"], ms["reporting_unit"], ms["schedule"], strict=True
                )
                if who == unit and schedule != "statistic" and mid not in given
            ]
            result = IngestResult(
                file, "added", "progress", sid, sha, unit, month, len(rows), blank, prior, _shown(stored)
            )
        else:
            frame, letters, sheet_name = parsed
            rows = check_turnover(frame, file, sheet_name, letters, today)
            month = str(rows["month"].max())
            stored = archive_raw(data, sha, path.suffix or ".csv", Path(archive_dir))
            sid = add_submission(
                conn,
                kind="turnover",
                file_name=path.name,
                sha256=sha,
                month=month,
                archive_path=_shown(stored),
                rows=len(rows),
            )
            insert_turnover(conn, sid, rows)
            result = IngestResult(
                file, "added", "turnover", sid, sha, "", month, len(rows), [], None, _shown(stored)
            )
        if before_commit is not None:
            before_commit()
    return result


def last_accepted(conn: sqlite3.Connection, unit: str, month: str) -> pd.DataFrame:
    """The last accepted number for each of `unit`'s measures up to `month` (latest submission per unit
    and month, as in `store.read_progress`; status-only rows skipped), read for this unit only so intake
    stays fast as the store grows. Columns: measure_id, month, cumulative."""
    rows = conn.execute(
        """
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
        """,
        (unit, month),
    ).fetchall()
    return pd.DataFrame(rows, columns=["measure_id", "month", "cumulative"])


def _shown(path: Path) -> str:
    """Archive paths inside the repository are recorded relative to it."""
    from .config import ROOT

    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path.resolve())


def ingest_files(
    conn: sqlite3.Connection,
    paths: Iterable[str | os.PathLike],
    *,
    archive_dir: str | os.PathLike,
    today: date | None = None,
) -> IngestReport:
    """Each file on its own: a rejected file adds its problems and does not stop the others."""
    from .store import read_catalogue

    catalogue = read_catalogue(conn)
    rules = IntakeRules.from_plan(catalogue.plan)
    report = IngestReport()
    for path in paths:
        try:
            report.results.append(
                ingest_file(
                    conn, path, archive_dir=archive_dir, today=today, catalogue=catalogue, rules=rules
                )
            )
        except InputError as exc:
            report.problems.extend(exc.problems)
            report.rejected.append(str(path))
    return report


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
