"""archive/bag.py (BagIt writer and validator) and archive/sm3.py."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import bagit
import pytest
from gmssl import func, sm3

from archive.bag import (
    copy_with_digests,
    hash_file,
    payload_digest,
    read_bag_info,
    read_manifest,
    validate_bag,
    write_bag,
    write_with_digests,
)
from archive.sm3 import new_sm3, sm3_file

FILES = {
    "data/original/2023-粤01民终3683/01-民事上诉状.pdf": os.urandom(70_000),
    "data/text/2023-粤01民终3683/01-民事上诉状/page_0001.txt": "第一页 上诉状\n".encode(),
    "data/metadata/case (1) 副本.json": b'{"a": 1}\n',
}


def _make_bag(bag: Path) -> Path:
    payload = {rel: write_with_digests(bag / rel, data) for rel, data in FILES.items()}
    write_bag(bag, payload, [("Source-Organization", "广东省广州市中级人民法院"), ("Bagging-Date", "2026-01-01")])
    return bag


def test_sm3_matches_gmssl_reference() -> None:
    data = os.urandom(3000) + "卷宗".encode()
    expected = sm3.sm3_hash(func.bytes_to_list(data))
    hasher = new_sm3()
    for i in range(0, len(data), 1000):
        hasher.update(data[i:i + 1000])
    assert hasher.hexdigest() == expected
    assert sm3.sm3_hash(func.bytes_to_list(b"abc")) == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_hash_file_reads_every_digest(tmp_path: Path) -> None:
    source = tmp_path / "a.bin"
    source.write_bytes(os.urandom(3 << 20))
    digests = hash_file(source)
    data = source.read_bytes()
    assert (digests.size, digests.sha256, digests.sha512) == (
        len(data), hashlib.sha256(data).hexdigest(), hashlib.sha512(data).hexdigest())
    assert digests.sm3 == sm3_file(source)
    copied = copy_with_digests(source, tmp_path / "sub" / "b.bin")
    assert copied == digests and (tmp_path / "sub" / "b.bin").read_bytes() == data
    with pytest.raises(FileExistsError):
        copy_with_digests(source, tmp_path / "sub" / "b.bin")


def test_written_bag_is_valid_for_bagit_python(tmp_path: Path) -> None:
    bag = _make_bag(tmp_path / "bag")
    bagit.Bag(str(bag)).validate()
    assert validate_bag(bag).problems == []
    assert read_bag_info(bag)["Payload-Oxum"] == [f"{sum(map(len, FILES.values()))}.{len(FILES)}"]
    assert set(read_manifest(bag)) == set(FILES)
    assert set(read_manifest(bag, "tagmanifest-sha512.txt")) == {
        "bagit.txt", "bag-info.txt", "manifest-sha256.txt", "manifest-sha512.txt"}


def test_payload_digest_ignores_line_order_and_tag_files(tmp_path: Path) -> None:
    bag = _make_bag(tmp_path / "bag")
    digest = payload_digest(bag)
    manifest = bag / "manifest-sha256.txt"
    manifest.write_bytes(b"".join(reversed(manifest.read_bytes().splitlines(keepends=True))))
    (bag / "bag-info.txt").write_text("Bagging-Date: 2030-01-01\n", encoding="utf-8")
    assert payload_digest(bag) == digest


def _flip(bag: Path) -> str:
    rel = next(iter(FILES))
    data = bytearray((bag / rel).read_bytes())
    data[100] ^= 1
    (bag / rel).write_bytes(bytes(data))
    return rel


def _remove(bag: Path) -> str:
    rel = list(FILES)[1]
    (bag / rel).unlink()
    return rel


def _extra(bag: Path) -> str:
    (bag / "data/original/未命名扫描_0001.pdf").write_bytes(b"%PDF-1.4\n")
    return "data/original/未命名扫描_0001.pdf"


def _edit_tag(bag: Path) -> str:
    with (bag / "manifest-sha512.txt").open("a", encoding="utf-8") as handle:
        handle.write("\n")
    return "manifest-sha512.txt"


def _no_bagit_txt(bag: Path) -> str:
    (bag / "bagit.txt").unlink()
    return str(bag)


@pytest.mark.parametrize("damage,code", [
    (_flip, "E402"), (_remove, "E400"), (_extra, "E405"), (_edit_tag, "E402"), (_no_bagit_txt, "E430"),
])
def test_validate_bag_names_the_file_and_the_code(damage, code: str, tmp_path: Path) -> None:
    bag = _make_bag(tmp_path / "bag")
    path = damage(bag)
    report = validate_bag(bag)
    assert not report.ok
    assert code in {p.code for p in report.for_path(path)}, report.problems


def test_percent_in_a_payload_path_is_refused(tmp_path: Path) -> None:
    digests = write_with_digests(tmp_path / "bag" / "data" / "50%.txt", b"x")
    with pytest.raises(ValueError, match="50%"):
        write_bag(tmp_path / "bag", {"data/50%.txt": digests}, [])


def test_unlisted_tag_file_is_tolerated(tmp_path: Path) -> None:
    bag = _make_bag(tmp_path / "bag")
    (bag / "tagmanifest-sha256.txt.p7s").write_bytes(b"\x30\x82signature")
    assert validate_bag(bag).problems == []
    bagit.Bag(str(bag)).validate()
