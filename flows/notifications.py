"""Deliver the outbox: every pending notification to the configured sender, marked sent.

Runs after each decision taken at the console (``juanzong requests approve|refuse``), on a
one-minute schedule (``juanzong deploy``) and by hand (``juanzong notifications send``).
"""

from __future__ import annotations

from prefect import flow

from config import Settings
from flows._runtime import bind_journals
from dissemination.notify import Delivery, NotificationSender, SpoolSender, deliver_pending


def default_sender(settings: Settings) -> NotificationSender:
    """The spool folder the court's message centre collects from (``notification_spool``)."""
    return SpoolSender(settings.notification_spool)


@flow(name="send-notifications")
def send_notifications(settings: Settings) -> Delivery:
    bind_journals(settings)
    return deliver_pending(settings.catalog_url, default_sender(settings))
