"""perfkit.archive: raw files kept read-only under their content address, whole or not at all. How ingest
uses it (a group's copies fsynced and renamed before its COMMIT) is tested in tests/test_intake.py."""

from __future__ import annotations

import hashlib
import stat

import pytest

from perfkit.archive import archive_raw, default_archive
from perfkit.errors import StoreError


def test_a_copy_is_read_only_under_its_content_address_and_kept_when_it_comes_again(tmp_path):
    data = b"PK\x03\x04 a workbook's bytes"
    sha = hashlib.sha256(data).hexdigest()
    kept = archive_raw(data, sha, ".XLSX", tmp_path / "archive")
    assert kept == tmp_path / "archive" / f"{sha}.xlsx" and kept.read_bytes() == data
    assert not kept.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert archive_raw(data, sha, ".xlsx", tmp_path / "archive") == kept  # the same file again: kept as is
    assert [p.name for p in (tmp_path / "archive").iterdir()] == [kept.name]  # no temporary left


def test_a_copy_that_does_not_match_its_name_is_refused_not_overwritten(tmp_path):
    data = b"the real bytes"
    sha = hashlib.sha256(data).hexdigest()
    (tmp_path / f"{sha}.csv").write_bytes(b"something else")
    with pytest.raises(StoreError, match="does not match its name"):
        archive_raw(data, sha, ".csv", tmp_path)
    assert (tmp_path / f"{sha}.csv").read_bytes() == b"something else"


def test_the_default_archive_is_next_to_the_store(tmp_path):
    assert default_archive(tmp_path / "s.sqlite") == tmp_path / "archive"
