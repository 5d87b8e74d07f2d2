"""Media understanding rules: what a file may be, how its text is read, and when a turn must wait for it. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from shared.domain.inbound import MessageKind

if TYPE_CHECKING:
    from shared.domain.conversation import StoredMessage


class MediaStatus(StrEnum):
    """Where a lead's file stands. Everything but PENDING is final: a retried task leaves it alone."""

    PENDING = "pending"  # stored by the webhook; the media task has not finished
    DONE = "done"  # text extracted (transcript, description, document text)
    FAILED = "failed"  # could not be downloaded or read, for good
    UNSUPPORTED = "unsupported"  # a type Piloto does not read (video, AMR audio…): kept, not read
    TOO_LARGE = "too_large"  # over the configured size for its kind: not downloaded

    @property
    def final(self) -> bool:
        return self is not MediaStatus.PENDING


class MediaRoute(StrEnum):
    """How the text of a file is obtained."""

    AUDIO = "audio"  # transcription by the model
    IMAGE = "image"  # short description and visible text, by the model
    PDF = "pdf"  # text layer locally; scanned pages by the model
    DOCX = "docx"  # paragraphs and tables locally
    TEXT = "text"  # plain text and CSV, decoded
    NONE = "none"  # stored, not read


_ROUTES: dict[str, MediaRoute] = {
    "application/pdf": MediaRoute.PDF,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": MediaRoute.DOCX,
    "text/plain": MediaRoute.TEXT,
    "text/csv": MediaRoute.TEXT,
}

# Spellings providers use for one format, mapped to the type Vertex AI documents for audio input.
_CANONICAL_MIME = {
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/aac": "audio/x-aac",
    "audio/mp3": "audio/mpeg",
    "image/jpg": "image/jpeg",
}

_EXTENSIONS = {
    "audio/ogg": ".ogg", "audio/mpeg": ".mp3", "audio/mp4": ".m4a", "audio/x-aac": ".aac", "audio/wav": ".wav",
    "audio/webm": ".webm", "audio/flac": ".flac", "audio/amr": ".amr", "image/jpeg": ".jpg", "image/png": ".png",
    "image/webp": ".webp", "video/mp4": ".mp4", "video/3gpp": ".3gp", "application/pdf": ".pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx", "text/plain": ".txt",
    "text/csv": ".csv",
}


def normalize_mime(mime_type: str | None) -> str:
    """'audio/ogg; codecs=opus' → 'audio/ogg'; unknown → 'application/octet-stream'."""
    base = (mime_type or "").split(";", 1)[0].strip().lower()
    return _CANONICAL_MIME.get(base, base) or "application/octet-stream"


def guess_mime(mime_type: str | None, filename: str | None) -> str:
    """The normalized type, or the one the file name's extension names when the provider sent none."""
    mime = normalize_mime(mime_type)
    if mime == "application/octet-stream" and filename and "." in filename:
        extension = "." + filename.rsplit(".", 1)[1].lower()
        return next((known for known, ext in _EXTENSIONS.items() if ext == extension), mime)
    return mime


def route_for(mime_type: str | None) -> MediaRoute:
    mime = normalize_mime(mime_type)
    if mime in _ROUTES:
        return _ROUTES[mime]
    if mime.startswith("audio/"):
        return MediaRoute.AUDIO
    if mime.startswith("image/"):
        return MediaRoute.IMAGE
    return MediaRoute.NONE


class MediaLimits(BaseModel):
    """Per-kind size limits and the mime types Piloto reads. From configuration."""

    max_bytes: dict[MessageKind, int]
    readable_mime_types: frozenset[str]

    def max_bytes_for(self, kind: MessageKind) -> int:
        return self.max_bytes.get(kind, min(self.max_bytes.values(), default=0))

    def too_large_reason(self, kind: MessageKind, size: int) -> str | None:
        limit = self.max_bytes_for(kind)
        if size > limit:
            return f"{kind.value} of {human_size(size)} is over the {human_size(limit)} limit"
        return None

    def unreadable_reason(self, mime_type: str | None) -> str | None:
        """Why a file of this type is kept but not read; None when it is read."""
        mime = normalize_mime(mime_type)
        if route_for(mime) is MediaRoute.NONE or mime not in self.readable_mime_types:
            return f"{mime} files are not read by Piloto"
        return None


def human_size(size: int) -> str:
    if size >= 1_000_000:
        return f"{size / 1_000_000:.1f} MB"
    if size >= 1_000:
        return f"{size / 1_000:.0f} kB"
    return f"{size} bytes"


class StoredMedia(BaseModel):
    """The original file as Piloto keeps it in Cloud Storage."""

    bucket: str
    path: str
    content_type: str
    size_bytes: int = Field(ge=0)
    sha256: str = Field(description="hex digest of the bytes stored")
    filename: str | None = None


def media_path(tenant_id: str, conversation_id: str, message_id: str, mime_type: str | None) -> str:
    """Object name under the tenant: ids are hashes, so no phone number or file name from the lead is in it."""
    extension = _EXTENSIONS.get(normalize_mime(mime_type), "")
    return f"tenants/{tenant_id}/conversations/{conversation_id}/media/{message_id}{extension}"


def clip_text(text: str, max_chars: int) -> str:
    """Trim extracted text to what is worth storing; say that it was trimmed."""
    text = text.strip()
    if len(text) <= max_chars:
        return text
    return text[: max_chars].rstrip() + " […]"


def media_blocking_turn(history: Iterable[StoredMessage], now: datetime, wait_seconds: float) -> list[StoredMessage]:
    """The lead's files of the unanswered burst still being read and younger than the wait bound.

    While this is not empty the agent turn waits (a reply that ignores a voice note loses the lead); past
    the bound it answers anyway and the prompt says the file could not be read in time.
    """
    burst: list[StoredMessage] = []
    for message in reversed(list(history)):
        if message.role.value != "lead":
            break
        burst.append(message)
    bound = timedelta(seconds=wait_seconds)
    return [
        m for m in reversed(burst)
        if m.media_status is MediaStatus.PENDING and now - (m.stored_at or m.sent_at) < bound
    ]
