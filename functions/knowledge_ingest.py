"""knowledge_ingest: Cloud Storage events (Eventarc) on the knowledge bucket → chunks, embeddings, vector index.

Triggers: google.cloud.storage.object.v1.finalized, .deleted and .archived (the bucket is versioned).
Returning acknowledges the event; raising (TransientError) makes Eventarc redeliver it.
"""

from __future__ import annotations

import logging

import functions_framework
from cloudevents.http import CloudEvent

from shared import log
from shared.bootstrap import ingest_deps
from shared.config import get_settings
from shared.domain.errors import InvalidPayload
from shared.domain.knowledge import StorageEventKind, parse_object
from shared.services.knowledge import handle_storage_event

log.configure("knowledge_ingest", get_settings().log_level)
logger = logging.getLogger(__name__)


@functions_framework.cloud_event
def knowledge_ingest(cloud_event: CloudEvent) -> None:
    with log.bound(event_id=cloud_event["id"], event_type=cloud_event["type"]):
        try:
            kind = StorageEventKind(cloud_event["type"])
        except ValueError:
            log.log(logger, logging.WARNING, "storage event of a type the knowledge base does not handle; dropped")
            return
        data = cloud_event.data if isinstance(cloud_event.data, dict) else {}
        try:
            obj = parse_object(data.get("bucket", ""), data.get("name", ""), data.get("generation"),
                               data.get("contentType"), data.get("size"))
            with log.bound(tenant_id=obj.tenant_id):
                outcome = handle_storage_event(kind, obj, ingest_deps())
                log.log(logger, logging.INFO, "storage event handled", **outcome.as_dict())
        except InvalidPayload as err:
            # Poison input: a redelivery carries the same event, so acknowledge it and say why.
            log.log(logger, logging.WARNING, "storage event dropped", reason=str(err))
