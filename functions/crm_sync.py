"""crm_sync: CloudEvent function behind the domain-events push subscription; delivers each event to the tenant's CRM.

Acknowledged (2xx): delivered, already delivered, refused for good (recorded), not configured, poison.
Not acknowledged (503, so Pub/Sub redelivers with backoff and finally dead-letters): a CRM or Firestore
failure a retry may fix. Anything unexpected is logged with its stack and also retried (500).
"""

from __future__ import annotations

import base64
import binascii
import logging

import flask
import functions_framework
from cloudevents.http import CloudEvent

from shared import log
from shared.bootstrap import crm_sync_deps
from shared.config import get_settings
from shared.domain.errors import TransientError
from shared.domain.phone import mask_phones_in
from shared.ports import EventMessage
from shared.services.crm_sync import process_message

log.configure("crm_sync", get_settings().log_level)
logger = logging.getLogger(__name__)


def _message(cloud_event: CloudEvent) -> EventMessage:
    data = cloud_event.data if isinstance(cloud_event.data, dict) else {}
    message = data.get("message") or {}
    try:
        body = base64.b64decode(message.get("data") or "", validate=True)
    except (binascii.Error, ValueError):
        body = str(message.get("data")).encode()  # not base64: decoding it as an event fails → poison
    return EventMessage(data=body, attributes=dict(message.get("attributes") or {}),
                        message_id=str(message.get("messageId") or cloud_event["id"]),
                        publish_time=message.get("publishTime"))


@functions_framework.cloud_event
def crm_sync(cloud_event: CloudEvent) -> None:
    message = _message(cloud_event)
    with log.bound(pubsub_message_id=message.message_id):
        try:
            outcome = process_message(message, crm_sync_deps())
        except TransientError as err:
            reason = mask_phones_in(str(err))  # a CRM's message may echo the lead's number
            log.log(logger, logging.WARNING, "event not delivered yet; Pub/Sub will redeliver it",
                    error=type(err).__name__, reason=reason)
            flask.abort(503, description=reason)
        log.log(logger, logging.INFO, "event handled", **outcome.as_dict())
