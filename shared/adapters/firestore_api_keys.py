"""chat_api's per-tenant API keys, stored hashed: tenants/{t}/api_keys/{key_id}."""

from __future__ import annotations

from typing import Any

from google.cloud import firestore

from shared.adapters.firestore_client import _tenant


class FirestoreApiKeyStore:
    """tenants/{t}/api_keys/{key_id}: {secret_hash, label, created_at, revoked_at}. Never the key itself."""

    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def _ref(self, tenant_id: str, key_id: str) -> firestore.DocumentReference:
        return _tenant(self._db, tenant_id).collection("api_keys").document(key_id)

    def get_api_key(self, tenant_id: str, key_id: str) -> dict[str, Any] | None:
        snap = self._ref(tenant_id, key_id).get()
        return snap.to_dict() if snap.exists else None

    def save_api_key(self, tenant_id: str, key_id: str, secret_hash: str, label: str) -> None:
        self._ref(tenant_id, key_id).create({"key_id": key_id, "secret_hash": secret_hash, "label": label[:200],
                                             "created_at": firestore.SERVER_TIMESTAMP, "revoked_at": None})

    def revoke_api_key(self, tenant_id: str, key_id: str) -> bool:
        ref = self._ref(tenant_id, key_id)
        if not ref.get(field_paths=["key_id"]).exists:
            return False
        ref.update({"revoked_at": firestore.SERVER_TIMESTAMP})
        return True

    def list_api_keys(self, tenant_id: str) -> list[dict[str, Any]]:
        return [{k: v for k, v in (snap.to_dict() or {}).items() if k != "secret_hash"}
                for snap in _tenant(self._db, tenant_id).collection("api_keys").stream()]
