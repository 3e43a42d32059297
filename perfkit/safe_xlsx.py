"""Reading an untrusted .xlsx safely: what a unit sends is checked before anything parses it.

The file is read once into memory (size-capped by the caller); the zip's entry count and uncompressed size
are capped, each entry inflated as a stream that stops one byte past its declared size, its compression
ratio capped and its CRC-32 checked; every XML part is refused if it declares a DTD (XML bombs, external
entities); the parts perfkit parses itself go through defusedxml; values come from calamine reading a
rebuilt zip that holds only those checked bytes, so nothing it parses escaped the limits, and only after
the sheet's extent (rows × columns up to its last value: the grid calamine allocates) is under
[intake] max_sheet_cells. Cached values are read, formulas are never evaluated; a formula without a cached
value, an error value or a percent-formatted number is flagged per cell by a quick scan of the sheet XML.
Every problem names the file, and the sheet when there is one.
"""

from __future__ import annotations

import io
import os
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

from .errors import InputError, Problem
from .forms import IntakeRules, col_index, col_letter

XLSX_MAGIC = b"PK\x03\x04"
CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE2: encrypted .xlsx or a legacy .xls
_NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_NS_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_FORMULA = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s/>]")
_ERROR_TYPE = re.compile(rb"""\st=["']e["']""")
_ERROR_TEXT = (b't="e"', b"t='e'")  # what _ERROR_TYPE's every match contains
_DTD_MARKERS = [
    s.encode(enc) for s in ("<!DOCTYPE", "<!ENTITY") for enc in ("utf-8", "utf-16-le", "utf-16-be")
]


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
    _properties: dict[str, dict[str, str]] = field(default_factory=dict)  # prefix → properties, read once

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
        if (
            not percent
            and not _maybe(xml, _FORMULA, (b"<f", b":f"))
            and not _maybe(xml, _ERROR_TYPE, _ERROR_TEXT)
        ):
            return {}
        return _scan_cells(xml, percent, self.file, sheet)

    def properties(self, prefix: str) -> dict[str, str]:
        """Custom document properties named `prefix`…, without the prefix (parsed once per prefix: the form's
        kind and its template info both ask)."""
        got = self._properties.get(prefix)
        if got is None:
            blob = self.parts.get("docProps/custom.xml")
            got = {}
            for prop in _xml(blob, self.file, "docProps/custom.xml") if blob else []:
                name = prop.get("name", "")
                if name.startswith(prefix) and len(prop):
                    got[name[len(prefix) :]] = (prop[0].text or "").strip()
            self._properties[prefix] = got
        return dict(got)


def _maybe(xml: bytes, pattern: re.Pattern, needles: tuple[bytes, ...]) -> bool:
    """Whether `pattern` matches, searched only when one of `needles` (one of which every match contains)
    is there: a substring scan is many times quicker than the regex over a sheet that has none."""
    return any(n in xml for n in needles) and pattern.search(xml) is not None


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
        if owner := _lock_file_of(path.name):  # `perfkit ingest inbox/*.xlsx` while a workbook is open
            raise InputError(
                Problem(file, f"a lock file Excel, WPS or LibreOffice keeps while {owner} is open, not a"
                        f" workbook: close {owner} and ingest it, not this file")
            )  # fmt: skip
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
        # every marker holds the byte "!", which XML parts rarely do: one quick scan rules them all out
        if b"!" in blob and any(marker in blob for marker in _DTD_MARKERS):
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


def check_template_targets(
    paths, sheet: str, labels: dict[str, str], key: str, fill_in: list[str]
) -> list[Path]:
    """Before `perfkit template` writes one workbook per unit: every target can be replaced
    (exports.check_all_writable) and none holds someone's entries (refuse_filled_in), all checked before
    any is written; the targets."""
    from .exports import check_all_writable

    targets = check_all_writable(paths)
    refuse_filled_in(targets, sheet, labels, key, fill_in)
    return targets


def refuse_filled_in(paths, sheet: str, labels: dict[str, str], key: str, fill_in: list[str]) -> None:
    """Before `perfkit template` writes: every one of `paths` that exists and holds someone's entries (a
    fill-in value of `fill_in`, or its 填报人/审核人/填报日期) is refused, one line each (OutputError, exit 2),
    and nothing is written. Returned workbooks carry the template's name, so a template written into the
    inbox replaced a unit's filled-in return. A file that cannot be read as the form is refused too."""
    from .exports import OutputError
    from .forms import read_form

    problems = []
    rules = IntakeRules()
    for path in map(Path, paths):
        if not path.is_file():
            continue
        try:
            book = open_book(path, read_capped(path, rules), rules)
            form = read_form(book, "", sheet, labels, key, [key], fill_in, ({}, {}))
        except (InputError, OSError) as exc:
            reason = exc.problems[0].reason if isinstance(exc, InputError) else (exc.strerror or str(exc))
            problems.append(Problem(str(path), f"is there and cannot be read as a template ({reason}): move it"
                                    " away or choose another --out; perfkit does not replace it"))  # fmt: skip
            continue
        signed = [k for k, v in form.sign_off.items() if v]
        if form.rows or signed:
            n = len(form.rows)
            what = f"{n} row{'s' if n != 1 else ''} filled in" if n else "its sign-off filled in"
            problems.append(
                Problem(str(path), f"is a filled-in workbook ({what}): a template does not replace it; move"
                        " it away or choose another --out")
            )  # fmt: skip
    if problems:
        raise OutputError(problems)


def _lock_file_of(name: str) -> str | None:
    """The workbook a lock file stands for: Excel's and WPS's '~$book.xlsx', LibreOffice's
    '.~lock.book.xlsx#'; None for any other name."""
    if name.startswith("~$") and len(name) > 2:
        return name[2:]
    if name.startswith(".~lock.") and name.endswith("#") and len(name) > 8:
        return name[7:-1]
    return None


def read_capped(path: Path, rules: IntakeRules) -> bytes:
    """A workbook's bytes, never more than `rules.max_file_bytes` read (a huge file is refused, not loaded);
    InputError naming the file when it cannot be read or is over the limit."""
    try:
        with path.open("rb") as fh:
            data = fh.read(rules.max_file_bytes + 1)
    except OSError as exc:
        raise InputError(Problem(str(path), f"cannot read the file ({exc.strerror or exc})")) from None
    if len(data) > rules.max_file_bytes:
        raise InputError(Problem(str(path), f"file is over the limit of {rules.max_file_bytes:,} bytes"))
    return data


def check_file(path: str | os.PathLike, rules: IntakeRules | None = None) -> None:
    """A workbook another reader will open (openpyxl builds every cell of every sheet) passes the checks a
    unit's workbook passes first: size, zip entries, unpacked size and ratio, DTDs, each sheet's grid under
    `rules` (default: the [intake] defaults). InputError naming the file otherwise."""
    rules = rules or IntakeRules()
    path = Path(path)
    book = open_book(path, read_capped(path, rules), rules)
    for sheet in book.sheets:
        book.values(sheet)


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


# a cell that may hold a value, with its reference when it has one: its opening tag neither self-closed
# (`<c r="A9" s="1"/>`) nor closed at once (`<c r="A9" s="1"></c>`, the empty cell as lxml-backed writers,
# openpyxl among them, write it), both formatting only. The reference is the first `r="…"` among the
# attributes (as an attribute search finds it); a value cell without one yields empty groups.
_NAME_PREFIX = rb"(?:[A-Za-z_][\w.-]*:)?"
_VALUE_CELL = re.compile(
    rb"<" + _NAME_PREFIX + rb"c(?:(?=\s)[^>]*?(?:\sr\s*=\s*[\"']([A-Za-z]{1,3})([0-9]{1,7})[\"'][^>]*)?)?"
    rb"(?<!/)>(?!\s*</" + _NAME_PREFIX + rb"c\s*>)"
)


def _value_extent(xml: bytes, file: str, sheet: str) -> tuple[int, int]:
    """(last row, last column) of the cells that may hold a value (not the empty `<c …/>` Excel keeps for
    formatting), from one regex pass over the sheet XML (the matching done in C, a Python step per distinct
    row and column, not per cell): cheap, and memory-flat whatever the sheet's size."""
    found = _VALUE_CELL.findall(xml)
    if not found:
        return 0, 0
    columns = set(map(itemgetter(0), found))
    if b"" in columns:  # cells placed by position: the element walk knows where they are
        return _value_extent_walk(xml, file, sheet)
    widest = max((c.upper() for c in columns), key=lambda c: (len(c), c))
    return max(map(int, set(map(itemgetter(1), found)))), col_index(widest.decode())


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

    def number(el, default: int) -> int:
        try:
            return int(el.get("numFmtId", default))
        except ValueError:  # a damaged or hand-made part: one line, not a crash (exit 1)
            raise InputError(
                Problem(file, f"damaged workbook part xl/styles.xml (numFmtId {el.get('numFmtId')!r})")
            ) from None

    custom = {number(n, -1): n.get("formatCode", "") for n in root.iter(f"{_NS_MAIN}numFmt")}
    xfs = root.find(f"{_NS_MAIN}cellXfs")
    out = set()
    for i, xf in enumerate(xfs if xfs is not None else []):
        fid = number(xf, 0)
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
    from defusedxml.ElementTree import ParseError

    try:
        return _scan(xml, percent)
    except (ParseError, ValueError) as exc:  # a reference or style index that is not a number
        raise InputError(Problem(file, f"damaged sheet XML ({exc})", sheet)) from exc


def _scan(xml: bytes, percent: set[int]) -> dict[str, str]:
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
