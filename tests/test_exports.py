"""Output files written whole (perfkit.exports.write_whole): a folder, a missing folder, a read-only file, a
file open in Word/Excel/LibreOffice, no permission or a full disk is one OutputError naming the file, and
the file there before is kept as it was; real files, and real processes where permissions or a file-size
limit must apply (tests/test_workbooks.py, tests/test_index.py: `catalog export`, `perfkit index`)."""

from __future__ import annotations

import pytest

from perfkit.exports import OutputError, write_whole


def test_written_whole_and_nothing_left_beside_it(tmp_path):
    target = tmp_path / "a.csv"
    target.write_bytes(b"old")
    assert write_whole(target, lambda f: f.write(b"new")) == target
    assert target.read_bytes() == b"new" and sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]

    def fails(f):
        f.write(b"half")
        raise KeyboardInterrupt  # Ctrl-C half way: the earlier file stays, no temporary is left

    with pytest.raises(KeyboardInterrupt):
        write_whole(target, fails)
    assert target.read_bytes() == b"new" and sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]


@pytest.mark.parametrize(
    ("lock", "name"),
    [
        ("~$risk_flags.xlsx", "risk_flags.xlsx"),
        (".~lock.quarterly.docx#", "quarterly.docx"),
        ("~$arterly.docx", "quarterly.docx"),
    ],
)
def test_a_file_open_in_office_is_left_alone(tmp_path, lock, name):
    target = tmp_path / name
    target.write_bytes(b"being read")
    (tmp_path / lock).write_bytes(b"owner")
    with pytest.raises(OutputError, match=f"{name}: is open in another program .*{lock.replace('$', '[$]')}"):
        write_whole(target, lambda f: f.write(b"new"))
    assert target.read_bytes() == b"being read"


def test_folder_missing_folder_and_read_only_file_are_refused(tmp_path):
    with pytest.raises(OutputError, match="is a folder, not a file"):
        write_whole(tmp_path, lambda f: f.write(b"x"))
    with pytest.raises(OutputError, match="the folder .*nope does not exist"):
        write_whole(tmp_path / "nope" / "a.xlsx", lambda f: f.write(b"x"))
    kept = tmp_path / "signed.docx"
    kept.write_bytes(b"signed copy")
    kept.chmod(0o444)
    with pytest.raises(OutputError, match="signed.docx: is read-only: left as it is"):
        write_whole(kept, lambda f: f.write(b"x"))
    assert kept.read_bytes() == b"signed copy"


def test_csv_is_encoded_straight_into_the_buffer_with_one_bom(tmp_path):
    """write_csv encodes into write_whole's buffer chunk by chunk (pandas writes a long frame in chunks):
    the bytes are those of the whole text encoded once, one BOM first, formulas neutralised."""
    import pandas as pd

    from perfkit.exports import write_csv

    df = pd.DataFrame({"单位": ["=cmd()", "局综规科"] * 60_000, "value": range(120_000)})
    out = write_csv(df, tmp_path / "big.csv")
    text = "单位,value\n" + "".join(
        f"'=cmd(),{i}\n" if i % 2 == 0 else f"局综规科,{i}\n" for i in range(120_000)
    )
    assert out.read_bytes() == text.encode("utf-8-sig")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.csv"]


def test_a_folder_for_output_files_is_checked_before_anything_is_made(tmp_path):
    """make_folder: a file in the way (the folder itself, or one above it) is one OutputError naming it;
    a missing folder is made; check_writable names the file above a target instead of 'does not exist'."""
    from perfkit.exports import folder_problem, make_folder

    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    with pytest.raises(OutputError, match=f"^{a_file}: is a file, not a folder$"):
        make_folder(a_file)
    with pytest.raises(OutputError, match=f"^{a_file / 'b' / 'c'}: {a_file} is a file, not a folder$"):
        make_folder(a_file / "b" / "c")
    assert folder_problem(a_file, named=True) == f"{a_file} is a file, not a folder"
    with pytest.raises(OutputError, match=f"^{a_file / 'x.csv'}: {a_file} is a file, not a folder$"):
        write_whole(a_file / "x.csv", lambda f: f.write(b"x"))
    assert make_folder(tmp_path / "new" / "deeper").is_dir() and folder_problem(tmp_path) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "new"]


def test_a_replaced_file_keeps_its_permissions_and_a_new_one_is_0644(tmp_path):
    """write_whole gave every file 0644: a file kept private (0600) became readable by everyone on the
    machine when perfkit rewrote it. The earlier file's permissions are kept now."""
    private = tmp_path / "leaders.docx"
    private.write_bytes(b"old")
    private.chmod(0o600)
    write_whole(private, lambda f: f.write(b"new"))
    assert private.read_bytes() == b"new" and private.stat().st_mode & 0o777 == 0o600
    fresh = write_whole(tmp_path / "new.csv", lambda f: f.write(b"x"))
    assert fresh.stat().st_mode & 0o777 == 0o644
