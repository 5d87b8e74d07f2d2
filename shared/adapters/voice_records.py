"""Where a voice reply is kept: the audio in the media bucket beside the leads' files, its facts on the reply."""

from __future__ import annotations

from google.cloud import firestore

from shared.adapters.cloud_storage import CloudStorageMedia
from shared.domain.voice import VoiceNote


class StoredVoiceNotes:
    """gs://$MEDIA_BUCKET/tenants/{t}/conversations/{c}/voice/{reply}.ogg and the reply's `voice` field."""

    def __init__(self, db: firestore.Client, media: CloudStorageMedia) -> None:
        self._db = db
        self._media = media

    def save_audio(self, tenant_id: str, conversation_id: str, reply_id: str, audio: bytes) -> str:
        path = f"tenants/{tenant_id}/conversations/{conversation_id}/voice/{reply_id}.ogg"
        bucket = self._media.save(path, audio, "audio/ogg; codecs=opus", {"reply_id": reply_id, "kind": "voice_reply"})
        return f"gs://{bucket}/{path}"

    def record_voice(self, tenant_id: str, conversation_id: str, reply_id: str, note: VoiceNote) -> None:
        (self._db.collection("tenants").document(tenant_id).collection("conversations").document(conversation_id)
         .collection("messages").document(reply_id).update({"voice": note.model_dump(mode="json")}))
