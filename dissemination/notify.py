"""Telling a requester what became of their reading request.

``OutboxNotifier`` (the default) writes a ``Notification`` row and logs it; a sender process
(SMS gateway, the 微法院 message centre) reads pending rows and marks them sent, so the
decision never waits for, or fails because of, an outside service. ``LogNotifier`` only logs
(development, CLI dry runs). Messages carry the masked ID only, never the full number.
"""

from __future__ import annotations

import logging
import uuid
from abc import ABC, abstractmethod

from pydantic import BaseModel, ConfigDict

from archive.catalog import session
from archive.catalog.models import Notification

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
}


def status_message(request_id: str, recipient: str, case_number: str, status: str,
                   reason: str = "") -> Message:
    """The message for a request that reached ``status``."""
    subject = _SUBJECTS.get(status, f"阅卷申请状态 / request status: {status}")
    body = f"{case_number} {request_id}: {status}" + (f" — {reason}" if reason else "")
    return Message(request_id=request_id, recipient=recipient, subject=subject, body=body)
