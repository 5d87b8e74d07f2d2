"""Cloud Storage adapter: reads one exact generation of an object (STORAGE_EMULATOR_HOST switches it locally)."""

from __future__ import annotations

import threading

from google.api_core import exceptions as gexc
from google.cloud import storage

from shared.domain.errors import TransientError, UnsupportedDocument

_client: storage.Client | None = None
_client_lock = threading.Lock()


def storage_client(project: str) -> storage.Client:
    """One client per instance, created on first use."""
    global _client
    if _client is None:
        with _client_lock:
            if _client is None:
                _client = storage.Client(project=project)
    return _client


class CloudStorageObjects:
    def __init__(self, client: storage.Client) -> None:
        self._client = client

    def read(self, bucket: str, name: str, generation: int, max_bytes: int) -> bytes | None:
        blob = self._client.bucket(bucket).blob(name, generation=generation)
        try:
            blob.reload()  # size first: a huge upload is refused without downloading it
            if blob.generation is not None and int(blob.generation) != generation:
                return None  # a server that ignores the generation (the local emulator) answered the live one
            if blob.size is not None and blob.size > max_bytes:
                raise UnsupportedDocument(f"the file has {blob.size} bytes; the limit is {max_bytes}")
            data = blob.download_as_bytes()
        except gexc.NotFound:
            return None
        except (gexc.ServiceUnavailable, gexc.InternalServerError, gexc.TooManyRequests, gexc.GatewayTimeout,
                gexc.DeadlineExceeded, ConnectionError) as err:
            raise TransientError(f"cloud storage unavailable reading gs://{bucket}/…#{generation}") from err
        if len(data) > max_bytes:
            raise UnsupportedDocument(f"the file has {len(data)} bytes; the limit is {max_bytes}")
        return data
