"""Issue, rotate and revoke the per-tenant keys of the /chat API (scripts/api_keys.py is the admin's command)."""

from __future__ import annotations

from shared.domain.api_keys import issue_key
from shared.ports import ApiKeyStore


def issue_api_key(tenant_id: str, label: str, keys: ApiKeyStore) -> str:
    """A new key for the tenant; returned once, stored as a hash. Rotation = issue a new one, then revoke the old."""
    key = issue_key()
    keys.save_api_key(tenant_id, key.key_id, key.secret_hash, label)
    return key.api_key


def revoke_api_key(tenant_id: str, key_id: str, keys: ApiKeyStore) -> bool:
    """The key stops working at once (the check reads it on every call); False if the tenant has no such key."""
    return keys.revoke_api_key(tenant_id, key_id)
