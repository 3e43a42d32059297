"""outputs/index.html: every brief folder with its files, found by type; odd folders skipped; names
escaped; links resolve; written whole."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote

from test_cli import one_line, perfkit, permissions_apply  # noqa: F401 - the fixture is used by name

from perfkit import index


def _touch(path: Path, text: str = "x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _tree(root: Path) -> None:
    month = root / "2019-09"
    for name in (
        "brief.html",
        "brief.en.html",
        "brief.pdf",
        "季度通报.docx",
        "scores.csv",
        "risk_flags.xlsx",
    ):
        _touch(month / name)
    _touch(month / "units" / "市道管处.html")
    _touch(month / "units" / "市道管处.pdf")
    _touch(month / "units" / "市道管处.en.html")  # the English page beside it
    _touch(month / "units" / "<b>&x.html")
    _touch(month / "notebooks" / "brief.ipynb")  # analysts' copies: not listed
    _touch(month / ".brief.json")
    _touch(root / "2019-09-quarterly" / "scores.csv")  # half built by hand: shows what it has
    _touch(root / "2019-08" / "brief.html")
    for odd in (
        ".2019-10.building-abc",
        ".2019-10.claim-x",
        "2019-10.failed",
        "scratch/2019-10",
        "2019-13",
        "notes",
    ):
        _touch(root / odd / "brief.html")
    os.symlink(root / "2019-08", root / "2019-07")  # a link to another folder is not a brief of its own


def _hrefs(page: str) -> list[str]:
    return [unquote(h).replace("&amp;", "&") for h in re.findall(r'href="([^"]+)"', page)]


def test_index_lists_each_brief_folder_with_its_files(tmp_path):
    _tree(tmp_path)
    path = index.write_index(tmp_path)
    page = path.read_text(encoding="utf-8")
    hrefs = _hrefs(page)
    assert hrefs and all((tmp_path / h).is_file() for h in hrefs), hrefs
    assert set(hrefs) == {
        "2019-09/brief.html",
        "2019-09/brief.en.html",
        "2019-09/brief.pdf",
        "2019-09/季度通报.docx",
        "2019-09/scores.csv",
        "2019-09/risk_flags.xlsx",
        "2019-09/units/市道管处.html",
        "2019-09/units/市道管处.pdf",
        "2019-09/units/市道管处.en.html",
        "2019-09/units/<b>&x.html",
        "2019-09-quarterly/scores.csv",
        "2019-08/brief.html",
    }
    assert "<b>&x" not in page and "&lt;b&gt;&amp;x" in page  # names escaped
    assert "%3Cb%3E" in page  # and links percent-encoded
    # newest first, monthly before quarterly within a month; Chinese and English briefs named
    assert page.index("2019年9月") < page.index("2019年8月")
    assert page.index("月度绩效简报") < page.index("季度绩效通报")
    assert ">中文<" in page and ">英文<" in page
    assert "<summary>2</summary>" in page  # two units, the English page and PDF beside the Chinese one
    assert re.search(r">市道管处</a> <a [^>]+>EN</a> <a [^>]+>PDF</a>", page)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".index")) == []


def test_index_is_replaced_whole_and_an_empty_outputs_folder_says_so(tmp_path):
    (tmp_path / "index.html").write_text("an older index", encoding="utf-8")
    index.write_index(tmp_path)
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "尚未生成简报" in page and "an older index" not in page
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.html"]


def test_perfkit_index_command(tmp_path, cli):
    _tree(tmp_path)
    code, out, err = cli("index", "--outputs", tmp_path, "--lang", "en")
    assert code == 0 and err == "" and out.strip() == str(tmp_path / "index.html")
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "Index of briefs" in page and "Monthly performance brief" in page


def test_index_of_a_folder_that_is_not_there_or_cannot_be_written(tmp_path, permissions_apply):  # noqa: F811
    """A mistyped --outputs makes no folder and indexes nothing; a file, or a folder without write
    permission: one line naming it, exit 2, never a traceback."""
    missing = tmp_path / "outptus" / "2019"
    run = perfkit("index", "--outputs", str(missing))
    assert (run.returncode, one_line(run.stderr)) == (2, f"{missing}: no such folder")
    assert not (tmp_path / "outptus").exists()
    a_file = tmp_path / "brief.html"
    a_file.write_text("x", encoding="utf-8")
    run = perfkit("index", "--outputs", str(a_file))
    assert (run.returncode, one_line(run.stderr)) == (2, f"{a_file}: is a file, not a folder of briefs")
    _tree(tmp_path / "ro")
    (tmp_path / "ro" / "index.html").write_text("the earlier index", encoding="utf-8")
    (tmp_path / "ro").chmod(0o555)
    run = perfkit("index", "--outputs", str(tmp_path / "ro"), reader=True)
    line = f"{tmp_path / 'ro' / 'index.html'}: cannot write in {tmp_path / 'ro'}: Permission denied"
    assert (run.returncode, one_line(run.stderr)) == (2, line)
    assert (tmp_path / "ro" / "index.html").read_text(encoding="utf-8") == "the earlier index"
