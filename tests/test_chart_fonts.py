"""The measuring font (perfkit.chart_fonts): the system's CJK font really cut with fontTools, renamed, kept
in a cache folder, read back without fontTools, rebuilt when damaged, and never used where it could change
a drawing (perfkit.charts: the drawings themselves are compared in tests/test_charts.py)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from perfkit import chart_fonts, charts
from perfkit.config import PLAN_DIR

TEXTS = chart_fonts.plan_texts(PLAN_DIR)


def shared_font(tmp_path_factory) -> chart_fonts.MeasuringFont:
    """The plan's measuring font, built once per test session in the session's temp folder (shared with
    tests/test_charts.py, which finds it there); skips where no CJK font of charts.FONT is installed."""
    cache = tmp_path_factory.getbasetemp() / "chart-fonts"
    if chart_fonts.find_source(charts.FONT, cache) is None:
        pytest.skip(f"no font of {charts.FONT!r} installed here (e.g. fonts-noto-cjk): no measuring font")
    font = chart_fonts.build(TEXTS, charts.FONT, cache)
    assert font is not None, "a CJK font is installed but no measuring font was built"
    return font


@pytest.fixture(scope="session")
def font(tmp_path_factory) -> chart_fonts.MeasuringFont:
    return shared_font(tmp_path_factory)


def _face_names(path: Path) -> dict:
    from fontTools.ttLib import TTFont

    f = TTFont(path)
    return {
        "family": f["name"].getDebugName(1),
        "weight": f["OS/2"].usWeightClass,
        "chars": {chr(c) for c in f.getBestCmap()},
        "advances": {chr(c): f["hmtx"][g][0] for c, g in f.getBestCmap().items()},
    }


def test_the_font_is_the_source_cut_to_the_charts_characters_under_a_private_name(font):
    from fontTools.ttLib import TTFont

    name, absent, faces = chart_fonts.find_source(charts.FONT, font.folder.parent)
    assert font.family.startswith(chart_fonts.PREFIX) and font.source == name and font.absent == absent
    files = sorted(font.folder.glob("*.[ot]tf"))
    assert len(files) == len(faces)  # every face of the family (regular and bold here): bold titles too
    wanted = set(chart_fonts.charset(TEXTS))
    assert "考" in font.chars and "A" in font.chars and font.chars <= wanted
    for path, face in zip(files, faces, strict=True):
        cut = _face_names(path)
        assert cut["family"] == font.family and cut["weight"] == face["weight"]
        assert font.chars <= cut["chars"] and path.stat().st_size < face["size"] / 10
        source = TTFont(face["path"], fontNumber=face["index"], lazy=True)
        cmap, hmtx = source.getBestCmap(), source["hmtx"]
        for c in "考评总得分Ag1—":  # the same advance for each character: the same layout
            assert cut["advances"][c] == hmtx[cmap[ord(c)]][0]
    manifest = json.loads((font.folder / chart_fonts.MANIFEST).read_text(encoding="utf-8"))
    assert manifest["files"] == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_a_built_font_is_read_back_by_a_process_that_never_imports_fonttools(font):
    again = chart_fonts.build(TEXTS, charts.FONT, font.folder.parent)
    assert again == font
    code = (
        "import sys, json\nfrom perfkit import chart_fonts\n"
        f"f = chart_fonts.build({TEXTS!r}, cache=chart_fonts.Path({str(font.folder.parent)!r}))\n"
        "print(json.dumps([f.family, 'fontTools' in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == [font.family, False]


def test_new_characters_make_a_new_family(font):
    cache = font.folder.parent
    source = chart_fonts.find_source(charts.FONT, cache)
    other = chart_fonts.charset(TEXTS + ["龘"])
    assert chart_fonts.charset(TEXTS) != other  # a new set: a new family name, never the registered one
    assert font.covers("考评 Ag") and not font.covers("龘") and source is not None


def test_a_damaged_font_is_rebuilt_and_a_damaged_manifest_ignored(font, tmp_path):
    cache = tmp_path / "fonts"
    shutil.copytree(font.folder.parent, cache)
    folder = cache / font.family
    damaged = sorted(folder.glob("*.otf"))[0]
    damaged.write_bytes(damaged.read_bytes()[:1000])  # cut short, as a full disk leaves it
    assert chart_fonts.load(folder) is None
    rebuilt = chart_fonts.build(TEXTS, charts.FONT, cache)
    assert rebuilt is not None and rebuilt.family == font.family and rebuilt.folder == folder
    assert damaged.read_bytes() == (font.folder / damaged.name).read_bytes()
    assert sorted(p.name for p in cache.iterdir()) == sorted(p.name for p in font.folder.parent.iterdir())
    (folder / chart_fonts.MANIFEST).write_text("{", encoding="utf-8")
    assert chart_fonts.load(folder) is None
    (folder / chart_fonts.MANIFEST).write_text(json.dumps({"recipe": 1, "files": {"../x": "0"}}), "utf-8")
    assert chart_fonts.load(folder) is None


def test_a_damaged_record_of_the_system_fonts_is_scanned_again(font, tmp_path):
    cache = tmp_path / "fonts"
    shutil.copytree(font.folder.parent, cache)
    record = json.loads((cache / chart_fonts.SOURCES).read_text(encoding="utf-8"))
    assert len(record) == 1  # the latest state of the font folders only
    key = next(iter(record))
    for damaged in ({key: {font.source: [{"path": 1}]}}, {key: []}, []):
        (cache / chart_fonts.SOURCES).write_text(json.dumps(damaged), encoding="utf-8")
        assert chart_fonts.find_source(charts.FONT, cache)[0] == font.source
        assert json.loads((cache / chart_fonts.SOURCES).read_text(encoding="utf-8")) == record
    assert chart_fonts.build(TEXTS, charts.FONT, cache) == chart_fonts.load(cache / font.family)


def test_two_builders_finishing_at_once_leave_one_whole_font(font, tmp_path):
    """Each builder renames its own temporary folder into place: the second finds the first's and keeps it."""
    cache = tmp_path / "fonts"
    cache.mkdir()
    folder = cache / font.family
    first, second = cache / ".a", cache / ".b"
    shutil.copytree(font.folder, first)
    shutil.copytree(font.folder, second)
    assert chart_fonts._publish(first, folder) == chart_fonts._publish(second, folder) is not None
    assert [p.name for p in cache.iterdir()] == [font.family]  # no temporary folder left
    # a damaged one in place is moved aside and replaced
    (folder / chart_fonts.MANIFEST).write_text("{", encoding="utf-8")
    shutil.copytree(font.folder, first)
    assert chart_fonts._publish(first, folder) is not None and chart_fonts.load(folder) is not None
    assert [p.name for p in cache.iterdir()] == [font.family]


def test_leftovers_of_killed_builds_and_all_but_the_newest_fonts_are_swept(font, tmp_path):
    import time

    cache = tmp_path / "fonts"
    shutil.copytree(font.folder.parent, cache)
    old = time.time() - 2 * chart_fonts.STALE_S
    left = [cache / f".{font.family}.abc", cache / ".sources.json.xyz", cache / ".fresh.tmp"]
    left[0].mkdir()
    left[1].write_text("{", encoding="utf-8")
    left[2].write_text("", encoding="utf-8")  # maybe another process's, still being written: kept
    for path in left[:2]:
        os.utime(path, (old, old))
    others = [cache / f"{chart_fonts.PREFIX}{i:012d}" for i in range(chart_fonts.KEEP + 2)]
    for i, path in enumerate(others):
        shutil.copytree(font.folder, path)
        os.utime(path, (old + i, old + i))
    chart_fonts._sweep(cache)
    kept = {p.name for p in cache.iterdir()}
    assert kept == {chart_fonts.SOURCES, ".fresh.tmp", font.family} | {p.name for p in others[3:]}


def test_jupyterlab_draws_with_a_copy_of_its_own(font):
    copy = chart_fonts.private_copy(font)
    assert copy.folder != font.folder and (copy.family, copy.chars) == (font.family, font.chars)
    assert chart_fonts.private_copy(None) is None


def test_an_unwritable_cache_means_no_font_and_charts_drawn_as_without(tmp_path, monkeypatch):
    blocked = tmp_path / "a-file"
    blocked.write_text("", encoding="utf-8")  # a folder under a file cannot be made, even by root
    assert chart_fonts.build(TEXTS, charts.FONT, blocked / "fonts") is None
    monkeypatch.setenv(chart_fonts.CACHE_ENV, str(blocked / "fonts"))
    assert chart_fonts.kernel_env(PLAN_DIR, tmp_path) == {chart_fonts.FONT_ENV: "off"}
    assert chart_fonts.latest() is None


def test_the_runner_hands_its_kernels_a_copy_of_the_font(font, tmp_path, monkeypatch):
    monkeypatch.setenv(chart_fonts.CACHE_ENV, str(font.folder.parent))
    env = chart_fonts.kernel_env(PLAN_DIR, tmp_path)
    copy = Path(env[chart_fonts.FONT_ENV])
    assert copy.parent == tmp_path and chart_fonts.load(copy) == chart_fonts.MeasuringFont(
        copy, font.family, font.source, font.absent, font.chars
    )
    assert chart_fonts.latest() == font  # JupyterLab (no runner): the newest built for these fonts


def test_the_characters_vega_writes_itself_are_in_every_set():
    import vl_convert as vlc

    locale = json.dumps(vlc.get_time_format_locale(charts.LOCALE), ensure_ascii=False)
    words = [w for v in json.loads(locale).values() if isinstance(v, list) for w in v]
    chars = set(chart_fonts.charset())
    assert set("".join(words)) <= chars and set(vlc.get_format_locale(charts.LOCALE)["currency"][0]) <= chars
    assert {"−", "…", "µ", "%", "—"} <= chars


def test_a_font_that_draws_differently_is_refused(tmp_path, monkeypatch):
    """The probe drawn with and without a font: a font named as the source family but cut from another one
    (what a damaged or stale cache could hold) draws other glyphs, so the process draws without it."""
    other = chart_fonts.build([], "DejaVu Sans", tmp_path)
    if other is None or chart_fonts.find_source(charts.FONT, tmp_path) is None:
        pytest.skip("needs DejaVu Sans and a CJK font of charts.FONT installed")
    source, absent, _ = chart_fonts.find_source(charts.FONT, tmp_path)
    manifest = json.loads((other.folder / chart_fonts.MANIFEST).read_text(encoding="utf-8"))
    manifest.update(source=source, absent=list(absent))
    (other.folder / chart_fonts.MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    forged = chart_fonts.load(other.folder)
    assert forged is not None and forged.copies(charts.FONT)
    monkeypatch.setenv(chart_fonts.FONT_ENV, str(other.folder))
    monkeypatch.setattr(charts, "_MEASURING", {})  # this process's choice, made again
    assert charts.measuring_font() is None


def test_off_means_no_font(monkeypatch):
    monkeypatch.setenv(chart_fonts.FONT_ENV, "off")
    monkeypatch.setattr(charts, "_MEASURING", {})
    assert charts.measuring_font() is None
