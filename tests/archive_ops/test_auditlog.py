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
