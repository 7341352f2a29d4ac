"""Uploaded zips: every unsafe member is refused, with its code, before anything is extracted."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from ingest.intake import IntakeRefused, ZipLimits, batch_root_of, extract_zip, inspect_zip
from tests.intake.conftest import make_batch, tree_digests


def _zip(path: Path, members: list[tuple[str, bytes]], *, symlink: str | None = None,
         compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members:
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return path


OK = ("B1/manifest.json", b"{}")
CASES = {
    "E117_parent_traversal": ([OK, ("B1/../../evil.txt", b"x")], {}),
    "E117_absolute_path": ([OK, ("/tmp/evil.txt", b"x")], {}),
    "E117_windows_drive": ([OK, ("C:/evil.txt", b"x")], {}),
    "E117_backslash_traversal": ([OK, ("B1\\..\\..\\evil.txt", b"x")], {}),
    "E117_symlink": ([OK], {"symlink": "B1/link.pdf"}),
    "E142_duplicate_name": ([OK, ("B1/a.pdf", b"1"), ("B1/a.pdf", b"2")], {}),
    "E142_duplicate_after_case_folding": ([OK, ("B1/A.pdf", b"1"), ("B1/a.pdf", b"2")], {}),
    "E142_duplicate_after_nfc": ([OK, ("B1/caf\u00e9.pdf", b"1"), ("B1/cafe\u0301.pdf", b"2")], {}),
    "E142_file_is_also_a_folder": ([OK, ("B1/x", b"1"), ("B1/x/y.pdf", b"2")], {}),
    "E143_ratio_bomb": ([OK, ("B1/zeros.pdf", bytes(8 << 20))], {}),
}


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("case", sorted(CASES))
def test_unsafe_zip_refused_before_extraction(case: str, tmp_path: Path) -> None:
    members, kw = CASES[case]
    zpath = _zip(tmp_path / "up.zip", members, **kw)
    intake = tmp_path / "intake"
    intake.mkdir()
    report = inspect_zip(zpath)
    assert case.split("_")[0] in {p.code for p in report.problems}, report.problems
    with pytest.raises(IntakeRefused) as exc:
        extract_zip(zpath, intake / "batch")
    assert case.split("_")[0] in {p.code for p in exc.value.problems}
    assert list(intake.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["intake", "up.zip"]


def test_total_size_limit_E144(tmp_path: Path) -> None:
    zpath = _zip(tmp_path / "up.zip", [OK, ("B1/a.pdf", b"x" * 5000)], compression=zipfile.ZIP_STORED)
    report = inspect_zip(zpath, ZipLimits(max_total_bytes=4096))
    assert [p.code for p in report.problems] == ["E144"]


def test_not_a_zip_E141(tmp_path: Path) -> None:
    bad = tmp_path / "up.zip"
    bad.write_bytes(b"%PDF-1.7 not a zip")
    assert [p.code for p in inspect_zip(bad).problems] == ["E141"]


def test_corrupt_member_data_leaves_nothing(tmp_path: Path) -> None:
    """A member whose bytes were damaged after the directory passed: CRC fails, folder removed."""
    zpath = _zip(tmp_path / "up.zip", [OK, ("B1/a.pdf", b"A" * 4000 + bytes(range(256)))],
                 compression=zipfile.ZIP_STORED)
    data = bytearray(zpath.read_bytes())
    at = data.find(b"AAAA")
    data[at:at + 4] = b"BBBB"
    zpath.write_bytes(bytes(data))
    intake = tmp_path / "intake"
    intake.mkdir()
    with pytest.raises(IntakeRefused) as exc:
        extract_zip(zpath, intake / "batch")
    assert exc.value.code == "E141"
    assert list(intake.iterdir()) == []


def test_good_zip_extracts_byte_identical(tmp_path: Path) -> None:
    batch = make_batch(tmp_path / "src", "B-OK-1", {"案件/01-起诉状.pdf": 3000, "b.pdf": 2_500_000})
    zpath = tmp_path / "up.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(batch.rglob("*")):
            zf.write(p, p.relative_to(batch.parent).as_posix())
    out = extract_zip(zpath, tmp_path / "intake" / "x")
    root = batch_root_of(out)
    assert root.name == "B-OK-1"
    assert tree_digests(root) == tree_digests(batch)


# --- names without the UTF-8 flag (issue 14, item 8) ---------------------------------------

def _gb18030_zip(path: Path, members: dict[str, bytes]) -> Path:
    """A zip as Windows' built-in "compressed folder" writes it on a Chinese system: names in
    the code page (GB18030 bytes), general-purpose flag bit 11 (UTF-8) not set. Built byte by
    byte: Python's zipfile would set the flag for any non-ASCII name."""
    import struct
    import zlib

    local, central = b"", b""
    for name, data in members.items():
        raw = name.encode("gb18030")
        crc, offset = zlib.crc32(data), len(local)
        head = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, crc, len(data), len(data), len(raw), 0)
        local += head + raw + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, crc, len(data),
                               len(data), len(raw), 0, 0, 0, 0, 0, offset) + raw
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), len(local), 0)
    path.write_bytes(local + central + end)
    return path


NAMES = {"B1/manifest.json": b"{}", "B1/2023-粤01民终3683/01-民事上诉状.pdf": b"%PDF-1.7 scan"}


def test_info_zip_names_are_read_as_utf8(tmp_path: Path) -> None:
    """Debian's Info-ZIP ``zip`` (scripts/install-debian-packages.sh) writes UTF-8 names without
    the flag; they were read as cp437 and every file of the batch was "missing"."""
    import shutil
    import subprocess

    if shutil.which("zip") is None:
        pytest.fail("Info-ZIP zip is not installed: run scripts/install-debian-packages.sh")
    src = tmp_path / "src"
    for name, data in NAMES.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    zpath = tmp_path / "up.zip"
    subprocess.run(["zip", "-q", "-r", "-X", str(zpath), "B1"], cwd=src, check=True,
                   env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"})
    with zipfile.ZipFile(zpath) as zf:
        assert not any(i.flag_bits & 0x800 for i in zf.infolist() if not i.filename.isascii())
    out = extract_zip(zpath, tmp_path / "intake" / "x")
    assert tree_digests(out) == tree_digests(src)
    from ingest.intake import zip_name_encoding
    assert zip_name_encoding(zpath) == "utf-8"


def test_windows_gb18030_names_are_read_as_gb18030(tmp_path: Path) -> None:
    zpath = _gb18030_zip(tmp_path / "up.zip", NAMES)
    with zipfile.ZipFile(zpath) as zf:  # what Python alone makes of it
        assert "B1/2023-粤01民终3683/01-民事上诉状.pdf" not in zf.namelist()
    out = extract_zip(zpath, tmp_path / "intake" / "x")
    assert {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()} == NAMES
    from ingest.intake import zip_name_encoding
    assert zip_name_encoding(zpath) == "gb18030"


def test_names_neither_utf8_nor_gb18030_are_refused_E165(tmp_path: Path) -> None:
    zpath = _gb18030_zip(tmp_path / "up.zip", {"B1/manifest.json": b"{}"})
    data = zpath.read_bytes().replace(b"B1/manifest.json", b"B1/\x80\xffnifest.json")
    zpath.write_bytes(data)
    assert "E165" in {p.code for p in inspect_zip(zpath).problems}
    with pytest.raises(IntakeRefused):
        extract_zip(zpath, tmp_path / "intake" / "x")
    assert not (tmp_path / "intake").exists() or not any((tmp_path / "intake").iterdir())
