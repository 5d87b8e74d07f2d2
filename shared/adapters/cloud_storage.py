"""Cloud Storage adapter: knowledge documents (one exact generation) and the originals of the leads' files.

STORAGE_EMULATOR_HOST switches the client to the local emulator, with anonymous credentials."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from google.api_core import exceptions as gexc
from google.cloud import storage

from shared.adapters.google_errors import TRANSIENT_GOOGLE_ERRORS
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
        except TRANSIENT_GOOGLE_ERRORS as err:
            raise TransientError(f"cloud storage unavailable reading gs://{bucket}/…#{generation}") from err
        if len(data) > max_bytes:
            raise UnsupportedDocument(f"the file has {len(data)} bytes; the limit is {max_bytes}")
        return data


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
        except TRANSIENT_GOOGLE_ERRORS as err:
            raise TransientError("cloud storage unavailable while storing a media file") from err
        return self._bucket

    def load(self, bucket: str, path: str) -> bytes | None:
        try:
            return self._client.bucket(bucket).blob(path).download_as_bytes(timeout=60)
        except gexc.NotFound:
            return None
        except TRANSIENT_GOOGLE_ERRORS as err:
            raise TransientError("cloud storage unavailable while reading a media file") from err

    def list_paths(self, prefix: str) -> list[str]:
        """Object names under a prefix (a conversation's media folder)."""
        try:
            return [blob.name for blob in self._client.list_blobs(self._bucket, prefix=prefix, timeout=60)]
        except TRANSIENT_GOOGLE_ERRORS as err:
            raise TransientError("cloud storage unavailable while listing media files") from err

    def delete(self, bucket: str, path: str) -> bool:
        """Delete one object for good (the media bucket keeps no versions and no soft-deleted copies)."""
        try:
            self._client.bucket(bucket).blob(path).delete(timeout=60)
        except gexc.NotFound:
            return False
        except TRANSIENT_GOOGLE_ERRORS as err:
            raise TransientError("cloud storage unavailable while deleting a media file") from err
        return True
