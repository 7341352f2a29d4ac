"""archive/auditlog.py: the chain detects edits, removals, reorders and tail truncation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archive.auditlog import LOG_NAME, append_events, configure_log, sign_head, verify_log
from archive.signing import EphemeralSigner


def _log(tmp_path: Path, n: int = 5) -> Path:
    log_dir = tmp_path / "log"
    append_events(log_dir, [{"event_type": "ingestion", "n": i, "detail": f"第{i}件"} for i in range(1, n + 1)])
    return log_dir


def _lines(log_dir: Path) -> list[str]:
    return (log_dir / LOG_NAME).read_text(encoding="utf-8").splitlines()


def _write(log_dir: Path, lines: list[str]) -> None:
    (log_dir / LOG_NAME).write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def test_intact_chain_verifies(tmp_path: Path) -> None:
    log_dir = _log(tmp_path)
    append_events(log_dir, [{"event_type": "fixity check"}])
    result = verify_log(log_dir)
    assert result.ok and result.entries == 6 and result.first_bad_seq is None


def _edit(lines: list[str]) -> list[str]:
    entry = json.loads(lines[2])
    entry["event"]["detail"] = "改过"
    return [*lines[:2], json.dumps(entry, ensure_ascii=False), *lines[3:]]


@pytest.mark.parametrize(("tamper", "bad_seq"), [
    (_edit, 3),
    (lambda lines: [*lines[:1], *lines[2:]], 2),  # entry 2 removed
    (lambda lines: [lines[0], lines[2], lines[1], *lines[3:]], 2),  # 2 and 3 swapped
    (lambda lines: [*lines[:3], lines[3].replace('"seq":4', '"seq":9')], 4),
])
def test_tampering_names_the_first_bad_entry(tmp_path: Path, tamper, bad_seq: int) -> None:
    log_dir = _log(tmp_path)
    _write(log_dir, tamper(_lines(log_dir)))
    result = verify_log(log_dir)
    assert not result.ok
    assert [p.code for p in result.problems] == ["E440"]
    assert result.first_bad_seq == bad_seq


def test_signed_head_catches_a_truncated_tail(tmp_path: Path) -> None:
    signer = EphemeralSigner(common_name="log signer")
    log_dir = _log(tmp_path)
    sign_head(log_dir, signer)
    assert verify_log(log_dir, [signer.certificate()]).ok
    _write(log_dir, _lines(log_dir)[:3])
    result = verify_log(log_dir, [signer.certificate()])
    assert not result.ok and result.first_bad_seq == 5


def test_head_signature_must_verify_and_be_trusted(tmp_path: Path) -> None:
    signer, stranger = EphemeralSigner(common_name="log signer"), EphemeralSigner(common_name="stranger")
    log_dir = _log(tmp_path)
    head, _ = sign_head(log_dir, signer)
    assert [p.code for p in verify_log(log_dir, [stranger.certificate()]).problems] == ["E441"]
    head.write_bytes(head.read_bytes().replace(b'"seq":5', b'"seq":4'))
    assert [p.code for p in verify_log(log_dir, [signer.certificate()]).problems] == ["E441"]


def test_record_event_appends_after_commit_only(tmp_path: Path) -> None:
    from archive.catalog import session
    from archive.catalog.record import record_event

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    log_dir = tmp_path / "elsewhere" / "log"
    configure_log(url, log_dir)
    with session(url) as s:
        record_event(s, "ingestion", agent="test", detail="rolled back")
        s.rollback()
        record_event(s, "ingestion", agent="test", aip_id="a1", detail="kept")
        record_event(s, "replication", agent="test", aip_id="a1")
        s.commit()
    entries = [json.loads(line) for line in _lines(log_dir)]
    assert [(e["seq"], e["event"]["event_type"], e["event"]["detail"]) for e in entries] == [
        (1, "ingestion", "kept"), (2, "replication", "")]
    assert verify_log(log_dir).ok


# --- the catalog as second witness (issue 14 item 5) -------------------------------------------

def _catalog_with_events(tmp_path: Path, n: int) -> tuple[str, Path]:
    from archive.catalog import session
    from archive.catalog.record import record_event

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    with session(url) as s:
        for i in range(n):
            record_event(s, "fixity check", agent="test", detail=f"check {i}")
        s.commit()
    return url, tmp_path / "log"


def test_a_removed_tail_and_its_heads_are_missing_from_the_catalogs_record(tmp_path: Path) -> None:
    from archive.auditlog import catalog_expectation

    signer = EphemeralSigner(common_name="log signer")
    url, log_dir = _catalog_with_events(tmp_path, 4)
    sign_head(log_dir, signer, catalog_url=url)
    _catalog_with_events(tmp_path, 2)
    trusted = [signer.certificate()]
    assert verify_log(log_dir, trusted, catalog_expectation(url)).ok
    _write(log_dir, _lines(log_dir)[:2])
    for head in (log_dir / "heads").iterdir():
        head.unlink()
    result = verify_log(log_dir, trusted, catalog_expectation(url))
    assert {p.code for p in result.problems} == {"E444", "E445"}
    assert len(result.missing_days) == 1
    assert verify_log(log_dir, trusted).ok, "the folder alone still agrees with itself"


def test_events_of_an_unknown_log_folder_are_reported_missing_not_dropped_silently(tmp_path: Path, caplog) -> None:
    """A catalog no door registered a log folder for (a PostgreSQL catalog in a worker that never
    called ``bind_journals``) cannot log: the error says so and ``log verify`` counts the loss."""
    from archive.auditlog import _flush_pending, catalog_expectation

    url, log_dir = _catalog_with_events(tmp_path, 3)

    class _Session:
        info = {"juanzong.auditlog.pending": [{"id": "x"}]}

        def get_bind(self):
            from sqlalchemy import create_engine

            return create_engine("postgresql+psycopg://nobody@nowhere/none")

    _flush_pending(_Session())
    assert "E447" in caplog.text
    assert verify_log(log_dir, None, catalog_expectation(url)).ok
    _write(log_dir, _lines(log_dir)[:1])
    assert {p.code for p in verify_log(log_dir, None, catalog_expectation(url)).problems} == {"E445"}


@pytest.mark.postgres
def test_a_flow_in_a_worker_process_logs_into_the_settings_log(tmp_path: Path, prefect_api: str) -> None:
    """Issue 13: a flow started in a fresh process (as a Prefect worker starts it: no CLI, no API)
    on a PostgreSQL catalog records its events in the preservation log."""
    import os
    import subprocess
    import sys
    import uuid

    import sqlalchemy as sa

    base = os.environ.get("JUANZONG_TEST_PG_URL")
    if not base:
        pytest.skip("JUANZONG_TEST_PG_URL is not set: start one with scripts/postgres.sh start DIR")
    name = f"t_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = base.rsplit("/", 1)[0] + "/" + name
    home = tmp_path / "home"
    code = ("from config.settings import Settings; from flows.audit_fixity import audit; "
            f"audit(Settings(home={str(home)!r}, catalog_url={url!r}), mode='signature')")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=600,
                   env={**os.environ, "PREFECT_API_URL": prefect_api})
    from archive.auditlog import catalog_expectation

    events = [json.loads(line)["event"]["event_type"] for line in _lines(home / "log")]
    assert events == ["fixity check"]
    assert verify_log(home / "log", None, catalog_expectation(url)).ok
