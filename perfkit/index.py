"""outputs/index.html: every brief built, by month and kind, with links to its files in each language.

Rebuilt after every `perfkit brief` (perfkit.brief) and by `perfkit index`. It lists what is in each
brief folder (`YYYY-MM`, `YYYY-MM-quarterly`, `YYYY-MM-annual`), discovered by file type rather than by
name: the briefs (`brief.html`, `brief.<lang>.html`), the unit pages (`units/*.html`, with a PDF of the
same name), PDF and Word documents (*.pdf, *.docx) and data files (*.csv, *.xlsx). Anything else is left
out: the runner's hidden build, claim and old folders, `scratch/` (hand runs), `*.failed/` (failed runs),
files of other kinds, symbolic links. A folder half built by hand shows what it has.

The page has the brief's look (its stylesheet, inlined), loads nothing from outside, escapes every name
and percent-encodes every link; it is written whole (a temporary file, then renamed over the old one).
"""

from __future__ import annotations

import html
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from .errors import Problem
from .exports import OutputError, write_whole
from .labels import t

INDEX_FILE = "index.html"
FOLDER = re.compile(r"^(?P<month>\d{4}-(?:0[1-9]|1[0-2]))(?:-(?P<kind>quarterly|annual))?$")
BRIEF = re.compile(r"^brief(?:\.(?P<lang>[a-z]{2}))?\.html$")
DOCUMENTS = (".pdf", ".docx")
UNIT_PAGE = re.compile(r"^(?P<stem>.+?)(?:\.(?P<lang>[a-z]{2}))?\.(?:html|pdf|docx)$", re.IGNORECASE)
DATA = (".csv", ".xlsx")
UNITS = "units"
KIND_ORDER = {"monthly": 0, "quarterly": 1, "annual": 2}
STYLESHEET = Path(__file__).resolve().parent / "templates" / "brief" / "brief.css"  # the brief's look


@dataclass
class Folder:
    """One brief folder's files, relative paths (POSIX)."""

    name: str
    month: str
    kind: str
    briefs: dict[str, str] = field(default_factory=dict)  # lang → brief html
    units: dict[str, list[str]] = field(default_factory=dict)  # page name → its files (html first)
    documents: list[str] = field(default_factory=list)
    data: list[str] = field(default_factory=list)


def _files(folder: Path, sub: str = "") -> list[str]:
    """Regular files directly in folder/sub (no links, no hidden files), sorted."""
    base = folder / sub if sub else folder
    try:
        entries = list(os.scandir(base))
    except OSError:
        return []
    out = []
    for e in entries:
        try:
            if e.name.startswith(".") or e.is_symlink() or not e.is_file(follow_symlinks=False):
                continue
        except OSError:
            continue
        out.append(f"{sub}/{e.name}" if sub else e.name)
    return sorted(out)


def scan(root: str | os.PathLike) -> list[Folder]:
    """The brief folders under `root`, newest month first (monthly, quarterly, annual within a month)."""
    root = Path(root)
    found = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return []
    for e in entries:
        m = FOLDER.match(e.name)
        try:
            if not m or e.is_symlink() or not e.is_dir(follow_symlinks=False):
                continue
        except OSError:
            continue
        folder = Folder(e.name, m["month"], m["kind"] or "monthly")
        for name in _files(root / e.name):
            brief = BRIEF.match(name)
            if brief:
                folder.briefs[brief["lang"] or "zh"] = name
            elif name.lower().endswith(DOCUMENTS):
                folder.documents.append(name)
            elif name.lower().endswith(DATA):
                folder.data.append(name)
        for name in _files(root / e.name, UNITS):
            page = UNIT_PAGE.match(name[len(UNITS) + 1 :])
            if page:  # the same unit's pages in each language and their PDFs under one name
                folder.units.setdefault(page["stem"], []).append(name)
        for files in folder.units.values():
            files.sort(key=lambda n: (not n.endswith(".html"), len(n), n))
        found.append(folder)
    found.sort(key=lambda f: (f.month, -KIND_ORDER.get(f.kind, 9)), reverse=True)
    return found


def _link(folder: str, path: str, text: str) -> str:
    return f'<a href="{html.escape(quote(f"{folder}/{path}", safe="/"))}">{html.escape(text)}</a>'


def _unit_label(stem: str, path: str, first: bool) -> str:
    """The unit's name on its first link, then what each other file is: 'EN', 'PDF', 'EN PDF'."""
    m = UNIT_PAGE.match(path.rsplit("/", 1)[1])
    kind = path.rsplit(".", 1)[1].upper()
    what = " ".join(x for x in ((m["lang"] or "").upper(), "" if kind == "HTML" else kind) if x)
    if first:
        return f"{stem} {what}".strip()
    return what or kind


def _month_text(month: str, lang: str) -> str:
    year, mo = month.split("-")
    return f"{year}年{int(mo)}月" if lang == "zh" else f"{year}-{mo}"


def render(folders: list[Folder], lang: str = "zh") -> str:
    """The index page's HTML."""
    css = STYLESHEET.read_text(encoding="utf-8")
    sep = "、" if lang == "zh" else ", "
    rows = []
    for f in folders:
        briefs = sep.join(
            _link(f.name, path, t(f"index.lang.{code}", lang) if f"index.lang.{code}" in _LANGS else code)
            for code, path in sorted(f.briefs.items(), key=lambda kv: (kv[0] != "zh", kv[0]))
        )
        units = ""
        if f.units:
            items = "".join(
                "<li>"
                + " ".join(_link(f.name, p, _unit_label(stem, p, first=i == 0)) for i, p in enumerate(files))
                + "</li>"
                for stem, files in sorted(f.units.items())
            )
            units = f"<details><summary>{len(f.units)}</summary><ul>{items}</ul></details>"
        docs = sep.join(_link(f.name, p, p) for p in f.documents)
        data = sep.join(_link(f.name, p, p) for p in f.data)
        cells = [
            html.escape(_month_text(f.month, lang)),
            html.escape(t(f"brief.title.{f.kind}", lang)),
            briefs or "—",
            units or "—",
            docs or "—",
            data or "—",
        ]
        rows.append(
            "<tr>"
            + "".join(f'<td class="pk-t{" pk-nw" if i < 3 else ""}">{c}</td>' for i, c in enumerate(cells))
            + "</tr>"
        )
    heads = ["month", "kind", "brief", "units", "documents", "data"]
    head = "".join(f"<th>{html.escape(t('index.col.' + h, lang))}</th>" for h in heads)
    body = (
        f'<table class="pk-table pk-wide"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
        if rows
        else f'<p class="pk-empty">{html.escape(t("index.empty", lang))}</p>'
    )
    title = html.escape(t("index.title", lang))
    generated = f"{t('brief.generated', lang)} {datetime.now().strftime('%Y-%m-%d %H:%M')}"
    return (
        f'<!DOCTYPE html>\n<html lang="{"zh-CN" if lang == "zh" else "en"}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>\n{css}\n.pk-index details ul {{ margin: 1mm 0; padding-left: 1.2em; }}"
        "\n</style>\n</head>\n"
        f'<body class="pk-brief pk-index"><main class="pk-main"><header class="pk-cover"><h1>{title}</h1>'
        f'<p class="pk-note">{html.escape(t("index.note", lang))}</p></header>{body}</main>'
        f'<footer class="pk-colophon">{html.escape(generated)}</footer></body>\n</html>\n'
    )


_LANGS = {"index.lang.zh", "index.lang.en"}


def write_index(root: str | os.PathLike, lang: str = "zh") -> Path:
    """Rebuild `root`/index.html from what is there now; written whole (exports.write_whole). A `root` that
    is not an existing folder is an OutputError (nothing made: a mistyped --outputs indexes nothing)."""
    root = Path(root)
    if not root.is_dir():
        why = "is a file, not a folder of briefs" if root.exists() else "no such folder"
        raise OutputError(Problem(str(root), why))
    text = render(scan(root), lang)
    return write_whole(root / INDEX_FILE, lambda fh: fh.write(text.encode("utf-8")))
