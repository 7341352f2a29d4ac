"""Telling a requester what became of their reading request.

``OutboxNotifier`` (the default) writes a ``Notification`` row and logs it, so the decision
never waits for, or fails because of, an outside service. ``LogNotifier`` only logs
(development, CLI dry runs). Messages carry the masked ID only, never the full number.

Delivery is a second step (``deliver_pending``, run by ``flows/notifications.py`` after each
decision and by ``juanzong notifications send``): a ``NotificationSender`` hands each pending
row to the outside world and the row is marked sent. The default ``SpoolSender`` needs no
service: it writes one JSON file per message into a spool folder that the court's message
centre (the 微法院 platform, an SMS gateway) collects. That is the adapter point: a sender for
an SMS or push API implements ``send`` and raises on failure; a failed message stays pending
and is tried again on the next run.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from abc import ABC, abstractmethod
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from sqlmodel import select

from archive.catalog import session
from archive.catalog.models import Notification, utcnow

log = logging.getLogger("juanzong.notify")


class Message(BaseModel):
    model_config = ConfigDict(frozen=True)

    request_id: str
    recipient: str
    subject: str
    body: str


class Notifier(ABC):
    """Delivers or queues one message. Called after the decision is committed; it must not
    raise for a delivery problem (queue and log instead) and must not block on a network."""

    @property
    @abstractmethod
    def channel(self) -> str:
        """The channel name stored with the message, e.g. ``outbox`` or ``log``."""

    @abstractmethod
    def notify(self, message: Message) -> str:
        """Queue or deliver; returns an id for the audit trail."""


class LogNotifier(Notifier):
    @property
    def channel(self) -> str:
        return "log"

    def notify(self, message: Message) -> str:
        log.info("notify %s about %s: %s", message.recipient, message.request_id, message.subject)
        return f"log:{message.request_id}"


class OutboxNotifier(Notifier):
    """Writes the message to the catalog's outbox table, then logs it."""

    def __init__(self, catalog_url: str) -> None:
        self._url = catalog_url

    @property
    def channel(self) -> str:
        return "outbox"

    def notify(self, message: Message) -> str:
        row = Notification(id=str(uuid.uuid4()), request_id=message.request_id,
                           recipient=message.recipient, channel=self.channel,
                           subject=message.subject, body=message.body)
        with session(self._url) as s:
            s.add(row)
            s.commit()
        log.info("outbox %s: %s about %s", row.id, message.subject, message.request_id)
        return row.id


_SUBJECTS = {
    "issued": "阅卷副本已发放 / your reading copy is ready",
    "approved": "阅卷申请已批准 / your request was approved",
    "pending_approval": "阅卷申请待审批 / your request waits for an archivist",
    "refused": "阅卷申请未获批准 / your request was refused",
    "withdrawn": "阅卷副本已撤回（案卷已销毁） / your reading copy was withdrawn: the case file was disposed of",
}


def status_message(request_id: str, recipient: str, case_number: str, status: str,
                   reason: str = "") -> Message:
    """The message for a request that reached ``status``."""
    subject = _SUBJECTS.get(status, f"阅卷申请状态 / request status: {status}")
    body = f"{case_number} {request_id}: {status}" + (f" — {reason}" if reason else "")
    return Message(request_id=request_id, recipient=recipient, subject=subject, body=body)


class NotificationSender(ABC):
    """Hands one outbox message to the outside world. Runs in the delivery flow, never inside
    a decision; must raise (any exception) when the message was not accepted."""

    name: str

    @abstractmethod
    def send(self, row: Notification) -> None:
        """Deliver ``row``; return normally only once the receiver has it."""


class SpoolSender(NotificationSender):
    """One ``<id>.json`` per message in ``spool_dir``, written atomically (a collector never
    sees half a file); sending the same message twice rewrites the same file."""

    name = "spool"

    def __init__(self, spool_dir: Path) -> None:
        self.spool_dir = Path(spool_dir)

    def send(self, row: Notification) -> None:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        body = {"id": row.id, "request_id": row.request_id, "recipient": row.recipient,
                "subject": row.subject, "body": row.body, "created_at": row.created_at.isoformat()}
        tmp = self.spool_dir / f".{row.id}.tmp"
        tmp.write_text(json.dumps(body, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, self.spool_dir / f"{row.id}.json")


class Delivery(BaseModel):
    sent: list[str] = []
    failed: dict[str, str] = {}  # notification id -> why it is still pending


def deliver_pending(catalog_url: str, sender: NotificationSender) -> Delivery:
    """Send every pending message, oldest first; each one sent is marked at once."""
    report = Delivery()
    with session(catalog_url) as s:
        rows = s.exec(select(Notification).where(Notification.status == "pending")
                      .order_by(Notification.created_at)).all()
        for row in rows:
            try:
                sender.send(row)
            except Exception as exc:  # noqa: BLE001  any sender failure leaves the message pending
                report.failed[row.id] = f"{type(exc).__name__}: {exc}"
                log.warning("notification %s not sent via %s: %s", row.id, sender.name, exc)
                continue
            row.status, row.sent_at = "sent", utcnow()
            s.add(row)
            s.commit()
            report.sent.append(row.id)
    return report
