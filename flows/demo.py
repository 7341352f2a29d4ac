"""``juanzong demo``: the whole path once, on a sample batch the project generates itself."""

from __future__ import annotations

import shutil

from archive.pki import ensure_dev_pki
from config import Settings
from dissemination.access import Requester
from dissemination.search.base import SearchQuery
from dissemination.search.registry import open_index
from dissemination.search_access import access_for
from flows._runtime import pki_paths
from flows.disseminate import ReadingRequest, disseminate
from flows.ingest_batch import ingest_batch
from ingest.sample import SAMPLE_READER, write_sample_batch


def run_demo(settings: Settings) -> dict:
    ensure_dev_pki(pki_paths(settings), algorithm=settings.signature_algorithm)
    sample_root = settings.home / "sample"
    shutil.rmtree(sample_root, ignore_errors=True)
    batch = write_sample_batch(sample_root, seed=1)
    outcome = ingest_batch(batch, settings)
    aip = next(a for a in outcome.aips if a.case_number == SAMPLE_READER["case_number"])
    word = "原告"
    hits = open_index(settings).search(SearchQuery(
        text=word, access=access_for(settings, f"party:{SAMPLE_READER['id_number']}")))
    reader = Requester(name=SAMPLE_READER["name"], id_number=SAMPLE_READER["id_number"],
                       role="party")
    dip = disseminate(ReadingRequest(case_number=aip.case_number, requester=reader,
                                     out_dir=settings.home / "reading-copies"), settings)
    return {
        "batch": str(batch),
        "status": outcome.status,
        "aip": f"{aip.aip_id} (v{aip.version}) in {settings.storage_root}",
        "search": f"'{word}' as party {SAMPLE_READER['name']}: {hits.total} hits, first: "
                  + (f"{hits.hits[0].title} p.{hits.hits[0].page}" if hits.hits else "none"),
        "dissemination": f"{dip.status}: " + (dip.files[0] if dip.files else dip.reason),
    }
