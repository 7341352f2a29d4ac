"""Fixtures for the archive tests. Storage/signature fixtures are prefixed ``store_``/``sig_``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import bagit
import ocfl
import pytest

from archive.signing import EphemeralSigner, sign_bag


def store_validate_root(root: Path) -> None:
    """Fail the test unless ocfl-py's validator accepts the whole storage root (digests checked)."""
    storage_root = ocfl.StorageRoot(root=str(root))
    assert storage_root.validate(log_errors=True), f"{root}: {storage_root.errors} {storage_root.log}"


@pytest.fixture(scope="session")
def sig_signer() -> EphemeralSigner:
    """An ECDSA P-256 signer whose certificate is issued by an in-memory CA (chain of two)."""
    return EphemeralSigner(common_name="Test court archive", with_ca=True)


def store_make_bag(where: Path, signer: EphemeralSigner, files: dict[str, bytes]) -> Path:
    """A signed BagIt bag (sha256 + sha512) holding ``files`` under data/."""
    where.mkdir(parents=True)
    for name, data in files.items():
        (where / name).parent.mkdir(parents=True, exist_ok=True)
        (where / name).write_bytes(data)
    bagit.make_bag(str(where), checksums=["sha256", "sha512"])
    sign_bag(where, signer)
    return where


@pytest.fixture
def store_bag(tmp_path: Path, sig_signer: EphemeralSigner) -> Path:
    files = {
        "METS.xml": b"<mets/>\n",
        "premis.xml": b"<premis/>\n",
        "scans/0001.pdf": os.urandom(40_000),
        "scans/0002.pdf": os.urandom(30_000),
        "text/0001.txt": "第一页 判决书\n".encode(),
    }
    return store_make_bag(tmp_path / "bag", sig_signer, files)


@pytest.fixture
def store_copy(tmp_path: Path):
    """Copy a directory (never edit a fixture's input in place)."""
    def copy(src: Path, name: str) -> Path:
        return Path(shutil.copytree(src, tmp_path / name))
    return copy


# ---- packaging fixtures (archive/package.py), prefixed ``pkg_`` ----------------------------

PKG_SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"


def pkg_need_shared(*parts: str) -> Path:
    """A file in ../shared, or skip: a user's clone has no ../shared."""
    path = PKG_SHARED.joinpath(*parts).resolve()
    if not path.exists():
        pytest.skip(f"{path} is absent: packaging tests need the shared corpus/reference folder beside the repo")
    return path


@pytest.fixture(scope="session")
def pkg_batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean two-case station batch (make_corpus --cases 2 --seed 1), generated once."""
    import subprocess
    import sys

    script = pkg_need_shared("corpus", "make_corpus.py")
    out = tmp_path_factory.mktemp("pkg-corpus") / "out"
    subprocess.run([sys.executable, str(script), str(out), "--cases", "2", "--seed", "1"],
                   check=True, stdout=subprocess.DEVNULL)
    return next(p for p in sorted(out.iterdir()) if p.is_dir() and p.name != "ground_truth")


def pkg_make_submission(batch_dir: Path, derived_dir: Path, case_index: int = 0,
                        paths: list[str] | None = None, *, ocr_started: str = "2023-12-11T10:00:00+08:00",
                        failed: tuple[str, ...] = (), events: tuple[dict, ...] = ()):
    """A CaseSubmission with real-shaped OcrResults: the "PDF/A" is a copy of the original PDF
    (no OCR needed), each page gets a line of text, one page a low-confidence flag."""
    from datetime import datetime, timedelta

    from archive.records import CaseSubmission, SubmittedDocument
    from ingest.manifest import read_manifest
    from ingest.records import OcrResult, PageText

    manifest = read_manifest(batch_dir)
    case = manifest.cases[case_index]
    entries = [f for f in manifest.files_of(case.case_number) if paths is None or f.path in paths]
    started = datetime.fromisoformat(ocr_started)
    documents = []
    for n, entry in enumerate(entries):
        original = batch_dir / entry.path
        pdfa = None
        if entry.path not in failed:
            pdfa = derived_dir / f"{n:02d}.pdf"
            pdfa.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(original, pdfa)
        pages = () if entry.path in failed else tuple(
            PageText(page=p, text=f"{entry.document.title} 第{p}页\n{case.case_number}\n",
                     confidence=55.0 if p == 2 else 91.5, flags=("low_confidence",) if p == 2 else ())
            for p in range(1, entry.page_count + 1))
        ocr = OcrResult(
            source_path=entry.path, original=original, pdfa=pdfa, pages=pages,
            status="failed" if entry.path in failed else "done", engine="tesseract",
            engine_version="5.3.0", languages="chi_sim", options={"deskew": "true", "optimize": "1"},
            error="tesseract timed out" if entry.path in failed else None,
            started_at=started + timedelta(minutes=n), finished_at=started + timedelta(minutes=n, seconds=40))
        documents.append(SubmittedDocument(entry=entry, ocr=ocr))
    return CaseSubmission(manifest=manifest, case=case, documents=tuple(documents), events=events)


@pytest.fixture(scope="session")
def pkg_mets_schema():
    """The METS 1.12 XSD shipped in metsrw, its XLink import mapped to schemas/xlink-loc.xsd."""
    import metsrw
    import xmlschema

    repo = Path(__file__).resolve().parents[2]
    return xmlschema.XMLSchema(
        str(Path(metsrw.__file__).parent / "resources" / "mets.xsd"),
        locations={"http://www.w3.org/1999/xlink": str(repo / "schemas" / "xlink-loc.xsd")}, allow="local")


@pytest.fixture(scope="session")
def pkg_premis_schema():
    """The official PREMIS 3.0 XSD from ../shared/reference (skips when absent)."""
    import xmlschema

    xsd = pkg_need_shared("reference", "xsd", "premis-v3-0.xsd")
    xlink = Path(xmlschema.__file__).parent / "schemas" / "XLINK" / "xlink.xsd"
    return xmlschema.XMLSchema(str(xsd), locations={"http://www.w3.org/1999/xlink": str(xlink)}, allow="local")
