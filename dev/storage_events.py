"""Cloud Storage events the way Eventarc delivers them to a CloudEvent function: binary content mode.

The local Storage emulator sends no notifications, so the demo and the tests upload with
google-cloud-storage and then POST this event to the function themselves. Headers: ce-specversion,
ce-id, ce-source (//storage.googleapis.com/projects/_/buckets/<bucket>), ce-type, ce-subject
(objects/<name>), ce-time; body: the object resource as the JSON API returns it (int64 fields as strings).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

FINALIZED = "google.cloud.storage.object.v1.finalized"
DELETED = "google.cloud.storage.object.v1.deleted"
ARCHIVED = "google.cloud.storage.object.v1.archived"


def object_resource(bucket: str, name: str, generation: int, size: int, content_type: str | None,
                    updated: datetime | None = None) -> dict[str, Any]:
    stamp = (updated or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
    resource = {
        "kind": "storage#object",
        "id": f"{bucket}/{name}/{generation}",
        "selfLink": f"https://www.googleapis.com/storage/v1/b/{bucket}/o/{name.replace('/', '%2F')}",
        "name": name,
        "bucket": bucket,
        "generation": str(generation),
        "metageneration": "1",
        "storageClass": "STANDARD",
        "size": str(size),
        "timeCreated": stamp,
        "updated": stamp,
        "timeStorageClassUpdated": stamp,
        "etag": "CAE=",
    }
    if content_type:
        resource["contentType"] = content_type
    return resource


def cloud_event(event_type: str, resource: dict[str, Any], event_id: str | None = None) -> tuple[bytes, dict[str, str]]:
    """(body, headers) of one delivery. Pass the same event_id to simulate a redelivery."""
    headers = {
        "Content-Type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": event_id or str(uuid.uuid4().int)[:16],
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{resource['bucket']}",
        "ce-type": event_type,
        "ce-subject": f"objects/{resource['name']}",
        "ce-time": resource.get("updated") or datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }
    return json.dumps(resource).encode(), headers


def event_for_blob(event_type: str, blob: Any, event_id: str | None = None) -> tuple[bytes, dict[str, str]]:
    """The event for a google-cloud-storage Blob whose properties are loaded (after upload or reload())."""
    resource = object_resource(blob.bucket.name, blob.name, int(blob.generation), int(blob.size or 0),
                               blob.content_type, blob.updated)
    return cloud_event(event_type, resource, event_id)
