"""Per-tenant API keys of the private /chat API: `pk_<key id>.<secret>`, stored as a hash, rotatable.

A key belongs to exactly one tenant (it lives at tenants/{t}/api_keys/{key id}), so a caller reaches only the
tenant its key was issued for. The secret is 32 random bytes: with that much entropy a plain SHA-256 cannot be
brute-forced, so no slow password hash is needed (and the check stays cheap on every call).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from shared.domain.errors import Forbidden

_KEY = re.compile(r"^pk_(?P<key_id>[a-z0-9]{8,32})\.(?P<secret>[A-Za-z0-9_-]{20,128})$")


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    api_key: str  # shown once to whoever issued it; only its hash is stored
    secret_hash: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_key(key_id: str | None = None, secret: str | None = None) -> IssuedKey:
    """A new random key (key_id/secret only for deterministic local seeds)."""
    key_id = key_id or secrets.token_hex(8)
    secret = secret or secrets.token_urlsafe(32)
    api_key = f"pk_{key_id}.{secret}"
    if not _KEY.match(api_key):
        raise ValueError("key_id must be 8-32 lowercase letters/digits and the secret 20-128 url-safe characters")
    return IssuedKey(key_id=key_id, api_key=api_key, secret_hash=hash_secret(secret))


def split_key(api_key: str) -> tuple[str, str]:
    """(key id, secret) of a presented key; Forbidden if it is not shaped like one of ours."""
    match = _KEY.match(api_key.strip())
    if match is None:
        raise Forbidden("the API key is not a Piloto key (pk_<id>.<secret>)")
    return match["key_id"], match["secret"]


def key_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
