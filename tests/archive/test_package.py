"""archive/package.py (build_aip), archive/mets.py and archive/premis.py on a real corpus batch."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import bagit
import pikepdf
import pytest
import xmlschema
from lxml import etree
from PIL import Image

from archive import premis
from archive.bag import hash_file, validate_bag
from archive.package import build_aip, read_case_record
from archive.records import BuiltAip, CaseSubmission, SubmittedDocument
from ingest._exec import siegfried
from ingest.conformance import conformance_problems, validate_derivatives
from schemas.errors import InputRejected, JuanzongError
from tests.archive.conftest import pkg_make_submission
from tests.conftest import make_corpus

REPO = Path(__file__).resolve().parents[2]
METS = "{http://www.loc.gov/METS/}"
PREMIS = "{http://www.loc.gov/premis/v3}"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
EXTRA_EVENT = {"event_type": "virus check", "event_time": "2023-12-11T09:30:00+08:00",
               "agent": "ClamAV 1.0.7", "outcome": "pass", "detail": "no virus found",
               "object_path": None}


def _tree(bag: Path, name: str) -> etree._Element:
    return etree.parse(str(bag / "data" / "metadata" / name)).getroot()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def pkg_full(pkg_batch: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[CaseSubmission, BuiltAip]:
    """Case 0 of the batch, every document, one OCR failure and one extra station event."""
    base = tmp_path_factory.mktemp("pkg-full")
    paths = [f.path for f in pkg_make_submission(pkg_batch, base / "probe").manifest.files]
    first_case = pkg_make_submission(pkg_batch, base / "probe").documents
    failed = (first_case[1].entry.path,)
    event = {**EXTRA_EVENT, "object_path": first_case[0].entry.path}
    submission = pkg_make_submission(pkg_batch, base / "derived", failed=failed, events=(event,))
    assert len(paths) > len(submission.documents)  # the batch holds another case too
    return submission, build_aip(submission, base / "work", agent="档案员甲")


def test_layout_and_originals_are_byte_identical_copies(pkg_full, pkg_batch: Path) -> None:
    submission, built = pkg_full
    bag = built.bag_dir
    assert built.aip_id == submission.aip_id and bag.name == submission.aip_id
    for doc in submission.documents:
        copy = bag / "data" / "original" / doc.entry.path
        assert copy.read_bytes() == (pkg_batch / doc.entry.path).read_bytes()
        assert copy.stat().st_nlink == 1 and (pkg_batch / doc.entry.path).stat().st_nlink == 1
        pdfa = bag / "data" / "pdfa" / Path(doc.entry.path).with_suffix(".pdf")
        assert pdfa.is_file() == (doc.ocr.pdfa is not None)
        for page in doc.ocr.pages:
            text = bag / "data" / "text" / Path(doc.entry.path).with_suffix("") / f"page_{page.page:04d}.txt"
            assert text.read_text(encoding="utf-8") == page.text
    submitted = bag / "data/metadata/submissions" / submission.manifest.batch_id / "manifest.json"
    assert submitted.read_bytes() == (pkg_batch / "manifest.json").read_bytes()
    assert {p.name for p in bag.iterdir()} == {
        "data", "bagit.txt", "bag-info.txt", "manifest-sha256.txt", "manifest-sha512.txt",
        "tagmanifest-sha256.txt", "tagmanifest-sha512.txt"}


def test_case_json_is_complete(pkg_full) -> None:
    submission, built = pkg_full
    record = read_case_record(built.bag_dir)
    raw = json.loads((built.bag_dir / "data/metadata/case.json").read_text(encoding="utf-8"))
    assert raw["aip_id"] == built.aip_id and raw["archival_code"] is None and raw["aip_version"] == 1
    assert record.case == submission.case
    assert [d.entry for d in record.documents] == [d.entry for d in submission.documents]
    failed = record.documents[1]
    assert failed.ocr.status == "failed" and failed.pdfa is None and failed.text == ()
    done = record.documents[0]
    assert done.ocr.engine == "tesseract" and done.ocr.languages == "chi_sim"
    assert [p.page for p in done.pages] == list(range(1, done.entry.page_count + 1))
    assert done.pages[1].flags == ("low_confidence",) and done.pages[1].confidence == 55.0
    assert {d.version_added for d in record.documents} == {1}
    for doc in record.documents:
        assert doc.disclosable == (doc.entry.document.disclosable and doc.entry.document.volume == "正卷")
        assert doc.original.sha256 == doc.entry.sha256


def test_mets_validates_and_lists_every_file_with_its_checksum(pkg_full, pkg_mets_schema) -> None:
    _, built = pkg_full
    mets_path = built.bag_dir / "data/metadata/METS.xml"
    pkg_mets_schema.validate(str(mets_path))
    root = _tree(built.bag_dir, "METS.xml")
    groups = {g.get("USE"): g for g in root.iter(METS + "fileGrp")}
    assert set(groups) == {"ORIGINAL", "PDFA", "TEXT", "METADATA"}
    listed = set()
    for f in root.iter(METS + "file"):
        target = (mets_path.parent / f.find(METS + "FLocat").get(XLINK_HREF)).resolve()
        assert f.get("CHECKSUMTYPE") == "SHA-256" and f.get("CHECKSUM") == _sha256(target)
        assert int(f.get("SIZE")) == target.stat().st_size and f.get("MIMETYPE")
        listed.add(target)
    payload = {p.resolve() for p in (built.bag_dir / "data").rglob("*") if p.is_file()}
    assert payload - listed == {mets_path.resolve()}


def test_mets_dmd_sections_validate_against_the_case_vocabulary(pkg_full) -> None:
    submission, built = pkg_full
    schema = xmlschema.XMLSchema(str(REPO / "schemas" / "case-metadata-1.xsd"))
    wrapped = [x[0] for x in _tree(built.bag_dir, "METS.xml").iter(METS + "xmlData")]
    assert len(wrapped) == 1 + len(submission.documents)
    for element in wrapped:
        schema.validate(etree.tostring(element).decode())
    case = wrapped[0]
    ns = "{https://juanzong.example/ns/case/1}"
    assert case.findtext(ns + "caseNumber") == submission.case.case_number
    assert case.findtext(ns + "causeOfAction") == submission.case.cause_of_action
    assert [m.text for m in case.iter(ns + "member")] == submission.case.panel
    assert len(case.findall(f"{ns}parties/{ns}party")) == len(submission.case.parties)


def test_dmd_sections_name_the_element_set_and_carry_the_table_of_contents(pkg_full) -> None:
    from archive.check4 import case_schema

    submission, built = pkg_full
    root = _tree(built.bag_dir, "METS.xml")
    wraps = list(root.iter(METS + "mdWrap"))
    assert wraps and {(w.get("MDTYPE"), w.get("OTHERMDTYPE")) for w in wraps} == {("OTHER", "case-metadata-1")}
    ns = "{https://juanzong.example/ns/case/1}"
    case = next(root.iter(ns + "case"))
    assert case_schema().validate(etree.ElementTree(case)), case_schema().error_log
    entries = case.findall(f"{ns}contents/{ns}entry")
    assert [(e.get("volume"), int(e.get("seq"))) for e in entries] == [
        (d.entry.document.volume, d.entry.document.seq) for d in read_case_record(built.bag_dir).documents]
    assert case.findtext(ns + "documentCount") == str(len(submission.documents))
    broken = etree.fromstring(etree.tostring(case))
    broken.find(ns + "retentionPeriod").text = "长期保存"
    assert not case_schema().validate(etree.ElementTree(broken))


def test_premis_is_valid_against_the_shipped_schema_and_names_people(pkg_full) -> None:
    from archive.check4 import premis_schema

    submission, built = pkg_full
    root = _tree(built.bag_dir, "premis.xml")
    assert premis_schema().validate(etree.ElementTree(root)), premis_schema().error_log
    assert {a.text for a in root.iter(PREMIS + "act")} == {"disseminate"}
    agents = {a.findtext(f".//{PREMIS}agentIdentifierValue"): a for a in root.findall(PREMIS + "agent")}
    software = [a for a in agents.values() if a.findtext(PREMIS + "agentType") == "software"]
    assert software and all(a.findtext(PREMIS + "agentVersion") for a in software)
    operator = submission.manifest.operator
    named = [i for i, a in agents.items() if a.findtext(PREMIS + "agentName") in (operator.id, operator.name)]
    assert named == [f"operator:{operator.id}"]
    ingestion = next(e for e in _events(root) if e["type"] == "ingestion")
    assert f"operator:{operator.id}" in ingestion["agents"]


def test_mets_logical_struct_map_reads_case_volume_document_page(pkg_full) -> None:
    submission, built = pkg_full
    root = _tree(built.bag_dir, "METS.xml")
    case_div = root.find(f"{METS}structMap[@TYPE='LOGICAL']/{METS}div")
    assert case_div.get("TYPE") == "case" and case_div.get("LABEL") == submission.case.case_number
    volumes = case_div.findall(METS + "div")
    expected_volumes = sorted({d.entry.document.volume for d in submission.documents}, key="正卷副卷".index)
    assert [v.get("LABEL") for v in volumes] == expected_volumes
    titles = [d.get("LABEL") for v in volumes for d in v.findall(METS + "div")]
    assert titles == [d.entry.document.title for d in submission.documents]
    first = volumes[0].find(METS + "div")
    pages = first.findall(METS + "div")
    assert [p.get("TYPE") for p in pages] == ["page"] * submission.documents[0].entry.page_count
    assert [f.get("FILEID") for f in pages[0].findall(METS + "fptr")] == [
        "f-orig-0001", "f-pdfa-0001", "f-text-0001-0001"]


def test_premis_validates(pkg_full, pkg_premis_schema) -> None:
    _, built = pkg_full
    pkg_premis_schema.validate(str(built.bag_dir / "data/metadata/premis.xml"))


def test_premis_objects_carry_sha256_and_sm3_of_the_stored_bytes(pkg_full) -> None:
    _, built = pkg_full
    root = _tree(built.bag_dir, "premis.xml")
    objects = root.findall(PREMIS + "object")
    assert len(objects) == sum(1 for p in (built.bag_dir / "data").rglob("*") if p.is_file()) - 2
    for obj in objects:
        stored = built.bag_dir / obj.findtext(f"{PREMIS}storage/{PREMIS}contentLocation/{PREMIS}contentLocationValue")
        digests = hash_file(stored)
        fixity = {f.findtext(PREMIS + "messageDigestAlgorithm"): f.findtext(PREMIS + "messageDigest")
                  for f in obj.iter(PREMIS + "fixity")}
        assert fixity == {"SHA-256": digests.sha256, "SM3": digests.sm3}
        assert obj.findtext(f"{PREMIS}objectCharacteristics/{PREMIS}size") == str(digests.size)


def test_premis_pdfa_is_derived_from_its_original(pkg_full) -> None:
    _, built = pkg_full
    record = read_case_record(built.bag_dir)
    root = _tree(built.bag_dir, "premis.xml")
    by_path = {o.findtext(f".//{PREMIS}contentLocationValue"): o for o in root.findall(PREMIS + "object")}
    ids = {p: o.findtext(f"{PREMIS}objectIdentifier/{PREMIS}objectIdentifierValue") for p, o in by_path.items()}
    doc = record.documents[0]
    rel = by_path[doc.pdfa.path].find(PREMIS + "relationship")
    assert rel.findtext(PREMIS + "relationshipSubType") == "has source"
    assert rel.findtext(f".//{PREMIS}relatedObjectIdentifierValue") == ids[doc.original.path]
    assert by_path[doc.original.path].find(PREMIS + "relationship") is None


def _events(root: etree._Element) -> list[dict]:
    return [{"id": e.findtext(f"{PREMIS}eventIdentifier/{PREMIS}eventIdentifierValue"),
             "type": e.findtext(PREMIS + "eventType"),
             "outcome": e.findtext(f"{PREMIS}eventOutcomeInformation/{PREMIS}eventOutcome"),
             "detail": e.findtext(f".//{PREMIS}eventDetail"),
             "agents": [a.text for a in e.iter(PREMIS + "linkingAgentIdentifierValue")],
             "objects": [o.text for o in e.iter(PREMIS + "linkingObjectIdentifierValue")]}
            for e in root.findall(PREMIS + "event")]


def test_premis_events_agents_and_rights(pkg_full) -> None:
    submission, built = pkg_full
    root = _tree(built.bag_dir, "premis.xml")
    events = _events(root)
    n = len(submission.documents)
    types = [e["type"] for e in events]
    assert types.count("capture") == n and types.count("format identification") == n
    assert types.count("fixity check") == n and types.count("OCR") == n
    assert types.count("validation") == n - 1 and types.count("ingestion") == 1
    assert types.count("virus check") == 1
    ocr = [e for e in events if e["type"] == "OCR"]
    assert [e["outcome"] for e in ocr] == ["done", "failed"] + ["done"] * (n - 2)
    assert "tesseract 5.3.0" in ocr[0]["detail"] and "chi_sim" in ocr[0]["detail"]
    assert "deskew=true" in ocr[0]["detail"]
    capture = next(e for e in events if e["type"] == "capture")
    assert capture["agents"] == [f"station:{submission.manifest.station_id}",
                                 f"operator:{submission.manifest.operator.id}"]
    agent_ids = {a.findtext(f".//{PREMIS}agentIdentifierValue") for a in root.findall(PREMIS + "agent")}
    assert {a for e in events for a in e["agents"]} <= agent_ids
    assert "person:档案员甲" in agent_ids
    assert len({e["id"] for e in events}) == len(events)
    restrictions = {s.findtext(f"{PREMIS}rightsStatementIdentifier/{PREMIS}rightsStatementIdentifierValue"):
                    s.findtext(f"{PREMIS}rightsGranted/{PREMIS}restriction") for s in root.iter(PREMIS + "rightsStatement")}
    for doc in submission.documents:
        meta = doc.entry.document
        expected = "Allow" if meta.disclosable and meta.volume == "正卷" else "Disallow"
        assert restrictions[f"disclosure:{doc.document_id}"] == expected
    assert any(d.entry.document.volume == "副卷" for d in submission.documents)


def test_a_stations_own_virus_event_is_no_evidence_for_the_archive(pkg_full) -> None:
    """The station says it ran ClamAV on one file (EXTRA_EVENT): that is its claim, not the archive's
    scan, so DA/T 70 item 4-2 still finds no evidence for that file."""
    from archive.check4 import virus_verdict

    submission, built = pkg_full
    outcome, evidence = virus_verdict(etree.parse(str(built.bag_dir / "data/metadata/premis.xml")),
                                      read_case_record(built.bag_dir))
    first = f"data/original/{submission.documents[0].entry.path}"
    assert outcome == "fail" and any(e.startswith(first) and "no evidence" in e for e in evidence)


def test_bagit_python_accepts_the_bag_with_a_detached_signature(pkg_full, tmp_path: Path) -> None:
    _, built = pkg_full
    bagit.Bag(str(built.bag_dir)).validate()
    signed = Path(shutil.copytree(built.bag_dir, tmp_path / "signed"))
    (signed / "tagmanifest-sha256.txt.p7s").write_bytes(b"0\x82\x01\x00 not checked by BagIt")
    bagit.Bag(str(signed)).validate()
    result = subprocess.run([sys.executable, "-m", "bagit", "--validate", str(signed)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert validate_bag(signed).problems == []


def test_payload_digest_is_idempotent(pkg_batch: Path, pkg_full, tmp_path: Path) -> None:
    submission, built = pkg_full
    again = build_aip(submission, tmp_path / "again", agent="档案员甲")
    assert again.payload_digest == built.payload_digest
    lines = sorted((built.bag_dir / "manifest-sha256.txt").read_bytes().splitlines())
    assert built.payload_digest == hashlib.sha256(b"".join(line + b"\n" for line in lines)).hexdigest()
    over_head = build_aip(submission, tmp_path / "over-head", base_bag=built.bag_dir, agent="档案员甲")
    assert over_head.payload_digest == built.payload_digest
    other_agent = build_aip(submission, tmp_path / "other", agent="档案员乙")
    assert other_agent.payload_digest != built.payload_digest


def test_supplementary_filing_keeps_old_documents_and_adds_new(pkg_batch: Path, tmp_path: Path) -> None:
    every = [d.entry.path for d in pkg_make_submission(pkg_batch, tmp_path / "probe").documents]
    first = pkg_make_submission(pkg_batch, tmp_path / "d1", paths=every[:3])
    v1 = build_aip(first, tmp_path / "v1")
    later = pkg_make_submission(pkg_batch, tmp_path / "d2", paths=every[3:],
                                ocr_started="2024-01-05T09:00:00+08:00")
    v2 = build_aip(later, tmp_path / "v2", base_bag=v1.bag_dir)
    assert v2.aip_id == v1.aip_id and v2.payload_digest != v1.payload_digest
    record = read_case_record(v2.bag_dir)
    assert [d.entry.path for d in record.documents] == every
    assert [d.version_added for d in record.documents] == [1, 1, 1] + [2] * (len(every) - 3)
    assert record.aip_version == 2
    for path in every[:3]:
        assert (v2.bag_dir / "data/original" / path).read_bytes() == (v1.bag_dir / "data/original" / path).read_bytes()
    old_ids = [e["id"] for e in _events(_tree(v1.bag_dir, "premis.xml"))]
    new_events = _events(_tree(v2.bag_dir, "premis.xml"))
    assert [e["id"] for e in new_events][:len(old_ids)] == old_ids
    assert [e["type"] for e in new_events].count("ingestion") == 2
    assert bagit.Bag(str(v2.bag_dir)).is_valid()
    header_v1, header_v2 = (_tree(b.bag_dir, "METS.xml").find(METS + "metsHdr") for b in (v1, v2))
    assert header_v1.get("LASTMODDATE") is None
    assert header_v2.get("CREATEDATE") == header_v1.get("CREATEDATE") != header_v2.get("LASTMODDATE")


def test_reocr_replaces_the_document_and_appends_its_event(pkg_batch: Path, tmp_path: Path,
                                                           pkg_mets_schema, pkg_premis_schema) -> None:
    every = [d.entry.path for d in pkg_make_submission(pkg_batch, tmp_path / "probe").documents]
    v1 = build_aip(pkg_make_submission(pkg_batch, tmp_path / "d1", failed=(every[0],)), tmp_path / "v1")
    redo = pkg_make_submission(pkg_batch, tmp_path / "d2", paths=every[:1], ocr_started="2024-03-01T08:00:00+08:00")
    v2 = build_aip(redo, tmp_path / "v2", base_bag=v1.bag_dir)
    record = read_case_record(v2.bag_dir)
    redone = record.documents[0]
    assert redone.ocr.status == "done" and redone.pdfa is not None
    assert (redone.version_added, redone.version_updated) == (1, 2)
    assert {(d.version_added, d.version_updated) for d in record.documents[1:]} == {(1, 1)}
    outcomes = [e["outcome"] for e in _events(_tree(v2.bag_dir, "premis.xml")) if e["type"] == "OCR"]
    assert outcomes.count("failed") == 1 and outcomes.count("done") == len(every)
    pkg_mets_schema.validate(str(v2.bag_dir / "data/metadata/METS.xml"))
    pkg_premis_schema.validate(str(v2.bag_dir / "data/metadata/premis.xml"))


def test_inputs_are_never_modified(pkg_batch: Path, tmp_path: Path) -> None:
    before = {p: _sha256(p) for p in pkg_batch.rglob("*") if p.is_file()}
    submission = pkg_make_submission(pkg_batch, tmp_path / "derived")
    v1 = build_aip(submission, tmp_path / "v1")
    base_before = {p: _sha256(p) for p in v1.bag_dir.rglob("*") if p.is_file()}
    build_aip(submission, tmp_path / "v2", base_bag=v1.bag_dir)
    assert {p: _sha256(p) for p in pkg_batch.rglob("*") if p.is_file()} == before
    assert {p: _sha256(p) for p in v1.bag_dir.rglob("*") if p.is_file()} == base_before


def test_changed_original_is_refused_and_leaves_no_bag(pkg_batch: Path, tmp_path: Path) -> None:
    submission = pkg_make_submission(pkg_batch, tmp_path / "derived")
    doc = submission.documents[2]
    tampered = tmp_path / "tampered.pdf"
    data = bytearray(doc.ocr.original.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered.write_bytes(bytes(data))
    bad_doc = doc.model_copy(update={"ocr": doc.ocr.model_copy(update={"original": tampered})})
    bad = submission.model_copy(update={"documents": (*submission.documents[:2], bad_doc)})
    with pytest.raises(InputRejected) as caught:
        build_aip(bad, tmp_path / "work")
    assert caught.value.code == "E113" and str(tampered) in str(caught.value)
    assert list((tmp_path / "work").iterdir()) == []


@pytest.mark.parametrize("case", ["bag_exists", "base_not_a_bag", "path_unsafe"])
def test_refusals_have_codes(case: str, pkg_batch: Path, tmp_path: Path) -> None:
    submission = pkg_make_submission(pkg_batch, tmp_path / "derived", paths=None)
    base = None
    if case == "bag_exists":
        (tmp_path / "work" / submission.aip_id).mkdir(parents=True)
    if case == "base_not_a_bag":
        base = tmp_path / "empty"
        base.mkdir()
    if case == "path_unsafe":
        doc = submission.documents[0]
        entry = doc.entry.model_copy(update={"path": "../escape.pdf"})
        submission = submission.model_copy(update={"documents": (doc.model_copy(update={"entry": entry}),)})
    expected = {"bag_exists": "E431", "base_not_a_bag": "E431", "path_unsafe": "E117"}[case]
    with pytest.raises(JuanzongError) as caught:
        build_aip(submission, tmp_path / "work", base_bag=base)
    assert caught.value.code == expected


def test_event_times_come_from_the_inputs(pkg_full) -> None:
    submission, built = pkg_full
    root = _tree(built.bag_dir, "premis.xml")
    times = {datetime.fromisoformat(e.findtext(PREMIS + "eventDateTime")) for e in root.findall(PREMIS + "event")}
    inputs = {d.entry.scanned_at for d in submission.documents} | {d.ocr.started_at for d in submission.documents}
    inputs |= {d.ocr.finished_at for d in submission.documents}
    inputs |= {datetime.fromisoformat(EXTRA_EVENT["event_time"])}
    assert times <= inputs
    assert max(times) < datetime.now(timezone.utc)


def _claiming_pdfa(original: Path, out: Path) -> Path:
    """A derivative whose XMP claims PDF/A-2b while it is none (no output intent, no XMP
    schema extension): the claim the old check believed."""
    with pikepdf.open(original) as pdf:
        with pdf.open_metadata() as meta:
            meta["pdfaid:part"] = "2"
            meta["pdfaid:conformance"] = "B"
        pdf.save(out)
    return out


def _premis_objects(bag: Path) -> dict[str, etree._Element]:
    root = _tree(bag, "premis.xml")
    return {o.findtext(f".//{PREMIS}contentLocationValue"): o for o in root.findall(PREMIS + "object")}


@pytest.mark.verapdf
def test_pronom_keys_and_verapdf_verdicts_in_premis(pkg_batch: Path, tmp_path: Path, pkg_premis_schema) -> None:
    """A real PDF/A-2b (ocrmypdf, no OCR) passes veraPDF, a derivative that only claims PDF/A
    fails with its rules (E221); every PREMIS object carries siegfried's own PRONOM answer."""
    submission = pkg_make_submission(pkg_batch, tmp_path / "derived")
    good, bad = submission.documents[-1], submission.documents[0]
    pdfa = tmp_path / "real-pdfa.pdf"
    subprocess.run([str(Path(sys.executable).parent / "ocrmypdf"), "-q", "--tesseract-timeout", "0",
                    "--output-type", "pdfa-2", "--optimize", "0", str(good.ocr.original), str(pdfa)], check=True)
    claimed = _claiming_pdfa(bad.ocr.original, tmp_path / "claimed.pdf")
    results = validate_derivatives([good.ocr.model_copy(update={"pdfa": pdfa}),
                                    bad.ocr.model_copy(update={"pdfa": claimed})])
    (problem,) = conformance_problems(results)
    assert (problem.code, problem.path, problem.fatal) == ("E221", bad.entry.path, False)
    assert "ISO 19005-2:2011 6.2.4.3" in problem.message or "ISO 19005-2:2011 6.6.2" in problem.message
    docs = (good.model_copy(update={"ocr": results[0]}), bad.model_copy(update={"ocr": results[1]}))
    built = build_aip(submission.model_copy(update={"documents": docs}), tmp_path / "work")
    record = read_case_record(built.bag_dir)
    stored = {d.entry.path: d for d in record.documents}
    assert (stored[good.entry.path].pdfa.format_name, stored[good.entry.path].pdfa.puid) == ("PDF/A-2", "fmt/477")
    assert stored[good.entry.path].original.format_name == "PDF"
    events = [e for e in _events(_tree(built.bag_dir, "premis.xml")) if e["type"] == "validation"]
    assert sorted(e["outcome"] for e in events) == ["fail", "pass"]
    assert all(a.startswith("software:veraPDF-") for e in events for a in e["agents"])
    failed = next(e for e in _events(_tree(built.bag_dir, "premis.xml")) if e["outcome"] == "fail")
    assert failed["objects"] == [premis.object_id(stored[bad.entry.path].pdfa)]
    detail = _tree(built.bag_dir, "premis.xml").xpath(
        "//p:event[p:eventOutcomeInformation/p:eventOutcome='fail']//p:eventOutcomeDetailNote/text()",
        namespaces={"p": PREMIS[1:-1]})[0]
    assert "PDF/A-2B validation profile" in detail and "6." in detail
    answers = _sf_answers(built.bag_dir)
    objects = _premis_objects(built.bag_dir)
    assert set(objects) == set(answers)
    for path, element in objects.items():
        assert element.findtext(f".//{PREMIS}formatRegistryName") == "PRONOM"
        assert element.findtext(f".//{PREMIS}formatRegistryKey") == answers[path], path
    assert answers[stored[good.entry.path].pdfa.path] == "fmt/477"
    pkg_premis_schema.validate(str(built.bag_dir / "data/metadata/premis.xml"))


def _sf_answers(bag: Path) -> dict[str, str]:
    """siegfried's own answer for every payload file PREMIS describes (itself and METS excepted)."""
    files = sorted(p for p in (bag / "data").rglob("*") if p.is_file() and p.name not in ("premis.xml", "METS.xml"))
    out = subprocess.run([str(siegfried.program()), "-json", "-nr", *map(str, files)], check=True,
                         capture_output=True).stdout
    return {Path(f["filename"]).relative_to(bag).as_posix(): f["matches"][0]["id"] for f in json.loads(out)["files"]}


def _as_jpeg_original(doc: SubmittedDocument, where: Path) -> SubmittedDocument:
    """The document re-scanned as a one-page JPEG (what a station's flatbed sends)."""
    rel = Path(doc.entry.path).with_suffix(".jpg")
    jpeg = where / rel
    jpeg.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(doc.ocr.original) as image:
        image.convert("L").save(jpeg, "JPEG", quality=80, dpi=(200, 200))
    entry = doc.entry.model_copy(update={"path": rel.as_posix(), "media_type": "image/jpeg", "page_count": 1,
                                         "sha256": _sha256(jpeg), "byte_size": jpeg.stat().st_size})
    ocr = doc.ocr.model_copy(update={"source_path": rel.as_posix(), "original": jpeg, "pdfa": None, "pages": (),
                                     "status": "failed", "error": "not read in this test"})
    return SubmittedDocument(entry=entry, ocr=ocr)


def test_pronom_keys_for_tiff_and_jpeg_originals(tmp_path: Path, pkg_premis_schema) -> None:
    """TIFF scans (make_corpus --format tiff) and a JPEG scan: each PREMIS object's PRONOM key is
    siegfried's own answer, fmt/353 and fmt/43 for the originals."""
    tiff_batch = make_corpus(tmp_path / "corpus", "--cases", "1", "--seed", "5", "--format", "tiff")
    submission = pkg_make_submission(tiff_batch, tmp_path / "derived")
    docs = (*submission.documents[:-1], _as_jpeg_original(submission.documents[-1], tmp_path / "station"))
    built = build_aip(submission.model_copy(update={"documents": docs}), tmp_path / "work")
    keys = {path: element.findtext(f".//{PREMIS}formatRegistryKey")
            for path, element in _premis_objects(built.bag_dir).items()}
    assert keys == _sf_answers(built.bag_dir)
    originals = {p.rsplit(".", 1)[-1]: k for p, k in keys.items() if p.startswith("data/original/")}
    assert originals == {"tif": "fmt/353", "jpg": "fmt/43"}
    record = read_case_record(built.bag_dir)
    assert {(d.original.format_name, d.original.puid) for d in record.documents} == {("TIFF", "fmt/353"),
                                                                                    ("JPEG", "fmt/43")}
    pkg_premis_schema.validate(str(built.bag_dir / "data/metadata/premis.xml"))


def test_supplementary_filing_after_archiving_keeps_the_check4_report(pkg_batch: Path,
                                                                      tmp_path: Path) -> None:
    every = [d.entry.path for d in pkg_make_submission(pkg_batch, tmp_path / "probe").documents]
    v1 = build_aip(pkg_make_submission(pkg_batch, tmp_path / "d1", paths=every[:2]), tmp_path / "v1")
    report = v1.bag_dir / "data/metadata/check4-GD.json"
    report.write_text('{"stage": "GD", "passed": true}', encoding="utf-8")
    later = pkg_make_submission(pkg_batch, tmp_path / "d2", paths=every[2:3],
                                ocr_started="2024-01-05T09:00:00+08:00")
    v2 = build_aip(later, tmp_path / "v2", base_bag=v1.bag_dir)
    kept = v2.bag_dir / "data/metadata/check4-GD.json"
    assert kept.read_bytes() == report.read_bytes()
    assert "data/metadata/check4-GD.json" in (v2.bag_dir / "manifest-sha256.txt").read_text()
    assert "check4-GD.json" in (v2.bag_dir / "data/metadata/METS.xml").read_text(encoding="utf-8")
    assert bagit.Bag(str(v2.bag_dir)).is_valid()
