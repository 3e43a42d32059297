"""The brief: the runner (papermill on real kernels), the HTML export, and the page in real headless Chromium
with the network off (DevTools protocol: every request the page makes is recorded; none may leave the file).
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from test_cli import permissions_apply  # noqa: F401 - a fixture, used by name

from perfkit import brief, pdf
from perfkit.catalogue import load_plan
from perfkit.cli import main as cli_main
from perfkit.labels import t
from perfkit.months import MonthError

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
KERNEL_META = {
    "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
    "language_info": {"name": "python"},
}


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# --------------------------------------------------------------------------------------- the real run


@pytest.fixture(scope="module")
def built(_sample_store_master, tmp_path_factory):
    """One real `perfkit brief` run on a copy of the sample store, through the command line."""
    root = tmp_path_factory.mktemp("brief")
    db = root / "perfkit.sqlite"
    shutil.copy(_sample_store_master, db)
    out = root / "outputs" / "2019-09"
    lines: list[str] = []
    code = cli_main(["--db", str(db), "brief", "--out", str(out)])
    lines.append(str(code))
    return {"db": db, "out": out, "code": code}


@pytest.mark.slow
def test_brief_writes_every_file(built):
    assert built["code"] == 0
    out: Path = built["out"]
    cfg = brief.settings(load_plan())
    expected = {"brief.html"} | {w for n in cfg["notebooks"] for w in n.get("writes", [])}
    assert expected <= {p.name for p in out.iterdir()}
    executed = sorted(p.name for p in (out / "notebooks").iterdir() if p.is_file())
    assert executed == sorted(Path(n["file"]).name for n in cfg["notebooks"])
    # the executed copies carry their outputs and the injected parameters pointing at the build folder
    nb = nbformat.read(out / "notebooks" / "scores.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and 'as_of = "2019-09"' in injected[0].source
    working = [
        c
        for c in nb.cells
        if c.cell_type == "code"
        and not {"parameters", "injected-parameters"} & set(c.metadata.get("tags", []))
    ]
    assert working and all(c.get("outputs") for c in working)
    # no build or failed folders left beside the month; the index of briefs rebuilt beside it
    assert sorted(p.name for p in out.parent.iterdir()) == ["2019-09", "index.html"]
    scores = pd.read_csv(out / "scores.csv", encoding="utf-8-sig")
    assert len(scores) == 63 and set(scores["as_of"]) == {"2019-09"}
    assert abs(scores["weight"].sum() - 100) < 1e-6


@pytest.mark.slow
def test_second_brief_with_no_new_data_fits_nothing_and_runs_nothing(built):
    from perfkit import monthly
    from perfkit.store import open_store

    before = _digest(built["out"])
    conn = open_store(built["db"])
    computed = monthly.computed_months(conn)
    assert sorted(computed) == [f"2019-{m:02d}" for m in range(1, 10)]
    conn.close()
    lines: list[str] = []
    run = brief.run_brief(out=built["out"], db=built["db"], echo=lines.append)
    assert run.up_to_date and "up to date" in lines[-1]
    assert "brief.html" in run.files
    assert _digest(built["out"]) == before  # nothing rewritten
    conn = open_store(built["db"])
    assert monthly.computed_months(conn) == computed  # no month recomputed: no model fitted
    conn.close()


@pytest.mark.slow
def test_brief_html_has_no_code_and_labels_synthetic_data(built):
    page = (built["out"] / "brief.html").read_text(encoding="utf-8")
    assert "import " not in page and "report.gather" not in page  # code cells are not exported
    assert "In&nbsp;[" not in page  # no prompts
    assert page.count(t("synthetic")) >= 3  # banner, watermark, running footer (every printed page)
    assert "数据截至2019年9月" in page
    assert "考评总得分 = 目标考评得分" in page and "公众评议 85.00（假设）×30%" in page
    assert brief.external_references(page) == []
    for heading in (
        "一、总体情况",
        "二、运输总周转量增长",
        "三、投资及累计类指标",
        "四、风险与问题清单",
        "五、数据说明",
    ):
        assert heading in page
    assert "data-module=" not in page  # every analysis ran: no placeholder
    # leaders read no file or model names: those are named in the closing 数据说明 only
    body, notes = page.split("五、数据说明")
    assert not [w for w in ("plan.toml", "ETS", "SARIMAX") if w in body]
    assert "plan.toml" in notes and "SARIMAX" in notes
    assert (
        "较上月" in body and "逐月走势（2019年1月—2019年9月）" in body and "1—9月公路换算周转量同比" in body
    )
    assert "公路：截至2019年9月累计增长" in page and "风险分值最高的10项问题" in page
    # the unit that stopped reporting after June is named as not reporting in September
    assert re.search(r"未报送：[^<]*局综规科", page)


@pytest.mark.slow
def test_brief_in_headless_chromium_offline(built, tmp_path):
    html_file = built["out"] / "brief.html"
    result = _open_in_chromium(html_file, tmp_path)
    # nothing but the file itself was requested (inline SVG, inline CSS, system fonts)
    outside = [u for u in result["requests"] if not u.startswith(("file://", "data:", "about:"))]
    assert outside == [], outside
    assert result["requests"][0] == html_file.resolve().as_uri()
    assert [u for u in result["netlog_page_requests"] if not u.startswith(("file:", "data:"))] == []
    # every chart drew: each SVG has a real size and marks in it
    figures = result["figures"]
    assert len(figures) == result["svg_outputs"] >= 3  # the trend chart, the fan charts, the bullet chart
    for fig in figures:
        assert fig["width"] > 50 and fig["height"] > 50 and fig["marks"] > 0, fig
    # in print, the synthetic label is on every page: a fixed watermark (repeats on each printed page in
    # any browser) and the page's running footer (a page margin box)
    assert result["print_watermark"] == "fixed" and result["print_watermark_display"] != "none"
    assert result["watermark_text"] == t("synthetic")
    footers = [m for m in result["page_margin_boxes"] if m.startswith("bottom-left")]
    assert footers and t("synthetic") in footers[0] and "数据截至2019年9月" in footers[0]
    assert result["pdf_pages"] >= 3  # sections start on new A4 pages
    png = base64.b64decode(result["screenshot"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    shot = tmp_path / "brief.png"
    shot.write_bytes(png)
    keep = os.environ.get("PERFKIT_BRIEF_SCREENSHOT")
    if keep:  # for a person to look at
        shutil.copy(shot, keep)
        (Path(keep).with_suffix(".pdf")).write_bytes(base64.b64decode(result["pdf"]))


@pytest.mark.slow
def test_a_page_per_unit_with_the_brief_and_its_kept_copy(built):
    from perfkit import unitpage
    from perfkit.store import open_store, read_catalogue

    out: Path = built["out"]
    with closing(open_store(built["db"])) as conn:
        units = unitpage.reporting_units(read_catalogue(conn))
    pages = unitpage.file_names(units)
    assert sorted(p.relative_to(out).as_posix() for p in (out / "units").iterdir()) == sorted(pages.values())
    page = (out / pages["市道管处"]).read_text(encoding="utf-8")
    assert "市道管处 · 单位绩效页" in page and "五、报送记录" in page and "import " not in page
    assert page.count(t("synthetic")) >= 3 and brief.external_references(page) == []
    brief_page = (out / "brief.html").read_text(encoding="utf-8")
    assert brief_page.count('<li><a href="units/') == len(units) and "各单位页面" in brief_page
    kept = nbformat.read(out / "notebooks" / "units" / "市道管处.ipynb", as_version=4)
    injected = [c for c in kept.cells if "injected-parameters" in c.metadata.get("tags", [])]
    given = dict(ln.split(" = ", 1) for ln in injected[0].source.splitlines() if " = " in ln)
    assert ast.literal_eval(given["unit"]) == "市道管处" and given["out_dir"].startswith('""')
    # the notebooks read the snapshot the runner made current; run again by hand, the copy brings it up to date
    assert given["fingerprint"].startswith('""')


@pytest.mark.slow
def test_brief_unit_page_and_index_in_headless_chromium_offline(built, tmp_path):
    """Every chart drew, every link resolves to a file that exists, no request left the page."""
    from urllib.request import url2pathname

    out: Path = built["out"]
    for i, page in enumerate(
        (out / "brief.html", out / "units" / "局综规科.html", out.parent / "index.html")
    ):
        result = _open_in_chromium(page, tmp_path / str(i))
        assert [u for u in result["requests"] if not u.startswith(("file://", "data:", "about:"))] == []
        assert [u for u in result["netlog_page_requests"] if not u.startswith(("file:", "data:"))] == []
        assert all(f["width"] > 50 and f["height"] > 50 and f["marks"] > 0 for f in result["figures"])
        assert len(result["figures"]) == result["svg_outputs"]
        assert all(b["width"] > 50 and b["marks"] >= 2 for b in result["bars"])
        for link in result["links"]:
            assert link.startswith("file://"), link
            assert Path(url2pathname(link[len("file://") :].split("#")[0])).is_file(), link
        if page.name == "brief.html":
            assert len(result["links"]) == len(list((out / "units").glob("*.html"))) >= 10
        elif page.name == "index.html":
            assert len(result["links"]) > 20  # the brief, its unit pages and data files
        else:
            assert len(result["bars"]) == 2  # its two measures' progress bars
        assert result["pdf_pages"] >= 1


@pytest.mark.slow
def test_one_units_page_with_pdf_an_unknown_unit_and_no_browser(built, tmp_path, capsys):
    from perfkit.pdf import page_sizes

    out = tmp_path / "outputs" / "2019-09"
    shutil.copytree(built["out"], out)
    before = _digest(out)
    code = cli_main(["--db", str(built["db"]), "brief", "--unit", "不存在", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "市道管处" in err and "不存在" in err
    assert _digest(out) == before

    if CHROMIUM:
        code = cli_main(["--db", str(built["db"]), "brief", "--unit", "局综规科", "--pdf", "--out", str(out)])
        assert code == 0
        after = _digest(out)
        changed = {k for k in after if before.get(k) != after[k]}
        # the brief itself, its stamp and the other pages are as they were
        # (the page's HTML may come out byte for byte the same: its generated-at stamp is to the minute)
        assert "units/局综规科.pdf" in changed
        assert changed <= {"units/局综规科.html", "units/局综规科.pdf", "notebooks/units/局综规科.ipynb"}
        sizes = page_sizes((out / "units" / "局综规科.pdf").read_bytes())
        assert sizes and all(abs(w - 595.3) < 2 and abs(h - 841.9) < 2 for w, h in sizes)
        index_page = (out.parent / "index.html").read_text(encoding="utf-8")
        assert quote("2019-09/units/局综规科.pdf") in index_page  # the index rebuilt with the new PDF
        capsys.readouterr()

    os.environ["PERFKIT_CHROMIUM"] = str(tmp_path / "no-browser")
    try:
        code = cli_main(["--db", str(built["db"]), "brief", "--unit", "市道管处", "--pdf", "--out", str(out)])
    finally:
        del os.environ["PERFKIT_CHROMIUM"]
    captured = capsys.readouterr()
    assert code == 0 and f"PERFKIT_CHROMIUM={tmp_path / 'no-browser'} is neither" in captured.err
    assert len(captured.err.strip().splitlines()) == 1
    assert (out / "units" / "市道管处.html").exists() and not (out / "units" / "市道管处.pdf").exists()
    assert captured.out.strip().splitlines()[-1] == str(
        out / "units" / "市道管处.html"
    )  # after the run's log


@pytest.mark.slow
def test_kept_copies_show_static_charts_and_rerun_into_scratch(built, tmp_path, monkeypatch, perfkit_kernel):
    """A kept copy opened in JupyterLab shows its charts untrusted (a PNG beside the SVG, no Vega spec) and,
    run again by hand, writes to the scratch folder: the month and its siblings stay as they were."""
    import papermill as pm

    kept = built["out"] / "notebooks"
    charts = [
        o.data
        for name in ("risks.ipynb", "brief.ipynb")
        for c in nbformat.read(kept / name, as_version=4).cells
        for o in c.get("outputs", [])
        if "image/svg+xml" in o.get("data", {})
    ]
    assert charts and all(set(d) == {"image/svg+xml", "image/png", "text/plain"} for d in charts)

    before = _digest(built["out"].parent), sorted(p.name for p in built["out"].parent.iterdir())
    outputs = tmp_path / "outputs"
    monkeypatch.setenv("PERFKIT_OUTPUTS", str(outputs))
    pm.execute_notebook(
        str(kept / "scores.ipynb"),
        str(tmp_path / "again.ipynb"),
        kernel_name=perfkit_kernel,
        progress_bar=False,
    )
    assert (_digest(built["out"].parent), sorted(p.name for p in built["out"].parent.iterdir())) == before
    assert (outputs / "scratch" / "2019-09" / "scores.csv").exists()


@pytest.mark.slow
def test_chromium_probe_sees_a_request_leaving_the_page(tmp_path):
    """The offline check can fail: a page that loads an image from outside is caught both ways."""
    page = tmp_path / "leaky.html"
    page.write_text('<html><body><img src="http://example.com/pixel.png"><p>x</p></body></html>')
    result = _open_in_chromium(page, tmp_path)
    assert "http://example.com/pixel.png" in result["requests"]
    assert "http://example.com/pixel.png" in result["netlog_page_requests"]


@pytest.mark.slow
def test_failing_notebook_names_notebook_and_cell_and_keeps_earlier_folder(built):
    out: Path = built["out"]
    before = _digest(out)
    with pytest.raises(brief.BriefError) as err:
        brief.run_brief(
            "2019-09",
            kind="weekly",  # a bad parameter: the brief notebook refuses it in its first working cell
            out=out,
            db=built["db"],
            notebooks=[brief.NotebookJob("brief.ipynb")],
            workers=1,
            echo=lambda line: None,
        )
    message = str(err.value)
    assert "brief.ipynb" in message and "cell 3" in message and "weekly" in message
    assert _digest(out) == before  # the earlier folder is untouched
    failed = out.with_name("2019-09.failed")
    assert str(failed) in message
    kept = nbformat.read(failed / "notebooks" / "brief.ipynb", as_version=4)
    errors = [o for c in kept.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors and errors[0]["ename"] == "ValueError"
    shutil.rmtree(failed)


@pytest.mark.slow
def test_a_full_disk_is_one_line_exit_2_and_leaves_the_month_and_no_copies(built):
    """A full disk (RLIMIT_FSIZE stands in: no file may grow past 100 kB, as the brief's page does) failed
    as a notebook's fault: 'brief failed: notebook brief.ipynb failed: OSError: [Errno 28] …', exit 1, and
    kept its partial copies in <out>.failed/ on the full disk. Now the output line, exit 2, nothing kept."""
    from test_cli import one_line, perfkit

    out: Path = built["out"]
    before = _digest(out)
    got = perfkit("--db", str(built["db"]), "brief", "--out", str(out), "--force", file_size_limit=100_000)
    says = f"{out}: the disk is full (or a file-size limit was reached): nothing published; {out} was left as it was"
    assert (got.returncode, one_line(got.stderr)) == (2, says)
    assert _digest(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(["2019-09", "index.html"])


@pytest.mark.slow
def test_english_brief_beside_the_chinese_one(built, capsys):
    """`--lang en` into the month's folder: the English set is written beside the Chinese one (which stays
    byte for byte), reads with no Chinese but the plan's names (charts included), and a second Chinese run
    finds its own files up to date."""
    from english import known_names, untranslated

    from perfkit.store import open_store, read_catalogue

    out: Path = built["out"]
    zh_before = _digest(out)
    assert cli_main(["--db", str(built["db"]), "brief", "--lang", "en", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip().endswith("brief.en.html")
    after = _digest(out)
    assert {k: v for k, v in after.items() if k in zh_before} == zh_before
    assert ".brief.en.json" in after and ".brief.json" in zh_before  # one up-to-date record per language
    english = sorted(k for k in set(after) - set(zh_before) if not k.startswith("."))
    assert english == sorted(brief.lang_name(k, "en") for k in zh_before if not k.startswith("."))
    assert {"brief.en.html", "risk_flags.en.xlsx", "risk_flags.en.csv", "notebooks/risks.en.ipynb"} <= set(
        english
    )
    page = (out / "brief.en.html").read_text(encoding="utf-8")
    assert 'lang="en"' in page and brief.external_references(page) == []
    assert page.count("<svg") >= 2 and "Jan–Feb" in page  # the charts, their months in English
    conn = open_store(built["db"])
    names = known_names(read_catalogue(conn))
    conn.close()
    assert untranslated(page, names) == []
    flags = pd.read_csv(out / "risk_flags.en.csv", encoding="utf-8-sig")
    assert "Reasons" in flags.columns and untranslated(flags.to_csv(index=False), names) == []
    said: list[str] = []
    again = brief.run_brief(out=out, db=built["db"], echo=said.append)
    assert again.up_to_date and "up to date" in said[-1] and "brief.html" in again.files
    assert _digest(out) == after


@pytest.mark.slow
def test_notebooks_sharing_a_kernel_do_not_see_each_other(tmp_path, sample_db):
    folder = tmp_path / "nbs"
    folder.mkdir()
    for name, source in [("a.ipynb", "leak = 42"), ("b.ipynb", "print(leak)")]:
        nb = new_notebook(cells=[new_code_cell(source)], metadata=KERNEL_META)
        nbformat.write(nb, folder / name)
    with pytest.raises(brief.BriefError) as err:
        brief.run_brief(
            "2019-09",
            out=tmp_path / "out",
            db=sample_db,
            notebooks=[brief.NotebookJob("a.ipynb"), brief.NotebookJob("b.ipynb")],
            notebooks_dir=folder,
            workers=1,
            echo=lambda line: None,
        )
    assert "b.ipynb" in str(err.value) and "NameError" in str(err.value)
    # b ran in a fresh session: its cell counter starts at 1 again
    b = nbformat.read(tmp_path / "out.failed" / "notebooks" / "b.ipynb", as_version=4)
    assert [c.execution_count for c in b.cells if c.cell_type == "code"][-1] <= 2
    assert not (tmp_path / "out").exists()


def test_kernels_start_without_compiling_the_iri_grammar(tmp_path, sample_db):
    """The runner's kernels defer rfc3987_syntax's grammar (perfkit.startup): importing altair there must
    not compile it (1.7 s of CPU per kernel)."""
    folder = tmp_path / "nbs"
    folder.mkdir()
    code = "import sys, altair\nassert 'rfc3987_syntax.syntax_helpers' not in sys.modules, 'compiled'"
    nbformat.write(new_notebook(cells=[new_code_cell(code)], metadata=KERNEL_META), folder / "c.ipynb")
    run = brief.run_brief(
        "2019-09",
        out=tmp_path / "out",
        db=sample_db,
        notebooks=[brief.NotebookJob("c.ipynb")],
        notebooks_dir=folder,
        workers=1,
        echo=lambda line: None,
    )
    assert run.files == ["notebooks/c.ipynb"]


# A process that claims a build folder as `perfkit brief` does and then waits to be killed.
HOLD_BUILD = """
import sys, time
from pathlib import Path
from perfkit import brief
build, lock = brief._claim_build(Path(sys.argv[1]))
print(build, flush=True)
time.sleep(600)
"""


def test_build_folders_of_killed_runs_are_removed_never_a_live_one(tmp_path, sample_db):
    """A killed `perfkit brief` left `.out.building-*` behind for good (before: no run removed it). The
    next run removes it; a folder a live run is still building stays."""
    final = tmp_path / "out"
    holders = [
        subprocess.Popen([sys.executable, "-c", HOLD_BUILD, str(final)], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    killed, live = (Path(h.stdout.readline().strip()) for h in holders)
    try:
        (killed / "notebooks").mkdir()  # partly built when it was killed
        holders[0].send_signal(signal.SIGKILL)
        holders[0].wait(timeout=60)
        assert killed.is_dir() and live.is_dir()

        folder = tmp_path / "nbs"
        folder.mkdir()
        nbformat.write(new_notebook(cells=[new_code_cell("x = 1")], metadata=KERNEL_META), folder / "c.ipynb")
        said: list[str] = []
        brief.run_brief(
            "2019-09",
            out=final,
            db=sample_db,
            notebooks=[brief.NotebookJob("c.ipynb")],
            notebooks_dir=folder,
            workers=1,
            echo=said.append,
        )
        assert not killed.exists()
        assert live.is_dir()  # still being built by a live process
        assert any(killed.name in line for line in said)
        assert (final / "notebooks" / "c.ipynb").exists()
    finally:
        holders[1].kill()
        holders[1].wait(timeout=60)
    assert brief.remove_stale_builds(final) == [live]  # once its process is gone, it goes too
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nbs", "out", "perfkit.sqlite"]


# --------------------------------------------------------------------------------- runner, no kernel


def test_publish_replaces_one_language_and_keeps_the_other(tmp_path):
    """Each language's files are replaced as a set (atomically per file): Chinese under the plain names,
    English with `.en`; publishing one never removes or overwrites the other's, and each has its own
    up-to-date record."""
    final = tmp_path / "2019-09"
    other = tmp_path / "2019-08"
    other.mkdir()
    (other / "keep.txt").write_text("august")

    def build(name: str, files: dict[str, str], stamp: dict) -> Path:
        folder = tmp_path / f".2019-09.building-{name}"
        for rel, text in files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(text)
        (folder / brief.STAMP_FILE).write_text(json.dumps(stamp))
        return folder

    zh = {
        "brief.html": "zh",
        "risk_flags.xlsx": "zh",
        "notebooks/risks.ipynb": "zh",
        "units/市道管处.html": "zh",
    }
    assert brief._publish(build("a", zh, {"lang": "zh"}), final, "zh") == sorted(zh)
    en = {k: "en" for k in zh}
    written = brief._publish(build("b", en, {"lang": "en"}), final, "en")
    assert written == sorted(brief.lang_name(k, "en") for k in en)
    assert "units/市道管处.en.html" in written and "notebooks/risks.en.ipynb" in written
    for rel in zh:
        assert (final / rel).read_text() == "zh"
        assert (final / brief.lang_name(rel, "en")).read_text() == "en"
    assert brief._read_stamp(final, "zh") == {"lang": "zh", "files": sorted(zh)}
    assert brief._read_stamp(final, "en")["files"] == written
    assert brief._is_current(final, "en", {"lang": "en"}) and not brief._is_current(
        final, "en", {"lang": "zh"}
    )
    # a Chinese rebuild without the unit page: its old page goes, the English files stay as they were
    zh2 = {"brief.html": "zh2", "risk_flags.xlsx": "zh2", "notebooks/risks.ipynb": "zh2"}
    brief._publish(build("c", zh2, {"lang": "zh", "n": 2}), final, "zh")
    assert brief._files(final, "zh") == sorted(zh2)
    assert all((final / rel).read_text() == "zh2" for rel in zh2)
    assert brief._files(final, "en") == written
    assert all((final / rel).read_text() == "en" for rel in written)
    # a file of the language deleted by hand: no longer up to date
    (final / "brief.en.html").unlink()
    assert not brief._is_current(final, "en", {"lang": "en"})
    assert (other / "keep.txt").read_text() == "august"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2019-08", "2019-09"]  # no build folders left


def test_publish_refuses_a_file_open_in_word_before_replacing_any(tmp_path):
    """quarterly.docx open in Word (its ~$ owner file beside it) or a read-only file: the publish stops before
    it replaces anything, so the folder is the earlier brief, whole, with its record."""
    from perfkit.exports import OutputError

    final = tmp_path / "2019-09-quarterly"
    final.mkdir()
    earlier = {"brief.html": "old", "quarterly.docx": "old"}
    for rel, text in earlier.items():
        (final / rel).write_text(text)
    (final / brief.STAMP_FILE).write_text(json.dumps({"lang": "zh", "files": sorted(earlier)}))
    build = tmp_path / ".2019-09-quarterly.building-x"
    build.mkdir()
    for rel in ("brief.html", "quarterly.docx", "scores.csv"):
        (build / rel).write_text("new")
    (build / brief.STAMP_FILE).write_text(json.dumps({"lang": "zh"}))
    (final / "~$arterly.docx").write_text("Word's owner file")
    with pytest.raises(OutputError, match=r"quarterly.docx: is open in another program"):
        brief._publish(build, final, "zh")
    (final / "~$arterly.docx").unlink()
    (final / "brief.html").chmod(0o444)
    with pytest.raises(OutputError, match=r"brief.html: is read-only"):
        brief._publish(build, final, "zh")
    assert {p.name: p.read_text() for p in final.iterdir() if not p.name.startswith(".")} == earlier
    assert brief._is_current(final, "zh", {"lang": "zh"})  # its record kept: still the earlier brief, whole
    assert sorted(p.name for p in build.iterdir()) == [
        brief.STAMP_FILE,
        "brief.html",
        "quarterly.docx",
        "scores.csv",
    ]


@pytest.mark.usefixtures("permissions_apply")
def test_brief_into_a_folder_it_cannot_write_is_one_line_before_any_kernel(sample_db, tmp_path):
    """--out a file, or a folder without write permission (a real process with permissions applied): one
    line naming the folder, exit 2, in seconds (no kernel started, no build folder named)."""
    from test_cli import _obey_permissions, one_line

    a_file = tmp_path / "brief.html"
    a_file.write_text("x")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    cases = [
        (a_file, "is a file, not a folder for the brief", None),
        (locked / "2019-09", "cannot write the brief there: Permission denied", _obey_permissions),
        # a file above the folder (--out store.sqlite/2019-09, $PERFKIT_OUTPUTS=/dev/null) is named: the
        # line said 'cannot write the brief there: File exists'
        (a_file / "2019-09", f"{a_file} is a file, not a folder", None),
        (a_file / "x" / "2019-09", f"{a_file} is a file, not a folder", None),
    ]
    for out, says, before in cases:
        run = subprocess.run(
            [sys.executable, "-m", "perfkit.cli", "--db", str(sample_db), "brief", "--out", str(out)],
            capture_output=True,
            text=True,
            preexec_fn=before,
            timeout=300,
        )
        assert (run.returncode, one_line(run.stderr)) == (2, f"{out}: {says}")
    assert list(locked.iterdir()) == [] and a_file.read_text() == "x"


PUBLISH = """
import sys
from pathlib import Path
from perfkit import brief
brief._publish(Path(sys.argv[1]), Path(sys.argv[2]), "zh")
"""


def test_ctrl_c_while_publishing_leaves_one_brief_not_a_mix(tmp_path):
    """A real process publishing 3,000 files is frozen (SIGSTOP) once the first new file is in the month's
    folder and interrupted (SIGINT) as it resumes: it stops after the last rename, so the folder holds
    the new brief whole, with its record, and nothing of the old one (before: a mix, without a record)."""
    final = tmp_path / "2019-09"
    final.mkdir()
    names = [f"units/u{i:04d}.html" for i in range(3000)]
    for rel in names:
        (final / rel).parent.mkdir(parents=True, exist_ok=True)
        (final / rel).write_text("old")
    (final / brief.STAMP_FILE).write_text(json.dumps({"lang": "zh", "files": names}))
    build = tmp_path / ".2019-09.building-x"
    for rel in names:
        (build / rel).parent.mkdir(parents=True, exist_ok=True)
        (build / rel).write_text("new")
    (build / brief.STAMP_FILE).write_text(json.dumps({"lang": "zh", "n": 2}))
    proc = subprocess.Popen(
        [sys.executable, "-c", PUBLISH, str(build), str(final)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    first = final / names[0]
    while proc.poll() is None and first.read_text() != "new":
        pass
    proc.send_signal(signal.SIGSTOP)
    caught = proc.poll() is None and (final / names[-1]).read_text() == "old"  # frozen half way
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=120)
    if not caught:
        pytest.skip("the publish finished before it could be frozen half way (nothing to show)")
    assert proc.returncode != 0 and b"KeyboardInterrupt" in err  # the interrupt was acted on, after
    assert {(final / rel).read_text() for rel in names} == {"new"}
    assert brief._read_stamp(final)["n"] == 2


def test_two_unit_pages_built_at_once_into_one_month(sample_db, tmp_path):
    """Two `perfkit brief --unit` started together on one month's folder (real processes, real kernels):
    both succeed, each publishes its own page, and no build folder is left behind."""
    out = tmp_path / "2019-09"
    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "perfkit.cli",
                "--db",
                str(sample_db),
                "brief",
                "--unit",
                unit,
                "--out",
                str(out),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for unit in ("局工程科", "市道管处")
    ]
    for proc in runs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    assert sorted(p.name for p in (out / "units").iterdir()) == ["局工程科.html", "市道管处.html"]
    assert not [p.name for p in tmp_path.iterdir() if ".building-" in p.name or ".claim-" in p.name]


def test_file_names_by_language():
    assert brief.lang_suffix("zh") == "" and brief.lang_suffix("en") == ".en"
    assert brief.lang_name("brief.html", "zh") == "brief.html"
    assert brief.lang_name("brief.html", "en") == "brief.en.html"
    assert brief.lang_name("notebooks/growth.ipynb", "en") == "notebooks/growth.en.ipynb"
    assert brief.lang_name(".brief.json", "en") == ".brief.en.json"
    assert [brief.file_lang(n) for n in ("brief.html", "brief.en.html", "units/x.en.html")] == [
        "zh",
        "en",
        "en",
    ]
    with pytest.raises(ValueError, match="fr"):
        brief.lang_suffix("fr")


# A notebook that writes a file in its own language, as the brief's notebooks do.
LANG_NOTEBOOK = [
    'lang = "zh"\nout_dir = ""',
    "from pathlib import Path\nPath(out_dir, 'answer.csv').write_text('lang\\n' + lang + '\\n')",
]


def _small_notebook(folder: Path, cell: str = LANG_NOTEBOOK[1]) -> Path:
    """`folder`/w.ipynb: LANG_NOTEBOOK's parameters, then `cell` (a brief of one quick notebook)."""
    folder.mkdir(exist_ok=True)
    cells = [new_code_cell(LANG_NOTEBOOK[0], metadata={"tags": ["parameters"]}), new_code_cell(cell)]
    nbformat.write(new_notebook(cells=cells, metadata=KERNEL_META), folder / "w.ipynb")
    return folder


def test_languages_side_by_side_and_each_up_to_date(tmp_path, sample_db):
    """zh, then en, then zh again into one folder: both sets exist, and the second zh run runs nothing."""
    folder = _small_notebook(tmp_path / "nbs")
    out = tmp_path / "out"
    job = [brief.NotebookJob("w.ipynb", ("answer.csv",))]

    def run(lang: str, said: list[str] | None = None) -> brief.BriefRun:
        return brief.run_brief(
            "2019-09",
            lang=lang,
            out=out,
            db=sample_db,
            notebooks=job,
            notebooks_dir=folder,
            workers=1,
            echo=(said.append if said is not None else lambda line: None),
        )

    zh = run("zh")
    assert zh.files == ["answer.csv", "notebooks/w.ipynb"] and not zh.up_to_date
    zh_files = _digest(out)
    en = run("en")
    assert en.files == ["answer.en.csv", "notebooks/w.en.ipynb"] and not en.up_to_date
    assert (out / "answer.csv").read_text() == "lang\nzh\n"
    assert (out / "answer.en.csv").read_text() == "lang\nen\n"
    assert {k: v for k, v in _digest(out).items() if k in zh_files} == zh_files  # zh untouched
    said: list[str] = []
    again = run("zh", said)
    assert again.up_to_date and "up to date" in said[-1] and again.files == zh.files
    assert run("en").up_to_date
    assert sorted(p.name for p in out.iterdir()) == [
        ".brief.en.json",
        ".brief.json",
        "answer.csv",
        "answer.en.csv",
        "notebooks",
    ]


def test_a_folder_built_by_a_perfkit_that_printed_differently_is_rebuilt(tmp_path, sample_db):
    """The snapshot's fingerprint covers the computing modules only: after an upgrade that changed how the
    tables round (perfkit.tables), the brief said 'up to date (... same code ...)' and kept the old CSV."""
    package = brief.PACKAGE_DIR
    copy = tmp_path / "perfkit"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert brief.package_version(copy) == brief.package_version()
    with (copy / "tables.py").open("a", encoding="utf-8") as f:
        f.write("\n# a report-layer change\n")
    assert brief.package_version(copy) != brief.package_version()

    folder = _small_notebook(tmp_path / "nbs")
    out = tmp_path / "out"

    def run(said: list[str]) -> brief.BriefRun:
        job = [brief.NotebookJob("w.ipynb", ("answer.csv",))]
        return brief.run_brief(
            "2019-09", out=out, db=sample_db, notebooks=job, notebooks_dir=folder, workers=1, echo=said.append
        )

    assert not run([]).up_to_date
    stamp = json.loads((out / ".brief.json").read_text(encoding="utf-8"))
    assert stamp["code"] == brief.package_version()
    stamp["code"] = brief.package_version(copy)  # as the perfkit before the upgrade wrote it
    (out / ".brief.json").write_text(json.dumps(stamp), encoding="utf-8")
    said: list[str] = []
    again = run(said)
    assert not again.up_to_date and not any("up to date" in line for line in said)
    assert json.loads((out / ".brief.json").read_text(encoding="utf-8"))["code"] == brief.package_version()
    assert run([]).up_to_date


@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium")
def test_a_brief_whose_pdf_failed_is_not_up_to_date_for_the_next_pdf(tmp_path, sample_db, monkeypatch):
    """--pdf with no browser writes the HTML and warns; the folder's stamp still said pdf, so the next
    `perfkit brief --pdf`, the browser now there, said 'up to date: nothing to run' and no PDF ever came."""
    page = "from pathlib import Path\nPath(out_dir, 'brief.html').write_text('<p>月报</p>', encoding='utf-8')"
    folder = _small_notebook(tmp_path / "nbs", page)
    out = tmp_path / "out"

    def run() -> brief.BriefRun:
        job = [brief.NotebookJob("w.ipynb", ("brief.html",))]
        return brief.run_brief(
            "2019-09", out=out, db=sample_db, notebooks=job, notebooks_dir=folder, workers=1, pdf=True
        )

    monkeypatch.setenv("PERFKIT_CHROMIUM", str(tmp_path / "no-such-browser"))
    first = run()
    assert any("PDF not written" in w for w in first.warnings) and not (out / "brief.pdf").exists()
    monkeypatch.setenv("PERFKIT_CHROMIUM", CHROMIUM)
    second = run()
    assert not second.up_to_date and (out / "brief.pdf").read_bytes().startswith(b"%PDF")
    assert run().up_to_date


def test_a_month_published_whole_removes_the_copies_of_its_failed_run(tmp_path, sample_db):
    """A failed (or Ctrl-C'd) run keeps its partly executed copies in <out>.failed/; the next run that
    published the month left them there for good, a brief.html of their own beside the month's folder."""
    folder = tmp_path / "nbs"
    folder.mkdir()
    out = tmp_path / "out" / "2019-09"

    def run(cell: str) -> brief.BriefRun:
        _small_notebook(folder, cell)
        job = [brief.NotebookJob("w.ipynb", ("answer.csv",))]
        return brief.run_brief(
            "2019-09", out=out, db=sample_db, notebooks=job, notebooks_dir=folder, workers=1, echo=said.append
        )

    said: list[str] = []
    with pytest.raises(brief.BriefError):
        run("raise ValueError('a cell that fails')")
    failed = out.with_name("2019-09.failed")
    assert (failed / "notebooks" / "w.ipynb").is_file()
    run(LANG_NOTEBOOK[1])
    assert (out / "answer.csv").read_text() == "lang\nzh\n"
    assert not failed.exists() and any("removed 2019-09.failed" in line for line in said)
    assert sorted(p.name for p in out.parent.iterdir()) == ["2019-09", "index.html"]


@pytest.mark.slow
def test_a_brief_before_the_first_turnover_table(tmp_path):
    """Ledgers in, no turnover table from the statistics office yet (the first months of using perfkit):
    growth.ipynb failed with 'the store has no turnover data' and no brief at all could be built. Now the
    brief, its unit pages and the 季度通报 are written and say that no turnover is published yet."""
    from docx import Document

    from perfkit.config import PLAN_DIR, SAMPLE_DIR
    from perfkit.store import create_store

    sample = tmp_path / "sample"
    sample.mkdir()
    shutil.copy(SAMPLE_DIR / "progress.csv", sample / "progress.csv")
    db = tmp_path / "no-turnover.sqlite"
    create_store(db, plan_dir=PLAN_DIR, sample_dir=sample)
    out = tmp_path / "outputs" / "2019-09-quarterly"
    assert cli_main(["--db", str(db), "brief", "--kind", "quarterly", "--out", str(out)]) == 0
    page = (out / "brief.html").read_text(encoding="utf-8")
    assert "尚无统计部门发布的周转量数据。" in page and "截至—" not in page
    growth_csv = pd.read_csv(out / "growth.csv", encoding="utf-8-sig")
    assert growth_csv.empty and "projected_growth_pct" in growth_csv.columns
    words = [p.text for p in Document(str(out / "quarterly.docx")).paragraphs]
    assert words.count("尚无统计部门发布的周转量数据。") == 2 and not any("截至—" in w for w in words)


def test_default_out_dir_and_as_of_check():
    assert brief.default_out_dir("2019-09").name == "2019-09"
    assert brief.default_out_dir("2019-09", "quarterly").name == "2019-09-quarterly"


def test_empty_store_and_bad_month_are_refused_before_any_kernel(empty_db, tmp_path, capsys):
    with pytest.raises(MonthError, match="no progress data"):
        brief.run_brief(out=tmp_path / "o", db=empty_db, echo=lambda line: None)
    assert cli_main(["--db", str(empty_db), "brief", "--as-of", "2019-13", "--out", str(tmp_path / "o")]) == 2
    assert "YYYY-MM" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    assert not [p.name for p in tmp_path.iterdir() if ".building-" in p.name or p.name.endswith(".failed")]


def test_missing_notebook_is_named(sample_db, tmp_path):
    with pytest.raises(brief.BriefError, match="nope.ipynb"):
        brief.run_brief(out=tmp_path / "o", db=sample_db, notebooks=[brief.NotebookJob("nope.ipynb")])
    assert not (tmp_path / "o").exists()


def test_external_references_finds_what_a_browser_would_fetch():
    page = (
        '<svg xmlns="http://www.w3.org/2000/svg"></svg><img src="data:image/png;base64,AAA">'
        '<a href="#top">x</a><style>.a{background:url(data:image/png;base64,AA)}</style>'
    )
    assert brief.external_references(page) == []
    bad = [
        '<script src="https://cdn.jsdelivr.net/npm/vega@5"></script>',
        "<link rel=stylesheet href='//fonts.googleapis.com/css'>",
        "<style>@import url(fonts.css);</style>",
        '<div style="background:url(http://x/y.png)"></div>',
        '<img src="file:///etc/hosts">',
    ]
    for snippet in bad:
        assert brief.external_references(snippet), snippet


def _executed_notebook(tmp_path: Path, extra_outputs=()) -> Path:
    code = new_code_cell("secret_code_line = 1", execution_count=1)
    code.outputs = [
        new_output("display_data", data={"text/html": "<p class='x'>表格</p>", "text/plain": "x"}),
        new_output("display_data", data={"image/svg+xml": '<svg width="10" height="10"><rect/></svg>'}),
        new_output("stream", name="stderr", text="FutureWarning: noisy"),
        *extra_outputs,
    ]
    nb = new_notebook(
        cells=[new_markdown_cell("analyst only", metadata={"tags": ["analyst"]}), code], metadata=KERNEL_META
    )
    path = tmp_path / "executed.ipynb"
    nbformat.write(nb, path)
    return path


def test_export_html_outputs_only_and_chrome(tmp_path):
    src = _executed_notebook(tmp_path)
    page = brief.export_html(src, tmp_path / "b.html", as_of="2019-09", sample=True).read_text("utf-8")
    assert "secret_code_line" not in page and "analyst only" not in page and "noisy" not in page
    assert re.search(r"<p class=.x.>表格</p>", page)
    assert re.search(r'<figure class="pk-chart"><svg[^>]*width="10"', page)
    assert page.count("合成示例数据") >= 3 and 'lang="zh-CN"' in page
    plain = brief.export_html(src, tmp_path / "c.html", as_of="2019-09", lang="en").read_text("utf-8")
    assert "合成示例数据" not in plain and t("synthetic", "en") not in plain and 'lang="en"' in plain
    assert "Monthly performance brief" in plain


def test_export_html_refuses_a_page_that_would_load_from_a_cdn(tmp_path):
    cdn = new_output(
        "display_data", data={"text/html": '<script src="https://cdn.jsdelivr.net/npm/vega@5"></script>'}
    )
    src = _executed_notebook(tmp_path, [cdn])
    with pytest.raises(brief.BriefError, match="outside the file"):
        brief.export_html(src, tmp_path / "b.html", as_of="2019-09")


# -------------------------------------------------------------------------------------------- Chromium


def _open_in_chromium(html_file: Path, tmp: Path) -> dict:
    """Open `html_file` in headless Chromium with name resolution disabled; report what the page did."""
    if not CHROMIUM:
        pytest.skip("headless Chromium is not installed: apt-get install chromium fonts-noto-cjk to run this")
    profile = tmp / "profile"
    netlog = tmp / "netlog.json"
    args = pdf.browser_args(CHROMIUM, profile, [f"--log-net-log={netlog}", "--window-size=1100,1500"])
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port, browser_path = pdf.devtools_endpoint(proc, profile)
        page_ws = pdf.page_websocket(port)
        result = _drive(page_ws, html_file)
        pdf.close_browser(f"ws://127.0.0.1:{port}{browser_path}")
        proc.wait(timeout=20)
    finally:
        pdf.stop(proc)
    # the net log is complete once the browser has exited
    return result | {"netlog_page_requests": _netlog_page_requests(netlog)}


def _drive(ws_url: str, html_file: Path) -> dict:
    tab = pdf.DevToolsPage(ws_url, timeout=60)
    call = tab.call

    def js(expr: str):
        return call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)["result"][
            "value"
        ]

    try:
        call("Network.enable")
        call("Page.enable")
        call("Page.navigate", url=html_file.resolve().as_uri())
        tab.wait_for("Page.loadEventFired", 30, str(html_file))
        js("document.fonts.ready.then(() => true)")
        figures = js(
            "[...document.querySelectorAll('figure.pk-chart svg')].map(s => {"
            " const r = s.getBoundingClientRect();"
            " return {width: r.width, height: r.height, marks: s.querySelectorAll('path,rect,line,text').length}; })"
        )
        svg_outputs = js("document.querySelectorAll('figure.pk-chart').length")
        links = js("[...document.querySelectorAll('a[href]')].map(a => a.href)")
        bars = js(
            "[...document.querySelectorAll('svg.pk-bar')].map(s => {"
            " const r = s.getBoundingClientRect(); return {width: r.width, marks: s.querySelectorAll('rect,line').length}; })"
        )
        height = js("document.documentElement.scrollHeight")
        shot = call(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": 1100, "height": min(height, 6000), "scale": 1},
        )["data"]
        call("Emulation.setEmulatedMedia", media="print")
        styles = js(
            "(() => { const w = document.querySelector('.pk-watermark');"
            " const pages = [...document.styleSheets].flatMap(s => [...s.cssRules])"
            "   .filter(r => r instanceof CSSPageRule);"
            " const margins = pages.flatMap(r => [...r.cssRules]).map(m => m.name + ' ' + m.style.content);"
            " return {w: w && getComputedStyle(w).position, wd: w && getComputedStyle(w).display,"
            " wt: w && w.textContent, margins: margins}; })()"
        )
        call("Emulation.setEmulatedMedia", media="")
        printed = call("Page.printToPDF", printBackground=True, preferCSSPageSize=True)["data"]
        pages = len(re.findall(rb"/Type\s*/Page[^s]", base64.b64decode(printed)))
    finally:
        tab.close()
    return {
        "requests": tab.requests,
        "figures": figures,
        "svg_outputs": svg_outputs,
        "links": links,
        "bars": bars,
        "screenshot": shot,
        "pdf": printed,
        "pdf_pages": pages,
        "print_watermark": styles["w"],
        "print_watermark_display": styles["wd"],
        "watermark_text": styles["wt"],
        "page_margin_boxes": styles["margins"],
    }


def _netlog_page_requests(path: Path) -> list[str]:
    """URLs of requests in Chromium's net log that a document initiated. The browser's own background
    traffic (time sync, updates; initiator "not an origin") is not the page's and is left out."""
    if not path.exists():
        return []
    text = path.read_text(errors="replace").rstrip()
    if not text.endswith("}"):  # an unfinished log (browser killed) keeps every event before the cut
        text = text.rstrip(",") + "]}"
    log = json.loads(text)
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return sorted(
        {
            e["params"]["url"]
            for e in log["events"]
            if e["type"] == start_job
            and e.get("params", {}).get("initiator", "not an origin") != "not an origin"
        }
    )
