"""The indicator catalogue: the plan's attachment table (考评表) and its measures, as data.

The attachment is kept as transcribed (`attachment.csv`: blank cells where the plan has merged cells) or
as the bureau's Excel (`catalog import`). Both become the same raw table, which `normalise_attachment`
turns into one row per indicator: blank owner, basis and first-level cells continue the cell above within
the same first-level group, names are normalised and de-duplicated, and the stated subtotals are checked.
"""

from __future__ import annotations

import csv
import functools
import json
import math
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .config import PLAN_DIR
from .errors import InputError, Problem, input_file

RAW_COLUMNS = [
    "category",
    "section",
    "id",
    "basis",
    "first_level",
    "second_level",
    "weight",
    "deadline",
    "leaders",
    "units",
    "persons",
    "remark",
]
# Header words of the attachment's second header row, mapped to raw columns.
HEADER_WORDS = {
    "序号": "id",
    "文件依据": "basis",
    "一级指标": "first_level",
    "二级指标": "second_level",
    "权重": "weight",
    "完成时限": "deadline",
    "分管领导": "leaders",
    "责任单位": "units",
    "责任人": "persons",
    "备注": "remark",
}
INHERITED = ["basis", "first_level", "leaders", "units", "persons"]
LIST_COLUMNS = ["leaders", "units", "persons", "basis"]
MEASURE_KINDS = (
    "investment",
    "amount",
    "count",
    "length",
    "level",
    "percent",
    "growth_band",
    "milestone",
    "qualitative",
)
QUANTITATIVE = {"investment", "amount", "count", "length", "level", "percent", "growth_band"}
SUBTOTAL_RE = re.compile(r"^合\s*计$")
SECTION_RE = re.compile(r"^\s*(?P<name>[^\s(（]+)\s*[(（]\s*(?P<points>[\d.]+)\s*分\s*[)）]\s*$")
CATEGORY_RE = re.compile(r"^\s*(?P<name>\D+?)\s*(?P<points>[\d.]+)\s*分\s*$")


@dataclass
class Catalogue:
    """The plan as data: settings (plan.toml), indicators and measures (one row each)."""

    plan: dict
    indicators: pd.DataFrame
    measures: pd.DataFrame
    plan_dir: Path = field(default=PLAN_DIR)

    @property
    def version(self) -> str:
        return str(self.plan["plan"]["catalogue_version"])

    @property
    def year(self) -> int:
        return int(self.plan["plan"]["year"])

    @functools.cached_property
    def names_en(self) -> dict[str, str]:
        """English measure names: the optional `name_en` column of the plan's measures.csv (measure id →
        name; a measure without one is left out and shows its Chinese name)."""
        return english_names(self.plan_dir / str(self.plan["plan"].get("measures", "measures.csv")))

    def indicator(self, indicator_id: str) -> pd.Series:
        return self.indicators.set_index("id").loc[indicator_id]

    def to_records(self) -> list[dict]:
        """Indicators with their measures nested, ready for JSON."""
        by_indicator = {
            k: g.drop(columns=["indicator_id"]).to_dict("records")
            for k, g in self.measures.groupby("indicator_id", sort=False)
        }
        out = []
        for rec in self.indicators.to_dict("records"):
            # measures carry `id` (as the catalogue JSON promises) and `measure_id` (as tables use)
            rec["measures"] = [_clean({"id": m["measure_id"], **m}) for m in by_indicator.get(rec["id"], [])]
            out.append(_clean(rec))
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_records(), ensure_ascii=False, indent=2)


def _clean(rec: dict) -> dict:
    """NaN to None so JSON is valid."""
    return {k: (None if isinstance(v, float) and pd.isna(v) else v) for k, v in rec.items()}


# --------------------------------------------------------------------------------------------- names


def normalise_name(name: str) -> str:
    """'刘  滨' is 刘滨: people and units are written with padding spaces in the plan."""
    return re.sub(r"\s+", "", str(name))


def split_names(cell: object) -> list[str]:
    """A cell with several names on separate lines, de-duplicated in order ('吴福铭\\n吴福铭' is one)."""
    if cell is None or (isinstance(cell, float) and pd.isna(cell)):
        return []
    seen: list[str] = []
    for part in str(cell).splitlines():
        name = normalise_name(part)
        if name and name not in seen:
            seen.append(name)
    return seen


def split_lines(cell: object) -> list[str]:
    if cell is None or (isinstance(cell, float) and pd.isna(cell)):
        return []
    return [s.strip() for s in str(cell).splitlines() if s.strip()]


def _blank(v: object) -> bool:
    return v is None or (isinstance(v, float) and pd.isna(v)) or str(v).strip() == ""


def group_key(section: str, indicator_id: str, admin: bool) -> str:
    """First-level group: '1-5' for 1-5-2, the indicator itself for 1-15, the section for admin rows."""
    if admin:
        return section
    parts = indicator_id.split("-")
    return "-".join(parts[:2]) if len(parts) >= 3 else indicator_id


# ------------------------------------------------------------------------------------ raw readers


@contextmanager
def _csv_read(path: Path):
    """Reading a plan CSV: one line naming the file when it is not UTF-8 text or not a readable CSV (an Excel
    BOM is read by the caller's utf-8-sig)."""
    try:
        yield
    except UnicodeDecodeError as exc:
        raise InputError(
            Problem(str(path), f"not UTF-8 text ({exc.reason}): save the CSV as UTF-8")
        ) from None
    except (OSError, ValueError, csv.Error, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(Problem(str(path), f"not a readable CSV file ({exc})")) from None


def read_attachment_csv(path: str | Path) -> pd.DataFrame:
    """The transcribed attachment, one CSV row per table row, blanks kept."""
    path = input_file(path)
    with _csv_read(path), path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    missing = [c for c in RAW_COLUMNS if rows and c not in rows[0]]
    if missing:
        raise InputError(Problem(str(path), f"missing columns: {', '.join(missing)}", cell="row 1"))
    raw = pd.DataFrame(rows, columns=RAW_COLUMNS).fillna("")
    raw["source_row"] = [f"row {i + 2}" for i in range(len(raw))]
    return raw


def read_attachment_xlsx(path: str | Path, sheet: str | None = None) -> pd.DataFrame:
    """The attachment as the bureau keeps it in Excel.

    Layout: a title row, a two-row header (项目 | 序号 文件依据 一级指标 二级指标 权重 | 完成时限 | 分管领导
    责任单位 责任人 | 备注), merged cells for category, section, basis, first-level and owner columns, admin
    rows whose text spans the basis to second-level columns, and 合计 subtotal rows.
    """
    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter

    path = input_file(path)  # from outside: `catalog show|import` pass it through safe_xlsx.check_file first
    try:
        wb = load_workbook(path, read_only=False, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a bad file
        raise InputError(Problem(str(path), f"not a readable .xlsx workbook ({type(exc).__name__})")) from exc
    ws = wb[sheet] if sheet else wb.worksheets[0]
    grid = [[c.value for c in row] for row in ws.iter_rows()]
    # Merged ranges: the value lives in the top-left cell.
    spans: dict[tuple[int, int], tuple[int, int, int, int]] = {}
    for rng in ws.merged_cells.ranges:
        for r in range(rng.min_row, rng.max_row + 1):
            for c in range(rng.min_col, rng.max_col + 1):
                spans[(r, c)] = (rng.min_row, rng.min_col, rng.max_row, rng.max_col)

    def value(r: int, c: int) -> object:
        top = spans.get((r, c))
        if top:
            return grid[top[0] - 1][top[1] - 1]
        return grid[r - 1][c - 1] if c - 1 < len(grid[r - 1]) else None

    header_row = None
    cols: dict[str, int] = {}
    for r in range(1, min(len(grid), 10) + 1):
        found = {}
        for c in range(1, len(grid[r - 1]) + 1):
            v = grid[r - 1][c - 1]
            word = normalise_name(v) if v is not None else ""
            if word in HEADER_WORDS:
                found[HEADER_WORDS[word]] = c
        if "id" in found and "weight" in found:
            header_row = r
            cols = found
            # 完成时限 and 备注 sit in the first header row, merged down.
            for c in range(1, len(grid[r - 2]) + 1 if r > 1 else 0):
                word = normalise_name(grid[r - 2][c - 1] or "")
                if word in HEADER_WORDS and HEADER_WORDS[word] not in cols:
                    cols[HEADER_WORDS[word]] = c
            break
    if header_row is None:
        raise InputError(
            Problem(str(path), "header row with 序号 and 权重 not found in the first 10 rows", ws.title)
        )
    missing = [k for k in HEADER_WORDS.values() if k not in cols]
    if missing:
        raise InputError(Problem(str(path), f"header columns missing: {', '.join(missing)}", ws.title))
    cols["category"] = cols["id"] - 2
    cols["section"] = cols["id"] - 1
    if cols["category"] < 1:
        raise InputError(Problem(str(path), "no 项目 columns left of 序号", ws.title))

    records = []
    for r in range(header_row + 1, len(grid) + 1):
        rec = {}
        for key in RAW_COLUMNS:
            v = value(r, cols[key])
            rec[key] = "" if v is None else (str(v) if not isinstance(v, float) else f"{v:g}")
        # An admin row's text spans basis..second-level: it is the second-level text.
        span = spans.get((r, cols["basis"]))
        if span and span[3] >= cols["second_level"] and span[0] == span[2]:
            rec["second_level"] = rec["basis"]
            rec["basis"] = ""
            rec["first_level"] = ""
        # A subtotal row's label spans the category..deadline columns.
        if all(_blank(x) for x in rec.values()):
            continue
        rec["source_row"] = f"{get_column_letter(cols['id'])}{r}"
        records.append(rec)
    raw = pd.DataFrame(records, columns=RAW_COLUMNS + ["source_row"]).fillna("")
    # Merged category/section cells were filled by `value`; subtotal rows carry their label in category.
    return raw


# ------------------------------------------------------------------------------------- normalise


def normalise_attachment(raw: pd.DataFrame, source: str, plan: dict | None = None) -> pd.DataFrame:
    """One row per indicator, owners inherited, names normalised, stated subtotals checked."""
    problems: list[Problem] = []
    rows = []
    category = section = ""
    category_points: dict[str, float] = {}
    section_points: dict[str, float] = {}
    subtotals: list[tuple[str, float, str]] = []
    last_by_group: dict[str, dict] = {}
    current_category_start = 0
    for rec in raw.to_dict("records"):
        where = rec.get("source_row", "")
        cat_cell = str(rec["category"]).strip()
        if SUBTOTAL_RE.match(cat_cell) or cat_cell.startswith("绩效目标考评得分"):
            try:
                stated = float(rec["weight"])
            except ValueError:
                problems.append(
                    Problem(source, f"subtotal row without a number: {rec['weight']!r}", cell=where)
                )
                continue
            scope = "total" if cat_cell.startswith("绩效目标考评得分") else category
            subtotals.append((scope, stated, where, current_category_start, len(rows)))
            current_category_start = len(rows)
            continue
        if cat_cell:
            m = CATEGORY_RE.match(cat_cell)
            name = m.group("name") if m else cat_cell
            if name != category:
                current_category_start = len(rows) if name != category else current_category_start
            category = name
            if m:
                category_points[name] = float(m.group("points"))
        sec_cell = str(rec["section"]).strip()
        if sec_cell:
            m = SECTION_RE.match(sec_cell)
            section = m.group("name") if m else normalise_name(sec_cell)
            if m:
                section_points[section] = float(m.group("points"))
        ind_id = normalise_name(rec["id"])
        if not ind_id:
            problems.append(Problem(source, "row has no 序号 (indicator id)", cell=where))
            continue
        if not category or not section:
            problems.append(Problem(source, f"{ind_id}: no category/section above it", cell=where))
            continue
        admin = bool(plan) and category == plan["categories"]["admin"]
        admin = admin or (not plan and category.startswith("行政能力"))
        group = group_key(section, ind_id, admin)
        prev = last_by_group.get(group, {})
        out = {"id": ind_id, "category": category, "section": section}
        for col in INHERITED:
            v = rec[col]
            out[col] = prev.get(col, "") if _blank(v) else str(v)
        try:
            out["weight"] = float(rec["weight"])
        except ValueError:
            problems.append(
                Problem(source, f"{ind_id}: weight is not a number: {rec['weight']!r}", cell=where)
            )
            continue
        if isinstance(rec["weight"], bool) or not (math.isfinite(out["weight"]) and out["weight"] > 0):
            # a negative weight beside a larger one kept every stated subtotal and went in silently
            problems.append(
                Problem(
                    source, f"{ind_id}: weight must be a number above 0, got {rec['weight']!r}", cell=where
                )
            )  # the row is kept: the subtotals are checked as given
        m = re.match(r"^\s*(\d{1,2})\s*月", str(rec["deadline"]))
        if not m:
            problems.append(
                Problem(source, f"{ind_id}: deadline is not a month: {rec['deadline']!r}", cell=where)
            )
            continue
        out["deadline_month"] = int(m.group(1))
        out["text"] = str(rec["second_level"]).strip()
        out["remark"] = str(rec["remark"]).strip()
        out["source_row"] = where
        last_by_group[group] = {c: out[c] for c in INHERITED}
        rows.append(out)

    ind = pd.DataFrame(rows)
    if ind.empty:
        problems.append(Problem(source, "no indicator rows found"))
        raise InputError(problems)
    dup = ind["id"][ind["id"].duplicated()].tolist()
    if dup:
        problems.append(Problem(source, f"duplicate indicator ids: {', '.join(dup)}"))
    ind["group"] = ind["first_level"].map(lambda s: re.sub(r"\s*\n\s*", "", str(s)).strip())
    # Admin rows have no first-level text: their area (科学行政 …) is the group.
    ind["group"] = ind["group"].where(ind["group"] != "", ind["section"])
    for col in ["leaders", "units", "persons"]:
        ind[col] = ind[col].map(split_names)
    ind["basis"] = ind["basis"].map(split_lines)

    # Stated subtotals: 合计 rows close a category; the last row states the total.
    for scope, stated, where, start, end in subtotals:
        part = ind.iloc[start:end] if scope != "total" else ind
        got = float(part["weight"].sum())
        if abs(got - stated) > 1e-9:
            label = "total" if scope == "total" else f"{scope} subtotal"
            problems.append(
                Problem(source, f"weights add up to {got:g} but the {label} states {stated:g}", cell=where)
            )
    for name, points in category_points.items():
        got = float(ind.loc[ind["category"] == name, "weight"].sum())
        if abs(got - points) > 1e-9:
            problems.append(
                Problem(source, f"{name}: weights add up to {got:g} but the heading states {points:g}")
            )
    for name, points in section_points.items():
        got = float(ind.loc[ind["section"] == name, "weight"].sum())
        if abs(got - points) > 1e-9:
            problems.append(
                Problem(source, f"{name}: weights add up to {got:g} but the heading states {points:g}")
            )
    if plan:
        for name, points in plan["weights"]["sections"].items():
            got = float(ind.loc[ind["section"] == name, "weight"].sum())
            if abs(got - points) > 1e-9:
                problems.append(
                    Problem(source, f"{name}: weights add up to {got:g} but the plan states {points:g}")
                )
    if problems:
        raise InputError(problems)
    cols = ["id", "category", "section", "group", "text", "weight", "deadline_month"]
    cols += ["leaders", "units", "persons", "basis", "remark", "source_row"]
    return ind[cols].reset_index(drop=True)


# --------------------------------------------------------------------------------------- measures


def english_names(path: str | Path) -> dict[str, str]:
    """measure id → English name from measures.csv's optional `name_en` column (blank cells left out)."""
    try:
        m = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError):
        return {}
    if not {"measure_id", "name_en"} <= set(m.columns):
        return {}
    return {r.measure_id: r.name_en.strip() for r in m.itertuples() if r.name_en.strip()}


# what measures.csv must hold (name_en is optional: presentation only)
MEASURE_COLUMNS = [
    "measure_id",
    "indicator_id",
    "name",
    "kind",
    "unit",
    "target",
    "target_high",
    "schedule",
    "per_month",
    "reporting_unit",
    "source_text",
]


def _target_problems(rec: dict, file: str, where: str) -> list[Problem]:
    """A quantitative or milestone measure's target: a number, finite and above 0 (a growth band's lower
    bound may be any finite rate), a percentage at most 100; a band's upper bound not below its lower; a
    per-month requirement finite and above zero. 0 gave full marks for any value, a negative or infinite
    target none, 600% or an upside-down band made the measure's completion, score and projection nonsense
    on the brief, all silently."""
    mid, kind = rec["measure_id"], rec["kind"]
    try:
        target = float(rec["target"])
    except ValueError:
        return [Problem(file, f"{mid}: target is not a number", cell=where)]
    if not math.isfinite(target) or (target <= 0 and kind != "growth_band"):
        above = "" if kind == "growth_band" else " above 0"
        return [
            Problem(file, f"{mid}: target must be a finite number{above}, got {rec['target']!r}", cell=where)
        ]
    out = []
    if kind in ("percent", "milestone") and target > 100:
        out.append(
            Problem(file, f"{mid}: a percentage target must be at most 100, got {rec['target']}", cell=where)
        )
    for col in ("target_high", "per_month"):
        text = str(rec.get(col, "")).strip()
        if not text:
            continue
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            out.append(Problem(file, f"{mid}: {col} must be a finite number, got {text}", cell=where))
        elif col == "target_high" and value < target:
            out.append(
                Problem(file, f"{mid}: target_high {text} is below target {rec['target']}", cell=where)
            )
        elif col == "per_month" and value <= 0:
            out.append(Problem(file, f"{mid}: per_month must be above 0, got {text}", cell=where))
    return out


def read_measures(path: str | Path, indicators: pd.DataFrame, plan: dict) -> pd.DataFrame:
    """Measures from measures.csv, plus a qualitative measure for each indicator that lists none. The
    optional English name (`name_en`) is presentation only: read by `english_names`, not kept here."""
    path = input_file(path)
    with _csv_read(path):
        m = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    m = m.drop(columns=["name_en"], errors="ignore")
    missing = [c for c in MEASURE_COLUMNS if c not in m.columns]
    if missing:
        raise InputError(Problem(str(path), f"missing columns: {', '.join(missing)}", cell="row 1"))
    problems = []
    known = set(indicators["id"])
    for i, rec in enumerate(m.to_dict("records"), start=2):
        where = f"row {i}"
        if rec["indicator_id"] not in known:
            problems.append(Problem(str(path), f"unknown indicator {rec['indicator_id']!r}", cell=where))
        if rec["kind"] not in MEASURE_KINDS:
            problems.append(Problem(str(path), f"unknown kind {rec['kind']!r}", cell=where))
        if rec["kind"] in QUANTITATIVE or rec["kind"] == "milestone":
            problems += _target_problems(rec, str(path), where)
    dup = m["measure_id"][m["measure_id"].duplicated()].tolist()
    if dup:
        problems.append(Problem(str(path), f"duplicate measure ids: {', '.join(dup)}"))
    if problems:
        raise InputError(problems)

    listed = set(m["indicator_id"])
    extra = [
        {
            "measure_id": f"{r.id}.1",
            "indicator_id": r.id,
            "name": r.text[:40],
            "kind": "qualitative",
            "unit": "",
            "target": "",
            "target_high": "",
            "schedule": "assessed",
            "per_month": "",
            "reporting_unit": "",
            "source_text": r.text,
        }
        for r in indicators.itertuples()
        if r.id not in listed
    ]
    m = pd.concat([m, pd.DataFrame(extra)], ignore_index=True)
    for col in ["target", "target_high", "per_month"]:
        m[col] = pd.to_numeric(m[col].replace("", None), errors="coerce")
    ind = indicators.set_index("id")
    m["deadline_month"] = m["indicator_id"].map(ind["deadline_month"]).astype(int)
    first_unit = ind["units"].map(lambda u: u[0] if u else "")
    m["reporting_unit"] = m["reporting_unit"].where(
        m["reporting_unit"] != "", m["indicator_id"].map(first_unit)
    )
    # A measure's share of its indicator's weight: equal unless plan.toml says otherwise.
    shares = plan.get("scoring", {}).get("measure_shares", {})
    count = m.groupby("indicator_id")["measure_id"].transform("count")
    m["share"] = m["measure_id"].map(shares).fillna(1.0 / count).astype(float)
    m["indicator_weight"] = m["indicator_id"].map(ind["weight"]).astype(float)
    m["weight"] = m["share"] * m["indicator_weight"]
    order = {k: i for i, k in enumerate(indicators["id"])}
    m = m.sort_values(
        ["indicator_id", "measure_id"], key=lambda s: s.map(order) if s.name == "indicator_id" else s
    )
    return m.reset_index(drop=True)


# ---------------------------------------------------------------------------------------- loading


def load_plan(plan_dir: str | Path = PLAN_DIR) -> dict:
    """plan.toml, checked against perfkit.plan_schema: InputError naming file, line, key and expected type."""
    from .plan_schema import parse_plan

    return parse_plan(Path(plan_dir) / "plan.toml")


def load_catalogue(plan_dir: str | Path = PLAN_DIR, attachment: str | Path | None = None) -> Catalogue:
    """The plan in `plan_dir`; `attachment` may name an .xlsx or .csv to use instead of the bundled one."""
    plan_dir = Path(plan_dir)
    plan = load_plan(plan_dir)
    src = Path(attachment) if attachment else plan_dir / plan["plan"]["attachment"]
    raw = read_attachment_xlsx(src) if src.suffix.lower() == ".xlsx" else read_attachment_csv(src)
    indicators = normalise_attachment(raw, str(src), plan)
    measures = read_measures(plan_dir / plan["plan"]["measures"], indicators, plan)
    return Catalogue(plan=plan, indicators=indicators, measures=measures, plan_dir=plan_dir)
