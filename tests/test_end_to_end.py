"""The foundation's promises, driven through the CLI contract on a real corpus batch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BIN, copy_home, make_corpus, need_shared

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("corpus") / "out", "--cases", "2", "--seed", "1")


@pytest.fixture(scope="module")
def archived(tmp_path_factory, cli_factory, corpus):
    """An archive home with the corpus batch ingested once."""
    cli = cli_factory(tmp_path_factory.mktemp("home"))
    code, out = cli("ingest", str(corpus))
    return cli, out


def manifest_of(batch: Path) -> dict:
    return json.loads((batch / "manifest.json").read_text(encoding="utf-8"))


def test_ingest_archives_every_case(archived, corpus):
    _, out = archived
    cases = {c["case_number"] for c in manifest_of(corpus)["cases"]}
    assert out["status"] == "archived"
    assert out["batch_id"] == manifest_of(corpus)["batch_id"]
    assert {a["case_number"] for a in out["aips"]} == cases
    assert all(a["version"] == 1 for a in out["aips"])
    assert not [p for p in out["problems"] if p["code"] in ("E110", "E113", "E201")]


def test_ingest_twice_creates_no_new_version(archived, corpus):
    cli, first = archived
    _, again = cli("ingest", str(corpus))
    assert again["status"] == "archived"
    assert sorted((a["aip_id"], a["version"]) for a in again["aips"]) == \
        sorted((a["aip_id"], a["version"]) for a in first["aips"])
    for a in first["aips"]:
        _, shown = cli("show", a["aip_id"])
        assert shown["version"] == 1


def test_export_is_a_valid_bag_and_storage_root_is_ocfl(archived, tmp_path):
    bagit = pytest.importorskip("bagit")
    import ocfl

    cli, out = archived
    for a in out["aips"]:
        _, exported = cli("export", a["aip_id"], str(tmp_path / "export"))
        bag = bagit.Bag(exported["path"])
        bag.validate()
        assert (Path(exported["path"]) / "data" / "metadata" / "METS.xml").is_file()
    proc = subprocess.run([str(BIN / "ocfl-validate.py"), str(cli.home / "storage")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mets_validates_against_the_mets_schema(archived, tmp_path):
    import metsrw
    import xmlschema

    cli, out = archived
    xlink = Path(__file__).resolve().parents[1] / "schemas" / "xlink-loc.xsd"
    schema = xmlschema.XMLSchema(str(Path(metsrw.__file__).parent / "resources/mets.xsd"),
                                 locations={"http://www.w3.org/1999/xlink": str(xlink)},
                                 allow="local")
    _, exported = cli("export", out["aips"][0]["aip_id"], str(tmp_path))
    schema.validate(str(Path(exported["path"]) / "data/metadata/METS.xml"))


def test_verify_says_valid(archived):
    cli, out = archived
    for a in out["aips"]:
        _, res = cli("verify", a["aip_id"])
        assert res == {"aip_id": a["aip_id"], "valid": True, "problems": [], "signature_time": "no trusted time"}, \
            "this archive has no TSA: verify says so rather than vouching for the signer's own clock"


def _stored_files(home: Path) -> list[Path]:
    return sorted(p for p in (home / "storage").rglob("*")
                  if p.is_file() and "/content/" in p.as_posix())


def test_one_changed_byte_is_reported_by_verify_and_audit(archived, tmp_path):
    cli, out = archived
    tampered = cli.with_home(copy_home(cli.home, tmp_path / "home"))
    victim = next(p for p in _stored_files(tampered.home) if p.suffix == ".pdf")
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    rel = victim.relative_to(tampered.home / "storage").as_posix()

    code, audit = tampered("audit", "--full", expect=4)
    assert [f["kind"] for f in audit["failures"]] == ["digest"]
    assert audit["failures"][0]["path"].endswith(rel) or rel.endswith(audit["failures"][0]["path"])

    bad = [a for a in out["aips"] if a["aip_id"] in audit["failures"][0]["aip_id"]]
    assert bad, audit
    _, res = tampered("verify", bad[0]["aip_id"], expect=4)
    assert res["valid"] is False
    assert any(victim.name in p["path"] for p in res["problems"])


def test_search_finds_a_two_character_word(archived, corpus):
    cli, out = archived
    gt = json.loads((corpus.parent / "ground_truth" / "index.json").read_text(encoding="utf-8"))
    _, res = cli("search", "借款")
    if res["total"] == 0:
        _, res = cli("search", "原告")
    assert res["total"] > 0
    hit = res["hits"][0]
    assert set(hit) >= {"aip_id", "case_number", "document_id", "source_path", "title", "page",
                        "score", "highlight"}
    assert hit["source_path"] in gt
    assert hit["page"] >= 1


def test_dissemination_watermarks_every_page_and_leaves_out_the_secondary_volume(archived, corpus,
                                                                                tmp_path):
    cli, out = archived
    manifest = manifest_of(corpus)
    case = manifest["cases"][0]
    party = next(p for p in case["parties"] if p["kind"] == "person")
    _, res = cli("disseminate", "--case", case["case_number"], "--requester-name", party["name"],
                 "--requester-id", party["id_number"], "--role", "party", "--out", str(tmp_path))
    assert res["status"] == "issued", res
    pdfs = [Path(f) for f in res["files"] if f.endswith(".pdf")]
    secondary = [f["document"]["title"] for f in manifest["files"]
                 if f["case_number"] == case["case_number"] and f["document"]["volume"] == "副卷"]
    disclosable = [f for f in manifest["files"] if f["case_number"] == case["case_number"]
                   and f["document"]["disclosable"] and f["document"]["volume"] == "正卷"]
    assert len([p for p in pdfs if "目录" not in p.name]) == len(disclosable)
    for pdf in pdfs:
        assert not any(title in pdf.name for title in secondary)
        pages = int(subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True)
                    .stdout.split("Pages:")[1].split()[0])
        for page in range(1, pages + 1):
            text = subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), str(pdf), "-"],
                                  capture_output=True, text=True).stdout
            assert party["name"] in text, f"{pdf.name} page {page} has no watermark"
            assert res["request_id"] in text


def test_reindex_after_losing_the_index_gives_the_same_results(archived, tmp_path):
    cli, _ = archived
    home = cli.with_home(copy_home(cli.home, tmp_path / "home"))
    _, before = home("search", "原告")
    shutil.rmtree(home.home / "index")
    _, rebuilt = home("reindex")
    _, after = home("search", "原告")
    assert after == before and before["total"] > 0


def test_show_returns_the_ocr_text_of_every_page_within_the_accuracy_goal(archived, corpus):
    from ingest.ocr.quality import char_errors

    cli, out = archived
    truth_dir = corpus.parent / "ground_truth"
    index = json.loads((truth_dir / "index.json").read_text(encoding="utf-8"))
    edits = length = 0
    for a in out["aips"]:
        _, shown = cli("show", a["aip_id"])
        for doc in shown["documents"]:
            truth = {p["page"]: (truth_dir / p["text"]).read_text(encoding="utf-8") for p in index[doc["source_path"]]}
            assert [p["page"] for p in doc["pages"]] == sorted(truth)
            for page in doc["pages"]:
                e, n = char_errors(truth[page["page"]], page["text"])
                edits, length = edits + e, length + n
    assert length and edits / length <= 0.03, f"weighted CER {edits / length:.2%} through juanzong show"
