"""Cloud Storage adapter: the originals of the leads' files, one object per message under the tenant's prefix."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from google.api_core import exceptions as gexc
from google.cloud import storage

from shared.domain.errors import TransientError

_client: storage.Client | None = None
_client_lock = threading.Lock()
_TRANSIENT = (gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.InternalServerError, gexc.TooManyRequests,
              gexc.BadGateway)


def storage_client(project: str) -> storage.Client:
    """One client per instance (STORAGE_EMULATOR_HOST switches it to the emulator, with anonymous credentials)."""
    global _client
    if _client is None:
        with _client_lock:
            if _client is None:
                _client = storage.Client(project=project)
    return _client


class CloudStorageMedia:
    """Writes and reads the media bucket. Bucket lifecycle (retention) is set by Terraform, not here."""

    def __init__(self, client: storage.Client, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def save(self, path: str, content: bytes, content_type: str, metadata: Mapping[str, str]) -> str:
        blob = self._client.bucket(self._bucket).blob(path)
        blob.metadata = dict(metadata)
        try:
            # Same path for the same message: a retried task overwrites the same bytes, never adds a copy.
            blob.upload_from_string(content, content_type=content_type, timeout=60)
        except _TRANSIENT as err:
            raise TransientError("cloud storage unavailable while storing a media file") from err
        return self._bucket

    def load(self, bucket: str, path: str) -> bytes | None:
        try:
            return self._client.bucket(bucket).blob(path).download_as_bytes(timeout=60)
        except gexc.NotFound:
            return None
        except _TRANSIENT as err:
            raise TransientError("cloud storage unavailable while reading a media file") from err
