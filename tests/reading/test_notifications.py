"""Delivering the outbox: the spool sender, marking sent, and a failed delivery kept pending."""

from __future__ import annotations

import json
from pathlib import Path

from sqlmodel import select

from archive.catalog import session
from archive.catalog.models import Notification
from config.settings import Settings
from dissemination.notify import OutboxNotifier, SpoolSender, deliver_pending, status_message


def _status(settings: Settings, notification_id: str) -> str:
    with session(settings.catalog_url) as s:
        return s.get(Notification, notification_id).status


def test_pending_messages_are_spooled_once_and_marked_sent(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    notifier = OutboxNotifier(settings.catalog_url)
    first = notifier.notify(status_message("REQ-1", "张三 440103********2756", "（2023）粤0114民初6749号", "issued"))
    second = notifier.notify(status_message("REQ-2", "李四 440104********1234", "（2023）粤0114民初6749号",
                                            "refused", reason="非本案当事人"))
    spool = settings.notification_spool
    report = deliver_pending(settings.catalog_url, SpoolSender(spool))
    assert report.sent == [first, second] and not report.failed
    message = json.loads((spool / f"{second}.json").read_text("utf-8"))
    assert message["request_id"] == "REQ-2" and "非本案当事人" in message["body"]
    assert "440104********1234" in message["recipient"]
    assert _status(settings, first) == _status(settings, second) == "sent"
    assert deliver_pending(settings.catalog_url, SpoolSender(spool)).sent == []
    with session(settings.catalog_url) as s:
        assert all(row.sent_at is not None for row in s.exec(select(Notification)).all())


def test_a_failed_delivery_stays_pending_and_goes_out_on_the_next_run(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    sent_id = OutboxNotifier(settings.catalog_url).notify(
        status_message("REQ-3", "王五 440111********1234", "（2024）粤0106民初9999号", "pending_approval"))
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("the message centre's share is not mounted", encoding="utf-8")
    report = deliver_pending(settings.catalog_url, SpoolSender(blocked))
    assert report.sent == [] and sent_id in report.failed and "not-a-folder" in report.failed[sent_id]
    assert _status(settings, sent_id) == "pending"
    blocked.unlink()
    assert deliver_pending(settings.catalog_url, SpoolSender(blocked)).sent == [sent_id]
    assert (blocked / f"{sent_id}.json").is_file() and _status(settings, sent_id) == "sent"
