"""``juanzong catalog rebuild``: delete the catalog, rebuild it from the storage root, the log and
the registry journal, and every door answers as before; a corrupt catalog is a coded error that
names the file and the command."""

from __future__ import annotations

from tests.reading.conftest import PARTY
from tests.security.conftest import Archive
from tests.security.test_archive_attacks import _request, roll_back_newest_version


def _answers(cli, a: Archive) -> dict:
    _, civil = cli("show", _aip(cli, a.civil))
    _, archived = cli("show", a.archived_aip)
    _, hits = cli("search", "判决", "--size", "50")
    _, party_hits = cli("search", "", "--as", f"party:{PARTY.id_number}", "--size", "50")
    _, audit = cli("audit", "--full")
    _, requests = cli("requests", "list")
    _, log = cli("log", "verify")
    return {"show": [civil, archived], "search": [hits, party_hits],
            "audit": {k: audit[k] for k in ("checked", "ok", "failures", "repaired")},
            "requests": requests, "log": {k: log[k] for k in ("ok", "heads_checked", "problems")}}


def _aip(cli, case: str) -> str:
    _, hits = cli("search", "", "--case", case, "--size", "1")
    return hits["hits"][0]["aip_id"]


def test_deleted_catalog_is_rebuilt_with_the_same_answers(damaged: Archive, cli_factory) -> None:
    _request(damaged, damaged.archived, PARTY.id_number, damaged.service_key)  # a request only the journal knows
    cli = cli_factory(damaged.settings.home)
    before = _answers(cli, damaged)
    assert before["audit"]["failures"] == [] and before["log"]["ok"], before
    for suffix in ("", "-wal", "-shm"):
        (damaged.settings.home / f"catalog.sqlite{suffix}").unlink(missing_ok=True)
    _, rebuilt = cli("catalog", "rebuild")
    assert (rebuilt["aips"], rebuilt["versions"]) == (2, 3)
    assert rebuilt["registry"]["disseminationrequest"] >= 1 and rebuilt["registry"]["principal"] == 3
    assert {p["code"] for p in rebuilt["not_recovered"]} == {"E415"}, "keys and audit history are named"
    after = _answers(cli, damaged)
    assert after == before


def test_corrupt_catalog_names_the_file_and_the_rebuild(damaged: Archive, cli_factory) -> None:
    cli = cli_factory(damaged.settings.home)
    (damaged.settings.home / "catalog.sqlite").write_bytes(b"\0garbage" * 8192)
    for suffix in ("-wal", "-shm"):
        (damaged.settings.home / f"catalog.sqlite{suffix}").unlink(missing_ok=True)
    for args in (("show", damaged.archived_aip), ("verify", damaged.archived_aip), ("audit", "--full"), ("reindex",)):
        code, out = cli(*args, expect=None)
        assert code == 4 and out["error"]["code"] == "E413", (args, out)
        assert "catalog.sqlite" in out["error"]["message"] and "juanzong catalog rebuild" in out["error"]["message"]
    code, rebuilt = cli("catalog", "rebuild")
    assert rebuilt["set_aside"].startswith(str(damaged.settings.home / "catalog.sqlite.replaced-"))
    assert cli("verify", damaged.archived_aip)[1]["valid"]


def test_rebuild_after_a_rollback_reports_it_from_the_log(damaged: Archive) -> None:
    """Without the catalog the log still proves the head: a rebuild names the rolled-back AIP and
    verify keeps saying so."""
    from flows.aip_queries import verify_aip
    from flows.rebuild_catalog import rebuild_catalog

    roll_back_newest_version(damaged)
    (damaged.settings.home / "catalog.sqlite").unlink()
    report = rebuild_catalog(damaged.settings)
    assert "E409" in {p.code for p in report.not_recovered}
    assert {p["kind"] for p in verify_aip(damaged.settings, damaged.archived_aip)["problems"]} >= {"rollback"}
