"""Where cloned voices' consents live: tenants/{t}/voice_consents/{id} in Firestore (facts, no audio, no key), the two
recordings in the media bucket under the tenant (the proof), and the agent's voice.clone."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared.adapters.cloud_storage import CloudStorageMedia
from shared.adapters.google_errors import TRANSIENT_GOOGLE_ERRORS
from shared.domain.errors import TransientError
from shared.domain.voice_clone import ClonedVoice, VoiceConsent

Result = TypeVar("Result")


def _transient(method: Callable[..., Result]) -> Callable[..., Result]:
    """Firestore or Storage not answering this time is a 503 for the admin (retry), never a 500."""
    @wraps(method)
    def wrapper(*args: object, **kwargs: object) -> Result:
        try:
            return method(*args, **kwargs)
        except TRANSIENT_GOOGLE_ERRORS as err:
            raise TransientError(f"voice consents: {type(err).__name__} from Google") from err

    return wrapper


class FirestoreVoiceConsents:
    def __init__(self, db: firestore.Client, media: CloudStorageMedia) -> None:
        self._db = db
        self._media = media

    def _tenant(self, tenant_id: str) -> firestore.DocumentReference:
        return self._db.collection("tenants").document(tenant_id)

    @_transient
    def tenant_exists(self, tenant_id: str) -> bool:
        return self._tenant(tenant_id).get().exists

    @_transient
    def get(self, tenant_id: str, consent_id: str) -> VoiceConsent | None:
        snap = self._tenant(tenant_id).collection("voice_consents").document(consent_id).get()
        return VoiceConsent.model_validate(snap.to_dict()) if snap.exists else None

    @_transient
    def claim(self, consent: VoiceConsent) -> bool:
        """Create the pending record; False when one exists already (another upload of the same recordings)."""
        ref = self._tenant(consent.tenant_id).collection("voice_consents").document(consent.consent_id)
        try:
            ref.create(consent.model_dump(mode="json"))
            return True
        except gexc.AlreadyExists:
            return False

    @_transient
    def save(self, consent: VoiceConsent) -> None:
        (self._tenant(consent.tenant_id).collection("voice_consents").document(consent.consent_id)
         .set(consent.model_dump(mode="json")))

    @_transient
    def active_for_agent(self, tenant_id: str, agent_id: str) -> list[VoiceConsent]:
        query = (self._tenant(tenant_id).collection("voice_consents")
                 .where(filter=firestore.FieldFilter("agent_id", "==", agent_id))
                 .where(filter=firestore.FieldFilter("status", "==", "active")))
        return [VoiceConsent.model_validate(snap.to_dict()) for snap in query.stream()]

    @_transient
    def keep_recording(self, tenant_id: str, consent_id: str, name: str, audio: bytes, content_type: str) -> str:
        """The recording as uploaded (name carries its extension: reference.ogg, consent.wav…)."""
        path = f"tenants/{tenant_id}/voice_consents/{consent_id}/{name}"
        bucket = self._media.save(path, audio, content_type, {"kind": "voice_consent", "consent_id": consent_id})
        return f"gs://{bucket}/{path}"

    @_transient
    def set_agent_clone(self, tenant_id: str, agent_id: str, clone: ClonedVoice | None) -> None:
        """The agent speaks in the clone, or (None) in its stock voice_name again."""
        value = clone.model_dump(mode="json") if clone else None
        (self._tenant(tenant_id).collection("agents").document(agent_id)
         .set({"voice": {"clone": value}}, merge=True))
