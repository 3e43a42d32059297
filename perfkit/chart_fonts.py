"""The measuring font: a small private copy of the charts' Chinese font, so charts draw in a third of the time.

vl-convert measures every label's width (and resvg draws every glyph) through fontdb, which opens, maps
and parses the system's CJK font file for each glyph: with Noto Sans CJK (a 19 MB collection of 10 faces)
that is most of a chart's drawing time. A subset of that font holding only the characters the charts can
show (the plan's texts, perfkit's labels, ASCII, CJK punctuation: about 950 characters, 0.3 MB a face),
under a private family name listed first in the chart's fonts, measures and draws the same glyphs with
the same advances, about 3× faster (SVG and PNG, benchmarks/bench_charts.py). It is a cache and never
changes what is drawn:

- its faces are the source family's faces (every weight and style the system has), cut to a character set,
  with the same metrics and outlines; only the family name differs, and perfkit.charts removes it from the
  SVG it keeps, so the SVG and the PNG are byte for byte those drawn without it (tests/test_charts.py);
- a chart with any character outside the set is drawn without it (as it is with none built), and each
  process drops a font whose probe drawing differs from the probe drawn without it (perfkit.charts);
- any failure (no fontTools, no CJK font, a cache that cannot be written, a damaged file) means no
  measuring font, silently: the chart is drawn as before.

Built fonts are kept in the user's cache (`$PERFKIT_FONT_CACHE`, else `$XDG_CACHE_HOME/perfkit/fonts`,
`~/.cache/perfkit/fonts`; `%LOCALAPPDATA%\\perfkit\\fonts` on Windows), one folder per family with a
manifest naming its characters and its files' SHA-256; a folder is written under a temporary name and
renamed into place, so two processes building the same font never see half of one; a build sweeps what
killed builds left and all but the KEEP most recently used fonts. The brief's runner builds (or finds)
the font for the store's plan once per run and hands its kernels a copy in the run's folder (`FONT_ENV`,
"off" when there is none); a kernel only reads the manifest, never imports fontTools. In JupyterLab
(no runner) `latest()` finds the newest font built for the system's current fonts, drawn from a private
copy (`private_copy`).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# Fonts the reader's machine is likely to have for Simplified Chinese (perfkit.charts.FONT); no web fonts.
FONT = "Noto Sans CJK SC, Source Han Sans SC, Microsoft YaHei, PingFang SC, SimHei, sans-serif"
FONT_ENV = "PERFKIT_CHART_FONT"  # the measuring font's folder for a kernel; "off" draws without one
CACHE_ENV = "PERFKIT_FONT_CACHE"  # where measuring fonts are kept
RECIPE = 1  # how a font is cut (below): a new recipe builds new fonts under new names
MANIFEST = "manifest.json"
KEEP = 8  # built fonts kept in the cache, the most recently used (one per plan and set of labels)
STALE_S = 3600  # a temporary file or folder this old was left by a killed build
SOURCES = "sources.json"  # the system fonts' families, kept per state of the font folders (no fontTools)
PREFIX = "perfkit-metrics-"
FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")
# What Vega writes beside the data: d3's number formats (minus sign, SI prefix µ, ellipsis for cut labels)
# and the zh-CN time locale (vl_convert.get_time_format_locale("zh-CN"); tests check it is covered).
CHART_EXTRAS = (
    "−µ…¥€£°×÷±‰—–·・、。，；：？！（）《》〈〉【】「」『』“”‘’％～"
    + "上下午星期日一二三四五六七八九十周月年"
)
LABELS = Path(__file__).resolve().parent / "labels.py"  # every user-facing label, zh and en (read as text)


@dataclass(frozen=True)
class MeasuringFont:
    """A built measuring font: its folder (to register with vl-convert), private family name, the family
    it copies, the families of the font list absent before it, and the characters it holds."""

    folder: Path
    family: str
    source: str
    absent: tuple[str, ...]
    chars: frozenset[str]

    def covers(self, text: str) -> bool:
        return set(text) <= self.chars

    def copies(self, fonts: str) -> bool:
        """Whether a font list (a CSS font-family value) draws with the source family here."""
        for name in families(fonts):
            if name not in self.absent:
                return name == self.source
        return False


def families(fonts: str) -> list[str]:
    return [name.strip().strip("'\"") for name in fonts.split(",") if name.strip()]


def cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "perfkit" / "fonts"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "perfkit" / "fonts"


def font_dirs() -> list[Path]:
    """The standard font folders of Linux, macOS and Windows (where fontdb, vl-convert's font database,
    looks too)."""
    home = Path.home()
    if sys.platform == "win32":
        windir = Path(os.environ.get("WINDIR", r"C:\Windows"))
        local = Path(os.environ.get("LOCALAPPDATA", home / "AppData" / "Local"))
        return [windir / "Fonts", local / "Microsoft" / "Windows" / "Fonts"]
    if sys.platform == "darwin":  # PingFang is a downloadable asset on recent macOS
        assets = sorted(Path("/System/Library/AssetsV2").glob("com_apple_MobileAsset_Font*"))
        return [Path("/System/Library/Fonts"), Path("/Library/Fonts"), home / "Library" / "Fonts", *assets]
    data = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return [Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), data / "fonts", home / ".fonts"]


def _font_files() -> list[tuple[str, int, int]]:
    found = []
    for top in font_dirs():
        for root, _dirs, files in os.walk(top):
            for name in files:
                if name.lower().endswith(FONT_SUFFIXES):
                    path = os.path.join(root, name)
                    try:
                        st = os.stat(path)
                    except OSError:
                        continue
                    found.append((path, st.st_size, st.st_mtime_ns))
    return sorted(found)


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def _family_names(font) -> list[str]:
    """A face's family names as fontdb reads them: typographic family (name ID 16), else family (ID 1)."""
    names = font["name"].names
    for name_id in (16, 1):
        found = [r.toUnicode() for r in names if r.nameID == name_id and r.platformID in (0, 3)]
        if found:
            return found
    return []


def _scan(files: list[tuple[str, int, int]]) -> dict[str, list[dict]]:
    """family name → its faces (path, index in a collection, size, mtime), from the fonts' name tables."""
    from fontTools.ttLib import TTCollection, TTFont

    faces: dict[str, list[dict]] = {}
    for path, size, mtime in files:
        try:
            if path.lower().endswith((".ttc", ".otc")):
                fonts = list(TTCollection(path, lazy=True).fonts)
            else:
                fonts = [TTFont(path, lazy=True)]
            for index, font in enumerate(fonts):
                os2 = font["OS/2"]
                face = {
                    "path": path,
                    "index": index,
                    "size": size,
                    "mtime": mtime,
                    "weight": os2.usWeightClass,
                    "width": os2.usWidthClass,
                    "italic": bool(os2.fsSelection & 0x201),  # italic or oblique
                }
                for name in set(_family_names(font)):
                    faces.setdefault(name, []).append(face)
        except Exception:  # noqa: BLE001 - a damaged font file is skipped, as fontdb skips it
            continue
    return faces


def find_source(
    fonts: str = FONT, cache: Path | None = None
) -> tuple[str, tuple[str, ...], list[dict]] | None:
    """The first family of `fonts` installed here, the families absent before it, and its faces; None
    when none is installed or fontdb could take either of two faces alike. The system's families are
    kept in the cache per state of the font folders (paths, sizes, times), so fontTools is imported
    only when a font was installed or removed."""
    cache = cache or cache_dir()
    files = _font_files()
    key = _digest([RECIPE, fonts, files])
    try:  # as kept; a damaged record is scanned again
        return _first(fonts, _read_json(cache / SOURCES)[key])
    except (KeyError, TypeError, AttributeError):
        pass
    wanted = families(fonts)
    faces = {k: v for k, v in _scan(files).items() if k in wanted}
    _write_json(cache / SOURCES, {key: faces})  # the latest state only
    return _first(fonts, faces)


def _first(fonts: str, faces: dict[str, list[dict]]) -> tuple[str, tuple[str, ...], list[dict]] | None:
    absent = []
    for name in families(fonts):
        found = faces.get(name)
        if found:
            if not all(isinstance(f["path"], str) and isinstance(f["index"], int) for f in found):
                raise TypeError("not a record of faces")
            styles = {(f["weight"], f["width"], f["italic"]) for f in found}
            # two faces alike (a font installed twice): which one fontdb takes is not ours to know
            return (name, tuple(absent), found) if len(styles) == len(found) else None
        absent.append(name)
    return None


def charset(texts: Iterable[str] = ()) -> str:
    """The characters a chart can draw: `texts` (the plan's), perfkit's labels, printable ASCII and the
    extras Vega writes itself (CHART_EXTRAS)."""
    chars = set(LABELS.read_text(encoding="utf-8")) | set(CHART_EXTRAS)
    chars |= {chr(c) for c in range(0x20, 0x7F)}
    for text in texts:
        chars |= set(text)
    return "".join(sorted(c for c in chars if c.isprintable()))


def plan_texts(plan_dir: str | os.PathLike) -> list[str]:
    """The text of every file in a plan folder (measure names, units, settings): what the charts label."""
    texts = []
    for path in sorted(Path(plan_dir).iterdir()):
        try:
            texts.append(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):  # a workbook or a folder: its names reach the store as text
            continue
    return texts


def load(folder: str | os.PathLike) -> MeasuringFont | None:
    """The measuring font in `folder` when its manifest and files are whole; None otherwise."""
    folder = Path(folder)
    manifest = _read_json(folder / MANIFEST)
    try:
        if manifest.get("recipe") != RECIPE or not manifest["files"]:
            return None
        for name, digest in manifest["files"].items():
            if Path(name).name != name or hashlib.sha256((folder / name).read_bytes()).hexdigest() != digest:
                return None
        return MeasuringFont(
            folder=folder,
            family=str(manifest["family"]),
            source=str(manifest["source"]),
            absent=tuple(manifest["absent"]),
            chars=frozenset(manifest["chars"]),
        )
    except (OSError, KeyError, TypeError, AttributeError):
        return None


def _or_none(make):
    """A cache, not correctness: any failure (fontTools missing or failing, a cache that cannot be written)
    means no measuring font, and charts drawn as before."""

    @functools.wraps(make)
    def safe(*args, **kwargs):
        try:
            return make(*args, **kwargs)
        except Exception:  # noqa: BLE001 - see above
            return None

    return safe


@_or_none
def build(texts: Iterable[str] = (), fonts: str = FONT, cache: Path | None = None) -> MeasuringFont | None:
    """The measuring font for `texts` (see `charset`) copying the first family of `fonts` installed here:
    read from the cache when built before, else built and kept there. None when it cannot be had."""
    cache = cache or cache_dir()
    source = find_source(fonts, cache)
    if source is None:
        return None
    name, absent, faces = source
    chars = charset(texts)
    family = PREFIX + _digest([RECIPE, fonts, name, absent, faces, chars])[:12]
    folder = cache / family
    found = load(folder)
    if found is not None:
        with contextlib.suppress(OSError):  # a read-only cache is still read
            os.utime(folder)  # used: the newest, kept when older ones are removed (_sweep)
        return found
    found = _publish(_cut(family, name, absent, faces, chars, cache), folder)
    _sweep(cache)
    return found


def _sweep(cache: Path) -> None:
    """What killed builds left (hidden temporary folders and files an hour old) and all but the KEEP most
    recently used fonts. Processes drawing with a font use a copy of it (kernel_env, private_copy)."""
    now = time.time()
    for path in cache.glob(".*"):
        try:
            if now - path.stat().st_mtime > STALE_S:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        except OSError:
            continue
    built = []
    for path in cache.glob(PREFIX + "*"):
        try:
            built.append((path.stat().st_mtime_ns, path))
        except OSError:
            continue
    for _, path in sorted(built, reverse=True)[KEEP:]:
        shutil.rmtree(path, ignore_errors=True)


def _cut(
    family: str, source: str, absent: tuple[str, ...], faces: list[dict], chars: str, cache: Path
) -> Path:
    """Each face of the source family cut to `chars` and renamed `family`, with a manifest, in a new
    temporary folder of `cache`."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{family}.", dir=cache))
    try:
        files, held = {}, set(chars)
        for i, face in enumerate(faces):
            # the source's timestamp kept: the same characters give the same bytes on every build
            font = TTFont(face["path"], fontNumber=face["index"], lazy=True, recalcTimestamp=False)
            options = subset.Options()
            # horizontal text only (Vega), so no vertical metrics; resvg does not hint, so no hints
            options.drop_tables += ["VORG", "vhea", "vmtx", "BASE", "DSIG"]
            options.hinting = False
            options.name_IDs = ["*"]
            options.name_languages = ["*"]
            options.notdef_outline = True
            cutter = subset.Subsetter(options)
            cutter.populate(unicodes=[ord(c) for c in chars])
            cutter.subset(font)
            held &= {chr(c) for c in font.getBestCmap()}
            style = font["name"].getDebugName(2) or str(i)
            names = font["name"]
            for name_id in (1, 3, 4, 6, 16, 17):
                names.removeNames(nameID=name_id)
            ps = f"{family}-{i}"
            names.setName(family, 1, 3, 1, 0x409)
            names.setName(ps, 3, 3, 1, 0x409)
            names.setName(f"{family} {style}", 4, 3, 1, 0x409)
            names.setName(ps, 6, 3, 1, 0x409)
            file = f"{ps}.otf" if "CFF " in font or "CFF2" in font else f"{ps}.ttf"
            font.save(tmp / file)
            files[file] = hashlib.sha256((tmp / file).read_bytes()).hexdigest()
        manifest = {
            "recipe": RECIPE,
            "family": family,
            "source": source,
            "absent": list(absent),
            "faces": faces,
            # only what every face holds: a character one face lacks would fall back to another font
            "chars": "".join(sorted(held)),
            "files": files,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def _publish(tmp: Path, folder: Path) -> MeasuringFont | None:
    """Rename a built folder into place; a whole one already there (another process) is kept, a damaged one
    moved aside first."""
    try:
        for _ in range(3):
            try:
                os.rename(tmp, folder)
                return load(folder)
            except OSError:
                found = load(folder)
                if found is not None:  # another process built it first
                    return found
                if folder.exists():  # damaged: moved aside (a rename, so no reader sees it half-removed)
                    aside = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old.", dir=folder.parent))
                    try:
                        os.rename(folder, aside / "font")
                    except OSError:
                        pass
                    shutil.rmtree(aside, ignore_errors=True)
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@_or_none
def latest(fonts: str = FONT, cache: Path | None = None) -> MeasuringFont | None:
    """The newest measuring font built here for the system's current fonts (JupyterLab, no runner)."""
    cache = cache or cache_dir()
    source = find_source(fonts, cache)
    if source is None:
        return None
    wanted = dict(zip(("source", "absent", "faces"), (source[0], list(source[1]), source[2]), strict=True))
    candidates = []
    for folder in cache.glob(PREFIX + "*"):
        manifest = _read_json(folder / MANIFEST)
        if {k: manifest.get(k) for k in wanted} == wanted:
            candidates.append((folder.stat().st_mtime_ns, folder))
    for _, folder in sorted(candidates, reverse=True):
        found = load(folder)
        if found is not None:
            return found
    return None


def kernel_env(plan_dir: str | os.PathLike, run_dir: str | os.PathLike) -> dict[str, str]:
    """{FONT_ENV: folder} for the brief's kernels: the measuring font for the plan in `plan_dir`, copied into
    the run's own folder `run_dir` (so clearing the cache mid-run changes nothing); "off" without one (the
    kernels do not look for one themselves)."""
    font = build(plan_texts(plan_dir))
    if font is None:
        return {FONT_ENV: "off"}
    copy = Path(run_dir) / font.family
    try:
        shutil.copytree(font.folder, copy)
    except OSError:
        return {FONT_ENV: "off"}
    return {FONT_ENV: str(copy)}


def private_copy(font: MeasuringFont | None) -> MeasuringFont | None:
    """`font` copied into a temporary folder of this process's own, removed when it exits: a font
    registered with vl-convert is read from its files at every glyph, so the cache may be cleared or swept
    while this process draws."""
    if font is None:
        return None
    tmp = Path(tempfile.mkdtemp(prefix="perfkit-font-"))
    atexit.register(shutil.rmtree, tmp, True)
    try:
        shutil.copytree(font.folder, tmp / font.family)
    except OSError:
        return None
    return load(tmp / font.family)


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _write_json(path: Path, value: dict) -> None:
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(value, f, ensure_ascii=False)
        os.replace(tmp, path)
    except OSError:  # not kept: scanned again next time
        if tmp:
            Path(tmp).unlink(missing_ok=True)
